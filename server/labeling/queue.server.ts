import { randomInt } from "node:crypto";
import { sql } from "kysely";
import { AppError } from "../lib/app-error.ts";
import type { SessionUser } from "../auth/actor.ts";
import { hasRole } from "../auth/roles.ts";
import type { Db } from "../db/database.server.ts";
import type { TaskType } from "../db/schema.ts";
import type { ProjectSettings } from "./project-settings.ts";

/**
 * The task queue. `claimNextTask` hands one task to one person as a lease:
 *  1. resume the person's active, unexpired assignment in this project, if any;
 *  2. otherwise draw a task type by the project's weights among types with work for them
 *     (OpenAssistant's "by need" draw), preferring tasks other people already started
 *     so items reach their overlap and leave the queue;
 *  3. lock the task row (FOR UPDATE SKIP LOCKED: concurrent claimers take other tasks),
 *     re-count its live assignments in a fresh statement, and create the assignment.
 * A task never goes to its author, nor twice to the same person; an expired lease stops
 * counting toward the overlap, so the task goes back into the queue.
 */
export type Assignment = { id: string; task_id: string; state: string; lease_expires_at: Date; shown_order: string[] };

export function taskTypesFor(role: SessionUser["role"]): TaskType[] {
  return hasRole(role, "reviewer") ? ["rank", "demonstrate", "compare", "review"] : ["rank", "demonstrate", "compare"];
}

const LIVE_ASSIGNMENT = sql`(a.state = 'submitted' or (a.state = 'active' and a.lease_expires_at > now()))`;

export async function claimNextTask(
  db: Db,
  user: SessionUser,
  projectId: string,
  settings: ProjectSettings,
  random: () => number = Math.random,
): Promise<Assignment | null> {
  const resumed = await db
    .selectFrom("assignments")
    .innerJoin("tasks", "tasks.id", "assignments.task_id")
    .select(["assignments.id", "assignments.task_id", "assignments.state", "assignments.lease_expires_at", "assignments.shown_order"])
    .where("assignments.user_id", "=", user.id)
    .where("tasks.project_id", "=", projectId)
    .where("assignments.state", "=", "active")
    .where("assignments.lease_expires_at", ">", new Date())
    .executeTakeFirst();
  if (resumed) return resumed;

  const pending = await db
    .selectFrom("assignments")
    .select(sql<string>`count(*)`.as("n"))
    .where("user_id", "=", user.id)
    .where("state", "=", "active")
    .where("lease_expires_at", ">", new Date())
    .executeTakeFirstOrThrow();
  if (Number(pending.n) >= settings.maxPendingPerUser) {
    throw new AppError("conflict", `You already hold ${pending.n} unfinished tasks; finish or skip one first.`);
  }

  const available = await availableTypes(db, user, projectId);
  let types = taskTypesFor(user.role).filter((type) => available.has(type));
  while (types.length > 0) {
    const type = weightedPick(types, (t) => settings.taskWeights[t], random);
    const assignment = await claimOfType(db, user, projectId, type, settings.leaseMinutes);
    if (assignment) return assignment;
    types = types.filter((t) => t !== type);
  }
  return null;
}

async function availableTypes(db: Db, user: SessionUser, projectId: string): Promise<Set<TaskType>> {
  const rows = await sql<{ type: TaskType }>`
    select distinct t.type from tasks t
    where t.project_id = ${projectId} and t.state = 'open'
      and (t.author_user_id is null or t.author_user_id <> ${user.id})
      and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = ${user.id})`.execute(db);
  return new Set(rows.rows.map((r) => r.type));
}

async function claimOfType(db: Db, user: SessionUser, projectId: string, type: TaskType, leaseMinutes: number): Promise<Assignment | null> {
  return db.transaction().execute(async (trx) => {
    const skipped: string[] = [];
    // A few tries: a candidate can turn out full once its lock is ours (see step 3 above).
    for (let attempt = 0; attempt < 8; attempt++) {
      const candidate = await sql<{ id: string; completion_ids: string[] }>`
        select t.id, t.completion_ids from tasks t
        where t.project_id = ${projectId} and t.state = 'open' and t.type = ${type}
          and (t.author_user_id is null or t.author_user_id <> ${user.id})
          and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = ${user.id})
          and (select count(*) from assignments a where a.task_id = t.id and ${LIVE_ASSIGNMENT}) < t.overlap_target
          ${skipped.length > 0 ? sql`and t.id not in (${sql.join(skipped)})` : sql``}
        order by exists (select 1 from assignments a where a.task_id = t.id and ${LIVE_ASSIGNMENT}) desc, t.id
        limit 1
        for update of t skip locked`.execute(trx);
      const task = candidate.rows[0];
      if (!task) return null;
      // Fresh statement, fresh snapshot: counts every assignment committed before we got the lock.
      const live = await sql<{ n: string; target: number }>`
        select (select count(*) from assignments a where a.task_id = ${task.id} and ${LIVE_ASSIGNMENT}) as n,
               (select overlap_target from tasks where id = ${task.id}) as target`.execute(trx);
      const row = live.rows[0]!;
      if (Number(row.n) >= row.target) {
        skipped.push(task.id);
        continue;
      }
      return trx
        .insertInto("assignments")
        .values({
          task_id: task.id,
          user_id: user.id,
          state: "active",
          lease_expires_at: new Date(Date.now() + leaseMinutes * 60_000),
          shown_order: JSON.stringify(shuffled(task.completion_ids)),
        })
        .returning(["id", "task_id", "state", "lease_expires_at", "shown_order"])
        .executeTakeFirstOrThrow();
    }
    return null;
  });
}

export function weightedPick<T>(items: T[], weight: (item: T) => number, random: () => number): T {
  const total = items.reduce((sum, item) => sum + weight(item), 0);
  if (total <= 0) return items[Math.floor(random() * items.length)]!;
  let threshold = random() * total;
  for (const item of items) {
    threshold -= weight(item);
    if (threshold < 0) return item;
  }
  return items[items.length - 1]!;
}

/** Fisher–Yates with a CSPRNG: the shown order must not be predictable (position bias). */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Skipping with a reason ends the lease; the task goes back to the queue for others. */
export async function skipAssignment(db: Db, user: SessionUser, assignmentId: string, reason: string): Promise<void> {
  const result = await db
    .updateTable("assignments")
    .set({ state: "skipped", skip_reason: reason, updated_at: new Date() })
    .where("id", "=", assignmentId)
    .where("user_id", "=", user.id)
    .where("state", "=", "active")
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw new AppError("conflict", "This task is no longer yours to skip.");
}
