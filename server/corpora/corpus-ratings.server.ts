/**
 * Quality-rating tasks over a sample of a cleaning job's kept documents: each document is rated 1–5 (review-scale.ts)
 * by `overlap` different people, who take tasks one at a time with a lease, the way labeling tasks work (decision
 * 0007): a task is offered while its submitted plus currently leased ratings are fewer than its overlap, never twice to
 * one person. Agreement is Krippendorff's α over the documents with two or more ratings, as for every other task.
 */
import { sql } from "kysely";
import type { z } from "zod";
import { recordAudit } from "../auth/audit.server.ts";
import type { Actor } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import { krippendorffAlpha } from "../labeling/quality/krippendorff.ts";
import type { CleaningJobView } from "./cleaning-jobs.server.ts";
import { finalVerdict } from "./cleaning-jobs.server.ts";
import type { ratingSampleSchema } from "./review-scale.ts";

export const RATING_LEASE_MINUTES = 30;

/** Draws `size` kept documents (after review) not yet sampled from this job, by a seeded shuffle, and makes tasks. */
export async function createRatingSample(db: Db, actor: Actor, job: CleaningJobView, input: z.infer<typeof ratingSampleSchema>): Promise<{ created: number; tasks: number }> {
  if (job.state !== "done") throw new AppError("conflict", `Rate documents once the job is done; it is ${job.state}.`);
  return db.transaction().execute(async (trx) => {
    const picked = await trx
      .selectFrom("cleaning_verdicts as v")
      .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "v.job_id").onRef("r.document_id", "=", "v.document_id"))
      .select("v.document_id")
      .where("v.job_id", "=", job.id)
      .where(finalVerdict, "=", "kept")
      .where((eb) => eb.not(eb.exists(eb.selectFrom("corpus_rating_tasks as t").select("t.id").whereRef("t.job_id", "=", "v.job_id").whereRef("t.document_id", "=", "v.document_id"))))
      .orderBy(sql`md5(v.document_id::text || ':' || ${String(input.seed)})`)
      .limit(input.size)
      .execute();
    if (picked.length > 0) {
      await trx
        .insertInto("corpus_rating_tasks")
        .values(picked.map((p) => ({ project_id: job.projectId, job_id: job.id, document_id: p.document_id, overlap_target: input.overlap })))
        .execute();
    }
    const total = await trx.selectFrom("corpus_rating_tasks").select(sql<string>`count(*)`.as("n")).where("job_id", "=", job.id).executeTakeFirstOrThrow();
    await recordAudit(trx, { actor, action: "corpus_rating.sample", target: `project:${job.projectId}`, details: { jobId: job.id, created: picked.length, overlap: input.overlap, seed: input.seed } });
    return { created: picked.length, tasks: Number(total.n) };
  });
}

export type RatingView = {
  id: string;
  taskId: string;
  projectId: string;
  userId: string;
  state: "active" | "submitted";
  score: number | null;
  leaseExpiresAt: Date;
  document: { id: string; title: string | null; text: string };
};

export async function getRating(db: Db, ratingId: string): Promise<RatingView> {
  if (!/^\d{1,18}$/.test(ratingId)) throw new AppError("not_found", "No such rating.");
  const row = await db
    .selectFrom("corpus_ratings as g")
    .innerJoin("corpus_rating_tasks as t", "t.id", "g.task_id")
    .innerJoin("corpus_documents as d", "d.id", "t.document_id")
    .innerJoin("cleaning_verdicts as v", (join) => join.onRef("v.job_id", "=", "t.job_id").onRef("v.document_id", "=", "t.document_id"))
    .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "t.job_id").onRef("r.document_id", "=", "t.document_id"))
    .select(["g.id", "g.task_id", "t.project_id", "g.user_id", "g.state", "g.score", "g.lease_expires_at", "d.id as document_id", "d.title", "d.text", "v.redacted_text", "r.redacted_text as reviewed_text", "r.decision"])
    .where("g.id", "=", ratingId)
    .executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such rating.");
  // Raters read what training would read: the redacted text where PII or a reviewer's redaction applies.
  const text = row.decision === "redact" ? (row.reviewed_text ?? row.text) : (row.redacted_text ?? row.text);
  return { id: row.id, taskId: row.task_id, projectId: row.project_id, userId: row.user_id, state: row.state, score: row.score, leaseExpiresAt: row.lease_expires_at, document: { id: row.document_id, title: row.title, text } };
}

/** A person's own rating; anyone else's is "not found" (no peeking at other raters' scores). */
export async function getOwnRating(db: Db, actor: Actor, ratingId: string): Promise<RatingView> {
  const rating = await getRating(db, ratingId);
  if (rating.userId !== actor.user.id) throw new AppError("not_found", "No such rating.");
  return rating;
}

/** The rating this person holds in the project (lease running), or null. Reads only: pages call it from their loader. */
export async function heldRating(db: Db, userId: string, projectId: string): Promise<RatingView | null> {
  const open = await db
    .selectFrom("corpus_ratings as g")
    .innerJoin("corpus_rating_tasks as t", "t.id", "g.task_id")
    .select("g.id")
    .where("t.project_id", "=", projectId)
    .where("t.state", "=", "open")
    .where("g.user_id", "=", userId)
    .where("g.state", "=", "active")
    .where("g.lease_expires_at", ">", sql<Date>`now()`)
    .executeTakeFirst();
  return open ? getRating(db, open.id) : null;
}

export async function ratedCount(db: Db, userId: string, projectId: string): Promise<number> {
  const rated = await db
    .selectFrom("corpus_ratings as g")
    .innerJoin("corpus_rating_tasks as t", "t.id", "g.task_id")
    .select(sql<string>`count(*)`.as("n"))
    .where("t.project_id", "=", projectId)
    .where("g.user_id", "=", userId)
    .where("g.state", "=", "submitted")
    .executeTakeFirstOrThrow();
  return Number(rated.n);
}

/** The rating this person has open in the project (lease renewed), else a new one on the next task that needs them. */
export async function claimNextRating(db: Db, userId: string, projectId: string): Promise<RatingView | null> {
  const id = await db.transaction().execute(async (trx) => {
    const open = await trx
      .updateTable("corpus_ratings as g")
      .from("corpus_rating_tasks as t")
      .set({ lease_expires_at: sql`now() + make_interval(mins => ${RATING_LEASE_MINUTES})` })
      .whereRef("t.id", "=", "g.task_id")
      .where("t.project_id", "=", projectId)
      .where("t.state", "=", "open")
      .where("g.user_id", "=", userId)
      .where("g.state", "=", "active")
      .returning("g.id")
      .executeTakeFirst();
    if (open) return open.id;
    const task = await sql<{ id: string }>`
      select t.id from corpus_rating_tasks t
      where t.project_id = ${projectId} and t.state = 'open'
        and not exists (select 1 from corpus_ratings g where g.task_id = t.id and g.user_id = ${userId})
        and (select count(*) from corpus_ratings g where g.task_id = t.id and (g.state = 'submitted' or g.lease_expires_at > now())) < t.overlap_target
      order by t.id for update skip locked limit 1`.execute(trx);
    const taskId = task.rows[0]?.id;
    if (!taskId) return null;
    const row = await trx
      .insertInto("corpus_ratings")
      .values({ task_id: taskId, user_id: userId, lease_expires_at: sql<Date>`now() + make_interval(mins => ${RATING_LEASE_MINUTES})` })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  });
  return id ? getRating(db, id) : null;
}

/** Stores the score; the task is complete once `overlap` people have rated it. A submitted rating is final. */
export async function submitRating(db: Db, actor: Actor, rating: RatingView, score: number): Promise<RatingView> {
  await db.transaction().execute(async (trx) => {
    const task = await trx.selectFrom("corpus_rating_tasks").select(["id", "overlap_target", "state"]).where("id", "=", rating.taskId).forUpdate().executeTakeFirstOrThrow();
    const row = await trx
      .updateTable("corpus_ratings")
      .set({ state: "submitted", score, submitted_at: new Date() })
      .where("id", "=", rating.id)
      .where("user_id", "=", actor.user.id)
      .where("state", "=", "active")
      .returning("id")
      .executeTakeFirst();
    if (!row) throw new AppError("conflict", "This rating has been submitted already.");
    const done = await trx.selectFrom("corpus_ratings").select(sql<string>`count(*)`.as("n")).where("task_id", "=", task.id).where("state", "=", "submitted").executeTakeFirstOrThrow();
    if (Number(done.n) >= task.overlap_target && task.state === "open") await trx.updateTable("corpus_rating_tasks").set({ state: "complete" }).where("id", "=", task.id).execute();
  });
  return getRating(db, rating.id);
}

/** Every submitted score of a job's rating tasks, by document (the classifier's training data). */
export async function ratingsByDocument(db: Db, jobId: string): Promise<Map<string, number[]>> {
  const rows = await db
    .selectFrom("corpus_ratings as g")
    .innerJoin("corpus_rating_tasks as t", "t.id", "g.task_id")
    .select(["t.document_id", "g.score"])
    .where("t.job_id", "=", jobId)
    .where("g.state", "=", "submitted")
    .orderBy("t.document_id")
    .orderBy("g.id")
    .execute();
  const out = new Map<string, number[]>();
  for (const row of rows) out.set(row.document_id, [...(out.get(row.document_id) ?? []), row.score!]);
  return out;
}

/** Tasks, ratings, the score histogram and Krippendorff's α (ordinal and interval) of a job's ratings. */
export async function ratingSummary(db: Db, jobId: string) {
  const tasks = await db
    .selectFrom("corpus_rating_tasks")
    .select(["state", sql<string>`count(*)`.as("n")])
    .where("job_id", "=", jobId)
    .groupBy("state")
    .execute();
  const byDocument = await ratingsByDocument(db, jobId);
  const scores = [...byDocument.values()];
  const histogram = [1, 2, 3, 4, 5].map((s) => scores.flat().filter((x) => x === s).length);
  const ratings = histogram.reduce((a, b) => a + b, 0);
  const ordinal = krippendorffAlpha(scores, "ordinal");
  const interval = krippendorffAlpha(scores, "interval");
  return {
    tasks: tasks.reduce((n, t) => n + Number(t.n), 0),
    complete: Number(tasks.find((t) => t.state === "complete")?.n ?? 0),
    ratings,
    meanScore: ratings > 0 ? histogram.reduce((sum, n, i) => sum + n * (i + 1), 0) / ratings : null,
    histogram,
    alphaOrdinal: ordinal.alpha,
    alphaInterval: interval.alpha,
    pairableDocuments: ordinal.pairableUnits,
  };
}
