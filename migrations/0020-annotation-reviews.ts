import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.
// Annotation review (issue 14 item 4, decision 0044): reviewers sample labelers' own submitted rankings and
// demonstrations and accept, override (their version is stored beside the original, never replacing it) or send
// them back with a comment (the labeler redoes the item as a new task whose submission links to the old one).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("annotation_reviews")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    // One review per submission: a second review of the same submission is refused (409), not stacked.
    .addColumn("submission_id", "bigint", (col) => col.notNull().unique().references("submissions.id").onDelete("cascade"))
    // open: served to `reviewer_id` until lease_expires_at (then anyone may take it); decided: final.
    .addColumn("state", "text", (col) => col.notNull().defaultTo("open").check(sql`state in ('open', 'decided')`))
    .addColumn("reviewer_id", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("lease_expires_at", "timestamptz")
    // How it was sampled: random, agreement (lowest first) or labeler.
    .addColumn("mode", "text", (col) => col.notNull().check(sql`mode in ('random', 'agreement', 'labeler')`))
    // The item's agreement when it was served (rank and compare items with two or more labelers), for the record.
    .addColumn("agreement", "double precision")
    .addColumn("decision", "text", (col) => col.check(sql`decision in ('accept', 'override', 'send_back')`))
    .addColumn("comment", "text", (col) => col.notNull().defaultTo(""))
    // An override: the reviewer's own payload (a ranking, or a demonstration), validated like a submission's.
    .addColumn("override_payload", "jsonb")
    // A send-back: the task the labeler redoes it in (its submission is the redo).
    .addColumn("redo_task_id", "bigint", (col) => col.references("tasks.id").onDelete("set null"))
    .addColumn("decided_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint("annotation_reviews_override_payload", sql`(decision = 'override') = (override_payload is not null)`)
    .execute();
  await db.schema.createIndex("annotation_reviews_project").on("annotation_reviews").columns(["project_id", "state", "id"]).execute();
  // A redo task is one labeler's, never the queue's: it links back to the submission it redoes.
  await db.schema.alterTable("tasks").addColumn("redo_of", "bigint", (col) => col.references("submissions.id").onDelete("set null")).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("tasks").dropColumn("redo_of").execute();
  await db.schema.dropTable("annotation_reviews").execute();
}
