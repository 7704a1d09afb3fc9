import { sql } from "kysely";
import type { SessionUser } from "../auth/actor.ts";
import { visibleProjects } from "../auth/project-access.server.ts";
import type { Db } from "../db/database.server.ts";
import type { UserRole } from "../db/schema.ts";
import { taskTypesFor } from "./queue.server.ts";

/** Counting past this says "1000+": the home page stays fast however long a queue is. */
export const QUEUE_COUNT_CAP = 1000;

export type HomeProject = {
  id: string;
  name: string;
  /** The role this person works with in the project (decision 0031). */
  role: UserRole;
  /** Open tasks in the project, everyone's (gold tasks excluded: they are not work waiting). */
  openTasks: number;
  /** Tasks the queue could still hand this person (capped at QUEUE_COUNT_CAP), plus a lease they hold. */
  queueLeft: number;
  /** Their submissions in this project since midnight (server time). */
  doneToday: number;
  /** They hold an unfinished task here: starting resumes it. */
  resumable: boolean;
};

const rank: Record<UserRole, number> = { labeler: 1, reviewer: 2, researcher: 3, admin: 4 };

/**
 * What a person's home page lists: the projects they may work on, with what is waiting for them
 * there. "Queue left" is counted with the queue's own rules (claimNextTask): open, not gold, of a
 * type their project role takes, not theirs already, not written by them, and not yet full.
 * Projects with work come first (the home page's one key starts the first of them).
 */
export async function labelerHome(db: Db, user: SessionUser): Promise<HomeProject[]> {
  const caller = { user, role: user.role };
  const projects = await db
    .selectFrom("projects")
    .leftJoin("project_members as m", (join) => join.onRef("m.project_id", "=", "projects.id").on("m.user_id", "=", user.id))
    .where((eb) => visibleProjects(eb, caller))
    .select(["projects.id", "projects.name", "m.role as member_role"])
    .orderBy("projects.id", "desc")
    .limit(100)
    .execute();
  const rows: HomeProject[] = [];
  for (const project of projects) {
    const role: UserRole =
      user.role === "admin" || !project.member_role ? user.role : rank[user.role] <= rank[project.member_role] ? user.role : project.member_role;
    const types = taskTypesFor(role);
    const counts = await sql<{ open_tasks: string; queue_left: string; done_today: string; resumable: boolean }>`
      select
        (select count(*) from tasks t where t.project_id = ${project.id} and t.state = 'open' and t.gold is null) as open_tasks,
        (select count(*) from (
          select 1 from tasks t
          where t.project_id = ${project.id} and t.state = 'open' and t.gold is null and t.redo_of is null and t.type in (${sql.join(types)})
            and (t.author_user_id is null or t.author_user_id <> ${user.id})
            and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = ${user.id})
            and (select count(*) from assignments a where a.task_id = t.id
                 and (a.state = 'submitted' or (a.state = 'active' and a.lease_expires_at > now()))) < t.overlap_target
          limit ${QUEUE_COUNT_CAP}) capped) as queue_left,
        (select count(*) from submissions s join tasks t on t.id = s.task_id
          where s.user_id = ${user.id} and t.project_id = ${project.id} and s.created_at >= date_trunc('day', now())) as done_today,
        exists (select 1 from assignments a join tasks t on t.id = a.task_id
          where a.user_id = ${user.id} and t.project_id = ${project.id} and a.state = 'active' and a.lease_expires_at > now()) as resumable`.execute(db);
    const row = counts.rows[0]!;
    rows.push({
      id: project.id,
      name: project.name,
      role,
      openTasks: Number(row.open_tasks),
      queueLeft: Number(row.queue_left) + (row.resumable ? 1 : 0),
      doneToday: Number(row.done_today),
      resumable: row.resumable,
    });
  }
  // Stable: work first, newest project first within each group.
  return [...rows.filter((p) => p.queueLeft > 0), ...rows.filter((p) => p.queueLeft === 0)];
}
