import { z } from "zod";
import type { Actor } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import { itemAgreement } from "./adaptive-overlap.ts";
import { getAnnotationReview, recordDecision, REVIEWABLE_TYPES, sendBackComment, takeSubmission, type AnnotationReviewView } from "./annotation-review.server.ts";
import { rankingSchema } from "./quality/ranking.ts";

/**
 * Send back from the data browser (decision 0047): a reviewer who found a submission there — a
 * disputed item, a labeler's odd answer — sends it back with a comment, without waiting for the
 * annotation review queue to sample it. It is the queue's own decision (decision 0044): the
 * submission is taken (its review row, mode `browser`) and decided `send_back` in one
 * transaction, so the labeler gets the same redo task, comment and prefilled answer. The queue's
 * rules hold: rankings and demonstrations of non-gold tasks only, never your own, once per
 * submission, not while another reviewer holds it. A refused request writes nothing.
 */
export const browserSendBackSchema = z.object({ comment: sendBackComment }).strict();

export async function sendBackFromBrowser(db: Db, actor: Actor, projectId: string, submissionId: string, input: z.infer<typeof browserSendBackSchema>): Promise<AnnotationReviewView> {
  const submission = await db
    .selectFrom("submissions as s")
    .innerJoin("tasks as t", "t.id", "s.task_id")
    .select(["s.id", "s.user_id", "s.task_id", "t.type", "t.gold"])
    .where("s.id", "=", submissionId)
    .where("t.project_id", "=", projectId)
    .executeTakeFirst();
  if (!submission) throw new AppError("not_found", "No such submission in this project.");
  if (!(REVIEWABLE_TYPES as readonly string[]).includes(submission.type) || submission.gold !== null) {
    throw new AppError("validation_failed", "Only rankings and demonstrations of ordinary (not gold) tasks are sent back.", [
      { path: "submissionId", message: `a ${submission.gold !== null ? "gold " : ""}${submission.type} submission cannot be sent back` },
    ]);
  }
  if (submission.user_id === actor.user.id) throw new AppError("forbidden", "You cannot review your own submission.");
  const agreement = submission.type === "rank" ? await rankAgreement(db, submission.task_id) : null;
  const reviewId = await db.transaction().execute(async (trx) => {
    const taken = await takeSubmission(trx, actor.user.id, projectId, submissionId, "browser", agreement);
    if (!taken) {
      const existing = await trx.selectFrom("annotation_reviews").select("state").where("submission_id", "=", submissionId).executeTakeFirst();
      throw new AppError("conflict", existing?.state === "decided" ? "This submission has been reviewed already." : "Another reviewer holds this submission in the annotation review; try again later.");
    }
    const review = await getAnnotationReview(trx, taken);
    // Taken in this transaction by this reviewer: the decision cannot be refused (a throw rolls both back).
    if (!(await recordDecision(trx, actor, review, { decision: "send_back", comment: input.comment }, null))) throw new AppError("conflict", "This submission has been reviewed already.");
    return taken;
  });
  return getAnnotationReview(db, reviewId);
}

/** The item's agreement, as the queue's agreement mode stores it (null below two rankings). */
async function rankAgreement(db: Db, taskId: string): Promise<number | null> {
  const rows = await db.selectFrom("submissions").select("payload").where("task_id", "=", taskId).execute();
  const rankings = rows.flatMap((r) => rankingSchema.safeParse(r.payload.ranking).data ?? []);
  return rankings.length < 2 ? null : itemAgreement(rankings);
}
