/**
 * Annotation review (issue 14 item 4, decision 0044): reviewers look at labelers' own submitted rankings and
 * demonstrations. A reviewer picks how the queue samples (random; lowest item agreement first; one labeler's work,
 * oldest first) and is served one submission at a time, held for LEASE_MINUTES (then anyone may take it). Each gets
 * one final decision:
 *  - accept;
 *  - override: the reviewer's own ranking or demonstration, validated like a submission, stored beside the original
 *    (never replacing it); exports write it as a record of its own with its provenance;
 *  - send back with a comment: the labeler gets the item again as a redo task of their own (tasks.redo_of names the
 *    old submission), sees the comment on their home and the task page, and their new submission is the redo. The
 *    sent-back original leaves the training exports; the review export keeps it.
 */
import { sql, type ExpressionBuilder, type Transaction } from "kysely";
import { z } from "zod";
import type { Actor, SessionUser } from "../auth/actor.ts";
import { visibleProjects } from "../auth/project-access.server.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Db } from "../db/database.server.ts";
import type { AnnotationDecision, AnnotationReviewMode, ChatMessage, Database, TranscriptMessage } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { itemAgreement } from "./adaptive-overlap.ts";
import { demonstrationMessages } from "./demonstration.ts";
import type { ProjectSettings } from "./project-settings.ts";
import { rankingSchema, type Ranking } from "./quality/ranking.ts";
import { validatePayload } from "./submissions.server.ts";
import { settleToolResults } from "./tool-results.server.ts";

export const LEASE_MINUTES = 30;
/** How long a sent-back item waits for its labeler (the redo's lease): long enough to span a weekend and more. */
export const REDO_LEASE_DAYS = 14;
/** Task types whose submissions are reviewed here (synthetic Q&A and held-back prompts have their own review tasks). */
export const REVIEWABLE_TYPES = ["rank", "demonstrate"] as const;
type ReviewableType = (typeof REVIEWABLE_TYPES)[number];

const numericId = z.string().regex(/^\d{1,18}$/, "must be a numeric user id");

export const annotationSampleSchema = z
  .object({
    mode: z.enum(["random", "agreement", "labeler"], { error: "must be random, agreement or labeler" }).default("random"),
    labeler: numericId.optional(),
  })
  .strict()
  .refine((s) => s.mode !== "labeler" || s.labeler !== undefined, { path: ["labeler"], message: "Choose the labeler whose submissions to review." })
  .refine((s) => s.mode === "labeler" || s.labeler === undefined, { path: ["labeler"], message: "Only the labeler mode takes a labeler." });
export type AnnotationSample = z.infer<typeof annotationSampleSchema>;

const comment = z.string().trim().max(2_000, "Keep the comment under 2,000 characters.");
/** A send-back's comment: what the labeler should change (they read it on their home and the task page). */
export const sendBackComment = comment.min(1, "Say what the labeler should change.");
export const annotationDecisionSchema = z.discriminatedUnion(
  "decision",
  [
    z.object({ decision: z.literal("accept"), comment: comment.default("") }).strict(),
    z.object({ decision: z.literal("override"), payload: z.record(z.string(), z.unknown(), { error: "the reviewer's ranking or demonstration (an object)" }), comment: comment.default("") }).strict(),
    z.object({ decision: z.literal("send_back"), comment: sendBackComment }).strict(),
  ],
  { error: "must be accept, override or send_back" },
);
export type AnnotationDecisionInput = z.infer<typeof annotationDecisionSchema>;

export type AnnotationReviewView = {
  id: string;
  projectId: string;
  state: "open" | "decided";
  mode: AnnotationReviewMode;
  /** The item's agreement when it was served (rank items with two or more labelers). */
  agreement: number | null;
  reviewer: { id: string; name: string } | null;
  decision: AnnotationDecision | null;
  comment: string;
  overridePayload: Record<string, unknown> | null;
  decidedAt: string | null;
  submission: {
    id: string;
    taskId: string;
    taskType: ReviewableType;
    promptId: string;
    labeler: { id: string; name: string };
    submittedAt: string;
    payload: Record<string, unknown>;
    /** The order the labeler saw the completions in (labels A, B, … follow it). */
    shownOrder: string[];
    /** When this submission is itself a redo: the submission it redid. */
    redoOf: string | null;
  };
  messages: ChatMessage[];
  completions: Array<{ id: string; label: string; text: string; messages: TranscriptMessage[] | null }>;
  /** A send-back's redo: its task, and the labeler's new submission once there. */
  redo: { taskId: string; submissionId: string | null } | null;
};

export async function getAnnotationReview(db: Db, reviewId: string): Promise<AnnotationReviewView> {
  if (!/^\d{1,18}$/.test(reviewId)) throw new AppError("not_found", "No such review.");
  const row = await db
    .selectFrom("annotation_reviews as r")
    .innerJoin("submissions as s", "s.id", "r.submission_id")
    .innerJoin("assignments as a", "a.id", "s.assignment_id")
    .innerJoin("tasks as t", "t.id", "s.task_id")
    .innerJoin("prompts as p", "p.id", "t.prompt_id")
    .innerJoin("users as l", "l.id", "s.user_id")
    .leftJoin("users as rv", "rv.id", "r.reviewer_id")
    .select([
      "r.id", "r.project_id", "r.state", "r.mode", "r.agreement", "r.reviewer_id", "rv.name as reviewer_name", "r.decision", "r.comment",
      "r.override_payload", "r.decided_at", "r.redo_task_id", "s.id as submission_id", "s.task_id", "t.type", "t.prompt_id", "t.redo_of",
      "s.user_id", "l.name as labeler_name", "s.created_at", "s.payload", "a.shown_order", "p.messages",
    ])
    .where("r.id", "=", reviewId)
    .executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such review.");
  const completions = row.shown_order.length
    ? await db.selectFrom("completions").select(["id", "text", "messages"]).where("id", "in", row.shown_order).execute()
    : [];
  const byId = new Map(completions.map((c) => [c.id, c]));
  const redoSubmission = row.redo_task_id
    ? await db.selectFrom("submissions").select("id").where("task_id", "=", row.redo_task_id).orderBy("id").executeTakeFirst()
    : undefined;
  return {
    id: row.id,
    projectId: row.project_id,
    state: row.state,
    mode: row.mode,
    agreement: row.agreement,
    reviewer: row.reviewer_id ? { id: row.reviewer_id, name: row.reviewer_name ?? row.reviewer_id } : null,
    decision: row.decision,
    comment: row.comment,
    overridePayload: row.override_payload,
    decidedAt: row.decided_at?.toISOString() ?? null,
    submission: {
      id: row.submission_id,
      taskId: row.task_id,
      taskType: row.type as ReviewableType,
      promptId: row.prompt_id,
      labeler: { id: row.user_id, name: row.labeler_name },
      submittedAt: row.created_at.toISOString(),
      payload: row.payload,
      shownOrder: row.shown_order,
      redoOf: row.redo_of,
    },
    messages: row.messages,
    completions: row.shown_order.map((id, i) => ({ id, label: String.fromCharCode(65 + i), text: byId.get(id)?.text ?? "", messages: byId.get(id)?.messages ?? null })),
    redo: row.redo_task_id ? { taskId: row.redo_task_id, submissionId: redoSubmission?.id ?? null } : null,
  };
}

/** The submission this reviewer holds in the project (lease still running), or null. Reads only. */
export async function heldAnnotationReview(db: Db, reviewerId: string, projectId: string): Promise<AnnotationReviewView | null> {
  const row = await db
    .selectFrom("annotation_reviews")
    .select("id")
    .where("project_id", "=", projectId)
    .where("state", "=", "open")
    .where("reviewer_id", "=", reviewerId)
    .where("lease_expires_at", ">", sql<Date>`now()`)
    .orderBy("id")
    .executeTakeFirst();
  return row ? getAnnotationReview(db, row.id) : null;
}

/**
 * A submission that may be served: of a reviewable, non-gold task of the project, not the reviewer's own, and with
 * no review that is decided or held by someone now.
 */
const servable = (projectId: string, reviewerId: string) => sql`
  t.project_id = ${projectId} and t.type in ('rank', 'demonstrate') and t.gold is null and s.user_id <> ${reviewerId}
  and not exists (select 1 from annotation_reviews r where r.submission_id = s.id and (r.state = 'decided' or r.lease_expires_at > now()))`;

/** Candidates in the order the mode serves them (a few: a claim lost to another reviewer tries the next). */
async function candidates(db: Db, projectId: string, reviewerId: string, sample: AnnotationSample): Promise<Array<{ id: string; agreement: number | null }>> {
  if (sample.mode === "labeler") {
    const rows = await sql<{ id: string }>`
      select s.id from submissions s join tasks t on t.id = s.task_id
      where ${servable(projectId, reviewerId)} and s.user_id = ${sample.labeler!}
      order by s.id limit 5`.execute(db);
    return rows.rows.map((r) => ({ id: r.id, agreement: null }));
  }
  if (sample.mode === "agreement") {
    // Every ranking of items that two or more people ranked and that still have a servable submission; the item
    // agreement is the one adaptive overlap and the exports use (pooled pairwise agreement of its rankings).
    const rows = await sql<{ id: string; task_id: string; payload: Record<string, unknown>; servable: boolean }>`
      with items as (
        select t.id from tasks t
        where t.project_id = ${projectId} and t.type = 'rank' and t.gold is null
          and (select count(*) from submissions x where x.task_id = t.id) >= 2
          and exists (select 1 from submissions s where s.task_id = t.id and ${servable(projectId, reviewerId)})
      )
      select s.id, s.task_id, s.payload, (${servable(projectId, reviewerId)}) as servable
      from submissions s join tasks t on t.id = s.task_id
      where s.task_id in (select id from items)
      order by s.task_id, s.id`.execute(db);
    const byTask = new Map<string, typeof rows.rows>();
    for (const row of rows.rows) byTask.set(row.task_id, [...(byTask.get(row.task_id) ?? []), row]);
    const scored = [...byTask.values()]
      .map((subs) => ({ subs, agreement: itemAgreement(subs.map((s) => rankingSchema.parse(s.payload.ranking) as Ranking)) }))
      .filter((item) => item.agreement !== null)
      .sort((a, b) => a.agreement! - b.agreement! || Number(a.subs[0]!.task_id) - Number(b.subs[0]!.task_id));
    const out = scored.flatMap((item) => item.subs.filter((s) => s.servable).map((s) => ({ id: s.id, agreement: item.agreement })));
    // Once no item with a measurable agreement is left, the rest come at random.
    if (out.length > 0) return out.slice(0, 5);
  }
  const rows = await sql<{ id: string }>`
    select s.id from submissions s join tasks t on t.id = s.task_id
    where ${servable(projectId, reviewerId)}
    order by random() limit 5`.execute(db);
  return rows.rows.map((r) => ({ id: r.id, agreement: null }));
}

/**
 * Serves the reviewer the submission they hold in this project, else the next one the mode picks; null when nothing
 * is left to review. Taking one is an upsert on the submission's one review row: it succeeds only while nobody else
 * holds it, so two reviewers are never served the same submission at once.
 */
export async function claimAnnotationReview(db: Db, reviewerId: string, projectId: string, sample: AnnotationSample): Promise<AnnotationReviewView | null> {
  const held = await heldAnnotationReview(db, reviewerId, projectId);
  if (held) return held;
  if (sample.mode === "labeler") {
    const member = await db.selectFrom("users").select("id").where("id", "=", sample.labeler!).executeTakeFirst();
    if (!member) throw new AppError("validation_failed", "The sample is not valid.", [{ path: "labeler", message: "no such person" }]);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await candidates(db, projectId, reviewerId, sample);
    if (found.length === 0) return null;
    for (const candidate of found) {
      const claimed = await takeSubmission(db, reviewerId, projectId, candidate.id, sample.mode, candidate.agreement);
      if (claimed) return getAnnotationReview(db, claimed);
    }
  }
  return null;
}

/**
 * Takes one submission for review: an upsert on its one review row that succeeds only while the
 * review is open and nobody else holds it (this reviewer may take it again). The review's id, or
 * null when it is decided or someone else holds it.
 */
export async function takeSubmission(db: Db, reviewerId: string, projectId: string, submissionId: string, mode: AnnotationReviewMode, agreement: number | null): Promise<string | null> {
  const claimed = await sql<{ id: string }>`
    insert into annotation_reviews (project_id, submission_id, reviewer_id, lease_expires_at, mode, agreement)
    values (${projectId}, ${submissionId}, ${reviewerId}, now() + make_interval(mins => ${LEASE_MINUTES}), ${mode}, ${agreement})
    on conflict (submission_id) do update
      set reviewer_id = excluded.reviewer_id, lease_expires_at = excluded.lease_expires_at, mode = excluded.mode, agreement = excluded.agreement
      where annotation_reviews.state = 'open'
        and (annotation_reviews.lease_expires_at is null or annotation_reviews.lease_expires_at < now() or annotation_reviews.reviewer_id = excluded.reviewer_id)
    returning id`.execute(db);
  return claimed.rows[0]?.id ?? null;
}

const canonical = (value: unknown) => JSON.stringify(value);

/** Whether the reviewer's version says the same as the labeler's (an override must change something). */
function sameAnswer(type: ReviewableType, original: Record<string, unknown>, override: Record<string, unknown>): boolean {
  if (type === "rank") {
    const a = rankingSchema.parse(original.ranking);
    const b = rankingSchema.parse(override.ranking);
    const tiers = (r: Ranking) => r.tiers.map((tier) => [...tier].sort());
    return canonical([tiers(a), a.strengths ?? null, a.notRankable ?? false]) === canonical([tiers(b), b.strengths ?? null, b.notRankable ?? false]);
  }
  return canonical(demonstrationMessages(original)) === canonical(demonstrationMessages(override));
}

/**
 * Records the reviewer's decision. Only an open review this reviewer holds (or nobody holds any longer) can be
 * decided, once: a second decision is a 409. An override is validated against the task as the labeler's submission
 * was (the completions shown, the project's tools); a send-back makes the labeler's redo task in the same transaction.
 */
export async function decideAnnotationReview(
  db: Db,
  actor: Actor,
  review: AnnotationReviewView,
  input: AnnotationDecisionInput,
  settings: ProjectSettings,
): Promise<AnnotationReviewView> {
  const reviewerId = actor.user.id;
  if (review.submission.labeler.id === reviewerId) throw new AppError("forbidden", "You cannot review your own submission.");
  let override: Record<string, unknown> | null = null;
  if (input.decision === "override") {
    override = validatePayload(review.submission.taskType, input.payload, review.submission.shownOrder, settings);
    if (review.submission.taskType === "demonstrate") override = await settleToolResults(override, settings);
    if (sameAnswer(review.submission.taskType, review.submission.payload, override)) {
      throw new AppError("validation_failed", "The override changes nothing.", [{ path: "payload", message: "Change the ranking or the demonstration, or accept it as it is." }]);
    }
  }
  const decided = await db.transaction().execute((trx) => recordDecision(trx, actor, review, input, override));
  if (!decided) {
    throw new AppError("conflict", review.state === "decided" ? "This submission has been reviewed already." : "Another reviewer holds this submission; take the next one.");
  }
  return getAnnotationReview(db, review.id);
}

/**
 * The decision, inside the caller's transaction: the review row (only while open and held by this reviewer or by
 * nobody live), a send-back's redo task and the labeler's lease on it, and the audit entry. False when the review
 * could not be decided (decided already, or held by someone else): nothing was written.
 */
export async function recordDecision(
  trx: Transaction<Database>,
  actor: Actor,
  review: AnnotationReviewView,
  input: AnnotationDecisionInput,
  override: Record<string, unknown> | null,
): Promise<boolean> {
  const reviewerId = actor.user.id;
  const row = await trx
    .updateTable("annotation_reviews")
    .set({
      state: "decided", decision: input.decision, comment: input.comment, override_payload: override ? JSON.stringify(override) : null,
      reviewer_id: reviewerId, decided_at: new Date(), lease_expires_at: null,
    })
    .where("id", "=", review.id)
    .where("state", "=", "open")
    .where((eb) => eb.or([eb("reviewer_id", "is", null), eb("reviewer_id", "=", reviewerId), eb("lease_expires_at", "<", sql<Date>`now()`)]))
    .returning("id")
    .executeTakeFirst();
  if (!row) return false;
  if (input.decision === "send_back") {
    const task = await trx
      .selectFrom("tasks")
      .select(["project_id", "prompt_id", "type", "completion_ids", "round_id"])
      .where("id", "=", review.submission.taskId)
      .executeTakeFirstOrThrow();
    // overlap 1 and the labeler's live lease fill it; the queue never serves a redo task to anyone (redo_of).
    const redo = await trx
      .insertInto("tasks")
      .values({
        project_id: task.project_id, prompt_id: task.prompt_id, type: task.type, overlap_target: 1, completion_ids: JSON.stringify(task.completion_ids),
        round_id: task.round_id, author_user_id: null, redo_of: review.submission.id,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await trx
      .insertInto("assignments")
      .values({
        task_id: redo.id, user_id: review.submission.labeler.id, state: "active",
        lease_expires_at: new Date(Date.now() + REDO_LEASE_DAYS * 86_400_000), shown_order: JSON.stringify(review.submission.shownOrder),
      })
      .execute();
    await trx.updateTable("annotation_reviews").set({ redo_task_id: redo.id }).where("id", "=", review.id).execute();
  }
  await recordAudit(trx, {
    actor, action: "annotation_review.decide", target: `project:${review.projectId}`,
    details: { reviewId: review.id, submissionId: review.submission.id, labeler: review.submission.labeler.id, decision: input.decision },
  });
  return true;
}

/** Counts for the queue page and the latest decisions. */
export async function annotationReviewSummary(db: Db, projectId: string, limit = 20) {
  const counts = await sql<{ submissions: string; decided: string; accept: string; override: string; send_back: string }>`
    select
      (select count(*) from submissions s join tasks t on t.id = s.task_id where t.project_id = ${projectId} and t.type in ('rank', 'demonstrate') and t.gold is null) as submissions,
      count(*) filter (where state = 'decided') as decided,
      count(*) filter (where decision = 'accept') as accept,
      count(*) filter (where decision = 'override') as override,
      count(*) filter (where decision = 'send_back') as send_back
    from annotation_reviews where project_id = ${projectId}`.execute(db);
  const c = counts.rows[0]!;
  const recent = await db
    .selectFrom("annotation_reviews as r")
    .innerJoin("submissions as s", "s.id", "r.submission_id")
    .innerJoin("tasks as t", "t.id", "s.task_id")
    .innerJoin("users as l", "l.id", "s.user_id")
    .leftJoin("users as rv", "rv.id", "r.reviewer_id")
    .select(["r.id", "r.decision", "r.comment", "r.decided_at", "s.id as submission_id", "t.type", "l.name as labeler", "rv.name as reviewer"])
    .where("r.project_id", "=", projectId)
    .where("r.state", "=", "decided")
    .orderBy("r.decided_at", "desc")
    .orderBy("r.id", "desc")
    .limit(limit)
    .execute();
  const labelers = await db
    .selectFrom("submissions as s")
    .innerJoin("tasks as t", "t.id", "s.task_id")
    .innerJoin("users as u", "u.id", "s.user_id")
    .select(["u.id", "u.name", sql<string>`count(*)`.as("n")])
    .where("t.project_id", "=", projectId)
    .where("t.type", "in", [...REVIEWABLE_TYPES])
    .where("t.gold", "is", null)
    .groupBy(["u.id", "u.name"])
    .orderBy("u.name")
    .limit(500)
    .execute();
  return {
    submissions: Number(c.submissions),
    decided: Number(c.decided),
    decisions: { accept: Number(c.accept), override: Number(c.override), send_back: Number(c.send_back) },
    labelers: labelers.map((l) => ({ id: l.id, name: l.name, submissions: Number(l.n) })),
    recent: recent.map((r) => ({
      id: r.id, decision: r.decision, comment: r.comment, decidedAt: r.decided_at?.toISOString() ?? null, submissionId: r.submission_id, taskType: r.type,
      labeler: r.labeler, reviewer: r.reviewer,
    })),
  };
}

export type SentBackItem = {
  reviewId: string;
  projectId: string;
  projectName: string;
  taskType: string;
  comment: string;
  reviewer: string | null;
  sentBackAt: string;
  /** The redo to open (the labeler's lease); null once it ran out or was skipped. */
  assignmentId: string | null;
};

/** What reviewers sent back to this person and they have not redone yet (their home lists it), in projects they may still enter. */
export async function sentBackFor(db: Db, user: SessionUser): Promise<SentBackItem[]> {
  const rows = await db
    .selectFrom("annotation_reviews as r")
    .innerJoin("tasks as t", "t.id", "r.redo_task_id")
    .innerJoin("projects", "projects.id", "t.project_id")
    .innerJoin("assignments as a", (join) => join.onRef("a.task_id", "=", "t.id").on("a.user_id", "=", user.id))
    .leftJoin("users as rv", "rv.id", "r.reviewer_id")
    .select(["r.id", "projects.id as project_id", "projects.name as project_name", "t.type", "r.comment", "rv.name as reviewer", "r.decided_at", "a.id as assignment_id", "a.state", "a.lease_expires_at"])
    .where("a.state", "in", ["active", "expired"])
    .where((eb) => visibleProjects(eb as unknown as ExpressionBuilder<Database, "projects">, { user, role: user.role }))
    .orderBy("r.decided_at", "desc")
    .limit(50)
    .execute();
  return rows.map((r) => ({
    reviewId: r.id, projectId: r.project_id, projectName: r.project_name, taskType: r.type, comment: r.comment, reviewer: r.reviewer,
    sentBackAt: r.decided_at?.toISOString() ?? "",
    assignmentId: r.state === "active" && r.lease_expires_at > new Date() ? r.assignment_id : null,
  }));
}

/** On a redo's task page: the reviewer's comment and what the labeler submitted before (nothing they typed is lost). */
export async function sentBackOfTask(db: Db, taskId: string): Promise<{ comment: string; reviewer: string | null; sentBackAt: string; previous: Record<string, unknown> } | null> {
  const row = await db
    .selectFrom("annotation_reviews as r")
    .innerJoin("submissions as s", "s.id", "r.submission_id")
    .leftJoin("users as rv", "rv.id", "r.reviewer_id")
    .select(["r.comment", "rv.name as reviewer", "r.decided_at", "s.payload"])
    .where("r.redo_task_id", "=", taskId)
    .executeTakeFirst();
  return row ? { comment: row.comment, reviewer: row.reviewer, sentBackAt: row.decided_at?.toISOString() ?? "", previous: row.payload } : null;
}
