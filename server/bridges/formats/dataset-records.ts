import { z } from "zod";
import { chatMessageSchema, MAX_COMPLETION_CHARS, MAX_MESSAGES, type ChatMessage } from "../../labeling/import/import-record.ts";

/**
 * The records every format converts to and from. A format module only maps field names and
 * shapes; these types are what Tandem stores and exports (decision 0013).
 */
export const datasetKinds = ["preferences", "sft", "unpaired", "prompts"] as const;
export type DatasetKind = (typeof datasetKinds)[number];

export type PreferenceItem = { prompt: ChatMessage[]; chosen: string; rejected: string; margin: number; weight: number };
export type SftItem = { prompt: ChatMessage[]; completion: string };
export type UnpairedItem = { prompt: ChatMessage[]; completion: string; label: boolean };
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

/** A conversation that a prompt can be: system only first, ends with the user's turn. */
export function promptMessages(value: unknown, key: string): ChatMessage[] {
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

export function text(value: unknown, key: string): string {
  const parsed = completionText.safeParse(value);
  if (!parsed.success) refuse(zodReason(parsed.error, key));
  return parsed.data!;
}

/** An answer given as a string or as a list holding one assistant message (TRL's conversational completion). */
export function answerOf(value: unknown, key: string): string {
  if (typeof value === "string") return text(value, key);
  if (Array.isArray(value)) {
    if (value.length !== 1) refuse(`${key}: expected one assistant message, got ${value.length}`);
    const parsed = chatMessageSchema.safeParse(value[0]);
    if (!parsed.success) refuse(zodReason(parsed.error, `${key}[0]`));
    if (parsed.data!.role !== "assistant") refuse(`${key}[0].role: must be "assistant"`);
    return text(parsed.data!.content, `${key}[0].content`);
  }
  return refuse(`${key}: expected a string or a list with one assistant message, got ${typeName(value)}`);
}

/** A whole conversation ending with the assistant's answer: the prompt is everything before it. */
export function splitConversation(value: unknown, key: string): { prompt: ChatMessage[]; completion: string } {
  const parsed = conversation.safeParse(value);
  if (!parsed.success) refuse(zodReason(parsed.error, key));
  const messages = parsed.data!;
  const last = messages.at(-1)!;
  if (last.role !== "assistant") refuse(`${key}: the last turn is "${last.role}"; it must be the assistant's answer`);
  if (messages.length < 2) refuse(`${key}: needs at least one user turn before the assistant's answer`);
  return { prompt: promptMessages(messages.slice(0, -1), key), completion: text(last.content, `${key}[${messages.length - 1}].content`) };
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

export function samePrompt(a: ChatMessage[], b: ChatMessage[]): boolean {
  return a.length === b.length && a.every((m, i) => m.role === b[i]!.role && m.content === b[i]!.content);
}

export { plainPrompt } from "../../labeling/exports.server.ts";

/** Metadata must stay small (it is stored next to every prompt). */
export function metadataOf(entries: Record<string, unknown>): Record<string, unknown> {
  const json = JSON.stringify(entries);
  if (json.length > 16_000) refuse("the extra fields (stored as the prompt's metadata) are longer than 16,000 characters as JSON");
  return entries;
}

export type { ChatMessage };
