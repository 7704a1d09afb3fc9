// How a model's conversations become token ids: one interface over Tandem's own template (for
// models trained from scratch: chat-template.ts, our special tokens) and a Hugging Face model's own
// (its tokenizer.json and the Jinja chat template of its tokenizer_config.json: hf-chat.ts).
// Trainers, sampling and serving ask this object, never a particular template.
import { type HfExtras } from "../contract/checkpoint.ts";
import { loadBpeTokenizer, type BpeTokenizer } from "./bpe-tokenizer.ts";
import { renderChat, renderPromptCompletion, type ChatMessage, type RenderedChat } from "./chat-template.ts";
import { hfChatFormat, type ConversationMessage, type ToolSpec } from "./hf-chat.ts";

/** What every tokenizer offers (BpeTokenizer has these and more). */
export interface TextTokenizer {
  encode(text: string): Promise<number[]>;
  decode(ids: number[], skipSpecialTokens?: boolean): Promise<string>;
  vocabSize: number;
  /** sha256 of tokenizer.json: stored in checkpoints so a model is never paired with another tokenizer. */
  hash: string;
  json: string;
}

export type AnyMessage = ChatMessage | ConversationMessage;

export interface ChatFormat {
  /** "tandem": our template and special tokens; "hf": the model's own tokenizer and chat template. */
  kind: "tandem" | "hf";
  tokenizer: TextTokenizer;
  /** Fills batches; attention masks hide it, so it may equal a stop token in HF models. */
  padId: number;
  /** Ends a completion (end of turn, EOS); sampling stops there. */
  stopTokens: number[];
  /** Separates documents in pretraining streams. */
  eosId: number;
  /** tokenizer_config / generation_config to carry into checkpoints (HF models only). */
  hf: HfExtras | null;
  /** A conversation with assistant-only loss masks; `addGenerationPrompt` opens an assistant turn. */
  renderChat(messages: AnyMessage[], options?: { addGenerationPrompt?: boolean; tools?: ToolSpec[] }): Promise<RenderedChat>;
  /**
   * Prompt (with generation prompt) and prompt + completion, for preference pairs and PPO. A
   * completion may be a tool transcript (assistant and tool messages): its loss mask is 0 on the
   * tool results.
   */
  renderPromptCompletion(prompt: AnyMessage[], completion: string | AnyMessage[]): Promise<{ prompt: number[]; full: RenderedChat }>;
}

/** Tandem's own template over a BpeTokenizer with our special tokens. */
export function tandemChatFormat(tokenizer: BpeTokenizer): ChatFormat {
  const sp = tokenizer.special;
  return {
    kind: "tandem",
    tokenizer,
    padId: sp.pad,
    stopTokens: [sp.endOfTurn, sp.eos],
    eosId: sp.eos,
    hf: null,
    renderChat: (messages, options) => renderChat(tokenizer, messages as ChatMessage[], options),
    renderPromptCompletion: (prompt, completion) => renderPromptCompletion(tokenizer, prompt as ChatMessage[], completion as string | ChatMessage[]),
  };
}

/**
 * The format of a model: its HF tokenizer and chat template when the checkpoint came from Hugging
 * Face (manifest.hf), else Tandem's template over tokenizer.json.
 */
export function loadChatFormat(tokenizerJson: string, hf: HfExtras | null | undefined): ChatFormat {
  return hf ? hfChatFormat(tokenizerJson, hf) : tandemChatFormat(loadBpeTokenizer(tokenizerJson));
}

/** The BpeTokenizer behind Tandem's own template (tool calls are parsed and run with it); null for an HF model. */
export function tandemTokenizer(format: ChatFormat): BpeTokenizer | null {
  return format.kind === "tandem" ? (format.tokenizer as BpeTokenizer) : null;
}

/** A chat format, or the BpeTokenizer of Tandem's own template (callers that only have one). */
export type FormatLike = ChatFormat | BpeTokenizer;

export function asChatFormat(x: FormatLike): ChatFormat {
  return "kind" in x ? x : tandemChatFormat(x);
}
