import { z } from "zod";
import { chatMessageSchema, MAX_COMPLETION_CHARS, MAX_MESSAGES, type ChatMessage } from "../../labeling/import/import-record.ts";
import {
  compactAnswer,
  describeProblems,
  isTranscript,
  parseFlattened,
  splitAnswer,
  transcriptProblems,
  transcriptSchema,
  type Answer,
  type ConversationMessage,
  type TranscriptProblem,
} from "../../labeling/transcript.ts";
import { conversationMessageSchema as conversationMessage } from "../../../trainer/contract/conversation.ts";

/**
 * The records every format converts to and from. A format module only maps field names and
 * shapes; these types are what Tandem stores and exports (decision 0013).
 */
export const datasetKinds = ["preferences", "sft", "unpaired", "prompts"] as const;
export type DatasetKind = (typeof datasetKinds)[number];

/**
 * Answers are plain strings or, with tool use, transcripts (assistant and tool messages; decision
 * 0020). An SFT prompt may hold earlier turns with tool use (a continued demonstration).
 */
export type PreferenceItem = { prompt: ChatMessage[]; chosen: Answer; rejected: Answer; margin: number; weight: number };
export type SftItem = { prompt: ConversationMessage[]; completion: Answer };
export type UnpairedItem = { prompt: ChatMessage[]; completion: Answer; label: boolean };
export type PromptItem = { messages: ChatMessage[]; metadata: Record<string, unknown> };
export type DatasetItem = {
  preferences: PreferenceItem;
  sft: SftItem;
  unpaired: UnpairedItem;
  prompts: PromptItem;
};

export type Decoded<T> = { ok: true; item: T } | { ok: false; reason: string };
/** One format's mapping for one dataset kind: an item to a JSON-able record and back. */
export type Codec<T> = { encode: (item: T, index: number) => Record<string, unknown>; decode: (raw: unknown) => Decoded<T> };

export class RecordError extends Error {}
/** Inside a decoder: stop with a reason for this record. */
export const refuse = (reason: string): never => {
  throw new RecordError(reason);
};

/** Runs a decoder body that may `refuse`; zod errors become a one-line reason with paths. */
export function decoding<T>(body: () => T): Decoded<T> {
  try {
    return { ok: true, item: body() };
  } catch (error) {
    if (error instanceof RecordError) return { ok: false, reason: error.message };
    if (error instanceof z.ZodError) return { ok: false, reason: zodReason(error) };
    throw error;
  }
}

export function zodReason(error: z.ZodError, prefix = ""): string {
  const seen = new Set<string>();
  for (const issue of error.issues) {
    const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
    const where = (prefix + path).replace(/^\./, "");
    seen.add(where ? `${where}: ${issue.message}` : issue.message);
  }
  return [...seen].join("; ");
}

export const typeName = (value: unknown): string => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value);

export function asObject(raw: unknown): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) refuse(`expected an object, got ${typeName(raw)}`);
  return raw as Record<string, unknown>;
}

/** A required field, with the record's keys in the message so a misspelt key name is easy to see. */
export function field(record: Record<string, unknown>, key: string): unknown {
  if (!(key in record) || record[key] === undefined || record[key] === null) {
    refuse(`missing "${key}" (the record has ${Object.keys(record).map((k) => `"${k}"`).join(", ") || "no keys"})`);
  }
  return record[key];
}

const completionText = z
  .string({ error: "must be a string" })
  .refine((t) => t.trim().length > 0, { error: "is empty or whitespace-only" })
  .refine((t) => t.length <= MAX_COMPLETION_CHARS, { error: `is longer than ${MAX_COMPLETION_CHARS.toLocaleString("en")} characters` });
const conversation = z.array(chatMessageSchema, { error: "must be a list of { role, content } messages" }).min(1, { error: "has no messages" }).max(MAX_MESSAGES);

const usesTools = (m: { role: string; tool_calls?: unknown }) => m.role === "tool" || m.tool_calls !== undefined;

/** A conversation that a prompt can be: system only first, ends with the user's turn. */
export function promptMessages(value: unknown, key: string): ChatMessage[] {
  if (Array.isArray(value)) {
    const toolAt = value.findIndex((m) => typeof m === "object" && m !== null && usesTools(m as { role: string }));
    if (toolAt >= 0) refuse(`${key}[${toolAt}]: tool calls and results belong to the answer; a prompt here holds plain turns (only an SFT conversation keeps tool use in earlier turns)`);
  }
  const parsed = conversation.safeParse(value);
  if (!parsed.success) refuse(zodReason(parsed.error, key));
  const messages = parsed.data!;
  messages.forEach((m, i) => {
    if (m.role === "system" && i > 0) refuse(`${key}[${i}].role: a system turn is only allowed as the first message`);
  });
  const last = messages.at(-1)!;
  if (last.role !== "user") refuse(`${key}: the last turn is "${last.role}", but a prompt must end with a "user" turn`);
  return messages;
}

/** A prompt given as plain text (TRL's standard format) or as chat messages (conversational). */
export function promptOf(value: unknown, key: string): ChatMessage[] {
  if (typeof value === "string") return [{ role: "user", content: text(value, key) }];
  if (Array.isArray(value)) return promptMessages(value, key);
  return refuse(`${key}: expected a string or a list of messages, got ${typeName(value)}`);
}

/**
 * An SFT prompt: like promptOf, but earlier assistant turns may use tools (each run of assistant
 * and tool messages between user turns is a well-formed transcript).
 */
export function historyPromptOf(value: unknown, key: string): ConversationMessage[] {
  if (!Array.isArray(value) || !value.some((m) => typeof m === "object" && m !== null && usesTools(m as { role: string }))) return promptOf(value, key);
  const parsed = z.array(conversationMessage).min(1).max(MAX_MESSAGES).safeParse(value);
  if (!parsed.success) refuse(zodReason(parsed.error, key));
  const messages = parsed.data!;
  let start = -1;
  messages.forEach((m, i) => {
    if (m.role === "system" && i > 0) refuse(`${key}[${i}].role: a system turn is only allowed as the first message`);
    const inRun = m.role === "assistant" || m.role === "tool";
    if (inRun && start < 0) start = i;
    if ((!inRun || i === messages.length - 1) && start >= 0) {
      const end = inRun ? i + 1 : i;
      const run = messages.slice(start, end);
      const problems = transcriptProblems(run);
      if (problems.length > 0) refuse(describeProblems(shifted(problems, start), key));
      start = -1;
    }
    if (!inRun && m.content.trim() === "") refuse(`${key}[${i}].content: is empty or whitespace-only`);
  });
  const last = messages.at(-1)!;
  if (last.role !== "user") refuse(`${key}: the last turn is "${last.role}", but a prompt must end with a "user" turn`);
  return messages;
}

export function text(value: unknown, key: string): string {
  const parsed = completionText.safeParse(value);
  if (!parsed.success) refuse(zodReason(parsed.error, key));
  return parsed.data!;
}

/**
 * An answer: a string (TRL's standard format; one flattened with tool blocks becomes its
 * transcript again) or a list of messages (conversational) — one assistant message, or the
 * assistant and tool messages of an answer that used tools.
 */
export function answerOf(value: unknown, key: string): Answer {
  if (typeof value === "string") {
    const parsed = parseFlattened(value);
    if (!parsed.ok) refuse(`${key}: ${parsed.reason}`);
    const answer = (parsed as { answer: Answer }).answer;
    return isTranscript(answer) ? checkedTranscript(answer, key) : text(value, key);
  }
  if (Array.isArray(value)) {
    if (value.length === 1 && !usesTools((value[0] ?? {}) as { role: string })) {
      const parsed = chatMessageSchema.safeParse(value[0]);
      if (!parsed.success) refuse(zodReason(parsed.error, `${key}[0]`));
      if (parsed.data!.role !== "assistant") refuse(`${key}[0].role: must be "assistant"`);
      return text(parsed.data!.content, `${key}[0].content`);
    }
    const parsed = transcriptSchema.safeParse(value);
    if (!parsed.success) refuse(zodReason(parsed.error, key));
    return checkedTranscript(parsed.data!, key);
  }
  return refuse(`${key}: expected a string or a list of assistant (and tool) messages, got ${typeName(value)}`);
}

/** Problem paths of a slice, as paths of the whole list. */
const shifted = (problems: TranscriptProblem[], offset: number): TranscriptProblem[] =>
  problems.map((p) => ({ ...p, path: typeof p.path[0] === "number" ? [p.path[0] + offset, ...p.path.slice(1)] : p.path }));

function checkedTranscript(messages: ConversationMessage[], key: string, offset = 0): Answer {
  const problems = transcriptProblems(messages);
  if (problems.length > 0) refuse(describeProblems(shifted(problems, offset), key));
  const answer = compactAnswer(messages);
  return typeof answer === "string" ? text(answer, key) : answer;
}

/**
 * A whole conversation ending with the assistant's answer: the answer is every assistant and
 * tool message after the last user turn (just the last message when none uses tools); the prompt
 * is everything before it, in plain turns.
 */
export function splitConversation(value: unknown, key: string): { prompt: ChatMessage[]; completion: Answer } {
  const { prompt, completion } = split(value, key, false);
  return { prompt: prompt as ChatMessage[], completion };
}

/** splitConversation for SFT: earlier assistant turns may use tools too. */
export const splitHistoryConversation = (value: unknown, key: string): { prompt: ConversationMessage[]; completion: Answer } => split(value, key, true);

function split(value: unknown, key: string, history: boolean): { prompt: ConversationMessage[]; completion: Answer } {
  const parsed = z.array(conversationMessage, { error: "must be a list of { role, content } messages" }).min(1, { error: "has no messages" }).max(MAX_MESSAGES).safeParse(value);
  if (!parsed.success) refuse(zodReason(parsed.error, key));
  const messages = parsed.data!;
  const last = messages.at(-1)!;
  if (last.role !== "assistant") refuse(`${key}: the last turn is "${last.role}"; it must be the assistant's answer`);
  const start = splitAnswer(messages).prompt.length;
  if (start === 0) refuse(`${key}: needs at least one user turn before the assistant's answer`);
  const prompt = history ? historyPromptOf(messages.slice(0, start), key) : promptMessages(messages.slice(0, start), key);
  const answer = messages.slice(start);
  const completion = answer.length === 1 && !usesTools(answer[0]!) ? text(answer[0]!.content, `${key}[${start}].content`) : checkedTranscript(answer, key, start);
  return { prompt, completion };
}


export function finiteNumber(value: unknown, key: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) refuse(`${key}: must be a number`);
  return value as number;
}

export function booleanLabel(value: unknown, key: string): boolean {
  if (typeof value === "boolean") return value;
  // Some writers store KTO labels as 0/1.
  if (value === 0 || value === 1) return value === 1;
  return refuse(`${key}: must be true or false, got ${JSON.stringify(value)}`);
}

export const assistant = (content: string): ChatMessage[] => [{ role: "assistant", content }];

export function samePrompt(a: ConversationMessage[], b: ConversationMessage[]): boolean {
  return a.length === b.length && a.every((m, i) => JSON.stringify(m) === JSON.stringify(b[i]));
}

export { plainPrompt } from "../../labeling/exports.server.ts";

/** Metadata must stay small (it is stored next to every prompt). */
export function metadataOf(entries: Record<string, unknown>): Record<string, unknown> {
  const json = JSON.stringify(entries);
  if (json.length > 16_000) refuse("the extra fields (stored as the prompt's metadata) are longer than 16,000 characters as JSON");
  return entries;
}

export type { Answer, ChatMessage, ConversationMessage };
