// JSONL datasets in TRL's formats, validated line by line. Problems are collected with their line
// number and reason, never silently dropped; callers decide whether any problem is fatal.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { completionTurnProblems } from "../contract/conversation.ts";

/**
 * One schema chosen by looking at the value, so that an error names the chosen shape's own fields
 * (a zod union only says "Invalid input" when every option fails).
 */
export function chosenBy<T>(pick: (value: unknown) => z.ZodType<T>): z.ZodType<T> {
  return z.unknown().transform((value, ctx) => {
    const parsed = pick(value).safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path, input: value });
    return z.NEVER;
  });
}

/**
 * A call as TRL/transformers write it (`arguments` an object); OpenAI's form (`arguments` a JSON
 * string, `content: null` beside calls) is read too and normalised to it.
 */
const toolCall = z.strictObject({
  id: z.string().max(64).optional(),
  type: z.literal("function").default("function"),
  function: z.strictObject({
    name: z.string().min(1).max(64),
    arguments: z.preprocess(
      (value) => {
        if (typeof value !== "string") return value;
        try {
          return JSON.parse(value) as unknown;
        } catch {
          return value; // refused below
        }
      },
      z.record(z.string(), z.unknown(), { error: "arguments must be a JSON object (or a string holding one)" }),
    ),
  }),
});

const message = z
  .strictObject({
    role: z.enum(["system", "user", "assistant", "tool"]),
    content: z.string().nullable().transform((c) => c ?? ""),
    /** Older form of one call: its raw text. */
    toolCall: z.string().optional(),
    tool_calls: z.array(toolCall).min(1).max(8).optional(),
    /** Tool messages: the tool that answered, and (OpenAI) the call answered. */
    name: z.string().min(1).max(64).optional(),
    tool_call_id: z.string().max(64).optional(),
  })
  .refine((m) => m.role === "assistant" || (m.tool_calls === undefined && m.toolCall === undefined), { message: "only assistant messages carry tool calls", path: ["tool_calls"] });

export type RecordMessage = z.output<typeof message>;

/** A prompt is either chat messages or a plain string (one user turn). */
const promptText = z.string().min(1);
const promptMessages = z.array(message).min(1);
const prompt = chosenBy<string | RecordMessage[]>((v) => (typeof v === "string" ? promptText : promptMessages));

/** TRL tool datasets may carry the tools' JSON schemas; the template does not render them (decision 0019). */
const tools = z.array(z.unknown()).optional();

const usesTools = (m: RecordMessage): boolean => m.role === "tool" || m.tool_calls !== undefined || m.toolCall !== undefined;

export const sftRecordSchema = z.strictObject({
  messages: z.array(message).min(1).refine((m) => m.some((x) => x.role === "assistant" && (x.content.length > 0 || usesTools(x))), {
    message: "needs at least one non-empty assistant message (nothing to learn otherwise)",
  }),
  tools,
});

/**
 * A completion: plain text, or TRL's conversational form — a list of messages after the prompt.
 * A list of assistant messages alone is read as their text (Tandem's preference export writes one
 * assistant turn); a list with tool calls or tool results stays a transcript (assistant first,
 * then assistant and tool messages), rendered with its tool turns masked out of every loss.
 */
const completionText = z.string().min(1);
const completionMessages = z
  .array(message)
  .min(1)
  .superRefine((turns, ctx) => {
    for (const problem of completionTurnProblems(turns)) ctx.addIssue({ code: "custom", ...problem });
  })
  .transform((turns): string | RecordMessage[] =>
    turns.some(usesTools) ? turns : turns.filter((t) => t.role === "assistant").map((t) => t.content).join("\n"),
  )
  .refine((c) => typeof c !== "string" || c.length > 0, "needs a non-empty assistant turn");
const completion = chosenBy<string | RecordMessage[]>((v) => (typeof v === "string" ? completionText : completionMessages));

export type Completion = z.output<typeof completion>;

export const preferenceRecordSchema = z.strictObject({
  prompt,
  chosen: completion,
  rejected: completion,
  margin: z.number().optional(),
  /** Tandem's export weight (1 / pairs of the item); read so exported files load, not used yet. */
  weight: z.number().nonnegative().optional(),
  tools,
});

/** K completions with ranks (0 = best, equal = tie), or `ranking`: completion indices best first. */
export const rankingRecordSchema = z
  .strictObject({
    prompt,
    completions: z.array(completion).min(2),
    ranks: z.array(z.number().int().nonnegative()).optional(),
    ranking: z.array(z.number().int().nonnegative()).optional(),
    margin: z.number().optional(),
    tools,
  })
  .refine((r) => (r.ranks === undefined) !== (r.ranking === undefined), { message: "give exactly one of ranks or ranking" })
  .refine((r) => (r.ranks ?? r.ranking ?? []).length === r.completions.length, { message: "one rank per completion" });

/** A prompt for sampling or RL; `metadata` carries what checkers read (a reference answer). */
export const promptRecordSchema = z.strictObject({ prompt, metadata: z.record(z.string(), z.unknown()).optional() });

/** Preference records ({"chosen", "rejected"}) or rankings ({"completions"}), told apart by their keys. */
export const preferenceOrRankingSchema = chosenBy<PreferenceRecord | RankingRecord>((v) =>
  v !== null && typeof v === "object" && "completions" in v ? rankingRecordSchema : preferenceRecordSchema,
);

/** TRL's unpaired (KTO) form: one completion with a thumbs up (true) or down (false). */
export const unpairedRecordSchema = z.strictObject({ prompt, completion, label: z.boolean(), tools });

export type SftRecord = z.output<typeof sftRecordSchema>;
export type PreferenceRecord = z.output<typeof preferenceRecordSchema>;
export type RankingRecord = z.output<typeof rankingRecordSchema>;
export type PromptRecord = z.output<typeof promptRecordSchema>;
export type UnpairedRecord = z.output<typeof unpairedRecordSchema>;

export interface LineProblem {
  line: number;
  reason: string;
}

export interface ParsedJsonl<T> {
  records: { line: number; value: T }[];
  problems: LineProblem[];
}

export function parseJsonl<T>(text: string, schema: z.ZodType<T>): ParsedJsonl<T> {
  const out: ParsedJsonl<T> = { records: [], problems: [] };
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (error) {
      out.problems.push({ line, reason: `invalid JSON: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    const parsed = schema.safeParse(json);
    if (parsed.success) out.records.push({ line, value: parsed.data });
    else out.problems.push({ line, reason: parsed.error.issues.map((e) => `${e.path.join(".") || "(record)"}: ${e.message}`).join("; ") });
  });
  if (out.records.length === 0 && out.problems.length === 0) out.problems.push({ line: 0, reason: "the file has no records" });
  return out;
}

export function readJsonl<T>(path: string, schema: z.ZodType<T>): ParsedJsonl<T> {
  return parseJsonl(readFileSync(path, "utf8"), schema);
}

/** Ranks from either form: `ranks` as given, or `ranking` (indices best first) turned into ranks. */
export function ranksOf(r: RankingRecord): number[] {
  if (r.ranks) return r.ranks;
  const ranks = new Array<number>(r.completions.length).fill(0);
  (r.ranking ?? []).forEach((completion, position) => (ranks[completion] = position));
  return ranks;
}
