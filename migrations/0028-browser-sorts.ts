import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * The data browser's sorts beyond time (issue 14, decision 0055): prompts by their mean quality score, tasks by their
 * stored agreement, each a keyset walk on (value, id) with the rows that have no value after them by id. Each sort is
 * two index ranges: the valued rows' (project, value, id), and the unvalued rows' (project, id).
 * The valued indexes take over the filters' indexes of migration 0027 (the same leading columns, id added).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index prompts_quality_sort on prompts (project_id, (quality_sum / nullif(quality_count, 0)), id)`.execute(db);
  await sql`drop index if exists prompts_quality`.execute(db);
  await sql`create index prompts_unscored on prompts (project_id, id) where quality_count = 0`.execute(db);
  await sql`create index tasks_agreement_sort on tasks (project_id, agreement, id) where agreement is not null`.execute(db);
  await sql`drop index if exists tasks_agreement`.execute(db);
  await sql`create index tasks_unagreed on tasks (project_id, id) where agreement is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`create index if not exists tasks_agreement on tasks (project_id, agreement) where agreement is not null`.execute(db);
  await sql`create index if not exists prompts_quality on prompts (project_id, (quality_sum / nullif(quality_count, 0)))`.execute(db);
  for (const index of ["tasks_unagreed", "tasks_agreement_sort", "prompts_unscored", "prompts_quality_sort"]) {
    await sql`drop index if exists ${sql.ref(index)}`.execute(db);
  }
}
