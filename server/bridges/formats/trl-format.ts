import { answerMessages, flattenAnswer, sameAnswer } from "../../labeling/transcript.ts";
import {
  answerOf,
  asObject,
  booleanLabel,
  decoding,
  field,
  finiteNumber,
  metadataOf,
  plainPrompt,
  promptOf,
  refuse,
  samePrompt,
  splitConversation,
  splitHistoryConversation,
  historyPromptOf,
  type Answer,
  type ChatMessage,
  type ConversationMessage,
  type Codec,
  type DatasetItem,
  type DatasetKind,
} from "./dataset-records.ts";

/**
 * TRL's dataset formats (https://huggingface.co/docs/trl/dataset_formats).
 * conversational: prompts are lists of { role, content }, answers one assistant message — or,
 * with tool use, TRL's tool-calling messages (assistant tool_calls, tool results, the final
 * assistant message); standard: plain strings, a tool-using answer flattened (transcript.ts).
 * Import accepts either per record (a string or a list), so a file need not say which it is.
 *   preferences  { prompt, chosen, rejected } (+ margin, weight as Tandem writes them);
 *                also the implicit-prompt form { chosen, rejected } of two whole conversations
 *   sft          conversational { messages }, standard { prompt, completion }
 *                (also the conversational prompt-completion form { prompt: [...], completion: [...] })
 *   unpaired     { prompt, completion, label } (KTO; label true = desirable)
 *   prompts      { prompt, ...extra columns } (GRPO hands the extra columns, e.g. the answer, to reward functions)
 */
export type TrlStyle = "conversational" | "standard";

const promptOut = (prompt: ConversationMessage[], style: TrlStyle) => (style === "conversational" ? prompt : plainPrompt(prompt));
const answerOut = (answer: Answer, style: TrlStyle) => (style === "conversational" ? answerMessages(answer) : flattenAnswer(answer));

export function trlCodec<K extends DatasetKind>(kind: K, style: TrlStyle): Codec<DatasetItem[K]> {
  return codecs[kind](style) as unknown as Codec<DatasetItem[K]>;
}

const codecs: { [K in DatasetKind]: (style: TrlStyle) => Codec<DatasetItem[K]> } = {
  preferences: (style) => ({
    encode: (p) => ({ prompt: promptOut(p.prompt, style), chosen: answerOut(p.chosen, style), rejected: answerOut(p.rejected, style), margin: p.margin, weight: p.weight }),
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        const margin = finiteNumber(r.margin, "margin", 1);
        const weight = finiteNumber(r.weight, "weight", 1);
        if (!("prompt" in r) && Array.isArray(r.chosen) && Array.isArray(r.rejected)) {
          // Implicit prompt: two whole conversations that differ in the last (assistant) turn.
          const chosen = splitConversation(r.chosen, "chosen");
          const rejected = splitConversation(r.rejected, "rejected");
          if (!samePrompt(chosen.prompt, rejected.prompt)) refuse("chosen and rejected must share every turn but the last (or give the prompt in \"prompt\")");
          return pair(chosen.prompt, chosen.completion, rejected.completion, margin, weight);
        }
        return pair(promptOf(field(r, "prompt"), "prompt"), answerOf(field(r, "chosen"), "chosen"), answerOf(field(r, "rejected"), "rejected"), margin, weight);
      }),
  }),
  sft: (style) => ({
    encode: (s) =>
      style === "conversational" ? { messages: [...s.prompt, ...answerMessages(s.completion)] } : { prompt: plainPrompt(s.prompt), completion: flattenAnswer(s.completion) },
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        if ("messages" in r) return splitHistoryConversation(r.messages, "messages");
        return { prompt: historyPromptOf(field(r, "prompt"), "prompt"), completion: answerOf(field(r, "completion"), "completion") };
      }),
  }),
  unpaired: (style) => ({
    encode: (u) => ({ prompt: promptOut(u.prompt, style), completion: answerOut(u.completion, style), label: u.label }),
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        return { prompt: promptOf(field(r, "prompt"), "prompt"), completion: answerOf(field(r, "completion"), "completion"), label: booleanLabel(field(r, "label"), "label") };
      }),
  }),
  prompts: (style) => ({
    encode: (p) => ({ prompt: promptOut(p.messages, style), ...withoutKeys(p.metadata, ["prompt"]) }),
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        return { messages: promptOf(field(r, "prompt"), "prompt"), metadata: metadataOf(withoutKeys(r, ["prompt"])) };
      }),
  }),
};

export function pair(prompt: ChatMessage[], chosen: Answer, rejected: Answer, margin: number, weight: number) {
  if (sameAnswer(chosen, rejected)) refuse("chosen and rejected are the same answer");
  return { prompt, chosen, rejected, margin, weight };
}

export function withoutKeys(record: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => !keys.includes(k)));
}
