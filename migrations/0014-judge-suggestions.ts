import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Model-judge suggestions with an anchoring audit (decision 0035, issue 16 item 1):
 * - judge_suggestions: one per ranking/compare task, what the project's judge answered (its
 *   ranking of the task's completions, the raw answers in both presentation orders), or why it
 *   failed (timeout, unparseable, error). Leased like a generation run, so two server instances
 *   never judge one task twice and a dead server's claim is picked up again.
 * - tasks.suggestion_arm: drawn once, at the task's first claim, when the project offers
 *   suggestions: 'shown' (labelers may reveal it) or 'withheld' (the audit slice).
 * - assignments.suggestion_revealed_at: when this labeler revealed the suggestion (first time).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("judge_suggestions")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("task_id", "bigint", (col) => col.notNull().unique().references("tasks.id").onDelete("cascade"))
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    // e.g. "endpoint:gpt-judge/gpt-4o-mini" or "model:12": who the exported annotator is.
    .addColumn("judge", "text", (col) => col.notNull())
    .addColumn("state", "text", (col) => col.notNull().defaultTo("running").check(sql`state in ('running', 'done', 'failed')`))
    // Best tier first, completion ids (quality/ranking.ts's Ranking); null until done.
    .addColumn("ranking", "jsonb")
    // The questions asked (presentation order) and the parsed answers, for position bias.
    .addColumn("detail", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("failure", "text", (col) => col.check(sql`failure is null or failure in ('timeout', 'unparseable', 'error')`))
    .addColumn("message", "text")
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  await db.schema.createIndex("judge_suggestions_project").on("judge_suggestions").columns(["project_id", "state"]).execute();
  await sql`create index judge_suggestions_running on judge_suggestions (lease_expires_at) where state = 'running'`.execute(db);

  await db.schema.alterTable("tasks").addColumn("suggestion_arm", "text", (col) => col.check(sql`suggestion_arm is null or suggestion_arm in ('shown', 'withheld')`)).execute();
  await db.schema.alterTable("assignments").addColumn("suggestion_revealed_at", "timestamptz").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("assignments").dropColumn("suggestion_revealed_at").execute();
  await db.schema.alterTable("tasks").dropColumn("suggestion_arm").execute();
  await db.schema.dropTable("judge_suggestions").execute();
}
