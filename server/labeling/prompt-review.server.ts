import { sql, type Transaction } from "kysely";
import { z } from "zod";
import type { Actor } from "../auth/actor.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { initialOverlap } from "./adaptive-overlap.ts";
import { oneSelection, promptSelectionFields, selectionRules } from "./browser.server.ts";
import type { ProjectSettings } from "./project-settings.ts";
import { getProject } from "./projects.server.ts";
import { labelingTaskType } from "./prompts.server.ts";

/**
 * "Move to review" and back (decision 0047), the data browser's bulk action on prompt status.
 * A prompt moved to review is what the content filter makes at import (decision 0007): status
 * `review`, and a review task that reviewers get in their queue ("Review a held-back prompt").
 * Its open labeling tasks are cancelled meanwhile, so labelers stop getting it; nothing is
 * deleted, and a lease already held still submits. Released again — by a reviewer accepting it,
 * or by the bulk action back — the tasks the move cancelled reopen; a prompt that never had a
 * labeling task (a content-filter hit) gets one, as before. A reviewer rejecting it makes it
 * `rejected` (its tasks stay cancelled).
 */
export const reviewMoveSchema = z
  .object({
    /** true: move to review; false: take out of review, back to the labelers. */
    toReview: z.boolean({ error: "say toReview: true or false" }),
    reason: z.string().trim().max(500, "at most 500 characters").optional(),
    ...promptSelectionFields,
  })
  .strict()
  .refine(oneSelection.check, oneSelection.params);
export type ReviewMoveInput = z.infer<typeof reviewMoveSchema>;

type Trx = Transaction<Database>;

/**
 * Moves prompts to review or back. Only prompts whose status changes count: active prompts
 * (not Q&A, not the eval set) to review; prompts in review back. Without `confirm` it only
 * counts; with `confirm` equal to the count it changes exactly those prompts in one transaction,
 * with one audit entry (`prompts.review` / `prompts.release`); a count that moved is refused (409)
 * and nothing changes.
 */
export async function moveToReview(db: Db, actor: Actor, projectId: string, input: ReviewMoveInput): Promise<{ count: number; applied: boolean }> {
  const { settings } = await getProject(db, projectId);
  return db.transaction().execute(async (trx) => {
    const rules = await selectionRules(trx, projectId, input);
    rules.push(input.toReview ? sql`p.status = 'active' and p.kind = 'prompt' and not p.held_out` : sql`p.status = 'review' and p.kind = 'prompt'`);
    const where = sql.join(rules, sql` and `);
    if (input.confirm === undefined) {
      const counted = await sql<{ n: string }>`select count(*) as n from prompts p where ${where}`.execute(trx);
      return { count: Number(counted.rows[0]!.n), applied: false };
    }
    if (!input.toReview) {
      // Lock order: a reviewer's decision locks the review task, then its prompt (applyReview); taking
      // prompts back locks the same two, so it takes them in that order too, or the two could deadlock.
      await sql`select t.id from tasks t join prompts p on p.id = t.prompt_id where ${where} and t.type = 'review' and t.state = 'open' order by t.id for update of t`.execute(trx);
    }
    const changed = await sql<{ id: string }>`update prompts p set status = ${input.toReview ? "review" : "active"} where ${where} returning p.id`.execute(trx);
    const ids = changed.rows.map((r) => r.id);
    // Throwing rolls the update back.
    if (ids.length !== input.confirm) throw new AppError("conflict", `${ids.length} prompts match now, not the ${input.confirm} you confirmed; nothing was changed. Count again.`);
    const details = input.toReview ? await holdForReview(trx, projectId, ids, settings) : await releasePrompts(trx, projectId, ids, settings, true);
    await recordAudit(trx, {
      actor,
      action: input.toReview ? "prompts.review" : "prompts.release",
      target: `project:${projectId}`,
      details: { count: ids.length, reason: input.reason ?? null, filter: input.filter ?? null, promptIds: ids, ...details },
    });
    return { count: ids.length, applied: true };
  });
}

const anyId = (ids: readonly string[]) => sql`any(${[...ids]}::bigint[])`;

/** The review task per prompt, and its open labeling tasks cancelled (a redo stays with its labeler, decision 0044). */
async function holdForReview(trx: Trx, projectId: string, promptIds: string[], settings: ProjectSettings) {
  const cancelled = await sql<{ id: string }>`
    update tasks set state = 'cancelled'
    where prompt_id = ${anyId(promptIds)} and state = 'open' and type <> 'review' and redo_of is null
    returning id`.execute(trx);
  // As the import makes one for a content-filter hit: every completion of the prompt, in id order.
  const review = await sql<{ id: string }>`
    insert into tasks (project_id, prompt_id, type, overlap_target, completion_ids)
    select ${projectId}, p.id, 'review', ${initialOverlap(settings, "review")},
      coalesce((select jsonb_agg(c.id::text order by c.id) from completions c where c.prompt_id = p.id), '[]'::jsonb)
    from prompts p where p.id = ${anyId(promptIds)}
    returning id`.execute(trx);
  return { cancelledTaskIds: cancelled.rows.map((r) => r.id), reviewTaskIds: review.rows.map((r) => r.id) };
}

/**
 * Prompts leave review for the labelers (their status is set by the caller): the labeling tasks
 * a move to review cancelled (named in its audit entry) reopen — complete again where their
 * labels were already all in — and a prompt that never had a labeling task gets one. With
 * `cancelReview`, their open review tasks are cancelled (taken back without a reviewer's decision).
 */
export async function releasePrompts(trx: Trx, projectId: string, promptIds: string[], settings: ProjectSettings, cancelReview: boolean) {
  if (cancelReview) {
    await sql`update tasks set state = 'cancelled' where prompt_id = ${anyId(promptIds)} and type = 'review' and state = 'open'`.execute(trx);
  }
  const reopened = await sql<{ id: string }>`
    update tasks t set state = case
        when t.gold is null and (select count(*) from assignments a where a.task_id = t.id and a.state = 'submitted') >= t.overlap_target then 'complete'
        else 'open' end
    where t.prompt_id = ${anyId(promptIds)} and t.state = 'cancelled' and t.type <> 'review'
      and exists (select 1 from audit_log l where l.action = 'prompts.review' and l.target = ${`project:${projectId}`} and (l.details -> 'cancelledTaskIds') ? t.id::text)
    returning t.id`.execute(trx);
  const untasked = await sql<{ id: string; completion_ids: string[] }>`
    select p.id, coalesce((select jsonb_agg(c.id::text order by c.id) from completions c where c.prompt_id = p.id), '[]'::jsonb) as completion_ids
    from prompts p
    where p.id = ${anyId(promptIds)} and not exists (select 1 from tasks t where t.prompt_id = p.id and t.type <> 'review')`.execute(trx);
  const created = untasked.rows.map((p) => {
    const type = labelingTaskType(p.completion_ids.length);
    return {
      project_id: projectId, prompt_id: p.id, type, overlap_target: initialOverlap(settings, type),
      completion_ids: JSON.stringify(type === "rank" ? p.completion_ids.slice(0, settings.k) : p.completion_ids), author_user_id: null,
    };
  });
  for (let i = 0; i < created.length; i += 1000) await trx.insertInto("tasks").values(created.slice(i, i + 1000)).execute();
  return { reopenedTaskIds: reopened.rows.map((r) => r.id), newTasks: created.length };
}
