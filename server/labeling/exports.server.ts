import { createHmac } from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import type { Db } from "../db/database.server.ts";
import type { ChatMessage, TranscriptMessage } from "../db/schema.ts";
import { demonstrationMessages } from "./demonstration.ts";
import { answerMessages, answerOfRow, answerText, flattenAnswer, withFinalWords, type Answer, type ConversationMessage } from "./transcript.ts";
import { itemBatches, meetsAgreement, notSentBack, selectedSubmissions } from "./export-items.server.ts";
import { mixBatches, mixParamSchema, mixRecords } from "./data-mix.ts";
import { rankedPairs } from "./quality/consensus.ts";
import { buildPairs } from "./quality/pair-builder.ts";
import { PAIR_MODES } from "../../trainer/contract/round.ts";
import { checkAnswer, checkerSpecSchema, type CheckerSpec } from "../../trainer/contract/checker.ts";
import { projectSettingsSchema } from "./project-settings.ts";
import { AppError } from "../lib/app-error.ts";
import { rankingSchema, type Ranking } from "./quality/ranking.ts";
import { evalSplitFilterSchema, promptRules, type EvalSplitFilter } from "./eval-split.ts";

/**
 * Streamed exports. Rows are read in keyset-paginated batches, so memory stays flat however
 * large the project; each line is one JSON record (JSONL).
 */
export const exportFilterSchema = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  labeler: z.string().regex(/^\d{1,18}$/).optional(),
  /**
   * Rankings and A/B choices only from these labelers (comma-separated ids): a round's
   * gold-passing labelers, frozen at launch. Demonstrations and reviews are not filtered by it.
   */
  labelers: z
    .string()
    .regex(/^\d{1,18}(,\d{1,18})*$/, "must be comma-separated numeric user ids")
    .transform((v) => v.split(","))
    .optional(),
  format: z.enum(["conversational", "standard"]).default("conversational"),
  pairs: z.enum(PAIR_MODES).default("all"),
  margin: z.enum(["tier", "strength"]).default("tier"),
  pseudonymize: z.enum(["true", "false"]).default("true").transform((v) => v === "true"),
  /**
   * Only items whose rankings (or A/B choices) agree at least this much: the pooled pairwise
   * agreement between every two labelers of the item. An item ranked by one person has no
   * agreement and is left out.
   */
  minAgreement: z.coerce
    .number({ error: "must be a number from 0 to 1" })
    .min(0, { error: "must be a number from 0 to 1" })
    .max(1, { error: "must be a number from 0 to 1" })
    .optional(),
  /** Preferences only: one pair set per item from the consensus (ranked pairs) of its rankings. */
  consensus: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  /**
   * Preferences only (decision 0063): leave out a pair whose chosen answer this checker marks wrong. `project` is the
   * project's own checker; a round passes the one it froze at launch, as JSON (`{"kind":"numeric","field":"answer"}`).
   */
  chosenChecker: z
    .string()
    .max(2000)
    .transform((text, ctx) => {
      if (text === "project") return "project" as const;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: "custom", message: "must be `project` or a checker as JSON, e.g. {\"kind\":\"numeric\",\"field\":\"answer\"}" });
        return z.NEVER;
      }
      const spec = checkerSpecSchema.safeParse(value);
      if (!spec.success) {
        ctx.addIssue({ code: "custom", message: `not a checker: ${spec.error.issues.map((i) => `${i.path.join(".") || "checker"}: ${i.message}`).join("; ")}` });
        return z.NEVER;
      }
      return spec.data;
    })
    .optional(),
  /** Data-mix weights per source, e.g. `demonstrations:2,qa:0.5` (data-mix.ts): 0 leaves one out, 2 doubles it. */
  mix: mixParamSchema.optional(),
  /** Only tasks whose completions a training round sampled (its new ranking and A/B tasks). */
  round: z.string().regex(/^\d{1,18}$/, "must be a numeric round id").optional(),
  /** The eval set (left out unless `heldOut=only`) and a round's preference split (eval-split.ts). */
  ...evalSplitFilterSchema,
});
/** The query string's filters, and on the server a prompt selection of the data browser (eval-split.ts). */
export type ExportFilter = z.infer<typeof exportFilterSchema> & Pick<EvalSplitFilter, "promptSubset">;

const BATCH = 1000;

type SubmissionRow = {
  id: string;
  user_id: string;
  task_id: string;
  prompt_id: string;
  payload: Record<string, unknown>;
  timings: Record<string, unknown>;
  shown_order: string[];
  messages: ChatMessage[];
  kind: "prompt" | "qa";
  created_at: Date;
  gold: boolean;
};

type TaskType = "rank" | "demonstrate" | "review" | "compare";

export async function* submissionsOf(db: Db, projectId: string, type: TaskType, filter: ExportFilter, includeGold = false): AsyncGenerator<SubmissionRow> {
  for await (const batch of submissionBatches(db, projectId, type, filter, includeGold)) yield* batch;
}

async function* submissionBatches(db: Db, projectId: string, type: TaskType, filter: ExportFilter, includeGold = false): AsyncGenerator<SubmissionRow[]> {
  let after = "0";
  for (;;) {
    let query = db
      .selectFrom("submissions")
      .innerJoin("tasks", "tasks.id", "submissions.task_id")
      .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
      .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
      .select([
        "submissions.id", "submissions.user_id", "submissions.task_id", "submissions.payload", "submissions.timings",
        "submissions.created_at", "assignments.shown_order", "prompts.id as prompt_id", "prompts.messages", "prompts.kind",
        sql<boolean>`tasks.gold is not null`.as("gold"),
      ])
      .where("tasks.project_id", "=", projectId)
      .where("tasks.type", "=", type)
      // The parameter is typed from the bigint column, so this compares numbers and uses the key.
      .where("submissions.id", ">", after)
      .orderBy("submissions.id")
      .limit(BATCH);
    if (filter.since) query = query.where("submissions.created_at", ">=", new Date(filter.since));
    if (filter.until) query = query.where("submissions.created_at", "<", new Date(filter.until));
    if (filter.labeler) query = query.where("submissions.user_id", "=", filter.labeler);
    if (filter.labelers && (type === "rank" || type === "compare")) query = query.where("submissions.user_id", "in", filter.labelers);
    if (filter.round) query = query.where("tasks.round_id", "=", filter.round);
    // A submission a reviewer sent back is redone, not trained on; the review export keeps it (decision 0044).
    query = query.where(notSentBack);
    // Gold items measure labelers; they are not training data (decision 0010).
    if (!includeGold) query = query.where("tasks.gold", "is", null);
    for (const rule of promptRules(filter)) query = query.where(rule);
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1]!.id;
  }
}

/** Each completion's answer: its text, or its transcript when it used tools (decision 0020). */
export async function completionAnswers(db: Db, ids: string[]): Promise<Map<string, Answer>> {
  if (ids.length === 0) return new Map();
  // Every ranking of an item names the same completions: ask for each once.
  const rows = await db.selectFrom("completions").select(["id", "text", "messages"]).where("id", "in", [...new Set(ids)]).execute();
  return new Map(rows.map((r) => [r.id, answerOfRow(r as { text: string; messages: ConversationMessage[] | null })]));
}

/** One preference pair with its conversation; the format (conversational or standard) is applied when it is written. */
export type PreferenceRecord = { promptId: string; prompt: ChatMessage[]; chosen: Answer; rejected: Answer; margin: number; weight: number };

/**
 * Every preference pair of the project, a batch at a time: each labeler's rankings, A/B
 * choices (winner ≻ loser) and reviewers' corrections (corrected ≻ original). With
 * `minAgreement` or `consensus` the rankings and A/B choices are read item by item.
 */
export async function* preferenceBatches(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PreferenceRecord[]> {
  const checker = filter.chosenChecker === undefined ? null : await chosenCheckerOf(db, projectId, filter.chosenChecker);
  const byItem = filter.minAgreement !== undefined || filter.consensus;
  const mix = filter.mix ?? {};
  const sources = [
    mixBatches(byItem ? itemRankingPairs(db, projectId, filter) : rankingPairs(db, projectId, filter), mix.rankings, "rankings"),
    mixBatches(overrideRankingPairs(db, projectId, filter), mix.rankings, "rankings"),
    mixBatches(byItem ? itemComparePairs(db, projectId, filter) : comparePairs(db, projectId, filter), mix.compares, "compares"),
    mixBatches(correctionPairs(db, projectId, filter), mix.corrections, "corrections"),
  ];
  for (const source of sources) yield* checker ? rightChosenOnly(db, source, checker) : source;
}

/**
 * The filter with `chosenChecker=project` read as the project's checker. Handlers call it before they write an audit
 * entry or start a stream, so a project without a checker gets a 422 and nothing else happens.
 */
export async function withChosenChecker<F extends { chosenChecker?: CheckerSpec | "project" }>(db: Db, projectId: string, filter: F): Promise<F> {
  return filter.chosenChecker === "project" ? { ...filter, chosenChecker: await chosenCheckerOf(db, projectId, "project") } : filter;
}

/** The checker of `chosenChecker`: the one given, or the project's own (refused when it has none). */
async function chosenCheckerOf(db: Db, projectId: string, given: CheckerSpec | "project"): Promise<CheckerSpec> {
  if (given !== "project") return given;
  const { settings } = await db.selectFrom("projects").select("settings").where("id", "=", projectId).executeTakeFirstOrThrow();
  const checker = projectSettingsSchema.parse(settings).checker;
  if (!checker) throw new AppError("validation_failed", "The query string is not valid.", [{ path: "chosenChecker", message: "this project has no checker: declare one in its settings, or give one as JSON" }]);
  return checker;
}

/**
 * Leaves out the pairs whose chosen answer the checker marks wrong (decision 0063): a pair that prefers a wrong answer
 * teaches the policy that answer's likelihood, whatever else the labeler liked about it. A prompt the checker cannot
 * score (no reference in its metadata) keeps its pairs. Kept pairs keep their weight, so an item with dropped pairs
 * counts for less. One metadata query per batch.
 */
async function* rightChosenOnly(db: Db, batches: AsyncIterable<PreferenceRecord[]>, checker: CheckerSpec): AsyncGenerator<PreferenceRecord[]> {
  for await (const batch of batches) {
    const ids = [...new Set(batch.map((r) => r.promptId))];
    const rows = ids.length > 0 ? await db.selectFrom("prompts").select(["id", "metadata"]).where("id", "in", ids).execute() : [];
    const metadata = new Map(rows.map((r) => [r.id, r.metadata as Record<string, unknown> | null]));
    const kept = batch.filter((r) => checkAnswer(checker, answerText(r.chosen), metadata.get(r.promptId)).score !== 0);
    if (kept.length > 0) yield kept;
  }
}

/**
 * A reviewer's correction of a synthetic answer: corrected ≻ original, one whole item. It is
 * one reviewer's decision with no overlap to measure, so minAgreement does not apply to it.
 */
async function* correctionPairs(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PreferenceRecord[]> {
  let corrections: PreferenceRecord[] = [];
  for await (const row of reviewedAnswers(db, projectId, filter)) {
    if (row.edited === null) continue;
    corrections.push({ promptId: row.promptId, prompt: row.messages, chosen: withFinalWords(row.original, row.edited), rejected: row.original, margin: 1, weight: 1 });
    if (corrections.length >= BATCH) {
      yield corrections;
      corrections = [];
    }
  }
  if (corrections.length > 0) yield corrections;
}

/**
 * Reviewers' overrides of rankings (decision 0044): the reviewer's ranking as pairs of its own, beside the labeler's
 * (which stays). One reviewer's judgment with no overlap, so minAgreement and consensus do not apply to it.
 */
async function* overrideRankingPairs(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PreferenceRecord[]> {
  for await (const batch of overrideBatches(db, projectId, "rank", filter)) {
    const texts = await completionAnswers(db, batch.flatMap((row) => row.shown_order));
    yield batch.flatMap((row) => pairRecords(row.prompt_id, row.messages, rankingSchema.parse(row.override_payload.ranking), texts, filter));
  }
}

async function* rankingPairs(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PreferenceRecord[]> {
  for await (const batch of submissionBatches(db, projectId, "rank", filter)) {
    // One query for the completion texts of the whole batch, not one per submission.
    const texts = await completionAnswers(db, batch.flatMap((row) => row.shown_order));
    yield batch.flatMap((row) => pairRecords(row.prompt_id, row.messages, rankingSchema.parse(row.payload.ranking), texts, filter));
  }
}

async function* itemRankingPairs(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PreferenceRecord[]> {
  for await (const items of itemBatches(db, projectId, "rank", filter)) {
    const texts = await completionAnswers(db, items.flatMap((item) => item.submissions.flatMap((s) => s.shownOrder)));
    yield items.flatMap((item) => {
      const selected = meetsAgreement(item, filter.minAgreement) ? selectedSubmissions(item, filter) : [];
      if (selected.length === 0) return [];
      if (filter.consensus) return pairRecords(item.promptId, item.messages, rankedPairs(selected.map((s) => s.ranking)), texts, filter);
      return selected.flatMap((s) => pairRecords(item.promptId, item.messages, s.ranking, texts, filter));
    });
  }
}

function pairRecords(promptId: string, prompt: ChatMessage[], ranking: Ranking, texts: Map<string, Answer>, filter: ExportFilter): PreferenceRecord[] {
  return buildPairs(ranking, { mode: filter.pairs, marginFrom: filter.margin }).map((pair) => ({
    promptId,
    prompt,
    chosen: texts.get(pair.chosen) ?? "",
    rejected: texts.get(pair.rejected) ?? "",
    margin: pair.margin,
    weight: pair.weight,
  }));
}

/** A/B comparisons: winner ≻ loser, margin = the stated strength (1 when not given); ties give none. */
async function* comparePairs(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PreferenceRecord[]> {
  for await (const batch of submissionBatches(db, projectId, "compare", filter)) {
    const texts = await completionAnswers(db, batch.flatMap((row) => row.shown_order));
    yield batch.flatMap((row) => compareRecord(row.prompt_id, row.messages, row.payload, texts));
  }
}

async function* itemComparePairs(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PreferenceRecord[]> {
  for await (const items of itemBatches(db, projectId, "compare", filter)) {
    const texts = await completionAnswers(db, items.flatMap((item) => item.submissions.flatMap((s) => s.shownOrder)));
    yield items.flatMap((item) => {
      const selected = meetsAgreement(item, filter.minAgreement) ? selectedSubmissions(item, filter) : [];
      if (selected.length === 0) return [];
      if (!filter.consensus) return selected.flatMap((s) => compareRecord(item.promptId, item.messages, s.payload, texts));
      // The consensus of the A/B choices: the majority side, or nothing on a split or a tie.
      const [better, worse] = rankedPairs(selected.map((s) => s.ranking)).tiers;
      return better?.length === 1 && worse?.length === 1 ? compareRecord(item.promptId, item.messages, { winner: better[0], loser: worse[0] }, texts) : [];
    });
  }
}

function compareRecord(promptId: string, prompt: ChatMessage[], payload: Record<string, unknown>, texts: Map<string, Answer>): PreferenceRecord[] {
  const { winner, loser, strength, weight } = payload as { winner?: string | null; loser?: string | null; strength?: number; weight?: number };
  if (!winner || !loser) return [];
  // weight: only an imported pair carries one (decision 0013), so it exports as it came in.
  return [{ promptId, prompt, chosen: texts.get(winner) ?? "", rejected: texts.get(loser) ?? "", margin: strength ?? 1, weight: weight ?? 1 }];
}

/** TRL preference format: prompt / chosen / rejected (+ margin, weight), one line per pair. */
export async function* preferenceLines(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<string> {
  for await (const batch of preferenceBatches(db, projectId, filter)) {
    // One write per batch keeps the stream's per-chunk overhead out of the hot loop.
    let chunk = "";
    for (const record of batch) chunk += JSON.stringify(formatPreference(record, filter.format)) + "\n";
    if (chunk) yield chunk;
  }
}

/**
 * TRL's conversational (messages) or standard (plain text) preference record. A tool-using answer
 * is its messages (tool calls and results too) in the conversational format, and flattened text
 * in the standard one (decision 0020).
 */
export function formatPreference(record: PreferenceRecord, format: ExportFilter["format"]) {
  const { prompt, chosen, rejected, margin, weight } = record;
  return format === "conversational"
    ? { prompt, chosen: answerMessages(chosen), rejected: answerMessages(rejected), margin, weight }
    : { prompt: plainPrompt(prompt), chosen: flattenAnswer(chosen), rejected: flattenAnswer(rejected), margin, weight };
}

/** Accepted or edited synthetic Q&A, with the original answer and the correction (if any). */
async function* reviewedAnswers(db: Db, projectId: string, filter: ExportFilter) {
  for await (const row of submissionsOf(db, projectId, "review", filter)) {
    const decision = row.payload.decision;
    if (row.kind !== "qa" || (decision !== "accept" && decision !== "edit")) continue;
    const original = (await completionAnswers(db, row.shown_order)).get(row.shown_order[0]!) ?? "";
    yield { promptId: row.prompt_id, messages: row.messages, original, edited: decision === "edit" ? String(row.payload.editedText) : null };
  }
}

/**
 * SFT format: the conversation with the demonstration (or the reviewed answer) as the assistant's
 * turn; a demonstration the labeler continued brings every later user and assistant turn.
 */
export async function* sftLines(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<string> {
  for await (const messages of sftConversations(db, projectId, filter)) yield JSON.stringify({ messages }) + "\n";
}

/**
 * Each SFT example as one conversation ending with the assistant's turn (what sft.jsonl writes);
 * a reply that used tools brings its tool calls and results (TRL's tool-calling messages). The
 * demonstrations, the reviewed Q&A, and when the mix asks for them the rankings' favourites.
 */
export async function* sftConversations(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<ConversationMessage[]> {
  for await (const row of mixRecords(submissionsOf(db, projectId, "demonstrate", filter), filter.mix?.demonstrations, "demonstrations")) {
    yield [...row.messages, ...demonstrationMessages(row.payload)];
  }
  // A reviewer's edited demonstration is an example of its own, beside the labeler's (decision 0044).
  for await (const row of mixRecords(overrideRows(db, projectId, "demonstrate", filter), filter.mix?.demonstrations, "demonstrations")) {
    yield [...row.messages, ...demonstrationMessages(row.override_payload)];
  }
  for await (const row of mixRecords(reviewedAnswers(db, projectId, filter), filter.mix?.qa, "qa")) {
    yield [...row.messages, ...answerMessages(row.edited !== null ? withFinalWords(row.original, row.edited) : row.original)];
  }
  // Left out unless the mix weighs them (decision 0069).
  for await (const conversation of mixRecords(rankedBestConversations(db, projectId, filter), filter.mix?.rankedBest, "rankedBest")) yield conversation;
}

/**
 * The answers each ranking put first, as SFT examples: rejection-sampling fine-tuning (Llama 2's, RAFT's "reward
 * ranked fine-tuning"), with people as the judges of K samples (decision 0069). Every answer of the top tier; a
 * ranking that ties all its answers or says none can be ranked prefers nothing and gives none. A reviewer's override
 * gives its own favourites beside the labeler's, as it gives its own pairs. Each labeler's ranking counts, so an
 * answer two labelers put first is there twice.
 */
async function* rankedBestConversations(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<ConversationMessage[]> {
  // one batch of rankings: one query for all their favourites' texts
  async function* favouritesOf(rows: Array<{ messages: ChatMessage[]; ranking: unknown }>): AsyncGenerator<ConversationMessage[]> {
    const ranked = rows.map((row) => {
      const ranking = rankingSchema.parse(row.ranking);
      return { messages: row.messages, ids: ranking.notRankable || ranking.tiers.length < 2 ? [] : ranking.tiers[0]! };
    });
    const texts = await completionAnswers(db, ranked.flatMap((row) => row.ids));
    for (const row of ranked) for (const id of row.ids) yield [...row.messages, ...answerMessages(texts.get(id) ?? "")];
  }
  for await (const batch of submissionBatches(db, projectId, "rank", filter)) yield* favouritesOf(batch.map((row) => ({ messages: row.messages, ranking: row.payload.ranking })));
  for await (const batch of overrideBatches(db, projectId, "rank", filter)) yield* favouritesOf(batch.map((row) => ({ messages: row.messages, ranking: row.override_payload.ranking })));
}

/**
 * Every raw ranking as submitted, with the shown order and timings: nothing aggregated away.
 * Gold items are included and marked (`gold_task`): how each labeler ranked them is the raw data
 * behind their agreement with gold. With minAgreement, only items that meet it (never gold).
 */
export async function* rawRankingLines(db: Db, projectId: string, filter: ExportFilter, secret: string): AsyncGenerator<string> {
  const line = (row: { id: string; taskId: string; promptId: string; userId: string; shownOrder: string[]; payload: Record<string, unknown>; timings: Record<string, unknown>; createdAt: Date; gold: boolean }) =>
    JSON.stringify({
      submission_id: row.id,
      task_id: row.taskId,
      prompt_id: row.promptId,
      labeler: filter.pseudonymize ? pseudonym(secret, projectId, row.userId) : row.userId,
      shown_order: row.shownOrder,
      ...row.payload,
      timings: row.timings,
      created_at: row.createdAt.toISOString(),
      gold_task: row.gold,
    }) + "\n";
  if (filter.minAgreement !== undefined) {
    for await (const items of itemBatches(db, projectId, "rank", filter)) {
      const passing = items.filter((item) => meetsAgreement(item, filter.minAgreement));
      const lines = passing.flatMap((item) => selectedSubmissions(item, filter).map((s) => line({ ...s, taskId: item.taskId, promptId: item.promptId, gold: false })));
      if (lines.length > 0) yield lines.join("");
    }
    return;
  }
  for await (const row of submissionsOf(db, projectId, "rank", filter, true)) {
    yield line({ id: row.id, taskId: row.task_id, promptId: row.prompt_id, userId: row.user_id, shownOrder: row.shown_order, payload: row.payload, timings: row.timings, createdAt: row.created_at, gold: row.gold });
  }
  yield* overrideRankingLines(db, projectId, filter, secret);
}

/**
 * Reviewers' overrides as records of their own (decision 0044), after the labelers' rankings: the reviewer's ranking
 * with its provenance — the submission it overrides, that submission's labeler, the reviewer, when.
 */
async function* overrideRankingLines(db: Db, projectId: string, filter: ExportFilter, secret: string): AsyncGenerator<string> {
  const who = (userId: string | null, prefix: string) => (userId === null ? null : filter.pseudonymize ? pseudonym(secret, projectId, userId).replace("labeler-", prefix) : userId);
  for await (const batch of overrideBatches(db, projectId, "rank", filter)) {
    yield batch
      .map((row) =>
        JSON.stringify({
          source: "review_override",
          overrides_submission_id: row.submission_id,
          review_id: row.review_id,
          task_id: row.task_id,
          prompt_id: row.prompt_id,
          labeler: who(row.user_id, "labeler-"),
          reviewer: who(row.reviewer_id, "reviewer-"),
          shown_order: row.shown_order,
          ...row.override_payload,
          labeled_at: row.submitted_at.toISOString(),
          created_at: row.decided_at.toISOString(),
          gold_task: false,
        }) + "\n",
      )
      .join("");
  }
}

type OverrideRow = {
  review_id: string;
  submission_id: string;
  task_id: string;
  prompt_id: string;
  user_id: string;
  reviewer_id: string | null;
  messages: ChatMessage[];
  shown_order: string[];
  payload: Record<string, unknown>;
  override_payload: Record<string, unknown>;
  submitted_at: Date;
  decided_at: Date;
};

/**
 * Reviewers' overrides of one task type, a batch at a time (keyset on the review id). The date filters select by
 * when the reviewer decided; the round, eval-set and exclusion rules apply as to any record; the labeler filters
 * choose labelers, so they do not apply to a reviewer's record.
 */
export async function* overrideBatches(db: Db, projectId: string, type: "rank" | "demonstrate", filter: ExportFilter): AsyncGenerator<OverrideRow[]> {
  let after = "0";
  for (;;) {
    let query = db
      .selectFrom("annotation_reviews as r")
      .innerJoin("submissions", "submissions.id", "r.submission_id")
      .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
      .innerJoin("tasks", "tasks.id", "submissions.task_id")
      .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
      .select([
        "r.id as review_id", "submissions.id as submission_id", "tasks.id as task_id", "prompts.id as prompt_id", "submissions.user_id", "r.reviewer_id",
        "prompts.messages", "assignments.shown_order", "submissions.payload", "r.override_payload", "submissions.created_at as submitted_at", "r.decided_at",
      ])
      .where("r.project_id", "=", projectId)
      .where("r.decision", "=", "override")
      .where("tasks.type", "=", type)
      .where("tasks.gold", "is", null)
      .where("r.id", ">", after)
      .orderBy("r.id")
      .limit(BATCH);
    if (filter.since) query = query.where("r.decided_at", ">=", new Date(filter.since));
    if (filter.until) query = query.where("r.decided_at", "<", new Date(filter.until));
    if (filter.round) query = query.where("tasks.round_id", "=", filter.round);
    for (const rule of promptRules(filter)) query = query.where(rule);
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows.map((r) => ({ ...r, override_payload: r.override_payload!, decided_at: r.decided_at! }));
    after = rows[rows.length - 1]!.review_id;
  }
}

async function* overrideRows(db: Db, projectId: string, type: "rank" | "demonstrate", filter: ExportFilter): AsyncGenerator<OverrideRow> {
  for await (const batch of overrideBatches(db, projectId, type, filter)) yield* batch;
}

/**
 * Every decided annotation review with both versions and their provenance (decision 0044): the labeler's submission
 * (who, when, what), the reviewer's decision (who, when, comment, override) and a send-back's redo. Labelers and
 * reviewers are pseudonymized unless pseudonymize=false; since/until select by when the reviewer decided.
 */
export async function* annotationReviewLines(db: Db, projectId: string, filter: ExportFilter, secret: string): AsyncGenerator<string> {
  const who = (userId: string | null, prefix: string) => (userId === null ? null : filter.pseudonymize ? pseudonym(secret, projectId, userId).replace("labeler-", prefix) : userId);
  let after = "0";
  for (;;) {
    let query = db
      .selectFrom("annotation_reviews as r")
      .innerJoin("submissions as s", "s.id", "r.submission_id")
      .innerJoin("assignments as a", "a.id", "s.assignment_id")
      .innerJoin("tasks as t", "t.id", "s.task_id")
      .innerJoin("prompts as p", "p.id", "t.prompt_id")
      .select([
        "r.id", "r.mode", "r.agreement", "r.decision", "r.comment", "r.override_payload", "r.reviewer_id", "r.decided_at", "r.redo_task_id",
        "s.id as submission_id", "s.user_id", "s.payload", "s.created_at", "a.shown_order", "t.id as task_id", "t.type", "t.redo_of", "p.id as prompt_id", "p.messages",
        (eb) => eb.selectFrom("submissions as x").select("x.id").whereRef("x.task_id", "=", "r.redo_task_id").orderBy("x.id").limit(1).as("redo_submission_id"),
      ])
      .where("r.project_id", "=", projectId)
      .where("r.state", "=", "decided")
      .where("r.id", ">", after)
      .orderBy("r.id")
      .limit(BATCH);
    if (filter.since) query = query.where("r.decided_at", ">=", new Date(filter.since));
    if (filter.until) query = query.where("r.decided_at", "<", new Date(filter.until));
    if (filter.labeler) query = query.where("s.user_id", "=", filter.labeler);
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows
      .map((r) =>
        JSON.stringify({
          review_id: r.id,
          task_id: r.task_id,
          task_type: r.type,
          prompt_id: r.prompt_id,
          prompt: r.messages,
          shown_order: r.shown_order,
          sampled_by: r.mode,
          item_agreement: r.agreement,
          original: { submission_id: r.submission_id, labeler: who(r.user_id, "labeler-"), submitted_at: r.created_at.toISOString(), redo_of: r.redo_of, payload: r.payload },
          review: { decision: r.decision, reviewer: who(r.reviewer_id, "reviewer-"), reviewed_at: r.decided_at?.toISOString() ?? null, comment: r.comment },
          override: r.override_payload,
          redo: r.redo_task_id ? { task_id: r.redo_task_id, submission_id: r.redo_submission_id } : null,
        }) + "\n",
      )
      .join("");
    after = rows[rows.length - 1]!.id;
  }
}

/** Stable per project, unlinkable across projects, not reversible without the server's secret. */
export function pseudonym(secret: string, projectId: string, userId: string): string {
  return "labeler-" + createHmac("sha256", secret).update(`${projectId}:${userId}`).digest("hex").slice(0, 12);
}

/**
 * TRL's standard (non-conversational) prompt: the turns as plain text. An earlier assistant turn
 * that used tools is one "assistant:" part, flattened with its tool blocks (decision 0020).
 */
export function plainPrompt(messages: readonly (TranscriptMessage | ConversationMessage)[]): string {
  if (messages.length === 1 && messages[0]!.role === "user") return messages[0]!.content;
  const parts: string[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role !== "assistant" && m.role !== "tool") {
      parts.push(`${m.role}: ${m.content}`);
      continue;
    }
    let end = i + 1;
    while (end < messages.length && (messages[end]!.role === "assistant" || messages[end]!.role === "tool")) end++;
    const run = messages.slice(i, end);
    parts.push(`assistant: ${run.some((t) => t.role === "tool" || t.tool_calls) ? flattenAnswer(run as ConversationMessage[]) : run.map((t) => t.content).join("\n\n")}`);
    i = end - 1;
  }
  return parts.join("\n\n");
}
