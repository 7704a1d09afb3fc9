/**
 * The review queue of the cleaning loop: documents a cleaning job flagged (content filter or PII) wait here for a
 * reviewer, who keeps, drops or redacts each, with a category. The decision overrides the filter's verdict wherever the
 * job's outcome is read (report, summary, kept documents). A reviewer holds a document for LEASE_MINUTES; after that
 * anyone may take it.
 */
import { sql } from "kysely";
import { recordAudit } from "../auth/audit.server.ts";
import type { Actor } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import type { ReviewDecision } from "./review-scale.ts";

export const LEASE_MINUTES = 30;

export type ReviewView = {
  id: string;
  jobId: string;
  projectId: string;
  state: "open" | "decided";
  reason: string;
  assignedTo: string | null;
  document: { id: string; corpus: string; file: string; line: number; title: string | null; text: string };
  hits: Array<{ kind: string; match: string; index: number }>;
  /** The filter's PII redaction, when the job redacts. */
  piiRedacted: string | null;
  decision: string | null;
  category: string | null;
  note: string;
  decidedAt: Date | null;
};

export async function getReview(db: Db, reviewId: string): Promise<ReviewView> {
  if (!/^\d{1,18}$/.test(reviewId)) throw new AppError("not_found", "No such review.");
  const row = await db
    .selectFrom("corpus_reviews as r")
    .innerJoin("cleaning_verdicts as v", (join) => join.onRef("v.job_id", "=", "r.job_id").onRef("v.document_id", "=", "r.document_id"))
    .innerJoin("corpus_documents as d", "d.id", "r.document_id")
    .innerJoin("corpora as c", "c.id", "d.corpus_id")
    .select([
      "r.id", "r.job_id", "r.project_id", "r.state", "r.reason", "r.assigned_to", "r.decision", "r.category", "r.note", "r.decided_at",
      "d.id as document_id", "c.name as corpus", "d.file_name", "d.line", "d.title", "d.text", "v.hits", "v.redacted_text",
    ])
    .where("r.id", "=", reviewId)
    .executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such review.");
  return {
    id: row.id, jobId: row.job_id, projectId: row.project_id, state: row.state, reason: row.reason, assignedTo: row.assigned_to,
    document: { id: row.document_id, corpus: row.corpus, file: row.file_name, line: row.line, title: row.title, text: row.text },
    hits: row.hits as ReviewView["hits"], piiRedacted: row.redacted_text, decision: row.decision, category: row.category, note: row.note, decidedAt: row.decided_at,
  };
}

/** The document this reviewer holds (lease still running), or null. Reads only: pages call it from their loader. */
export async function heldReview(db: Db, userId: string, projectId: string): Promise<ReviewView | null> {
  const row = await db
    .selectFrom("corpus_reviews")
    .select("id")
    .where("project_id", "=", projectId)
    .where("state", "=", "open")
    .where("assigned_to", "=", userId)
    .where("lease_expires_at", ">", sql<Date>`now()`)
    .orderBy("id")
    .executeTakeFirst();
  return row ? getReview(db, row.id) : null;
}

/** Gives the reviewer the document they hold, else the oldest open one nobody holds; null when the queue is empty. */
export async function claimNextReview(db: Db, userId: string, projectId: string): Promise<ReviewView | null> {
  const held = await heldReview(db, userId, projectId);
  if (held) return held;
  const claimed = await sql<{ id: string }>`
    update corpus_reviews set assigned_to = ${userId}, lease_expires_at = now() + make_interval(mins => ${LEASE_MINUTES})
    where id = (
      select id from corpus_reviews
      where project_id = ${projectId} and state = 'open' and (assigned_to is null or lease_expires_at < now())
      order by id for update skip locked limit 1
    )
    returning id`.execute(db);
  const id = claimed.rows[0]?.id;
  return id ? getReview(db, id) : null;
}

/** Each filter hit replaced by the category's token, e.g. "[WEAPONS]"; overlapping hits are replaced once. */
export function redactHits(text: string, hits: ReadonlyArray<{ index: number; match: string }>, category: string): string {
  const token = `[${category.toUpperCase()}]`;
  let out = "";
  let at = 0;
  for (const hit of [...hits].sort((a, b) => a.index - b.index)) {
    if (hit.index < at) continue;
    out += text.slice(at, hit.index) + token;
    at = hit.index + hit.match.length;
  }
  return out + text.slice(at);
}

/**
 * Records the reviewer's decision. Only an open review that this reviewer holds, or nobody holds (lease expired or
 * never taken), can be decided; a decision is final (a second one is a 409).
 */
export async function decideReview(db: Db, actor: Actor, review: ReviewView, input: ReviewDecision): Promise<ReviewView> {
  const userId = actor.user.id;
  const redacted = input.decision === "redact" ? redactHits(review.document.text, review.hits, input.category!) : null;
  const updated = await db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("corpus_reviews")
      .set({
        state: "decided", decision: input.decision, category: input.category ?? null, note: input.note, redacted_text: redacted,
        reviewed_by: userId, decided_at: new Date(), assigned_to: null, lease_expires_at: null,
      })
      .where("id", "=", review.id)
      .where("state", "=", "open")
      .where((eb) => eb.or([eb("assigned_to", "is", null), eb("assigned_to", "=", userId), eb("lease_expires_at", "<", sql<Date>`now()`)]))
      .returning("id")
      .executeTakeFirst();
    if (!row) return false;
    await recordAudit(trx, { actor, action: "corpus_review.decide", target: `project:${review.projectId}`, details: { reviewId: review.id, documentId: review.document.id, decision: input.decision, category: input.category ?? null } });
    return true;
  });
  if (!updated) {
    throw new AppError("conflict", review.state === "decided" ? "This document has been decided already." : "Another reviewer holds this document; take the next one.");
  }
  return getReview(db, review.id);
}

export async function reviewQueue(db: Db, projectId: string, state: "open" | "decided", limit = 200) {
  const rows = await db
    .selectFrom("corpus_reviews as r")
    .innerJoin("corpus_documents as d", "d.id", "r.document_id")
    .select(["r.id", "r.job_id", "r.document_id", "d.title", "r.reason", "r.state", "r.decision", "r.category", "r.decided_at"])
    .where("r.project_id", "=", projectId)
    .where("r.state", "=", state)
    .orderBy("r.id", state === "open" ? "asc" : "desc")
    .limit(limit)
    .execute();
  const counts = await db
    .selectFrom("corpus_reviews")
    .select(["state", sql<string>`count(*)`.as("n")])
    .where("project_id", "=", projectId)
    .groupBy("state")
    .execute();
  return {
    open: Number(counts.find((c) => c.state === "open")?.n ?? 0),
    decided: Number(counts.find((c) => c.state === "decided")?.n ?? 0),
    items: rows.map((r) => ({ id: r.id, jobId: r.job_id, documentId: r.document_id, title: r.title, reason: r.reason, state: r.state, decision: r.decision, category: r.category, decidedAt: r.decided_at })),
  };
}
