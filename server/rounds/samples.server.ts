/**
 * Closing the loop: a sampling job's completions become ranking tasks for labelers. Each
 * completion keeps its decoding parameters and seed; empty and near-duplicate completions of
 * the same prompt are dropped (a ranking between two copies teaches nothing), and a prompt left
 * with fewer than two completions gets no task.
 */
import { initialOverlap } from "../labeling/adaptive-overlap.ts";
import type { Transaction } from "kysely";
import { z } from "zod";
import type { Database, JobsTable } from "../db/schema.ts";
import type { Selectable } from "kysely";
import { AppError } from "../lib/app-error.ts";
import { exactJaccard, shingleSet } from "../labeling/import/minhash.ts";
import { normalizeForHash } from "../labeling/import/normalize.ts";
import { projectSettingsSchema, type ProjectSettings } from "../labeling/project-settings.ts";
import { checkAnswer } from "../../trainer/contract/checker.ts";
import { conversationMessageSchema } from "../../trainer/contract/conversation.ts";
import { flattenAnswer, MAX_TRANSCRIPT_MESSAGES, storedMessages, type ConversationMessage } from "../labeling/transcript.ts";

const withoutNul = (text: string) => text.replaceAll("\u0000", "");
/** Every string in a value without NUL: jsonb refuses \u0000 anywhere (a tool call's arguments too). */
const deepWithoutNul = <T>(value: T): T =>
  (typeof value === "string" ? withoutNul(value)
  : Array.isArray(value) ? value.map(deepWithoutNul)
  : value !== null && typeof value === "object" ? Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), deepWithoutNul(v)]))
  : value) as T;

const sampleLineSchema = z.looseObject({
  line: z.number().int().positive(),
  // A byte-level model can emit NUL, which PostgreSQL text cannot hold; it carries no meaning here.
  completion: z.string().transform(withoutNul),
  tokens: z.number().int().nonnegative(),
  finished: z.boolean(),
  sampling: z.record(z.string(), z.unknown()),
  /**
   * The completion as assistant and tool messages when the policy called tools (`completion` is
   * then the final answer); absent on plain samples and on lines written before tool use.
   */
  messages: z
    .array(conversationMessageSchema)
    .min(1)
    .max(MAX_TRANSCRIPT_MESSAGES)
    .transform((messages) => deepWithoutNul(messages))
    .optional(),
});

type CheckerScore = { scored: number; correct: number };
export type SampleSummary = {
  prompts: number;
  completions: number;
  tasks: number;
  compares: number;
  dropped: { empty: number; nearDuplicate: number };
  /** Spare samples that took the place of dropped ones in a ranking task (the resampling). */
  resampled: number;
  meanTokens: number;
  /** The project's checker on every sample whose prompt carries its reference (zeros without a checker). */
  checker: { policy: CheckerScore; baseline: CheckerScore | null };
};

type Sample = z.infer<typeof sampleLineSchema>;

/**
 * Spare samples drawn per prompt beyond K, so that a ranking task still gets K distinct
 * completions when some come out empty or as near copies (resampling without a second pass).
 */
export const spareSamples = (k: number): number => Math.ceil(k / 2);

/** What the filters compare: the final answer, or the whole transcript when the policy used tools. */
type Comparable = { completion: string; messages?: ConversationMessage[] | null };
const wholeText = (sample: Comparable) => (sample.messages ? flattenAnswer(sample.messages) : sample.completion);

/** K distinct completions from the K + spare drawn, in draw order: a spare fills in where a first-K draw was dropped. */
export function pickCompletions<T extends Comparable>(drawn: T[], k: number, threshold: number) {
  const kept = distinctCompletions(drawn, threshold).kept.slice(0, k);
  // Drops are counted among the draws looked at until K were kept (the first K when nothing was
  // dropped): a spare that was never needed is not a loss, duplicate or not.
  const lookedAt = kept.length === k ? drawn.indexOf(kept[k - 1]!) + 1 : drawn.length;
  const { empty, nearDuplicate } = distinctCompletions(drawn.slice(0, Math.max(lookedAt, Math.min(k, drawn.length))), threshold);
  return { kept, empty, nearDuplicate, resampled: kept.filter((s) => drawn.indexOf(s) >= k).length };
}

/**
 * Keeps the completions worth ranking: non-empty and not a near copy of one kept before. Any
 * source's samples (a round's policy, an external endpoint) go through this one filter. A
 * transcript is compared whole (its tool calls and results too): two answers that reach the same
 * words by different calculations are different completions to rank.
 */
export function distinctCompletions<T extends Comparable>(samples: T[], threshold: number): { kept: T[]; empty: number; nearDuplicate: number } {
  const kept: Array<{ sample: T; shingles: Set<number>; normalized: string }> = [];
  let empty = 0;
  let nearDuplicate = 0;
  for (const sample of samples) {
    const text = wholeText(sample);
    const normalized = normalizeForHash(text);
    if (normalized === "") {
      empty++;
      continue;
    }
    const shingles = shingleSet(text);
    if (kept.some((k) => k.normalized === normalized || exactJaccard(k.shingles, shingles) >= threshold)) {
      nearDuplicate++;
      continue;
    }
    kept.push({ sample, shingles, normalized });
  }
  return { kept: kept.map((k) => k.sample), empty, nearDuplicate };
}

/** samples.jsonl → the samples of each prompt line; a line that is not a sample of this job is refused. */
export function parseSamples(text: string, file: string, promptCount: number): Map<number, Sample[]> {
  const byLine = new Map<number, Sample[]>();
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  for (const [i, raw] of lines.entries()) {
    let parsed;
    try {
      parsed = sampleLineSchema.safeParse(JSON.parse(raw));
    } catch {
      parsed = null;
    }
    if (!parsed?.success || parsed.data.line > promptCount) throw new AppError("validation_failed", `${file} line ${i + 1} is not a sample of this job's prompts.`);
    byLine.set(parsed.data.line, [...(byLine.get(parsed.data.line) ?? []), parsed.data]);
  }
  return byLine;
}

/** `messages`: the transcript when the source used tools (text is then its final answer). */
export type NewTaskCompletion = { text: string; messages?: ConversationMessage[] | null; modelName: string; modelId: string | null; decoding: Record<string, unknown> };

/** The completions.messages value: the transcript as JSON, or null for a plain completion. */
const messagesColumn = (messages: ConversationMessage[] | null | undefined): string | null => {
  const stored = messages ? storedMessages(messages) : null;
  return stored ? JSON.stringify(stored) : null;
};

/**
 * Stores completions of one prompt and the rank or compare task over them (rank: the first K),
 * in the caller's transaction; returns the completion ids. Round sampling and external
 * generation runs create their tasks the same way.
 */
export async function insertCompletionTask(
  trx: Transaction<Database>,
  task: { projectId: string; promptId: string; type: "rank" | "compare"; settings: ProjectSettings; roundId: string | null },
  completions: NewTaskCompletion[],
): Promise<string[]> {
  const rows = await trx
    .insertInto("completions")
    .values(completions.map((c) => ({ prompt_id: task.promptId, model_name: c.modelName, model_id: c.modelId, text: c.text, messages: messagesColumn(c.messages), decoding: JSON.stringify(c.decoding) })))
    .returning("id")
    .execute();
  const ids = rows.map((r) => r.id);
  await trx
    .insertInto("tasks")
    .values({
      project_id: task.projectId, prompt_id: task.promptId, type: task.type, overlap_target: initialOverlap(task.settings, task.type),
      completion_ids: JSON.stringify(task.type === "rank" ? ids.slice(0, task.settings.k) : ids), round_id: task.roundId,
    })
    .execute();
  return ids;
}

const modelName = (modelId: string | null, fallback: string) => (modelId ? `model-${modelId}` : fallback);
const decodingOf = (s: Sample) =>
  JSON.stringify({ ...s.sampling, tokens: s.tokens, finished: s.finished, ...(s.messages ? { toolCalls: s.messages.reduce((n, m) => n + (m.tool_calls?.length ?? 0), 0) } : {}) });

/**
 * Stores the new policy's samples as ranking tasks, and — when the previous policy answered
 * the same prompts — one A/B compare task per prompt: the new policy's first kept completion
 * against the previous policy's.
 */
export async function storeSamples(
  trx: Transaction<Database>,
  round: { id: string; project_id: string; name: string },
  job: Selectable<JobsTable>,
  policy: { modelId: string | null; text: string },
  baseline: { modelId: string; text: string } | null,
): Promise<SampleSummary> {
  const promptIds = (job.spec as { promptIds?: string[] }).promptIds ?? [];
  const byLine = parseSamples(policy.text, "samples.jsonl", promptIds.length);
  const baselineByLine = baseline ? parseSamples(baseline.text, "baseline-samples.jsonl", promptIds.length) : new Map<number, Sample[]>();
  const project = await trx.selectFrom("projects").select("settings").where("id", "=", round.project_id).executeTakeFirstOrThrow();
  const settings = projectSettingsSchema.parse(project.settings);
  const summary: SampleSummary = {
    prompts: byLine.size, completions: 0, tasks: 0, compares: 0, dropped: { empty: 0, nearDuplicate: 0 }, resampled: 0, meanTokens: 0,
    checker: { policy: { scored: 0, correct: 0 }, baseline: baseline ? { scored: 0, correct: 0 } : null },
  };
  // The project's checker (if it declares one) on each sample's final answer, against the prompt's metadata.
  const checker = settings.checker;
  const metadata = new Map(
    (checker && promptIds.length > 0 ? await trx.selectFrom("prompts").select(["id", "metadata"]).where("id", "in", promptIds).execute() : []).map((p) => [p.id, p.metadata]),
  );
  const score = (into: CheckerScore | null, promptId: string, samples: Sample[]) => {
    if (!checker || !into) return;
    for (const sample of samples) {
      const result = checkAnswer(checker, sample.completion, metadata.get(promptId));
      if (result.score === null) continue;
      into.scored++;
      into.correct += result.score;
    }
  };
  let tokens = 0;
  let all = 0;
  for (const [line, samples] of byLine) {
    for (const s of samples) {
      tokens += s.tokens;
      all++;
    }
    const promptId = promptIds[line - 1]!;
    // The checker scores the first K draws: the spares are drawn only to stand in for dropped ones.
    score(summary.checker.policy, promptId, samples.slice(0, settings.k));
    score(summary.checker.baseline, promptId, baselineByLine.get(line) ?? []);
    const { kept, empty, nearDuplicate, resampled } = pickCompletions(samples, settings.k, settings.nearDuplicateThreshold);
    summary.dropped.empty += empty;
    summary.dropped.nearDuplicate += nearDuplicate;
    summary.resampled += resampled;
    if (kept.length === 0) continue;
    const rows = await trx
      .insertInto("completions")
      .values(kept.map((s) => ({ prompt_id: promptId, model_name: modelName(policy.modelId, round.name), model_id: policy.modelId, text: s.completion, messages: messagesColumn(s.messages), decoding: decodingOf(s) })))
      .returning("id")
      .execute();
    summary.completions += rows.length;
    if (rows.length >= 2) {
      await trx
        .insertInto("tasks")
        .values({
          project_id: round.project_id, prompt_id: promptId, type: "rank", overlap_target: initialOverlap(settings, "rank"),
          completion_ids: JSON.stringify(rows.map((r) => r.id).slice(0, settings.k)), round_id: round.id,
        })
        .execute();
      summary.tasks++;
    }
    const previous = baselineByLine.get(line)?.find((s) => wholeText(s).trim() !== "");
    if (baseline && previous) {
      const old = await trx
        .insertInto("completions")
        .values({ prompt_id: promptId, model_name: modelName(baseline.modelId, "previous"), model_id: baseline.modelId, text: previous.completion, messages: messagesColumn(previous.messages), decoding: decodingOf(previous) })
        .returning("id")
        .executeTakeFirstOrThrow();
      await trx
        .insertInto("tasks")
        .values({ project_id: round.project_id, prompt_id: promptId, type: "compare", overlap_target: settings.overlap.compare, completion_ids: JSON.stringify([rows[0]!.id, old.id]), round_id: round.id })
        .execute();
      summary.compares++;
    }
  }
  summary.meanTokens = all > 0 ? tokens / all : 0;
  return summary;
}
