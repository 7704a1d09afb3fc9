import { sql, type Transaction } from "kysely";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { stopsEarly, wantsAnother } from "./adaptive-overlap.ts";
import { currentRewardModelId } from "./active/reward-scores.server.ts";
import type { ProjectSettings } from "./project-settings.ts";
import { rankingSchema, type Ranking } from "./quality/ranking.ts";

/**
 * Runs inside the submit's transaction, which holds the task's row lock (decision 0038): when
 * this submission fills the task and its labels disagree, the task asks for one more labeler
 * instead of completing. Claims re-count under the same lock, so a grown task is never given to
 * more people than its new overlap. The project-wide cap on extra labels is checked under an
 * advisory lock per project, so two tasks cannot both take the last extra label.
 * Early stop (decision 0049): before the task is full, agreeing labels and a confident reward
 * model lower its overlap to the labels it has, so this submission completes it — only when
 * nobody else holds a live lease on it (their label is already being made; claims skip the
 * locked row, so none can start meanwhile).
 */
export async function adaptOverlap(
  trx: Transaction<Database>,
  task: { task_id: string; project_id: string; overlap_target: number; completion_ids: string[] },
  ranking: Ranking,
  settings: ProjectSettings,
): Promise<void> {
  const adaptive = settings.adaptiveOverlap;
  const earlier = await trx.selectFrom("submissions").select("payload").where("task_id", "=", task.task_id).execute();
  const rankings = [...earlier.flatMap((e) => {
    const parsed = rankingSchema.safeParse(e.payload.ranking);
    return parsed.success ? [parsed.data] : [];
  }), ranking];
  if (earlier.length + 1 < task.overlap_target) {
    if (adaptive.earlyStop && rankings.length >= adaptive.earlyStop.after && (await stopHere(trx, task, rankings, settings))) {
      await trx.updateTable("tasks").set({ overlap_target: earlier.length + 1 }).where("id", "=", task.task_id).execute();
    }
    return;
  }
  if (!wantsAnother(rankings, task.overlap_target, adaptive)) return;
  if (adaptive.extraLabelsCap !== null) {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`adaptive-overlap:${task.project_id}`}, 0))`.execute(trx);
    const spent = await sql<{ n: string }>`
      select coalesce(sum(overlap_target - ${adaptive.start}), 0) as n from tasks
      where project_id = ${task.project_id} and type = 'rank' and gold is null and overlap_target > ${adaptive.start}`.execute(trx);
    if (Number(spent.rows[0]!.n) >= adaptive.extraLabelsCap) return;
  }
  await trx.updateTable("tasks").set({ overlap_target: task.overlap_target + 1 }).where("id", "=", task.task_id).execute();
}

/** Whether agreeing labels and the reward model's confidence end this task now (see above). */
async function stopHere(
  trx: Transaction<Database>,
  task: { task_id: string; project_id: string; completion_ids: string[] },
  rankings: Ranking[],
  settings: ProjectSettings,
): Promise<boolean> {
  const modelId = await currentRewardModelId(trx, task.project_id, settings);
  if (modelId === null) return false;
  const cached = await trx
    .selectFrom("reward_scores").select(["scores", "margin"])
    .where("task_id", "=", task.task_id).where("model_id", "=", modelId).where("state", "=", "done")
    .executeTakeFirst();
  if (!cached?.scores || cached.margin === null || cached.scores.length !== task.completion_ids.length) return false;
  const best = task.completion_ids[cached.scores.indexOf(Math.max(...cached.scores))]!;
  if (!stopsEarly(rankings, settings.adaptiveOverlap, { margin: cached.margin, best })) return false;
  const live = await sql<{ n: string }>`
    select count(*) as n from assignments
    where task_id = ${task.task_id} and state = 'active' and lease_expires_at > now()`.execute(trx);
  // This submitter's own assignment is still active here: anyone beyond it is labeling now.
  return Number(live.rows[0]!.n) <= 1;
}

/**
 * Labels and hours saved (positive) or spent (negative) on completed ranking tasks against the
 * project's fixed overlap, at the project's mean time per ranking.
 */
export async function adaptiveSavings(db: Db, projectId: string, fixedOverlap: number): Promise<{ tasks: number; labels: number; fixedLabels: number; hours: number | null }> {
  const row = await sql<{ tasks: string; labels: string; ms: number | null }>`
    select count(distinct t.id) as tasks, count(s.id) as labels,
           avg(case when jsonb_typeof(s.timings -> 'msOnTask') = 'number' then (s.timings ->> 'msOnTask')::float end) as ms
    from tasks t left join submissions s on s.task_id = t.id
    where t.project_id = ${projectId} and t.type = 'rank' and t.state = 'complete' and t.gold is null`.execute(db);
  const r = row.rows[0]!;
  const tasks = Number(r.tasks);
  const labels = Number(r.labels);
  const fixedLabels = tasks * fixedOverlap;
  return { tasks, labels, fixedLabels, hours: r.ms === null ? null : ((fixedLabels - labels) * r.ms) / 3_600_000 };
}
