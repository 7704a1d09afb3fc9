/**
 * Sensitive content (decision 0036): marks on prompts, what a task page shows blurred, the
 * record of each reveal, and each labeler's exposure. A mark comes from the import (the record's
 * `sensitive` metadata, or a classifier score at or over the project's threshold) or from a
 * labeler's flag (a flag the project lists as sensitive); a prompt may carry several categories.
 */
import { sql, type Transaction } from "kysely";
import type { Db } from "../../db/database.server.ts";
import type { Database } from "../../db/schema.ts";
import { AppError } from "../../lib/app-error.ts";
import { categorySchema, type WellbeingSettings } from "./wellbeing-settings.ts";

type Mark = { category: string; source: "import" | "classifier"; score: number | null };

/** The marks an imported record carries: `sensitive: "cat"` or `["cat", …]`, and classifier scores over the threshold. */
export function importMarks(metadata: Record<string, unknown>, settings: WellbeingSettings): Mark[] {
  const marks = new Map<string, Mark>();
  const declared = metadata.sensitive;
  for (const value of typeof declared === "string" ? [declared] : Array.isArray(declared) ? declared : []) {
    const parsed = categorySchema.safeParse(value);
    if (parsed.success) marks.set(parsed.data, { category: parsed.data, source: "import", score: null });
  }
  const scores = metadata[settings.classifierField];
  if (scores && typeof scores === "object" && !Array.isArray(scores)) {
    for (const [category, score] of Object.entries(scores as Record<string, unknown>)) {
      if (typeof score !== "number" || !categorySchema.safeParse(category).success || marks.has(category)) continue;
      if (score >= settings.classifierThreshold) marks.set(category, { category, source: "classifier", score });
    }
  }
  return [...marks.values()];
}

export async function insertImportMarks(trx: Transaction<Database>, promptIds: string[], metadata: Array<Record<string, unknown>>, settings: WellbeingSettings): Promise<number> {
  const rows = promptIds.flatMap((id, i) => importMarks(metadata[i] ?? {}, settings).map((m) => ({ prompt_id: id, category: m.category, source: m.source, score: m.score })));
  if (rows.length === 0) return 0;
  await trx.insertInto("sensitive_marks").values(rows).onConflict((oc) => oc.columns(["prompt_id", "category"]).doNothing()).execute();
  return rows.length;
}

/** A labeler's flags that the project counts as sensitive mark the task's prompt (other labelers then see it blurred). */
export async function markFromFlags(trx: Transaction<Database>, promptId: string, userId: string, flags: Record<string, string[]>, settings: WellbeingSettings): Promise<void> {
  const categories = [...new Set(Object.values(flags).flat())].filter((f) => settings.sensitiveFlags.includes(f));
  if (categories.length === 0) return;
  await trx
    .insertInto("sensitive_marks")
    .values(categories.map((category) => ({ prompt_id: promptId, category, source: "flag" as const, marked_by: userId })))
    .onConflict((oc) => oc.columns(["prompt_id", "category"]).doNothing())
    .execute();
}

export async function sensitiveCategories(db: Db, promptId: string): Promise<string[]> {
  const rows = await db.selectFrom("sensitive_marks").select("category").where("prompt_id", "=", promptId).orderBy("category").execute();
  return rows.map((r) => r.category);
}

/** Records one reveal of a sensitive task's content by the labeler it is assigned to. */
export async function recordContentReveal(db: Db, userId: string, assignmentId: string): Promise<{ reveals: number }> {
  const row = await db
    .selectFrom("assignments")
    .innerJoin("tasks", "tasks.id", "assignments.task_id")
    .select(["assignments.user_id", "tasks.prompt_id"])
    .where("assignments.id", "=", assignmentId)
    .executeTakeFirst();
  if (!row || row.user_id !== userId) throw new AppError("not_found", "No such task among yours.");
  if ((await sensitiveCategories(db, row.prompt_id)).length === 0) throw new AppError("conflict", "This task has no sensitive content to reveal.");
  await db.insertInto("content_reveals").values({ assignment_id: assignmentId, user_id: userId }).execute();
  const count = await db.selectFrom("content_reveals").select((eb) => eb.fn.countAll<string>().as("n")).where("assignment_id", "=", assignmentId).executeTakeFirstOrThrow();
  return { reveals: Number(count.n) };
}

/** The start of today (UTC), the day a daily cap counts in. */
export const TODAY = sql<Date>`date_trunc('day', now() at time zone 'utc') at time zone 'utc'`;

/** A person's own exposure today, across projects: sensitive tasks served, and reveals. */
export async function exposureToday(db: Db, userId: string): Promise<{ sensitiveTasks: number; reveals: number; byProject: Array<{ projectId: string; name: string; tasks: number }> }> {
  const byProject = await sql<{ project_id: string; name: string; tasks: string }>`
    select t.project_id, p.name, count(*) as tasks
    from assignments a join tasks t on t.id = a.task_id join projects p on p.id = t.project_id
    where a.user_id = ${userId} and a.created_at >= ${TODAY}
      and exists (select 1 from sensitive_marks m where m.prompt_id = t.prompt_id)
    group by t.project_id, p.name order by p.name`.execute(db);
  const reveals = await db.selectFrom("content_reveals").select((eb) => eb.fn.countAll<string>().as("n")).where("user_id", "=", userId).where("created_at", ">=", TODAY).executeTakeFirstOrThrow();
  const rows = byProject.rows.map((r) => ({ projectId: r.project_id, name: r.name, tasks: Number(r.tasks) }));
  return { sensitiveTasks: rows.reduce((s, r) => s + r.tasks, 0), reveals: Number(reveals.n), byProject: rows };
}

export async function optOuts(db: Db, userId: string): Promise<string[]> {
  return (await db.selectFrom("labeler_opt_outs").select("category").where("user_id", "=", userId).orderBy("category").execute()).map((r) => r.category);
}

/** Replaces a person's opted-out categories. */
export async function setOptOuts(db: Db, userId: string, categories: string[]): Promise<string[]> {
  const unique = [...new Set(categories)];
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom("labeler_opt_outs").where("user_id", "=", userId).execute();
    if (unique.length > 0) await trx.insertInto("labeler_opt_outs").values(unique.map((category) => ({ user_id: userId, category }))).execute();
  });
  return optOuts(db, userId);
}
