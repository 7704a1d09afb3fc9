import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Handing a round to a Ray cluster (decision 0017): one row per submission of a round's bundle
 * through the Ray Jobs REST API. A retry is a new attempt with a new submission id. Tandem
 * mirrors the job's status and the tail of its logs here, and the poll lease keeps two server
 * instances from polling (or submitting) the same row at once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("ray_submissions")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("round_id", "bigint", (col) => col.notNull().references("rounds.id").onDelete("cascade"))
    .addColumn("attempt", "integer", (col) => col.notNull())
    // Ray's submission_id, e.g. tandem-round-17-1: also the idempotency key of the submit call.
    .addColumn("submission_id", "text", (col) => col.notNull().unique())
    .addColumn("dashboard_url", "text", (col) => col.notNull())
    // engine, baseModel, numGpus, outputDir: what the bundle's run.sh is told.
    .addColumn("settings", "jsonb", (col) => col.notNull())
    // "submitting" until Ray accepted the job, then Ray's own status.
    .addColumn("status", "text", (col) =>
      col.notNull().defaultTo("submitting").check(sql`status in ('submitting', 'PENDING', 'RUNNING', 'STOPPED', 'SUCCEEDED', 'FAILED')`),
    )
    .addColumn("message", "text")
    .addColumn("logs_tail", "text", (col) => col.notNull().defaultTo(""))
    .addColumn("package_uri", "text")
    // What run.sh reported on its TANDEM_RESULT line, once the job succeeded.
    .addColumn("result", "jsonb")
    // The last failed call to the cluster (unreachable, refused): shown, and retried on the next poll.
    .addColumn("last_error", "text")
    .addColumn("stop_requested", "boolean", (col) => col.notNull().defaultTo(false))
    .addColumn("poll_lease_until", "timestamptz")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .addUniqueConstraint("ray_submissions_round_attempt", ["round_id", "attempt"])
    .execute();
  await sql`create index ray_submissions_active on ray_submissions (id) where finished_at is null`.execute(db);
  // A checkpoint that lives outside Tandem (on the cluster's storage): no files here, only its address.
  await db.schema.alterTable("models").addColumn("external_uri", "text").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("models").dropColumn("external_uri").execute();
  await db.schema.dropTable("ray_submissions").execute();
}
