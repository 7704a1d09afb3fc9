// The one chat template, used for SFT/RM/DPO/PPO data and for generation, so training and
// sampling see identical token sequences (trainer-anchors checklist, SFT #1-2).
//
//   <|system|>…<|end|><|user|>…<|end|><|assistant|>…[<|tool_call|>…]<|end|><|tool_result|>…<|end|>
//
// Rendering splices special-token ids between separately encoded contents, so a role marker is
// never produced by text, and tokenize(prompt) is a prefix of tokenize(prompt + completion) by
// construction. Loss mask: 1 on assistant content, its tool call and its closing <|end|> (the model
// must learn to stop); 0 on the <|assistant|> marker, which belongs to the prompt.
import { SPECIAL_TOKENS, type BpeTokenizer } from "./bpe-tokenizer.ts";

export type ChatRole = "system" | "user" | "assistant" | "tool";

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant only: a tool call (e.g. JSON) emitted after the content. */
  toolCall?: string;
}

export interface RenderedChat {
  ids: number[];
  /** Same length as ids: 1 where the token is a training target. */
  lossMask: number[];
}

export class ChatTemplateError extends Error {}

const ROLE_TOKEN: Record<ChatRole, keyof typeof SPECIAL_TOKENS> = {
  system: "system",
  user: "user",
  assistant: "assistant",
  tool: "toolResult",
};

async function encodeText(tokenizer: BpeTokenizer, text: string): Promise<number[]> {
  for (const s of Object.values(SPECIAL_TOKENS))
    if (text.includes(s)) throw new ChatTemplateError(`message text contains the reserved token ${s}`);
  return text.length === 0 ? [] : tokenizer.encode(text);
}

/**
 * Renders a conversation. With `addGenerationPrompt` an open <|assistant|> turn is appended
 * (for sampling, or as the prompt half of a preference pair).
 */
export async function renderChat(
  tokenizer: BpeTokenizer,
  messages: ChatMessage[],
  options: { addGenerationPrompt?: boolean } = {},
): Promise<RenderedChat> {
  const ids: number[] = [];
  const lossMask: number[] = [];
  const push = (tokens: number[], target: boolean): void => {
    for (const t of tokens) {
      ids.push(t);
      lossMask.push(target ? 1 : 0);
    }
  };
  const sp = tokenizer.special;
  for (const m of messages) {
    const trained = m.role === "assistant";
    push([sp[ROLE_TOKEN[m.role]]], false);
    push(await encodeText(tokenizer, m.content), trained);
    if (m.toolCall !== undefined) {
      if (m.role !== "assistant") throw new ChatTemplateError("only assistant messages carry tool calls");
      push([sp.toolCall], true);
      push(await encodeText(tokenizer, m.toolCall), true);
    }
    push([sp.endOfTurn], trained);
  }
  if (options.addGenerationPrompt) push([sp.assistant], false);
  return { ids, lossMask };
}

/** Prompt (with generation prompt) and prompt + completion, for preference pairs and PPO. */
export async function renderPromptCompletion(
  tokenizer: BpeTokenizer,
  prompt: ChatMessage[],
  completion: string,
): Promise<{ prompt: number[]; full: RenderedChat }> {
  const p = await renderChat(tokenizer, prompt, { addGenerationPrompt: true });
  const c = await encodeText(tokenizer, completion);
  return {
    prompt: p.ids,
    full: { ids: [...p.ids, ...c, tokenizer.special.endOfTurn], lossMask: [...p.ids.map(() => 0), ...c.map(() => 1), 1] },
  };
}
