import { createHmac } from "node:crypto";
import { z } from "zod";
import type { Db } from "../db/database.server.ts";
import type { ChatMessage } from "../db/schema.ts";
import { buildPairs } from "./quality/pair-builder.ts";
import { rankingSchema } from "./quality/ranking.ts";

/**
 * Streamed exports. Rows are read in keyset-paginated batches, so memory stays flat however
 * large the project; each line is one JSON record (JSONL).
 */
export const exportFilterSchema = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  labeler: z.string().regex(/^\d{1,18}$/).optional(),
  format: z.enum(["conversational", "standard"]).default("conversational"),
  pairs: z.enum(["all", "adjacent", "best_vs_rest"]).default("all"),
  margin: z.enum(["tier", "strength"]).default("tier"),
  pseudonymize: z.enum(["true", "false"]).default("true").transform((v) => v === "true"),
});
export type ExportFilter = z.infer<typeof exportFilterSchema>;

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
};

async function* submissionsOf(db: Db, projectId: string, type: "rank" | "demonstrate" | "review" | "compare", filter: ExportFilter): AsyncGenerator<SubmissionRow> {
  for await (const batch of submissionBatches(db, projectId, type, filter)) yield* batch;
}

async function* submissionBatches(db: Db, projectId: string, type: "rank" | "demonstrate" | "review" | "compare", filter: ExportFilter): AsyncGenerator<SubmissionRow[]> {
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
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1]!.id;
  }
}

async function completionTexts(db: Db, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom("completions").select(["id", "text"]).where("id", "in", ids).execute();
  return new Map(rows.map((r) => [r.id, r.text]));
}

/** TRL preference format: prompt / chosen / rejected (+ margin, weight), one line per pair. */
export async function* preferenceLines(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<string> {
  for await (const batch of submissionBatches(db, projectId, "rank", filter)) {
    // One query for the completion texts of the whole batch, not one per submission.
    const texts = await completionTexts(db, batch.flatMap((row) => row.shown_order));
    let chunk = "";
    for (const row of batch) {
      const ranking = rankingSchema.parse(row.payload.ranking);
      for (const pair of buildPairs(ranking, { mode: filter.pairs, marginFrom: filter.margin })) {
        const chosen = texts.get(pair.chosen) ?? "";
        const rejected = texts.get(pair.rejected) ?? "";
        const record =
          filter.format === "conversational"
            ? { prompt: row.messages, chosen: [{ role: "assistant", content: chosen }], rejected: [{ role: "assistant", content: rejected }] }
            : { prompt: plainPrompt(row.messages), chosen, rejected };
        chunk += JSON.stringify({ ...record, margin: pair.margin, weight: pair.weight }) + "\n";
      }
    }
    // One write per batch keeps the stream's per-chunk overhead out of the hot loop.
    if (chunk) yield chunk;
  }
  // A/B comparisons: winner ≻ loser, margin = the stated strength (1 when not given); ties give none.
  for await (const batch of submissionBatches(db, projectId, "compare", filter)) {
    const texts = await completionTexts(db, batch.flatMap((row) => row.shown_order));
    for (const row of batch) {
      const { winner, loser, strength } = row.payload as { winner: string | null; loser: string | null; strength?: number };
      if (!winner || !loser) continue;
      const chosen = texts.get(winner) ?? "";
      const rejected = texts.get(loser) ?? "";
      const record =
        filter.format === "conversational"
          ? { prompt: row.messages, chosen: [{ role: "assistant", content: chosen }], rejected: [{ role: "assistant", content: rejected }] }
          : { prompt: plainPrompt(row.messages), chosen, rejected };
      yield JSON.stringify({ ...record, margin: strength ?? 1, weight: 1 }) + "\n";
    }
  }
  // A reviewer's correction of a synthetic answer: corrected ≻ original, one whole item.
  for await (const row of reviewedAnswers(db, projectId, filter)) {
    if (row.edited === null) continue;
    const record =
      filter.format === "conversational"
        ? { prompt: row.messages, chosen: [{ role: "assistant", content: row.edited }], rejected: [{ role: "assistant", content: row.original }] }
        : { prompt: plainPrompt(row.messages), chosen: row.edited, rejected: row.original };
    yield JSON.stringify({ ...record, margin: 1, weight: 1 }) + "\n";
  }
}

/** Accepted or edited synthetic Q&A, with the original answer and the correction (if any). */
async function* reviewedAnswers(db: Db, projectId: string, filter: ExportFilter) {
  for await (const row of submissionsOf(db, projectId, "review", filter)) {
    const decision = row.payload.decision;
    if (row.kind !== "qa" || (decision !== "accept" && decision !== "edit")) continue;
    const original = (await completionTexts(db, row.shown_order)).get(row.shown_order[0]!) ?? "";
    yield { messages: row.messages, original, edited: decision === "edit" ? String(row.payload.editedText) : null };
  }
}

/** SFT format: the conversation with the demonstration (or the reviewed answer) as the final assistant turn. */
export async function* sftLines(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<string> {
  for await (const row of submissionsOf(db, projectId, "demonstrate", filter)) {
    const text = String(row.payload.text ?? "");
    yield JSON.stringify({ messages: [...row.messages, { role: "assistant", content: text }] }) + "\n";
  }
  for await (const row of reviewedAnswers(db, projectId, filter)) {
    yield JSON.stringify({ messages: [...row.messages, { role: "assistant", content: row.edited ?? row.original }] }) + "\n";
  }
}

/** Every raw ranking as submitted, with the shown order and timings: nothing aggregated away. */
export async function* rawRankingLines(db: Db, projectId: string, filter: ExportFilter, secret: string): AsyncGenerator<string> {
  for await (const row of submissionsOf(db, projectId, "rank", filter)) {
    const labeler = filter.pseudonymize ? pseudonym(secret, projectId, row.user_id) : row.user_id;
    yield JSON.stringify({
      submission_id: row.id,
      task_id: row.task_id,
      prompt_id: row.prompt_id,
      labeler,
      shown_order: row.shown_order,
      ...row.payload,
      timings: row.timings,
      created_at: row.created_at.toISOString(),
    }) + "\n";
  }
}

/** Stable per project, unlinkable across projects, not reversible without the server's secret. */
export function pseudonym(secret: string, projectId: string, userId: string): string {
  return "labeler-" + createHmac("sha256", secret).update(`${projectId}:${userId}`).digest("hex").slice(0, 12);
}

/** TRL's standard (non-conversational) prompt: the turns as plain text. */
export function plainPrompt(messages: ChatMessage[]): string {
  if (messages.length === 1 && messages[0]!.role === "user") return messages[0]!.content;
  return messages.map((m) => `${m.role}: ${m.content}`).join("\n\n");
}
