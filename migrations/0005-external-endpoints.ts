import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * External models (decision 0014): a project's OpenAI-compatible endpoints, with the API key
 * encrypted at rest; generation runs that sample completions from them in the server process
 * (leased so two server instances never run one twice); and each failed request of a run.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("external_endpoints")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("base_url", "text", (col) => col.notNull())
    .addColumn("model", "text", (col) => col.notNull())
    // v1.<key id>.<iv>.<tag>.<ciphertext> (AES-256-GCM); null when the endpoint needs no key.
    .addColumn("api_key_encrypted", "text")
    .addColumn("api_key_hint", "text")
    // Decoding defaults: temperature, top_p, max_tokens, seed, stop.
    .addColumn("decoding", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("stream", "boolean", (col) => col.notNull().defaultTo(false))
    .addColumn("timeout_ms", "integer", (col) => col.notNull().defaultTo(60_000))
    .addColumn("max_retries", "integer", (col) => col.notNull().defaultTo(3))
    .addColumn("requests_per_minute", "integer")
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("external_endpoints_project_name", ["project_id", "name"])
    .execute();

  await db.schema
    .createTable("generation_runs")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("kind", "text", (col) => col.notNull().check(sql`kind in ('rank', 'compare')`))
    // generationRunSpecSchema: sources, prompt ids (fixed at launch), K, decoding overrides.
    .addColumn("spec", "jsonb", (col) => col.notNull())
    .addColumn("state", "text", (col) => col.notNull().defaultTo("queued").check(sql`state in ('queued', 'running', 'done', 'failed', 'cancelled')`))
    // { next, prompts, completions, tasks, failedRequests, skippedPrompts }: `next` is where a re-claimed run resumes.
    .addColumn("progress", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("error", "text")
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  await sql`create index generation_runs_claimable on generation_runs (id) where state in ('queued', 'running')`.execute(db);
  await db.schema.createIndex("generation_runs_project").on("generation_runs").columns(["project_id", "id"]).execute();

  await db.schema
    .createTable("generation_errors")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("run_id", "bigint", (col) => col.notNull().references("generation_runs.id").onDelete("cascade"))
    .addColumn("prompt_id", "bigint", (col) => col.references("prompts.id").onDelete("cascade"))
    .addColumn("source", "text", (col) => col.notNull())
    // timeout | connection | http | rate_limited | malformed | config
    .addColumn("kind", "text", (col) => col.notNull())
    .addColumn("status", "integer")
    .addColumn("attempts", "integer", (col) => col.notNull())
    .addColumn("message", "text", (col) => col.notNull())
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("generation_errors_run").on("generation_errors").columns(["run_id", "id"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("generation_errors").execute();
  await db.schema.dropTable("generation_runs").execute();
  await db.schema.dropTable("external_endpoints").execute();
}
