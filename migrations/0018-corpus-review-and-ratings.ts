import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.
// People in the cleaning loop (issue 17 item 2, decision 0040): the review queue for documents the filters flagged
// (keep / drop / redact, with a category; the decision overrides the filter's verdict), and quality-rating tasks over a
// sample of kept documents (1–5, several raters each, leased like labeling tasks).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("corpus_reviews")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("job_id", "bigint", (col) => col.notNull().references("cleaning_jobs.id").onDelete("cascade"))
    .addColumn("document_id", "bigint", (col) => col.notNull().references("corpus_documents.id").onDelete("cascade"))
    // Why the filter flagged it: content_filter or pii.
    .addColumn("reason", "text", (col) => col.notNull())
    .addColumn("state", "text", (col) => col.notNull().defaultTo("open").check(sql`state in ('open', 'decided')`))
    // The reviewer holding it now, until the lease runs out (then anyone may take it).
    .addColumn("assigned_to", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("decision", "text", (col) => col.check(sql`decision in ('keep', 'drop', 'redact')`))
    .addColumn("category", "text")
    .addColumn("note", "text", (col) => col.notNull().defaultTo(""))
    // A redact decision's text: each filter hit replaced by [CATEGORY].
    .addColumn("redacted_text", "text")
    .addColumn("reviewed_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("decided_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("corpus_reviews_job_document", ["job_id", "document_id"])
    .execute();
  await db.schema.createIndex("corpus_reviews_queue").on("corpus_reviews").columns(["project_id", "state", "id"]).execute();

  await db.schema
    .createTable("corpus_rating_tasks")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("job_id", "bigint", (col) => col.notNull().references("cleaning_jobs.id").onDelete("cascade"))
    .addColumn("document_id", "bigint", (col) => col.notNull().references("corpus_documents.id").onDelete("cascade"))
    .addColumn("overlap_target", "integer", (col) => col.notNull().check(sql`overlap_target between 1 and 20`))
    .addColumn("state", "text", (col) => col.notNull().defaultTo("open").check(sql`state in ('open', 'complete')`))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("corpus_rating_tasks_job_document", ["job_id", "document_id"])
    .execute();
  await db.schema.createIndex("corpus_rating_tasks_queue").on("corpus_rating_tasks").columns(["project_id", "state", "id"]).execute();

  await db.schema
    .createTable("corpus_ratings")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("task_id", "bigint", (col) => col.notNull().references("corpus_rating_tasks.id").onDelete("cascade"))
    .addColumn("user_id", "bigint", (col) => col.notNull().references("users.id").onDelete("cascade"))
    // active: leased to the rater until lease_expires_at; submitted: score given.
    .addColumn("state", "text", (col) => col.notNull().defaultTo("active").check(sql`state in ('active', 'submitted')`))
    .addColumn("lease_expires_at", "timestamptz", (col) => col.notNull())
    .addColumn("score", "integer", (col) => col.check(sql`score between 1 and 5`))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("submitted_at", "timestamptz")
    .addUniqueConstraint("corpus_ratings_task_user", ["task_id", "user_id"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("corpus_ratings").execute();
  await db.schema.dropTable("corpus_rating_tasks").execute();
  await db.schema.dropTable("corpus_reviews").execute();
}
