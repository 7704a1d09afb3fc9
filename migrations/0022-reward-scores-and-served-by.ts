import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Uncertainty-first queues (decision 0048, issue 16 item 2):
 * - reward_scores: a reward model's scores of one task's completions, cached per (task, model) and
 *   computed in the background (a leased row, like judge_suggestions), never inside a claim.
 *   `scores` lines up with the task's completion_ids; `margin` is the gap between the top two
 *   scores, the queue's measure of how unsure the model is (small = unsure).
 * - assignments.served_by: which rule served this claim ('uncertainty' | 'random' | 'fifo'), so
 *   the data's selection can be told apart later; null on assignments made before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("reward_scores")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("task_id", "bigint", (col) => col.notNull().references("tasks.id").onDelete("cascade"))
    .addColumn("model_id", "bigint", (col) => col.notNull().references("models.id").onDelete("cascade"))
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("state", "text", (col) => col.notNull().defaultTo("running").check(sql`state in ('running', 'done', 'failed')`))
    .addColumn("scores", "jsonb")
    .addColumn("margin", "double precision")
    .addColumn("message", "text")
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .addUniqueConstraint("reward_scores_task_model", ["task_id", "model_id"])
    .execute();
  await sql`create index reward_scores_running on reward_scores (lease_expires_at) where state = 'running'`.execute(db);
  await db.schema.createIndex("reward_scores_project").on("reward_scores").columns(["project_id", "model_id", "state"]).execute();

  await db.schema
    .alterTable("assignments")
    .addColumn("served_by", "text", (col) => col.check(sql`served_by is null or served_by in ('uncertainty', 'random', 'fifo')`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("assignments").dropColumn("served_by").execute();
  await db.schema.dropTable("reward_scores").execute();
}
