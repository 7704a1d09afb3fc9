import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Tool use (decision 0020): a completion can hold its transcript — the assistant and tool
 * messages with the tool calls and their results. `text` stays the final answer (what a checker
 * reads and what plain exports write); null here means a plain completion.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("completions")
    .addColumn("messages", "jsonb", (col) => col.check(sql`messages is null or jsonb_typeof(messages) = 'array'`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("completions").dropColumn("messages").execute();
}
