import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.
// The quality classifier (issue 17 item 3, decision 0041): a ridge regression of the mean 1–5 rating on hashed n-gram
// features, trained from a cleaning job's ratings, with its held-out metrics; and its score for every kept document.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("quality_classifiers")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("job_id", "bigint", (col) => col.notNull().references("cleaning_jobs.id").onDelete("cascade"))
    // { dims, lambda, heldOutFraction, highQuality, seed } as trained.
    .addColumn("settings", "jsonb", (col) => col.notNull())
    // Float32 little-endian, one per hashed feature (dims × 4 bytes).
    .addColumn("weights", "bytea", (col) => col.notNull())
    .addColumn("bias", "double precision", (col) => col.notNull())
    .addColumn("metrics", "jsonb", (col) => col.notNull())
    // The predicted-quality threshold the researcher chose (documents at or above it are kept); null until chosen.
    .addColumn("threshold", "double precision")
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("quality_classifiers_job").on("quality_classifiers").columns(["job_id", "id"]).execute();

  await db.schema
    .createTable("quality_scores")
    .addColumn("classifier_id", "bigint", (col) => col.notNull().references("quality_classifiers.id").onDelete("cascade"))
    .addColumn("document_id", "bigint", (col) => col.notNull().references("corpus_documents.id").onDelete("cascade"))
    .addColumn("score", "double precision", (col) => col.notNull())
    // Whitespace-separated words of the document: the "tokens" the threshold curve adds up.
    .addColumn("words", "integer", (col) => col.notNull())
    .addPrimaryKeyConstraint("quality_scores_pk", ["classifier_id", "document_id"])
    .execute();
  await db.schema.createIndex("quality_scores_score").on("quality_scores").columns(["classifier_id", "score"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("quality_scores").execute();
  await db.schema.dropTable("quality_classifiers").execute();
}
