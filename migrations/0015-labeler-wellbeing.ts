import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Labeler wellbeing (decision 0036, issue 16 item 3):
 * - sensitive_marks: a prompt's content is sensitive in a category, marked at import (a mark in
 *   the record, or a classifier score over the project's threshold) or by a labeler's flag.
 * - content_reveals: each time a labeler un-blurred a sensitive task.
 * - labeler_opt_outs: categories a person never wants served.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("sensitive_marks")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("prompt_id", "bigint", (col) => col.notNull().references("prompts.id").onDelete("cascade"))
    .addColumn("category", "text", (col) => col.notNull())
    .addColumn("source", "text", (col) => col.notNull().check(sql`source in ('import', 'classifier', 'flag')`))
    .addColumn("score", "double precision")
    .addColumn("marked_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("sensitive_marks_prompt_category", ["prompt_id", "category"])
    .execute();

  await db.schema
    .createTable("content_reveals")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("assignment_id", "bigint", (col) => col.notNull().references("assignments.id").onDelete("cascade"))
    .addColumn("user_id", "bigint", (col) => col.notNull().references("users.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("content_reveals_user").on("content_reveals").columns(["user_id", "created_at"]).execute();

  await db.schema
    .createTable("labeler_opt_outs")
    .addColumn("user_id", "bigint", (col) => col.notNull().references("users.id").onDelete("cascade"))
    .addColumn("category", "text", (col) => col.notNull())
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("labeler_opt_outs_pk", ["user_id", "category"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("labeler_opt_outs").execute();
  await db.schema.dropTable("content_reveals").execute();
  await db.schema.dropTable("sensitive_marks").execute();
}
