// JSONL datasets in TRL's formats, validated line by line. Problems are collected with their line
// number and reason, never silently dropped; callers decide whether any problem is fatal.
import { readFileSync } from "node:fs";
import { z } from "zod";

const message = z.strictObject({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string(),
  toolCall: z.string().optional(),
});

/** A prompt is either chat messages or a plain string (one user turn). */
const prompt = z.union([z.string().min(1), z.array(message).min(1)]);

export const sftRecordSchema = z.strictObject({
  messages: z.array(message).min(1).refine((m) => m.some((x) => x.role === "assistant" && x.content.length > 0), {
    message: "needs at least one non-empty assistant message (nothing to learn otherwise)",
  }),
});

/**
 * A completion: plain text, or TRL's conversational form (a list holding the assistant turn),
 * which is what Tandem's preference export writes by default.
 */
const completion = z.union([
  z.string().min(1),
  z
    .array(message)
    .min(1)
    .transform((turns) => turns.filter((t) => t.role === "assistant").map((t) => t.content).join("\n"))
    .pipe(z.string().min(1, "needs a non-empty assistant turn")),
]);

export const preferenceRecordSchema = z.strictObject({
  prompt,
  chosen: completion,
  rejected: completion,
  margin: z.number().optional(),
  /** Tandem's export weight (1 / pairs of the item); read so exported files load, not used yet. */
  weight: z.number().nonnegative().optional(),
});

/** K completions with ranks (0 = best, equal = tie), or `ranking`: completion indices best first. */
export const rankingRecordSchema = z
  .strictObject({
    prompt,
    completions: z.array(z.string().min(1)).min(2),
    ranks: z.array(z.number().int().nonnegative()).optional(),
    ranking: z.array(z.number().int().nonnegative()).optional(),
    margin: z.number().optional(),
  })
  .refine((r) => (r.ranks === undefined) !== (r.ranking === undefined), { message: "give exactly one of ranks or ranking" })
  .refine((r) => (r.ranks ?? r.ranking ?? []).length === r.completions.length, { message: "one rank per completion" });

/** A prompt for sampling or RL; `metadata` carries what checkers read (a reference answer). */
export const promptRecordSchema = z.strictObject({ prompt, metadata: z.record(z.string(), z.unknown()).optional() });

export type SftRecord = z.output<typeof sftRecordSchema>;
export type PreferenceRecord = z.output<typeof preferenceRecordSchema>;
export type RankingRecord = z.output<typeof rankingRecordSchema>;
export type PromptRecord = z.output<typeof promptRecordSchema>;

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
