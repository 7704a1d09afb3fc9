import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Gold tasks (decision 0010): a ranking task with a known answer, mixed into labelers' queues
 * to measure each labeler. `gold` is that answer, a ranking ({ tiers, strengths? }) of the
 * task's completion ids; null for every ordinary task.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("tasks").addColumn("gold", "jsonb").execute();
  // A gold task stays open for every labeler, so the ordinary queue index leaves gold tasks out
  // (the claim would otherwise walk past them on every call) and they get an index of their own.
  await sql`drop index tasks_open_queue`.execute(db);
  await sql`create index tasks_open_queue on tasks (project_id, type, id) where state = 'open' and gold is null`.execute(db);
  await sql`create index tasks_open_gold on tasks (project_id, id) where state = 'open' and gold is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index tasks_open_gold`.execute(db);
  await sql`drop index tasks_open_queue`.execute(db);
  await sql`create index tasks_open_queue on tasks (project_id, type, id) where state = 'open'`.execute(db);
  await db.schema.alterTable("tasks").dropColumn("gold").execute();
}
