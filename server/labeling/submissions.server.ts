import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import type { SessionUser } from "../auth/actor.ts";
import { sql, type Transaction } from "kysely";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { labelingTaskType } from "./prompts.server.ts";
import { validateRanking } from "./quality/ranking.ts";
import type { ProjectSettings } from "./project-settings.ts";

/** What a client sends to finish an assignment. The key makes a double submit record once. */
export const submitSchema = z.object({
  idempotencyKey: z.string().min(8, "idempotencyKey must be at least 8 characters").max(100),
  payload: z.record(z.string(), z.unknown()),
  timings: z
    .object({
      msOnTask: z.number().int().min(0).max(86_400_000).optional(),
      expanded: z.array(z.string().max(30)).max(20).optional(),
      orderChanged: z.boolean().optional(),
    })
    .strict()
    .default({}),
});
export type SubmitInput = z.infer<typeof submitSchema>;

const demonstrationPayload = z
  .object({ text: z.string().trim().min(1, "Write the reply before submitting.").max(32_000, "Keep the reply under 32,000 characters.") })
  .strict();

const rankPayloadShape = z
  .object({
    ranking: z.unknown(),
    quality: z.record(z.string(), z.number().int()).default({}),
    flags: z.record(z.string(), z.array(z.string())).default({}),
    rationale: z.string().max(5_000, "Keep the rationale under 5,000 characters.").default(""),
  })
  .strict();

export const reviewReasons = ["factual_error", "incomplete", "unclear", "unsafe", "style", "formatting", "other"] as const;

const reviewPayload = z
  .object({
    decision: z.enum(["accept", "edit", "reject"]),
    editedText: z.string().trim().min(1, "Write the corrected answer.").max(32_000).optional(),
    reasons: z.array(z.enum(reviewReasons)).max(reviewReasons.length).default([]),
    note: z.string().max(2_000).default(""),
  })
  .strict()
  .refine((p) => p.decision !== "edit" || p.editedText !== undefined, { path: ["editedText"], message: "An edit needs the corrected answer." })
  .refine((p) => p.decision === "edit" || p.editedText === undefined, { path: ["editedText"], message: "Only an edit carries a corrected answer." })
  .refine((p) => p.decision !== "edit" || p.reasons.length > 0, { path: ["reasons"], message: "Say why you edited (at least one reason)." });

/** Checks a payload against the task type and the completions that were shown. */
export function validatePayload(type: string, payload: unknown, shown: string[], settings: ProjectSettings): Record<string, unknown> {
  if (type === "demonstrate") {
    const parsed = demonstrationPayload.safeParse(payload);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The demonstration is not valid.");
    return parsed.data;
  }
  if (type === "rank") {
    const parsed = rankPayloadShape.safeParse(payload);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The ranking is not valid.");
    const ranking = validateRanking(shown, parsed.data.ranking);
    if (!ranking.ok) throw new AppError("validation_failed", "The ranking is not valid.", ranking.reasons.map((message) => ({ path: "ranking", message })));
    const errors: Array<{ path: string; message: string }> = [];
    const flagIds = new Set(settings.flags.map((f) => f.id));
    for (const [id, score] of Object.entries(parsed.data.quality)) {
      if (!shown.includes(id)) errors.push({ path: `quality.${id}`, message: "not a completion of this task" });
      else if (score < settings.quality.min || score > settings.quality.max) errors.push({ path: `quality.${id}`, message: `must be ${settings.quality.min}–${settings.quality.max}` });
    }
    for (const [id, flags] of Object.entries(parsed.data.flags)) {
      if (!shown.includes(id)) errors.push({ path: `flags.${id}`, message: "not a completion of this task" });
      for (const flag of flags) if (!flagIds.has(flag)) errors.push({ path: `flags.${id}`, message: `unknown flag ${flag}` });
    }
    if (errors.length > 0) throw new AppError("validation_failed", "The ranking is not valid.", errors);
    return { ...parsed.data, ranking: ranking.ranking };
  }
  if (type === "review") {
    const parsed = reviewPayload.safeParse(payload);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The review is not valid.");
    return parsed.data;
  }
  throw new AppError("bad_request", `Submitting ${type} tasks is not supported yet.`);
}

export type SubmitResult = { submissionId: string; duplicate: boolean; taskComplete: boolean };

export async function submitAssignment(
  db: Db,
  user: SessionUser,
  assignmentId: string,
  input: SubmitInput,
  settings: ProjectSettings,
): Promise<SubmitResult> {
  return db.transaction().execute(async (trx) => {
    // Lock order everywhere is task, then assignment (the queue's claim does the same), so
    // concurrent submitters queue up per task instead of deadlocking. Holding the task lock
    // also makes the "is the task complete?" count below see every earlier submission, and a
    // concurrent double submit waits here, then finds the first one.
    await trx
      .selectFrom("tasks")
      .select("tasks.id")
      .where("tasks.id", "=", (eb) => eb.selectFrom("assignments").select("assignments.task_id").where("assignments.id", "=", assignmentId))
      .forUpdate()
      .execute();
    const assignment = await trx
      .selectFrom("assignments")
      .innerJoin("tasks", "tasks.id", "assignments.task_id")
      .select([
        "assignments.id", "assignments.user_id", "assignments.state", "assignments.lease_expires_at", "assignments.shown_order",
        "tasks.id as task_id", "tasks.type", "tasks.overlap_target", "tasks.prompt_id", "tasks.project_id", "tasks.completion_ids",
        // The database's clock decides expiry, the same clock that made the lease.
        sql<boolean>`assignments.lease_expires_at > now()`.as("lease_live"),
      ])
      .where("assignments.id", "=", assignmentId)
      .forUpdate("assignments")
      .executeTakeFirst();
    if (!assignment || assignment.user_id !== user.id) throw new AppError("forbidden", "This task is not assigned to you.");

    const earlier = await trx
      .selectFrom("submissions")
      .select(["id", "assignment_id"])
      .where("user_id", "=", user.id)
      .where("idempotency_key", "=", input.idempotencyKey)
      .executeTakeFirst();
    if (earlier) {
      if (earlier.assignment_id !== assignmentId) throw new AppError("conflict", "This idempotency key was used for another task.");
      return { submissionId: earlier.id, duplicate: true, taskComplete: false };
    }
    if (assignment.state === "submitted") throw new AppError("conflict", "You already submitted this task.");
    if (assignment.state !== "active") throw new AppError("conflict", `This task was ${assignment.state}; take a new one.`);
    if (!assignment.lease_live) {
      throw new AppError(
        "lease_expired",
        `Your time on this task ran out at ${assignment.lease_expires_at.toISOString().slice(11, 16)} UTC and it went back to the queue. Your work is still on this page: copy it before you move on.`,
      );
    }

    const payload = validatePayload(assignment.type, input.payload, assignment.shown_order, settings);
    if (assignment.type === "review") await applyReview(trx, assignment, payload as z.infer<typeof reviewPayload>, settings);
    const submission = await trx
      .insertInto("submissions")
      .values({
        assignment_id: assignmentId,
        task_id: assignment.task_id,
        user_id: user.id,
        payload: JSON.stringify(payload),
        timings: JSON.stringify(input.timings),
        idempotency_key: input.idempotencyKey,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await trx.updateTable("assignments").set({ state: "submitted", updated_at: new Date() }).where("id", "=", assignmentId).execute();
    const done = await trx
      .selectFrom("assignments")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("task_id", "=", assignment.task_id)
      .where("state", "=", "submitted")
      .executeTakeFirstOrThrow();
    const taskComplete = Number(done.n) >= assignment.overlap_target;
    if (taskComplete) await trx.updateTable("tasks").set({ state: "complete" }).where("id", "=", assignment.task_id).execute();
    return { submissionId: submission.id, duplicate: false, taskComplete };
  });
}

/**
 * What a review decides, beyond the submission itself:
 * - a synthetic Q&A: an edit must change the answer (the export then yields the corrected
 *   answer as SFT data and the pair corrected ≻ original); a rejection marks it rejected;
 * - a prompt the content filter held back: accepted, it becomes an active prompt and gets its
 *   labeling task; rejected, it never reaches labelers. It cannot be "edited".
 */
async function applyReview(
  trx: Transaction<Database>,
  task: { prompt_id: string; project_id: string; completion_ids: string[] },
  review: z.infer<typeof reviewPayload>,
  settings: ProjectSettings,
): Promise<void> {
  const prompt = await trx.selectFrom("prompts").select(["kind"]).where("id", "=", task.prompt_id).executeTakeFirstOrThrow();
  if (review.decision === "reject") {
    await trx.updateTable("prompts").set({ status: "rejected" }).where("id", "=", task.prompt_id).execute();
    return;
  }
  if (prompt.kind === "qa") {
    if (review.decision === "edit") {
      const original = await trx.selectFrom("completions").select("text").where("id", "=", task.completion_ids[0]!).executeTakeFirstOrThrow();
      if (original.text.trim() === review.editedText!.trim()) {
        throw new AppError("validation_failed", "The edit changes nothing.", [{ path: "editedText", message: "Change the answer, or accept it as it is." }]);
      }
    }
    return;
  }
  if (review.decision === "edit") {
    throw new AppError("validation_failed", "A held-back prompt is accepted or rejected, not edited.", [{ path: "decision", message: "accept or reject" }]);
  }
  await trx.updateTable("prompts").set({ status: "active" }).where("id", "=", task.prompt_id).execute();
  const type = labelingTaskType(task.completion_ids.length);
  await trx
    .insertInto("tasks")
    .values({
      project_id: task.project_id,
      prompt_id: task.prompt_id,
      type,
      overlap_target: settings.overlap[type],
      completion_ids: JSON.stringify(type === "rank" ? task.completion_ids.slice(0, settings.k) : task.completion_ids),
      author_user_id: null,
    })
    .execute();
}
