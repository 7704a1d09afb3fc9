import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * The data browser (issue 14, decision 0032).
 * - `prompts.search_text`: the conversation's text, generated from `messages`, with a trigram
 *   index (pg_trgm), so a substring search (`ilike '%…%'`) over a million prompts uses the index.
 * - Exclusion from training: soft and reversible. `excluded_at` set means every training export
 *   and every round launched since leaves the prompt out (with its tasks and submissions); the
 *   audit log keeps who did it and why.
 * - A keyset index per listing order (project, created_at, id).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create extension if not exists pg_trgm`.execute(db);
  // jsonb_path_query_array is immutable, so the column can be generated (and stays in step with messages).
  await sql`alter table prompts add column search_text text generated always as (jsonb_path_query_array(messages, '$[*].content')::text) stored`.execute(db);
  await sql`create index prompts_search_trgm on prompts using gin (search_text gin_trgm_ops)`.execute(db);
  await db.schema
    .alterTable("prompts")
    .addColumn("excluded_at", "timestamptz")
    .addColumn("excluded_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("exclusion_reason", "text")
    .execute();
  await sql`create index prompts_browse on prompts (project_id, created_at desc, id desc)`.execute(db);
  await sql`create index prompts_excluded on prompts (project_id) where excluded_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists prompts_excluded`.execute(db);
  await sql`drop index if exists prompts_browse`.execute(db);
  await db.schema.alterTable("prompts").dropColumn("exclusion_reason").dropColumn("excluded_by").dropColumn("excluded_at").execute();
  await sql`drop index if exists prompts_search_trgm`.execute(db);
  await db.schema.alterTable("prompts").dropColumn("search_text").execute();
  // pg_trgm stays: another schema object may use it, and keeping an extension is harmless.
}
