import { z } from "zod";
import { findDisallowed } from "../../lib/unsafe-text.ts";
import { conversationMessageSchema } from "../../../trainer/contract/conversation.ts";
import { answerText, compactAnswer, describeProblems, isTranscript, transcriptProblems, transcriptSchema, type ConversationMessage } from "../transcript.ts";

/** Limits on one imported record. Lengths are JS string lengths (UTF-16 units), which are ≥ code points, so they never under-count. */
export const MAX_CONTENT_CHARS = 32_000;
export const MAX_MESSAGES = 64;
export const MAX_COMPLETIONS = 9;
export const MAX_COMPLETION_CHARS = 32_000;
export const MAX_SOURCE_CHARS = 1_000;
export const MAX_MODEL_NAME_CHARS = 200;
/** Metadata is stored as jsonb next to every prompt; a cap keeps one odd line from bloating the table. */
export const MAX_METADATA_JSON_CHARS = 16_000;

export const chatRoles = ["system", "user", "assistant"] as const;
export type ChatRole = (typeof chatRoles)[number];

const isBlank = (text: string): boolean => text.trim().length === 0;

const contentSchema = (max: number) =>
  z
    .string({ error: "must be a string" })
    .refine((text) => !isBlank(text), { error: "is empty or whitespace-only" })
    .refine((text) => text.length <= max, { error: `is longer than ${max.toLocaleString("en")} characters` });

export const chatMessageSchema = z.strictObject({
  role: z.enum(chatRoles, { error: 'must be "system", "user" or "assistant"' }),
  content: contentSchema(MAX_CONTENT_CHARS),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const importCompletionSchema = z.object({
  /** The final answer (the whole completion when it is plain). */
  text: z.string(),
  model: z.string().nullable(),
  /** The transcript with tool calls and results, when the completion used tools (decision 0020). */
  messages: z.array(conversationMessageSchema).optional(),
});
export type ImportCompletion = z.infer<typeof importCompletionSchema>;

/** The normalized record every input shape becomes; the rest of the pipeline only sees this. */
export const importRecordSchema = z.object({
  line: z.number().int().nonnegative(),
  messages: z.array(chatMessageSchema).min(1).max(MAX_MESSAGES),
  completions: z.array(importCompletionSchema).max(MAX_COMPLETIONS),
  source: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  /** A gold task's known answer: the rank of each completion (1 = best, equal = tie), parallel to `completions`. */
  gold: z.array(z.number().int().min(1)).optional(),
  /** In the project's held-out eval set ("split": "eval"): stored, never labeled or trained on. */
  heldOut: z.boolean().optional(),
});
export type ImportRecord = z.infer<typeof importRecordSchema>;

/** A problem with one line. line 0 means the whole file (e.g. it is empty or not the expected JSON shape). */
export type ImportIssue = { line: number; reason: string };

// Optional provenance strings: exporters often write "" for "none", so blank means absent rather than an error.
const optionalLabel = (max: number) =>
  z
    .string({ error: "must be a string" })
    .max(max, { error: `is longer than ${max} characters` })
    .nullable()
    .optional()
    .transform((value) => (value === undefined || value === null || isBlank(value) ? null : value.trim()));

// A list of messages is TRL's tool-calling completion: assistant and tool messages, checked in
// normalizeImportRecord (so a problem names its message); zod only says it is a list here.
const completionInputSchema = z.union(
  [
    z.string(),
    z.array(z.unknown()),
    z.strictObject({
      text: z.string({ error: "must be a string" }),
      model: z.string().max(MAX_MODEL_NAME_CHARS).nullable().optional(),
    }),
    z.strictObject({
      messages: z.array(z.unknown()),
      model: z.string().max(MAX_MODEL_NAME_CHARS).nullable().optional(),
    }),
  ],
  { error: 'must be a string, a list of messages (assistant and tool turns), or an object { "text" or "messages", "model"? }' },
);

const sharedFields = {
  completions: z
    .array(completionInputSchema, { error: "must be an array" })
    .max(MAX_COMPLETIONS, { error: `has more than ${MAX_COMPLETIONS} completions` })
    .optional(),
  model: optionalLabel(MAX_MODEL_NAME_CHARS),
  source: optionalLabel(MAX_SOURCE_CHARS),
  metadata: z
    .record(z.string(), z.unknown(), { error: "must be a JSON object" })
    .refine((value) => JSON.stringify(value).length <= MAX_METADATA_JSON_CHARS, {
      error: `is larger than ${MAX_METADATA_JSON_CHARS.toLocaleString("en")} characters of JSON`,
    })
    .optional(),
  gold: z
    .array(z.number({ error: "must be rank numbers" }).int({ error: "ranks are whole numbers" }).min(1, { error: "ranks start at 1 (best)" }), {
      error: "must be an array of ranks, one per completion (1 = best, equal numbers = tie)",
    })
    .optional(),
  split: z.enum(["train", "eval"], { error: 'must be "train" or "eval" (the project\'s held-out eval set)' }).optional(),
};

const promptInputSchema = z.object({
  prompt: contentSchema(MAX_CONTENT_CHARS),
  system: contentSchema(MAX_CONTENT_CHARS).optional(),
  ...sharedFields,
});

const messagesInputSchema = z.object({
  messages: z
    .array(chatMessageSchema, { error: "must be an array of { role, content }" })
    .min(1, { error: "must hold at least one message" })
    .max(MAX_MESSAGES, { error: `has more than ${MAX_MESSAGES} messages` })
    .superRefine((messages, ctx) => {
      const last = messages.at(-1);
      if (last && last.role !== "user") {
        ctx.addIssue({
          code: "custom",
          message: `the last turn is "${last.role}", but a prompt must end with a "user" turn (put candidate answers in "completions")`,
        });
      }
      // Chat templates (Llama, Mistral, Gemma...) accept a system turn only at the start; catching it here beats a failed training run.
      messages.forEach((message, index) => {
        if (message.role === "system" && index > 0) {
          ctx.addIssue({ code: "custom", path: [index, "role"], message: "a system turn is only allowed as the first message" });
        }
      });
    }),
  ...sharedFields,
});

const allowedKeys = {
  prompt: ["prompt", "system", "completions", "model", "source", "metadata", "gold", "split"],
  messages: ["messages", "completions", "model", "source", "metadata", "gold", "split"],
} as const;
const allKnownKeys: readonly string[] = [...new Set([...allowedKeys.prompt, ...allowedKeys.messages])];

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

function describeUnknownKey(key: string): string {
  const close = allKnownKeys.find((known) => known !== key && editDistance(key.toLowerCase(), known) <= 2);
  return close ? `"${key}" (did you mean "${close}"?)` : `"${key}"`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out;
}

function formatZodIssues(error: z.ZodError): string {
  const seen = new Set<string>();
  for (const issue of error.issues) {
    const path = formatPath(issue.path);
    seen.add(path ? `${path}: ${issue.message}` : issue.message);
  }
  return [...seen].join("; ");
}

const typeName = (value: unknown): string => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value);

/**
 * Turns one raw input record (any accepted shape) into an ImportRecord, or explains in one line why it cannot.
 * Unknown keys are rejected rather than kept in metadata, so a typo like "promt" is caught instead of importing an empty prompt.
 */
export function normalizeImportRecord(raw: unknown, line: number): { ok: true; record: ImportRecord } | { ok: false; issue: ImportIssue } {
  const fail = (reason: string) => ({ ok: false as const, issue: { line, reason } });
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fail(`expected a JSON object, got ${typeName(raw)}`);
  const input = raw as Record<string, unknown>;
  // PostgreSQL cannot store NUL (a `\u0000` escape in the file) nor a lone surrogate (decision 0022).
  const unsafe = findDisallowed(input);
  if (unsafe) return fail(`"${unsafe.path}" contains ${unsafe.problem}`);
  const hasPrompt = "prompt" in input;
  const hasMessages = "messages" in input;
  if (hasPrompt && hasMessages) return fail('use either "prompt" or "messages", not both');

  const shape = hasMessages ? "messages" : "prompt";
  const allowed: readonly string[] = allowedKeys[shape];
  const unknown = Object.keys(input).filter((key) => !allowed.includes(key));
  const problems: string[] = [];
  if (unknown.length > 0) {
    const misplaced = shape === "messages" && unknown.includes("system") ? ' ("system" goes into "messages" as the first turn)' : "";
    problems.push(`unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map(describeUnknownKey).join(", ")}${misplaced}; allowed: ${allowed.join(", ")}`);
  }
  if (!hasPrompt && !hasMessages) {
    problems.push('missing "prompt" (a string) or "messages" (a chat conversation)');
    return fail(problems.join("; "));
  }

  const known = Object.fromEntries(Object.entries(input).filter(([key]) => allowed.includes(key)));
  const parsed = shape === "messages" ? messagesInputSchema.safeParse(known) : promptInputSchema.safeParse(known);
  if (!parsed.success) problems.push(formatZodIssues(parsed.error));
  if (problems.length > 0 || !parsed.success) return fail(problems.join("; "));

  const data = parsed.data;
  const messages: ChatMessage[] =
    "messages" in data
      ? data.messages
      : [...(data.system !== undefined ? [{ role: "system" as const, content: data.system }] : []), { role: "user" as const, content: data.prompt }];

  const completions: ImportCompletion[] = [];
  const completionProblems: string[] = [];
  (data.completions ?? []).forEach((completion, index) => {
    // An object without its own model inherits the record's, like a string completion does.
    const model = typeof completion === "string" || Array.isArray(completion) ? data.model : (completion.model?.trim() || data.model);
    if (Array.isArray(completion) || (typeof completion === "object" && "messages" in completion)) {
      const list = Array.isArray(completion) ? completion : completion.messages;
      const key = `completions[${index}]${Array.isArray(completion) ? "" : ".messages"}`;
      const answer = transcriptOf(list, key);
      if (typeof answer === "object" && "problem" in answer) completionProblems.push(answer.problem);
      else completions.push({ text: answerText(answer), model, ...(isTranscript(answer) ? { messages: answer } : {}) });
      return;
    }
    const text = typeof completion === "string" ? completion : completion.text;
    if (isBlank(text)) completionProblems.push(`completions[${index}]: is empty or whitespace-only`);
    else if (text.length > MAX_COMPLETION_CHARS) completionProblems.push(`completions[${index}]: is longer than ${MAX_COMPLETION_CHARS.toLocaleString("en")} characters`);
    else completions.push({ text, model });
  });
  if (completionProblems.length > 0) return fail(completionProblems.join("; "));
  if (data.gold !== undefined) {
    const problem = goldProblem(data.gold, completions.length);
    if (problem) return fail(`gold: ${problem}`);
  }

  const record: ImportRecord = { line, messages, completions, source: data.source, metadata: data.metadata ?? {} };
  if (data.gold !== undefined) record.gold = data.gold;
  if (data.split === "eval") {
    // An eval prompt is scored by a checker or a reward model, never labeled: gold has no place on it.
    if (data.gold !== undefined) return fail('split: an eval prompt is never labeled, so it cannot be a gold task (drop "gold" or "split")');
    record.heldOut = true;
  }
  return { ok: true, record };
}

/** A completion given as messages: the plain answer it is (one assistant message), or a well-formed transcript. */
function transcriptOf(list: unknown[], key: string): string | ConversationMessage[] | { problem: string } {
  const parsed = transcriptSchema.safeParse(list);
  if (!parsed.success) return { problem: [...new Set(parsed.error.issues.map((issue) => `${key}${formatPath(issue.path)}: ${issue.message}`))].join("; ") };
  const problems = transcriptProblems(parsed.data);
  if (problems.length > 0) return { problem: describeProblems(problems, key) };
  return compactAnswer(parsed.data);
}

/** Why a gold answer cannot be used with this many completions; null when it can. */
function goldProblem(gold: readonly number[], completions: number): string | null {
  if (completions < 2) return `a gold answer ranks the completions, so it needs at least two (found ${completions})`;
  if (gold.length !== completions) return `has ${gold.length} ranks for ${completions} completions; give one rank per completion, in the same order`;
  const tooHigh = gold.filter((rank) => rank > completions);
  if (tooHigh.length > 0) return `ranks go from 1 (best) to ${completions}; found ${tooHigh.join(", ")}`;
  // An answer that ties everything orders no pair, so no labeler could agree or disagree with it.
  if (new Set(gold).size < 2) return "ties every completion, so it cannot tell a good labeler from a bad one; give at least two different ranks";
  return null;
}
