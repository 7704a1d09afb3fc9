import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.
// Pre-training corpora (issue 17, decision 0039): named sources with license and provenance, their documents, the
// problems found reading them (file and line), cleaning jobs with a per-document verdict, and the rounds that use a corpus.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("corpora")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("license", "text", (col) => col.notNull())
    .addColumn("provenance", "text", (col) => col.notNull().defaultTo(""))
    // upload: files sent through the API; path: read from a folder under TANDEM_CORPUS_DIR on the server.
    .addColumn("origin", "text", (col) => col.notNull().check(sql`origin in ('upload', 'path')`))
    .addColumn("path", "text")
    .addColumn("document_count", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("byte_count", "bigint", (col) => col.notNull().defaultTo(0))
    .addColumn("issue_count", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("corpora_project_name", ["project_id", "name"])
    .execute();

  await db.schema
    .createTable("corpus_documents")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("corpus_id", "bigint", (col) => col.notNull().references("corpora.id").onDelete("cascade"))
    .addColumn("file_name", "text", (col) => col.notNull())
    // JSONL: the document's line; text and markdown: the line it starts on.
    .addColumn("line", "integer", (col) => col.notNull())
    .addColumn("title", "text")
    .addColumn("text", "text", (col) => col.notNull())
    .addColumn("chars", "integer", (col) => col.notNull())
    // sha256 of normalizeForHash(text) (the import's canonical form): exact duplicates across sources share it.
    .addColumn("content_hash", "text", (col) => col.notNull())
    .addColumn("metadata", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex("corpus_documents_corpus").on("corpus_documents").columns(["corpus_id", "id"]).execute();

  // What could not be read, by file and line (line 0: the whole file). Capped per file; corpora.issue_count has the total.
  await db.schema
    .createTable("corpus_issues")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("corpus_id", "bigint", (col) => col.notNull().references("corpora.id").onDelete("cascade"))
    .addColumn("file_name", "text", (col) => col.notNull())
    .addColumn("line", "integer", (col) => col.notNull())
    .addColumn("message", "text", (col) => col.notNull())
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("corpus_issues_corpus").on("corpus_issues").columns(["corpus_id", "id"]).execute();

  await db.schema
    .createTable("cleaning_jobs")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    // { corpusIds (in processing order), thresholds, filter choices } as validated at launch.
    .addColumn("settings", "jsonb", (col) => col.notNull())
    .addColumn("state", "text", (col) => col.notNull().defaultTo("queued").check(sql`state in ('queued', 'running', 'done', 'failed', 'cancelled')`))
    .addColumn("progress", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    // Where a resumed job goes on: { corpus: index into settings.corpusIds, afterId: last document done }.
    .addColumn("cursor", "jsonb", (col) => col.notNull().defaultTo(sql`'{"corpus":0,"afterId":"0"}'::jsonb`))
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("error", "text")
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  await db.schema.createIndex("cleaning_jobs_project").on("cleaning_jobs").columns(["project_id", "id"]).execute();
  await sql`create index cleaning_jobs_waiting on cleaning_jobs (id) where state in ('queued', 'running')`.execute(db);

  await db.schema
    .createTable("cleaning_verdicts")
    .addColumn("job_id", "bigint", (col) => col.notNull().references("cleaning_jobs.id").onDelete("cascade"))
    .addColumn("document_id", "bigint", (col) => col.notNull().references("corpus_documents.id").onDelete("cascade"))
    .addColumn("verdict", "text", (col) => col.notNull().check(sql`verdict in ('kept', 'dropped', 'flagged')`))
    .addColumn("reason", "text")
    .addColumn("duplicate_of", "bigint")
    .addColumn("similarity", "real")
    .addColumn("language", "text")
    .addColumn("language_confidence", "real")
    // The content filter's hits: [{ kind, match, index }] (matches cut to 200 characters).
    .addColumn("hits", "jsonb", (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    // The text with PII replaced by [EMAIL], [PHONE], … when the job redacts; null when unchanged.
    .addColumn("redacted_text", "text")
    // The MinHash signature (base64) of a document that entered the duplicate index, so a resumed job rebuilds it.
    .addColumn("minhash", "text")
    .addPrimaryKeyConstraint("cleaning_verdicts_pk", ["job_id", "document_id"])
    .execute();
  await db.schema.createIndex("cleaning_verdicts_job_verdict").on("cleaning_verdicts").columns(["job_id", "verdict", "reason"]).execute();

  // Which rounds train on which corpus. Rounds do not read corpora yet; the reference is here so a corpus in use
  // cannot be deleted (on delete restrict) once they do.
  await db.schema
    .createTable("round_corpora")
    .addColumn("round_id", "bigint", (col) => col.notNull().references("rounds.id").onDelete("cascade"))
    .addColumn("corpus_id", "bigint", (col) => col.notNull().references("corpora.id").onDelete("restrict"))
    .addPrimaryKeyConstraint("round_corpora_pk", ["round_id", "corpus_id"])
    .execute();
  await db.schema.createIndex("round_corpora_corpus").on("round_corpora").column("corpus_id").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("round_corpora").execute();
  await db.schema.dropTable("cleaning_verdicts").execute();
  await db.schema.dropTable("cleaning_jobs").execute();
  await db.schema.dropTable("corpus_issues").execute();
  await db.schema.dropTable("corpus_documents").execute();
  await db.schema.dropTable("corpora").execute();
}
