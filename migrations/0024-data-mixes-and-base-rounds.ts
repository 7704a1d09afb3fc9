import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.
// Data-mix search and base-model rounds (issue 17 items 4–5, decisions 0050 and 0051): the job kinds of the pretrain,
// midtrain and mix-search paths, and saved data mixes (a search's chosen mix, reusable by pretrain rounds).

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table jobs drop constraint jobs_kind_check`.execute(db);
  await sql`alter table jobs add constraint jobs_kind_check check (kind in ('sft', 'reward', 'dpo', 'ppo', 'grpo', 'rloo', 'kto', 'evaluate', 'sample', 'pretrain', 'midtrain', 'mix-search'))`.execute(db);

  await db.schema
    .createTable("data_mixes")
    .addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (col) => col.notNull())
    // The kept documents of this cleaning job (and, with a classifier, only those at or above its threshold at launch).
    .addColumn("cleaning_job_id", "bigint", (col) => col.notNull().references("cleaning_jobs.id").onDelete("restrict"))
    .addColumn("classifier_id", "bigint", (col) => col.references("quality_classifiers.id").onDelete("set null"))
    // [{ corpusId, weight }], weights summing to 1.
    .addColumn("sources", "jsonb", (col) => col.notNull())
    // The mix-search round that chose it (null: saved by hand), and its table of candidates.
    .addColumn("round_id", "bigint", (col) => col.references("rounds.id").onDelete("set null"))
    .addColumn("results", "jsonb")
    .addColumn("created_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("data_mixes_project").on("data_mixes").columns(["project_id", "id"]).execute();
}

/** Rolling back removes the new step kinds with their jobs (and fails rounds that were still running them), and the saved mixes. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("data_mixes").execute();
  await sql`update rounds set state = 'failed', error = 'migration 0024 was rolled back: this round used a step kind that no longer exists', finished_at = now(), updated_at = now()
    where state in ('queued', 'running', 'sampling') and id in (select round_id from jobs where kind in ('pretrain', 'midtrain', 'mix-search'))`.execute(db);
  await sql`delete from jobs where kind in ('pretrain', 'midtrain', 'mix-search')`.execute(db);
  await sql`alter table jobs drop constraint jobs_kind_check`.execute(db);
  await sql`alter table jobs add constraint jobs_kind_check check (kind in ('sft', 'reward', 'dpo', 'ppo', 'grpo', 'rloo', 'kto', 'evaluate', 'sample'))`.execute(db);
}
