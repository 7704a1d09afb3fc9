/**
 * A project's held-out eval set (issue #11): prompts every round's policy is scored on and that
 * nothing trains on. Prompts join it at import (`"split": "eval"`) or by selection here.
 *
 * Joining closes the prompt's open tasks (state `cancelled`, which nothing else uses for tasks),
 * so no one labels it from then on; labels it already had stay stored but leave every training
 * export (eval-split.ts). Leaving reopens those tasks, or creates the task an eval-only import
 * never made, as an import would.
 */
import { initialOverlap } from "./adaptive-overlap.ts";
import { sql, type Transaction } from "kysely";
import { z } from "zod";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Project } from "./projects.server.ts";
import { labelingTaskType } from "./prompts.server.ts";

const promptId = z.string().regex(/^\d{1,18}$/, "must be a numeric prompt id");

export const evalSetChangeSchema = z
  .strictObject({
    /** Prompts to hold out (ids of this project's prompts). */
    add: z.array(promptId).max(10_000).optional(),
    /** Prompts to return to labeling and training. */
    remove: z.array(promptId).max(10_000).optional(),
    /**
     * Hold out a random share (or count) of the prompts no one has labeled yet, chosen by a seeded
     * hash so the same seed picks the same prompts.
     */
    sample: z
      .strictObject({
        share: z.number().gt(0, "must be more than 0").max(0.5, "at most half of the prompts").optional(),
        count: z.number().int().min(1).max(10_000).optional(),
        seed: z.number().int().nonnegative().default(0),
      })
      .refine((s) => (s.share === undefined) !== (s.count === undefined), { message: "give either share or count", path: ["share"] })
      .optional(),
  })
  .refine((c) => (c.add?.length ?? 0) + (c.remove?.length ?? 0) > 0 || c.sample !== undefined, { message: "say which prompts to add or remove, or a sample to draw", path: ["add"] });
export type EvalSetChange = z.infer<typeof evalSetChangeSchema>;

type DbOrTrx = Db | Transaction<Database>;

export type EvalSetSummary = {
  /** Prompts in the eval set. */
  count: number;
  /** Of them, how many carry the field the project's checker reads (null without a checker). */
  withReference: number | null;
  /** Of them, how many had labels before they were held out (kept, never exported for training). */
  labeled: number;
  /** The first prompts, for a look. */
  prompts: Array<{ id: string; text: string; metadata: Record<string, unknown> }>;
};

export async function evalSetSummary(db: DbOrTrx, project: Project, limit = 20): Promise<EvalSetSummary> {
  const field = project.settings.checker?.field ?? null;
  const counts = await sql<{ count: string; with_reference: string; labeled: string }>`
    select count(*) as count,
      count(*) filter (where coalesce(jsonb_typeof(p.metadata -> ${field ?? ""}), 'null') <> 'null') as with_reference,
      count(*) filter (where exists (select 1 from tasks t join submissions s on s.task_id = t.id where t.prompt_id = p.id)) as labeled
    from prompts p where p.project_id = ${project.id} and p.held_out`.execute(db);
  const row = counts.rows[0]!;
  const rows = await db
    .selectFrom("prompts")
    .select(["id", "messages", "metadata"])
    .where("project_id", "=", project.id)
    .where("held_out", "=", true)
    .orderBy("id")
    .limit(limit)
    .execute();
  return {
    count: Number(row.count),
    withReference: field === null ? null : Number(row.with_reference),
    labeled: Number(row.labeled),
    prompts: rows.map((r) => ({ id: r.id, text: r.messages.filter((m) => m.role === "user").at(-1)?.content ?? "", metadata: r.metadata })),
  };
}

/** Applies a change in one transaction; an id that is not a prompt of this project refuses the whole change. */
export async function changeEvalSet(db: Db, actorId: string, project: Project, input: unknown): Promise<EvalSetSummary & { added: number; removed: number }> {
  const parsed = evalSetChangeSchema.safeParse(input);
  if (!parsed.success) throw AppError.fromZod(parsed.error, "The eval set change is not valid; nothing changed.");
  const change = parsed.data;
  const both = (change.add ?? []).filter((id) => (change.remove ?? []).includes(id));
  if (both.length > 0) throw new AppError("validation_failed", "The eval set change is not valid; nothing changed.", [{ path: "remove", message: `both added and removed: ${both.join(", ")}` }]);
  return db.transaction().execute(async (trx) => {
    const named = [...new Set([...(change.add ?? []), ...(change.remove ?? [])])];
    if (named.length > 0) {
      const found = new Set((await trx.selectFrom("prompts").select("id").where("project_id", "=", project.id).where("kind", "=", "prompt").where("id", "in", named).execute()).map((r) => r.id));
      const missing = named.filter((id) => !found.has(id));
      if (missing.length > 0) {
        const path = (change.add ?? []).includes(missing[0]!) ? "add" : "remove";
        throw new AppError("validation_failed", "The eval set change is not valid; nothing changed.", [{ path, message: `not a prompt of this project: ${missing.slice(0, 20).join(", ")}` }]);
      }
    }
    const toAdd = new Set(change.add ?? []);
    if (change.sample) for (const id of await sampledPrompts(trx, project.id, change.sample)) toAdd.add(id);
    const added = await holdOut(trx, [...toAdd]);
    const removed = await release(trx, project, change.remove ?? []);
    await recordAudit(trx, {
      actorUserId: actorId, action: "eval_set.change", target: `project:${project.id}`,
      details: { added, removed, ...(change.sample ? { sample: change.sample } : {}) },
    });
    return { ...(await evalSetSummary(trx, project)), added, removed };
  });
}

/** Unlabeled prompts outside the eval set, in the seed's hash order: the first `count` (or share of them). */
async function sampledPrompts(trx: Transaction<Database>, projectId: string, sample: NonNullable<EvalSetChange["sample"]>): Promise<string[]> {
  const candidates = trx
    .selectFrom("prompts")
    .select("prompts.id")
    .where("prompts.project_id", "=", projectId)
    .where("prompts.kind", "=", "prompt")
    .where("prompts.status", "=", "active")
    .where("prompts.held_out", "=", false)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom("tasks").innerJoin("submissions", "submissions.task_id", "tasks.id").select("tasks.id").whereRef("tasks.prompt_id", "=", "prompts.id"))),
    );
  const total = sample.count ?? Math.round((sample.share ?? 0) * Number((await trx.selectFrom(candidates.as("c")).select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow()).n));
  if (total === 0) return [];
  const rows = await candidates.orderBy(sql`md5(prompts.id::text || ':' || ${String(sample.seed)})`).limit(total).execute();
  return rows.map((r) => r.id);
}

async function holdOut(trx: Transaction<Database>, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const changed = await trx.updateTable("prompts").set({ held_out: true }).where("id", "in", ids).where("held_out", "=", false).returning("id").execute();
  if (changed.length > 0) {
    await trx.updateTable("tasks").set({ state: "cancelled" }).where("prompt_id", "in", changed.map((r) => r.id)).where("state", "=", "open").execute();
  }
  return changed.length;
}

async function release(trx: Transaction<Database>, project: Project, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const changed = (await trx.updateTable("prompts").set({ held_out: false }).where("id", "in", ids).where("held_out", "=", true).returning("id").execute()).map((r) => r.id);
  if (changed.length === 0) return 0;
  await trx.updateTable("tasks").set({ state: "open" }).where("prompt_id", "in", changed).where("state", "=", "cancelled").execute();
  // A prompt imported straight into the eval set never had a task: make the one an import would have.
  const withoutTask = await trx
    .selectFrom("prompts")
    .select(["prompts.id", "prompts.status"])
    .where("prompts.id", "in", changed)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom("tasks").select("tasks.id").whereRef("tasks.prompt_id", "=", "prompts.id"))))
    .execute();
  for (const prompt of withoutTask) {
    const completions = (await trx.selectFrom("completions").select("id").where("prompt_id", "=", prompt.id).where("model_id", "is", null).orderBy("id").execute()).map((c) => c.id);
    const type = prompt.status === "review" ? "review" : labelingTaskType(completions.length);
    await trx
      .insertInto("tasks")
      .values({
        project_id: project.id, prompt_id: prompt.id, type, overlap_target: initialOverlap(project.settings, type),
        completion_ids: JSON.stringify(type === "rank" ? completions.slice(0, project.settings.k) : completions), author_user_id: null,
      })
      .execute();
  }
  return changed.length;
}
