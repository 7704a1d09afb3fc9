import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * The uncertainty-first queue's second rule (decision 0053, issue 16 item 2): disagreement between
 * the reward models of two successive rounds.
 * - reward_scores.compared_model_id / disagreement: on the current model's row of a task, how far
 *   its pairwise preferences over the task's completions are from those of compared_model_id (the
 *   previous round's reward model) — the mean |σ(sᵢ − sⱼ) − σ(s'ᵢ − s'ⱼ)| over pairs, in [0, 1].
 *   Computed by the scoring runner from the two models' cached scores; null until both are in.
 * - assignments.served_by gains 'disagreement' (a claim the largest disagreement served);
 *   'uncertainty' keeps meaning the smallest-margin rule, as before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("reward_scores")
    .addColumn("compared_model_id", "bigint", (col) => col.references("models.id").onDelete("set null"))
    .addColumn("disagreement", "double precision")
    .execute();
  await sql`alter table assignments drop constraint assignments_served_by_check`.execute(db);
  await sql`alter table assignments add constraint assignments_served_by_check check (served_by is null or served_by in ('uncertainty', 'disagreement', 'random', 'fifo'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // The older constraint has no 'disagreement': those claims are recorded as uncertainty-served.
  await sql`update assignments set served_by = 'uncertainty' where served_by = 'disagreement'`.execute(db);
  await sql`alter table assignments drop constraint assignments_served_by_check`.execute(db);
  await sql`alter table assignments add constraint assignments_served_by_check check (served_by is null or served_by in ('uncertainty', 'random', 'fifo'))`.execute(db);
  await db.schema.alterTable("reward_scores").dropColumn("disagreement").dropColumn("compared_model_id").execute();
}
