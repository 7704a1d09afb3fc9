import type { ExpressionBuilder } from "kysely";
import type { Db } from "../db/database.server.ts";
import type { ChatMessage, Database } from "../db/schema.ts";
import { labelerAgreement } from "./quality/labeler-agreement.ts";
import { rankingSchema, type Ranking } from "./quality/ranking.ts";
import { promptRules, type EvalSplitFilter } from "./eval-split.ts";

/**
 * Exports that judge an item by all of its rankings (minimum agreement, consensus) cannot
 * stream submission by submission: an item's rankings are spread over the whole table. These
 * helpers read whole items instead, a batch of tasks at a time (keyset on the task id), so
 * memory stays bounded by the batch, not the project.
 */
export type ItemSubmission = {
  id: string;
  userId: string;
  createdAt: Date;
  payload: Record<string, unknown>;
  timings: Record<string, unknown>;
  shownOrder: string[];
  /** The ranking, or an A/B choice as a ranking (winner ≻ loser, or one tier for a tie). */
  ranking: Ranking;
};

export type ExportItem = { taskId: string; promptId: string; messages: ChatMessage[]; submissions: ItemSubmission[] };

const TASKS_PER_BATCH = 500;

/** Leaves out a submission a reviewer sent back (decision 0044): it is redone, not trained on; use where `submissions` is in scope. */
export const notSentBack = (eb: ExpressionBuilder<Database, "submissions">) =>
  eb.not(eb.exists(eb.selectFrom("annotation_reviews").select("annotation_reviews.id").whereRef("annotation_reviews.submission_id", "=", "submissions.id").where("annotation_reviews.decision", "=", "send_back")));

/** Every ranking (or A/B) item of the project with at least one submission; gold items never (decision 0010). */
export async function* itemBatches(db: Db, projectId: string, type: "rank" | "compare", filter: EvalSplitFilter & { round?: string } = {}): AsyncGenerator<ExportItem[]> {
  const round = filter.round;
  let after = "0";
  for (;;) {
    let query = db
      .selectFrom("tasks")
      .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
      .select(["tasks.id", "prompts.id as prompt_id", "prompts.messages"])
      .where("tasks.project_id", "=", projectId)
      .where("tasks.type", "=", type)
      .where("tasks.gold", "is", null)
      .where("tasks.id", ">", after)
      .where((eb) => eb.exists(eb.selectFrom("submissions").select("submissions.id").whereRef("submissions.task_id", "=", "tasks.id")))
      .orderBy("tasks.id")
      .limit(TASKS_PER_BATCH);
    if (round) query = query.where("tasks.round_id", "=", round);
    for (const rule of promptRules(filter)) query = query.where(rule);
    const tasks = await query.execute();
    if (tasks.length === 0) return;
    const rows = await db
      .selectFrom("submissions")
      .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
      .select([
        "submissions.id", "submissions.task_id", "submissions.user_id", "submissions.created_at", "submissions.payload",
        "submissions.timings", "assignments.shown_order",
      ])
      .where("submissions.task_id", "in", tasks.map((t) => t.id))
      .where(notSentBack)
      .orderBy("submissions.id")
      .execute();
    const byTask = new Map<string, ItemSubmission[]>(tasks.map((t) => [t.id, []]));
    for (const row of rows) {
      byTask.get(row.task_id)?.push({
        id: row.id,
        userId: row.user_id,
        createdAt: row.created_at,
        payload: row.payload,
        timings: row.timings,
        shownOrder: row.shown_order,
        ranking: type === "rank" ? rankingSchema.parse(row.payload.ranking) : choiceAsRanking(row.payload, row.shown_order),
      });
    }
    yield tasks.map((t) => ({ taskId: t.id, promptId: t.prompt_id, messages: t.messages, submissions: byTask.get(t.id) ?? [] }));
    after = tasks[tasks.length - 1]!.id;
  }
}

/** An A/B choice as a ranking of the two completions, so agreement and consensus treat it like any ranking. */
export function choiceAsRanking(payload: Record<string, unknown>, shownOrder: string[]): Ranking {
  const { winner, loser } = payload as { winner?: string | null; loser?: string | null };
  return winner && loser ? { tiers: [[winner], [loser]] } : { tiers: [[...shownOrder]] };
}

/**
 * The item's agreement: pooled pairwise agreement over every two of its labelers (the
 * project figure of the quality dashboard, for one item). null when fewer than two people
 * ranked it, or no pair of them ordered a common pair.
 */
export function itemAgreement(item: ExportItem): number | null {
  return labelerAgreement(item.submissions.map((s) => ({ itemId: item.taskId, labelerId: s.userId, ranking: s.ranking }))).project.pairwise.rate;
}

/** Whether the item passes a minimum agreement (no minimum: every item passes). */
export function meetsAgreement(item: ExportItem, minAgreement: number | undefined): boolean {
  if (minAgreement === undefined) return true;
  const rate = itemAgreement(item);
  return rate !== null && rate >= minAgreement;
}

/** The submissions the date and labeler filters select (agreement is judged on all of them). */
export function selectedSubmissions(item: ExportItem, filter: { since?: string; until?: string; labeler?: string; labelers?: string[] }): ItemSubmission[] {
  const since = filter.since ? new Date(filter.since).getTime() : -Infinity;
  const until = filter.until ? new Date(filter.until).getTime() : Infinity;
  return item.submissions.filter(
    (s) => s.createdAt.getTime() >= since && s.createdAt.getTime() < until && (filter.labeler === undefined || s.userId === filter.labeler) && (filter.labelers === undefined || filter.labelers.includes(s.userId)),
  );
}
