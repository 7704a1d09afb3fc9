import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Progress and analytics (issue 14 item 3, decision 0046).
 * - `tasks.closed_at`: when the task left 'open' (completed or cancelled); null while open. A
 *   trigger keeps it, so every code path that completes, cancels or reopens a task (submission,
 *   adaptive overlap, open-task overlap changes …) keeps it right without knowing about it.
 *   Backfilled from each complete task's last submission; cancelled tasks have no better time
 *   than their creation.
 * - Indexes for the windows the analytics read: submissions and skips by time, and a project's
 *   ordinary tasks by type for the burndown (index-only with created_at, closed_at and state).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tasks add column closed_at timestamptz`.execute(db);
  await sql`
    update tasks t set closed_at = coalesce((select max(s.created_at) from submissions s where s.task_id = t.id), t.created_at)
    where t.state <> 'open'`.execute(db);
  await sql`
    create function tasks_closed_at() returns trigger language plpgsql as $$
    begin
      if new.state = 'open' then
        new.closed_at := null;
      elsif tg_op = 'INSERT' or old.state is distinct from new.state then
        new.closed_at := coalesce(new.closed_at, now());
      end if;
      return new;
    end $$`.execute(db);
  await sql`create trigger tasks_closed_at before insert or update of state on tasks for each row execute function tasks_closed_at()`.execute(db);
  await sql`create index tasks_burndown on tasks (project_id, type, created_at) include (closed_at, state) where gold is null`.execute(db);
  await sql`create index submissions_created on submissions (created_at)`.execute(db);
  await sql`create index assignments_skipped on assignments (updated_at) where state = 'skipped'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists assignments_skipped`.execute(db);
  await sql`drop index if exists submissions_created`.execute(db);
  await sql`drop index if exists tasks_burndown`.execute(db);
  await sql`drop trigger if exists tasks_closed_at on tasks`.execute(db);
  await sql`drop function if exists tasks_closed_at()`.execute(db);
  await sql`alter table tasks drop column closed_at`.execute(db);
}
