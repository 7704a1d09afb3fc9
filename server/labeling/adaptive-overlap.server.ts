import { sql, type Transaction } from "kysely";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { wantsAnother } from "./adaptive-overlap.ts";
import type { ProjectSettings } from "./project-settings.ts";
import { rankingSchema, type Ranking } from "./quality/ranking.ts";

/**
 * Runs inside the submit's transaction, which holds the task's row lock (decision 0038): when
 * this submission fills the task and its labels disagree, the task asks for one more labeler
 * instead of completing. Claims re-count under the same lock, so a grown task is never given to
 * more people than its new overlap. The project-wide cap on extra labels is checked under an
 * advisory lock per project, so two tasks cannot both take the last extra label.
 */
export async function adaptOverlap(
  trx: Transaction<Database>,
  task: { task_id: string; project_id: string; overlap_target: number },
  ranking: Ranking,
  settings: ProjectSettings,
): Promise<void> {
  const adaptive = settings.adaptiveOverlap;
  const earlier = await trx.selectFrom("submissions").select("payload").where("task_id", "=", task.task_id).execute();
  if (earlier.length + 1 < task.overlap_target) return;
  const rankings = [...earlier.flatMap((e) => {
    const parsed = rankingSchema.safeParse(e.payload.ranking);
    return parsed.success ? [parsed.data] : [];
  }), ranking];
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
