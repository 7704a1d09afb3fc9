import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * PII masking at import (decision 0037): when a project keeps originals, the unmasked record of a
 * masked prompt (its messages and completions) is stored here, apart from the prompt, and only
 * researchers can read it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("prompt_originals")
    .addColumn("prompt_id", "bigint", (col) => col.primaryKey().references("prompts.id").onDelete("cascade"))
    .addColumn("messages", "jsonb", (col) => col.notNull())
    .addColumn("completions", "jsonb", (col) => col.notNull())
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("prompt_originals").execute();
}
