import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Operations (decision 0015): the admin audit page pages newest-first (the primary key) and
 * filters by action, actor or date; the metrics scrape reads the latest metrics lines of each running job.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index audit_log_action on audit_log (action, id desc)`.execute(db);
  await sql`create index audit_log_actor on audit_log (actor_user_id, id desc)`.execute(db);
  await sql`create index audit_log_created on audit_log (created_at)`.execute(db);
  await sql`create index job_events_job on job_events (job_id, type, id desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of ["job_events_job", "audit_log_created", "audit_log_actor", "audit_log_action"]) {
    await sql`drop index ${sql.ref(index)}`.execute(db);
  }
}
