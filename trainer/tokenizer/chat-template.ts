// The one chat template, used for SFT/RM/DPO/PPO data and for generation, so training and
// sampling see identical token sequences (trainer-anchors checklist, SFT #1-2).
//
//   <|system|>…<|end|><|user|>…<|end|><|assistant|>…[<|tool_call|>…]<|end|><|tool_result|>…<|end|>
//
// Rendering splices special-token ids between separately encoded contents, so a role marker is
// never produced by text, and tokenize(prompt) is a prefix of tokenize(prompt + completion) by
// construction. Loss mask: 1 on assistant content, its tool call and its closing <|end|> (the model
// must learn to stop); 0 on the <|assistant|> marker, which belongs to the prompt.
//
// Tool use (decision 0019). An assistant turn that calls tools ends its content with one
// <|tool_call|> per call, each followed by the call as compact JSON — Hermes/Qwen style, short and
// regular enough for a small model trained from scratch — then <|end|>. Each result follows as a
// tool turn, in call order, and the assistant turn reopens:
//
//   <|assistant|>Let me compute.<|tool_call|>{"name":"calculator","arguments":{"expression":"37*4"}}<|end|>
//   <|tool_result|>148<|end|>
//   <|assistant|>The answer is 148.<|end|>
//
// (line breaks added for reading; there are none). The sampler inserts exactly the tokens of the
// tool turns and the reopening <|assistant|> (renderToolResults), which is what renderChat gives
// for the same messages, so sampled and rendered transcripts agree token for token. Trained (mask
// 1): the assistant's text, its <|tool_call|> tokens and call JSON, and each closing <|end|>. Never
// trained (mask 0): tool results, their markers, and the reopening <|assistant|>.
import { SPECIAL_TOKENS, type BpeTokenizer } from "./bpe-tokenizer.ts";
import { type ConversationMessage, type ToolCall } from "../contract/conversation.ts";

export type ChatRole = "system" | "user" | "assistant" | "tool";

/** A call as renderChat reads it: the canonical shape, with `type` and `id` optional. */
export type ChatToolCall = { id?: string; type?: "function"; function: { name: string; arguments: Record<string, unknown> } };

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant only, older data: one tool call's raw text after the content. */
  toolCall?: string;
  /** Assistant only: calls in the canonical (TRL/OpenAI) shape, rendered after the content. */
  tool_calls?: ChatToolCall[];
  /** Tool only: which tool answered (not rendered: results follow their calls in order). */
  name?: string;
  /** Tool only: the call it answers (OpenAI). */
  tool_call_id?: string;
}

export interface RenderedChat {
  ids: number[];
  /** Same length as ids: 1 where the token is a training target. */
  lossMask: number[];
}

export class ChatTemplateError extends Error {}

/**
 * The name a parsed transcript gives a call the policy wrote but that is not a valid call
 * (`{"name": string, "arguments": object}`); its raw text is kept in `arguments.text` and rendered
 * back verbatim, so the transcript still holds exactly what the policy wrote.
 */
export const INVALID_TOOL_CALL = "invalid_tool_call";

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

/** The text after <|tool_call|>: {"name":…,"arguments":{…}} with no spaces (key order as given). */
export function toolCallText(call: ChatToolCall): string {
  const { name, arguments: args } = call.function;
  if (name === INVALID_TOOL_CALL && typeof args["text"] === "string") return args["text"];
  return JSON.stringify({ name, arguments: args });
}

/** Reads the text after <|tool_call|> back into a call; text that is not a valid call becomes an INVALID_TOOL_CALL. */
export function parseToolCallText(text: string): ToolCall {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const record = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  const name = record?.["name"];
  const args = record?.["arguments"];
  const isObject = args !== null && typeof args === "object" && !Array.isArray(args);
  if (typeof name === "string" && name.length > 0 && name.length <= 64 && isObject && Object.keys(record ?? {}).length === 2)
    return { type: "function", function: { name, arguments: args as Record<string, unknown> } };
  return { type: "function", function: { name: INVALID_TOOL_CALL, arguments: { text } } };
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
    if ((m.toolCall !== undefined || m.tool_calls !== undefined) && m.role !== "assistant")
      throw new ChatTemplateError("only assistant messages carry tool calls");
    if (m.toolCall !== undefined) {
      push([sp.toolCall], true);
      push(await encodeText(tokenizer, m.toolCall), true);
    }
    for (const call of m.tool_calls ?? []) {
      push([sp.toolCall], true);
      push(await encodeText(tokenizer, toolCallText(call)), true);
    }
    push([sp.endOfTurn], trained);
  }
  if (options.addGenerationPrompt) push([sp.assistant], false);
  return { ids, lossMask };
}

/**
 * A completion as it follows the generation prompt: plain text (one assistant turn), or the
 * assistant and tool messages of a tool-using answer (the first one an assistant message, whose
 * <|assistant|> marker the prompt already holds).
 */
export async function renderCompletion(tokenizer: BpeTokenizer, completion: string | ChatMessage[]): Promise<RenderedChat> {
  if (typeof completion === "string") {
    const c = await encodeText(tokenizer, completion);
    return { ids: [...c, tokenizer.special.endOfTurn], lossMask: [...c.map(() => 1), 1] };
  }
  if (completion[0]?.role !== "assistant") throw new ChatTemplateError("a completion starts with an assistant message");
  const stray = completion.find((m) => m.role !== "assistant" && m.role !== "tool");
  if (stray) throw new ChatTemplateError(`a completion holds assistant and tool messages only, not ${stray.role}`);
  const rendered = await renderChat(tokenizer, completion);
  return { ids: rendered.ids.slice(1), lossMask: rendered.lossMask.slice(1) };
}

/** Prompt (with generation prompt) and prompt + completion, for preference pairs and PPO. */
export async function renderPromptCompletion(
  tokenizer: BpeTokenizer,
  prompt: ChatMessage[],
  completion: string | ChatMessage[],
): Promise<{ prompt: number[]; full: RenderedChat }> {
  const p = await renderChat(tokenizer, prompt, { addGenerationPrompt: true });
  const c = await renderCompletion(tokenizer, completion);
  return { prompt: p.ids, full: { ids: [...p.ids, ...c.ids], lossMask: [...p.ids.map(() => 0), ...c.lossMask] } };
}

/**
 * What the sampler inserts after an assistant turn's calls end with <|end|>: one tool turn per
 * result, in call order, then the reopened assistant turn. Equal to renderChat of the tool
 * messages with the generation prompt. Throws ChatTemplateError when a result holds a reserved token.
 */
export async function renderToolResults(tokenizer: BpeTokenizer, results: string[]): Promise<number[]> {
  return (await renderChat(tokenizer, results.map((content) => ({ role: "tool", content })), { addGenerationPrompt: true })).ids;
}

/**
 * Completion tokens (what follows the generation prompt) back into canonical messages: assistant
 * messages with their text and tool calls, and the tool messages between them (named after the
 * call they answer). The inverse of renderCompletion for the transcripts the sampler writes; a cut-off
 * completion gives its last message as far as it got. Other special tokens inside a turn are dropped,
 * as decoding with skipSpecialTokens does; an <|endoftext|> ends the completion.
 */
export async function parseCompletion(tokenizer: BpeTokenizer, tokens: readonly number[]): Promise<ConversationMessage[]> {
  const sp = tokenizer.special;
  const special = new Set(Object.values(sp));
  const messages: ConversationMessage[] = [];
  type Open = { role: "assistant" | "tool"; content: number[]; calls: number[][] };
  let open: Open | null = { role: "assistant", content: [], calls: [] };
  let lastCalls: ToolCall[] = [];
  let answered = 0; // tool messages after the last assistant message

  const close = async (turn: Open): Promise<void> => {
    const content = await tokenizer.decode(turn.content, true);
    if (turn.role === "assistant") {
      lastCalls = await Promise.all(turn.calls.map(async (c) => parseToolCallText(await tokenizer.decode(c, true))));
      answered = 0;
      messages.push({ role: "assistant", content, ...(lastCalls.length > 0 ? { tool_calls: lastCalls } : {}) });
      return;
    }
    const call = lastCalls[answered++];
    messages.push({ role: "tool", content, name: call?.function.name ?? "unknown", ...(call?.id !== undefined ? { tool_call_id: call.id } : {}) });
  };

  for (const t of tokens) {
    if (t === sp.eos) break;
    if (open === null) {
      // between turns: only the sampler's insertions come here
      if (t === sp.toolResult) open = { role: "tool", content: [], calls: [] };
      else if (t === sp.assistant) open = { role: "assistant", content: [], calls: [] };
      continue;
    }
    if (t === sp.endOfTurn) {
      await close(open);
      open = null;
    } else if (t === sp.toolCall && open.role === "assistant") open.calls.push([]);
    else if (!special.has(t)) (open.calls.at(-1) ?? open.content).push(t);
  }
  if (open !== null && (open.role === "assistant" || open.content.length > 0)) await close(open);
  return messages;
}
