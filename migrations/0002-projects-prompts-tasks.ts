import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("projects")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("guidelines", "text", (col) => col.notNull().defaultTo(""))
    // Validated by projectSettingsSchema (K, overlaps, flags, weights, filter, leases …).
    .addColumn("settings", "jsonb", (col) => col.notNull())
    // Keys the labeler pseudonyms in exports: stable within a project, unlinkable across projects.
    .addColumn("export_salt", "text", (col) => col.notNull().defaultTo(sql`replace(gen_random_uuid()::text, '-', '')`))
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("prompts")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("messages", "jsonb", (col) => col.notNull())
    .addColumn("content_hash", "text", (col) => col.notNull())
    .addColumn("minhash", "text", (col) => col.notNull()) // base64 MinHash signature, for near-duplicate checks
    .addColumn("source", "text")
    .addColumn("metadata", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    // active: goes to labelers; review: a content-filter hit waiting for a reviewer; rejected.
    .addColumn("status", "text", (col) => col.notNull().check(sql`status in ('active', 'review', 'rejected')`))
    // prompt: to be labeled; qa: a synthetic question with its answer, to be reviewed.
    .addColumn("kind", "text", (col) => col.notNull().defaultTo("prompt").check(sql`kind in ('prompt', 'qa')`))
    .addColumn("author_user_id", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("prompts_project_hash", ["project_id", "content_hash"])
    .execute();

  await db.schema
    .createTable("completions")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("prompt_id", "bigint", (col) => col.notNull().references("prompts.id").onDelete("cascade"))
    .addColumn("model_name", "text")
    .addColumn("text", "text", (col) => col.notNull())
    .addColumn("decoding", "jsonb") // temperature, top_p, seed … when Tandem sampled it
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("completions_prompt").on("completions").column("prompt_id").execute();

  await db.schema
    .createTable("tasks")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("prompt_id", "bigint", (col) => col.notNull().references("prompts.id").onDelete("cascade"))
    .addColumn("type", "text", (col) => col.notNull().check(sql`type in ('demonstrate', 'rank', 'review', 'compare')`))
    .addColumn("state", "text", (col) => col.notNull().defaultTo("open").check(sql`state in ('open', 'complete', 'cancelled')`))
    .addColumn("overlap_target", "integer", (col) => col.notNull().check(sql`overlap_target between 1 and 20`))
    .addColumn("completion_ids", "jsonb", (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn("author_user_id", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // The queue scans open tasks of one project and type.
  await sql`create index tasks_open_queue on tasks (project_id, type, id) where state = 'open'`.execute(db);

  await db.schema
    .createTable("assignments")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("task_id", "bigint", (col) => col.notNull().references("tasks.id").onDelete("cascade"))
    .addColumn("user_id", "bigint", (col) => col.notNull().references("users.id").onDelete("cascade"))
    .addColumn("state", "text", (col) => col.notNull().check(sql`state in ('active', 'submitted', 'skipped', 'expired')`))
    .addColumn("lease_expires_at", "timestamptz", (col) => col.notNull())
    .addColumn("shown_order", "jsonb", (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn("skip_reason", "text")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    // A person gets a task at most once, whatever became of it.
    .addUniqueConstraint("assignments_task_user", ["task_id", "user_id"])
    .execute();
  await sql`create index assignments_user_active on assignments (user_id) where state = 'active'`.execute(db);

  await db.schema
    .createTable("submissions")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("assignment_id", "bigint", (col) => col.notNull().unique().references("assignments.id").onDelete("cascade"))
    .addColumn("task_id", "bigint", (col) => col.notNull().references("tasks.id").onDelete("cascade"))
    .addColumn("user_id", "bigint", (col) => col.notNull().references("users.id").onDelete("cascade"))
    .addColumn("payload", "jsonb", (col) => col.notNull())
    .addColumn("timings", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("idempotency_key", "text", (col) => col.notNull())
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("submissions_user_key", ["user_id", "idempotency_key"])
    .execute();
  await db.schema.createIndex("submissions_task").on("submissions").column("task_id").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["submissions", "assignments", "tasks", "completions", "prompts", "projects"]) {
    await db.schema.dropTable(table).execute();
  }
}
