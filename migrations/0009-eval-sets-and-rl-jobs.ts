import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * The loop that teaches substance (issue #11):
 * - a project's held-out eval set: prompts marked `held_out` are never trained on and never become
 *   labeling tasks; every round scores its policy on them;
 * - new job kinds: group-sampled RL (grpo, rloo), KTO, and the held-out evaluation step.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table prompts add column held_out boolean not null default false`.execute(db);
  await sql`create index prompts_held_out on prompts (project_id, id) where held_out`.execute(db);
  await sql`alter table jobs drop constraint jobs_kind_check`.execute(db);
  await sql`alter table jobs add constraint jobs_kind_check check (kind in ('sft', 'reward', 'dpo', 'ppo', 'grpo', 'rloo', 'kto', 'evaluate', 'sample'))`.execute(db);
}

/**
 * Rolling back removes the new kinds, and with them their jobs and their events (the curves). A
 * round still waiting on one of those steps could never go on: it is marked failed, saying why.
 * Held-out prompts become ordinary prompts again (they may then be labeled and trained on): an eval
 * set does not survive a rollback. Rolling back is for development; back up first.
 */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`update rounds set state = 'failed', error = 'migration 0009 was rolled back: this round used a step kind that no longer exists', finished_at = now(), updated_at = now()
    where state in ('queued', 'running', 'sampling') and id in (select round_id from jobs where kind in ('grpo', 'rloo', 'kto', 'evaluate'))`.execute(db);
  await sql`delete from jobs where kind in ('grpo', 'rloo', 'kto', 'evaluate')`.execute(db);
  await sql`alter table jobs drop constraint jobs_kind_check`.execute(db);
  await sql`alter table jobs add constraint jobs_kind_check check (kind in ('sft', 'reward', 'dpo', 'ppo', 'sample'))`.execute(db);
  await sql`drop index prompts_held_out`.execute(db);
  await sql`alter table prompts drop column held_out`.execute(db);
}
