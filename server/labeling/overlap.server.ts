import { sql } from "kysely";
import { recordAudit } from "../auth/audit.server.ts";
import type { Db } from "../db/database.server.ts";
import type { TaskType } from "../db/schema.ts";
import type { Project } from "./projects.server.ts";
import { initialOverlap } from "./adaptive-overlap.ts";

export const taskTypes: readonly TaskType[] = ["demonstrate", "rank", "review", "compare"];

/**
 * Open tasks whose overlap differs from the project's setting, per task type. A task keeps the
 * overlap it was created with: changing the setting changes new tasks only, and the settings
 * page says so with these counts (issue 14, item 8). Gold tasks are left out: they stay open for
 * every labeler whatever the overlap (decision 0010).
 */
export async function openTasksWithOtherOverlap(db: Db, project: Project): Promise<Array<{ type: TaskType; tasks: number; overlaps: number[] }>> {
  const rows = await db
    .selectFrom("tasks")
    .select(["type", "overlap_target", (eb) => eb.fn.countAll<string>().as("n")])
    .where("project_id", "=", project.id)
    .where("state", "=", "open")
    .where("gold", "is", null)
    .groupBy(["type", "overlap_target"])
    .execute();
  return taskTypes.flatMap((type) => {
    // Adaptive ranking tasks (decision 0038) start at the adaptive start and grow: only a start that differs counts here.
    const other = rows.filter((r) => r.type === type && r.overlap_target !== initialOverlap(project.settings, type) && !(type === "rank" && project.settings.adaptiveOverlap.enabled));
    if (other.length === 0) return [];
    return [{ type, tasks: other.reduce((sum, r) => sum + Number(r.n), 0), overlaps: other.map((r) => r.overlap_target).sort((a, b) => a - b) }];
  });
}

/**
 * Gives every open task of `type` the project's current overlap, in one transaction, audited.
 * A lower overlap completes the open tasks that already have that many submissions; a higher
 * one keeps them open for more people. Complete tasks are not reopened: raising the overlap of
 * finished work is a re-queue, not a setting.
 */
export async function applyOverlapToOpenTasks(db: Db, actorId: string, project: Project, type: TaskType): Promise<{ overlap: number; updated: number; completed: number }> {
  const overlap = initialOverlap(project.settings, type);
  return db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable("tasks")
      .set({ overlap_target: overlap })
      .where("project_id", "=", project.id)
      .where("type", "=", type)
      .where("state", "=", "open")
      .where("gold", "is", null)
      .where("overlap_target", "!=", overlap)
      .executeTakeFirst();
    const completed = await sql<{ id: string }>`
      update tasks t set state = 'complete'
      where t.project_id = ${project.id} and t.type = ${type} and t.state = 'open' and t.gold is null
        and (select count(*) from assignments a where a.task_id = t.id and a.state = 'submitted') >= t.overlap_target
      returning t.id`.execute(trx);
    const result = { overlap, updated: Number(updated.numUpdatedRows), completed: completed.rows.length };
    await recordAudit(trx, { actorUserId: actorId, action: "tasks.apply_overlap", target: `project:${project.id}`, details: { type, ...result } });
    return result;
  });
}
