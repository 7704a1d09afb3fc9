import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.
// Rounds are what a researcher launches; jobs are the trainer's units of work (one per step,
// leased like labeling tasks); models are the registry every finished training step feeds.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("rounds")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (col) => col.notNull())
    // Validated by roundSpecSchema (trainer/contract/round.ts): path, base, data filters, hyperparameters.
    .addColumn("spec", "jsonb", (col) => col.notNull())
    .addColumn("steps", "jsonb", (col) => col.notNull()) // ["sft", "dpo", "sample"]
    .addColumn("current_step", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("state", "text", (col) =>
      col.notNull().defaultTo("queued").check(sql`state in ('queued', 'running', 'sampling', 'done', 'failed', 'cancelled')`),
    )
    .addColumn("error", "text")
    // What the round trained on: the submission ids per dataset and a hash of them.
    .addColumn("data_snapshot", "jsonb", (col) => col.notNull())
    .addColumn("report", "jsonb")
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  await db.schema.createIndex("rounds_project").on("rounds").columns(["project_id", "id"]).execute();

  await db.schema
    .createTable("models")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.references("projects.id").onDelete("set null"))
    .addColumn("round_id", "bigint", (col) => col.references("rounds.id").onDelete("set null"))
    .addColumn("parent_id", "bigint", (col) => col.references("models.id").onDelete("set null"))
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("kind", "text", (col) => col.notNull().check(sql`kind in ('base', 'sft', 'reward', 'policy')`))
    // Folder under TANDEM_DATA_DIR/models holding model.safetensors, manifest.json, tokenizer.json.
    .addColumn("storage_key", "text", (col) => col.notNull().unique())
    .addColumn("config", "jsonb", (col) => col.notNull()) // the checkpoint manifest
    .addColumn("metrics", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("data_snapshot", "jsonb")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("jobs")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("round_id", "bigint", (col) => col.notNull().references("rounds.id").onDelete("cascade"))
    .addColumn("step_index", "integer", (col) => col.notNull())
    .addColumn("kind", "text", (col) => col.notNull().check(sql`kind in ('sft', 'reward', 'dpo', 'ppo', 'sample')`))
    .addColumn("spec", "jsonb", (col) => col.notNull()) // remoteJobSchema, what the trainer receives
    .addColumn("state", "text", (col) =>
      col.notNull().defaultTo("queued").check(sql`state in ('queued', 'running', 'done', 'failed', 'cancelled')`),
    )
    .addColumn("attempts", "integer", (col) => col.notNull().defaultTo(0))
    // The lease: which trainer token holds the job, until when; a heartbeat moves the time on.
    .addColumn("lease_token_id", "bigint", (col) => col.references("api_tokens.id").onDelete("set null"))
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("worker", "text")
    .addColumn("error", "text")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  // Trainers claim the oldest claimable job; a partial index keeps that scan short.
  await sql`create index jobs_claimable on jobs (id) where state in ('queued', 'running')`.execute(db);
  await db.schema.createIndex("jobs_round").on("jobs").columns(["round_id", "step_index"]).execute();

  await db.schema
    .createTable("job_events")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("job_id", "bigint", (col) => col.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("round_id", "bigint", (col) => col.notNull().references("rounds.id").onDelete("cascade"))
    .addColumn("attempt", "integer", (col) => col.notNull())
    .addColumn("type", "text", (col) => col.notNull())
    .addColumn("payload", "jsonb", (col) => col.notNull())
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("job_events_round").on("job_events").columns(["round_id", "id"]).execute();

  await db.schema.alterTable("completions").addColumn("model_id", "bigint", (col) => col.references("models.id").onDelete("set null")).execute();
  await db.schema.alterTable("tasks").addColumn("round_id", "bigint", (col) => col.references("rounds.id").onDelete("set null")).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("tasks").dropColumn("round_id").execute();
  await db.schema.alterTable("completions").dropColumn("model_id").execute();
  await db.schema.dropTable("job_events").execute();
  await db.schema.dropTable("jobs").execute();
  await db.schema.dropTable("models").execute();
  await db.schema.dropTable("rounds").execute();
}
