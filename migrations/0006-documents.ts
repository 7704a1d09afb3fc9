import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.
// Synthetic Q&A from documents (decision 0016): uploaded documents, their chunks (each with the
// state of its last generation), the per-project prompt template, and generation runs.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("documents")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (col) => col.notNull())
    // How the text was chunked: markdown (headings, then paragraphs) or plain text (paragraphs).
    .addColumn("format", "text", (col) => col.notNull().check(sql`format in ('text', 'markdown')`))
    // The uploaded file it came from (a JSONL file holds many documents) and its line there.
    .addColumn("file_name", "text", (col) => col.notNull())
    .addColumn("line", "integer")
    .addColumn("content", "text", (col) => col.notNull())
    // sha256 of the text with line endings normalized: the same document is stored once per project.
    .addColumn("sha256", "text", (col) => col.notNull())
    .addColumn("metadata", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("documents_project_sha256").on("documents").columns(["project_id", "sha256"]).unique().execute();

  await db.schema
    .createTable("qa_runs")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    // { kind: "policy", modelId } or { kind: "endpoint", endpointId }, and the label shown to people.
    .addColumn("generator", "jsonb", (col) => col.notNull())
    // The template and decoding as they were when the run started.
    .addColumn("template", "text", (col) => col.notNull())
    .addColumn("pairs_per_chunk", "integer", (col) => col.notNull())
    .addColumn("decoding", "jsonb", (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("state", "text", (col) => col.notNull().defaultTo("running").check(sql`state in ('running', 'done', 'cancelled', 'failed', 'interrupted')`))
    .addColumn("total_chunks", "integer", (col) => col.notNull())
    .addColumn("done_chunks", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("failed_chunks", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("pairs_created", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("duplicates_skipped", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("error", "text")
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    // Moved on after every chunk: a running run whose heartbeat went stale lost its server process.
    .addColumn("heartbeat_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  // One running generation per project.
  await sql`create unique index qa_runs_one_running on qa_runs (project_id) where state = 'running'`.execute(db);
  await db.schema.createIndex("qa_runs_project").on("qa_runs").columns(["project_id", "id"]).execute();

  await db.schema
    .createTable("document_chunks")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("document_id", "bigint", (col) => col.notNull().references("documents.id").onDelete("cascade"))
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("index", "integer", (col) => col.notNull())
    // The heading path above the chunk in a markdown document ("Setup › Install"), else null.
    .addColumn("heading", "text")
    .addColumn("text", "text", (col) => col.notNull())
    // The last generation's outcome for this chunk.
    .addColumn("status", "text", (col) => col.notNull().defaultTo("pending").check(sql`status in ('pending', 'generating', 'done', 'failed')`))
    .addColumn("error", "text")
    .addColumn("generated", "integer", (col) => col.notNull().defaultTo(0))
    .addColumn("run_id", "bigint", (col) => col.references("qa_runs.id").onDelete("set null"))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("document_chunks_document_index", ["document_id", "index"])
    .execute();
  await db.schema.createIndex("document_chunks_project_status").on("document_chunks").columns(["project_id", "status", "id"]).execute();

  await db.schema
    .createTable("qa_templates")
    .addColumn("project_id", "bigint", (col) => col.primaryKey().references("projects.id").onDelete("cascade"))
    .addColumn("template", "text", (col) => col.notNull())
    .addColumn("pairs_per_chunk", "integer", (col) => col.notNull())
    .addColumn("updated_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("qa_templates").execute();
  await db.schema.dropTable("document_chunks").execute();
  await db.schema.dropTable("qa_runs").execute();
  await db.schema.dropTable("documents").execute();
}
