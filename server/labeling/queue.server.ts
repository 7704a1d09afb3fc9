import { randomInt } from "node:crypto";
import { sql } from "kysely";
import { AppError } from "../lib/app-error.ts";
import type { SessionUser } from "../auth/actor.ts";
import { hasRole } from "../auth/roles.ts";
import type { Db } from "../db/database.server.ts";
import type { TaskType } from "../db/schema.ts";
import type { ProjectSettings } from "./project-settings.ts";
import { TODAY } from "./wellbeing/sensitive.server.ts";
import type { ServedBy } from "../db/schema.ts";
import { drawRule } from "./active/uncertainty-queue.ts";
import { uncertaintyModels, type UncertaintyModels } from "./active/reward-scores.server.ts";

/**
 * The task queue. `claimNextTask` hands one task to one person as a lease:
 *  1. resume the person's active, unexpired assignment in this project, if any;
 *  2. otherwise try task types in an order drawn by the project's weights (OpenAssistant's
 *     "by need" draw); within a type take the oldest open task that is not full — first in,
 *     first filled, so items reach their overlap and leave the queue;
 *  3. lock the task row (FOR UPDATE SKIP LOCKED: concurrent claimers take other tasks),
 *     re-count its live assignments in a fresh statement, and create the assignment.
 * A task never goes to its author, nor twice to the same person; an expired lease stops
 * counting toward the overlap, so the task goes back into the queue.
 * The candidate query walks the partial index tasks_open_queue (project, type, id) and stops
 * at the first match; bench/queue-bench.ts measures it (docs/benchmarks.md).
 * Gold tasks (decision 0010) are outside that index: with probability `goldRate` a claim first
 * tries the oldest gold task the person has not done (index tasks_open_gold).
 * The anchoring audit (decision 0035): when the project shows its judge's suggestions, a task's
 * first claim draws its arm — withheld with probability `judge.withheldShare`, else shown — under
 * the same row lock, so every labeler of the task is in the same arm.
 * Uncertainty-first (decision 0048): when the project asks for it, a ranking or compare claim draws
 * its rule — `random` with probability `uncertaintyQueue.randomShare`, else `uncertainty` — and only
 * the candidate's ORDER changes: smallest cached reward-model margin first (tasks not scored yet
 * after them, oldest first), or a uniformly random candidate. Every filter, the row lock, the
 * re-count and the caps stay as they are. The rule is stored on the assignment (`served_by`):
 * `fifo` when the normal order chose (the feature off, no reward model yet, gold, or an
 * uncertainty claim that fell back to an unscored task). The second uncertainty rule (decision
 * 0053), `disagreement`, orders by the largest disagreement between the current and the previous
 * round's reward models instead of the smallest margin, and is stored as `disagreement`.
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
  // One round trip: the person's live lease in this project (to resume) and their leases overall (the cap).
  const held = await sql<Assignment & { project_id: string; held: string }>`
    select a.id, a.task_id, a.state, a.lease_expires_at, a.shown_order, t.project_id,
           count(*) over () as held
    from assignments a join tasks t on t.id = a.task_id
    where a.user_id = ${user.id} and a.state = 'active' and a.lease_expires_at > now()`.execute(db);
  const resumed = held.rows.find((row) => row.project_id === projectId);
  if (resumed) return { id: resumed.id, task_id: resumed.task_id, state: resumed.state, lease_expires_at: resumed.lease_expires_at, shown_order: resumed.shown_order };
  const pending = Number(held.rows[0]?.held ?? 0);
  if (pending >= settings.maxPendingPerUser) {
    throw new AppError("conflict", `You already hold ${pending} unfinished tasks; finish or skip one first.`);
  }

  // Resolved outside the claim transactions: the row lock is held only for the claim itself.
  // Not ready (no reward model yet, or no earlier round for the disagreement rule): the normal order.
  const resolved = settings.uncertaintyQueue.enabled ? await uncertaintyModels(db, projectId, settings) : null;
  const models = resolved?.ready ? resolved : null;

  if (settings.goldRate > 0 && random() < settings.goldRate) {
    const gold = await claimGold(db, user, projectId, settings.leaseMinutes);
    if (gold) return gold;
  }

  let types = taskTypesFor(user.role);
  while (types.length > 0) {
    const type = weightedPick(types, (t) => settings.taskWeights[t], random);
    const assignment = await claimOfType(db, user, projectId, type, settings, random, models);
    if (assignment) return assignment;
    types = types.filter((t) => t !== type);
  }
  return null;
}

async function claimOfType(
  db: Db,
  user: SessionUser,
  projectId: string,
  type: TaskType,
  settings: ProjectSettings,
  random: () => number,
  models: UncertaintyModels | null,
): Promise<Assignment | null> {
  const leaseMinutes = settings.leaseMinutes;
  const judge = settings.judge;
  const drawsArm = judge?.suggestions === "shown" && (type === "rank" || type === "compare");
  const rule: ServedBy = models !== null && (type === "rank" || type === "compare") ? drawRule(settings.uncertaintyQueue, random) : "fifo";
  // Only the order differs between the rules (the left join adds no filter). Margin: the current
  // model's smallest top-two gap first; disagreement (decision 0053): the largest disagreement with
  // the previous round's model first.
  const scored =
    rule === "uncertainty" ? sql`left join reward_scores s on s.task_id = t.id and s.model_id = ${models!.current} and s.state = 'done'`
    : rule === "disagreement" ? sql`left join reward_scores s on s.task_id = t.id and s.model_id = ${models!.current} and s.state = 'done' and s.compared_model_id = ${models!.previous}`
    : sql``;
  const measure = rule === "uncertainty" ? sql`s.margin` : rule === "disagreement" ? sql`s.disagreement` : sql`null::double precision`;
  const order =
    rule === "uncertainty" ? sql`s.margin asc nulls last, t.id`
    : rule === "disagreement" ? sql`s.disagreement desc nulls last, t.id`
    : rule === "random" ? sql`random()`
    : sql`t.id`;
  return db.transaction().execute(async (trx) => {
    const skipped: string[] = [];
    const noSensitive = await sensitiveCapReached(trx, user.id, projectId, settings.wellbeing.dailySensitiveCap);
    // A candidate can turn out full once its lock is ours (see step 3 above): skip it, try the next.
    for (;;) {
      const candidate = await sql<{ id: string; completion_ids: string[]; measure: number | null }>`
        select t.id, t.completion_ids, ${measure} as measure from tasks t ${scored}
        where t.project_id = ${projectId} and t.state = 'open' and t.type = ${type} and t.gold is null
          -- A redo of a sent-back submission belongs to its labeler alone (decision 0044).
          and t.redo_of is null
          and (t.author_user_id is null or t.author_user_id <> ${user.id})
          and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = ${user.id})
          and (select count(*) from assignments a where a.task_id = t.id and ${LIVE_ASSIGNMENT}) < t.overlap_target
          -- Wellbeing (decision 0036): never a category the person opted out of; nothing sensitive past the daily cap.
          and not exists (select 1 from sensitive_marks m join labeler_opt_outs o on o.category = m.category and o.user_id = ${user.id} where m.prompt_id = t.prompt_id)
          ${noSensitive ? sql`and not exists (select 1 from sensitive_marks m where m.prompt_id = t.prompt_id)` : sql``}
          ${skipped.length > 0 ? sql`and t.id not in (${sql.join(skipped)})` : sql``}
        order by ${order}
        limit 1
        for update of t skip locked`.execute(trx);
      const task = candidate.rows[0];
      if (!task) return null;
      // An uncertainty claim that reached a task with no measure yet was served in the normal order.
      const servedBy: ServedBy = (rule === "uncertainty" || rule === "disagreement") && task.measure === null ? "fifo" : rule;
      // Fresh statement, fresh snapshot: counts every assignment committed before we got the lock.
      // The insert happens only if the task still has room, so the check and the claim are one step.
      const inserted = await sql<Assignment>`
        insert into assignments (task_id, user_id, state, lease_expires_at, shown_order, served_by)
        select t.id, ${user.id}, 'active', now() + make_interval(mins => ${leaseMinutes}), ${JSON.stringify(shuffled(task.completion_ids))}::jsonb, ${servedBy}
        from tasks t
        where t.id = ${task.id}
          and (select count(*) from assignments a where a.task_id = t.id and ${LIVE_ASSIGNMENT}) < t.overlap_target
        returning id, task_id, state, lease_expires_at, shown_order`.execute(trx);
      if (inserted.rows[0]) {
        if (drawsArm) {
          const arm = random() < judge.withheldShare ? "withheld" : "shown";
          await trx.updateTable("tasks").set({ suggestion_arm: arm }).where("id", "=", task.id).where("suggestion_arm", "is", null).execute();
        }
        return inserted.rows[0];
      }
      skipped.push(task.id);
    }
  });
}

/**
 * Whether the person has had their daily share of sensitive tasks in this project (decision 0036).
 * A transaction-scoped advisory lock per (person, project) makes their concurrent claims take
 * turns from here to the commit, so the count below always includes the claim before: two tabs
 * claiming at once cannot both take the last sensitive task under the cap.
 */
async function sensitiveCapReached(trx: Db, userId: string, projectId: string, cap: number | null): Promise<boolean> {
  if (cap === null) return false;
  await sql`select pg_advisory_xact_lock(hashtextextended(${`exposure:${userId}:${projectId}`}, 0))`.execute(trx);
  const served = await sql<{ n: string }>`
    select count(*) as n from assignments a join tasks t on t.id = a.task_id
    where a.user_id = ${userId} and t.project_id = ${projectId} and a.created_at >= ${TODAY}
      and exists (select 1 from sensitive_marks m where m.prompt_id = t.prompt_id)`.execute(trx);
  return Number(served.rows[0]!.n) >= cap;
}

/**
 * A gold task goes to every labeler once, so it has no overlap to protect: no row lock and no
 * re-count. The unique (task, user) constraint settles a person's own concurrent double claim.
 */
async function claimGold(db: Db, user: SessionUser, projectId: string, leaseMinutes: number): Promise<Assignment | null> {
  const candidate = await sql<{ id: string; completion_ids: string[] }>`
    select t.id, t.completion_ids from tasks t
    where t.project_id = ${projectId} and t.state = 'open' and t.gold is not null
      and (t.author_user_id is null or t.author_user_id <> ${user.id})
      and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = ${user.id})
    order by t.id
    limit 1`.execute(db);
  const task = candidate.rows[0];
  if (!task) return null;
  const inserted = await sql<Assignment>`
    insert into assignments (task_id, user_id, state, lease_expires_at, shown_order, served_by)
    values (${task.id}, ${user.id}, 'active', now() + make_interval(mins => ${leaseMinutes}), ${JSON.stringify(shuffled(task.completion_ids))}::jsonb, 'fifo')
    on conflict (task_id, user_id) do nothing
    returning id, task_id, state, lease_expires_at, shown_order`.execute(db);
  return inserted.rows[0] ?? null;
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
