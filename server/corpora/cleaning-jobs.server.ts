/**
 * Cleaning jobs: launched by a researcher over some of the project's corpora, executed in the background by the
 * cleaning runner (cleaning-runner.server.ts), cancelled and resumed from here. The report is the per-document verdict
 * table, paged for the page and streamed as JSONL for download.
 */
import { sql } from "kysely";
import { z } from "zod";
import { recordAudit } from "../auth/audit.server.ts";
import type { Actor } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import type { CleaningJobState } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { cleaningSettingsSchema, dropReasons, type CleaningSettings } from "./cleaning-settings.ts";

export type CleaningProgress = {
  total: number;
  processed: number;
  kept: number;
  flagged: number;
  dropped: number;
  reasons: Partial<Record<(typeof dropReasons)[number], number>>;
};
export const emptyProgress = (total: number): CleaningProgress => ({ total, processed: 0, kept: 0, flagged: 0, dropped: 0, reasons: {} });

export type CleaningJobView = {
  id: string;
  projectId: string;
  state: CleaningJobState;
  settings: CleaningSettings;
  progress: CleaningProgress;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
};

const columns = ["id", "project_id", "settings", "state", "progress", "error", "created_at", "finished_at"] as const;
type Row = { id: string; project_id: string; settings: Record<string, unknown>; state: CleaningJobState; progress: Record<string, unknown>; error: string | null; created_at: Date; finished_at: Date | null };
const view = (r: Row): CleaningJobView => ({
  id: r.id, projectId: r.project_id, state: r.state, settings: cleaningSettingsSchema.parse(r.settings),
  progress: { ...emptyProgress(0), ...(r.progress as Partial<CleaningProgress>) }, error: r.error, createdAt: r.created_at, finishedAt: r.finished_at,
});

/** Queues a job over corpora of this project; the runner starts it (kick it after this returns). */
export async function createCleaningJob(db: Db, actor: Actor, projectId: string, settings: CleaningSettings): Promise<CleaningJobView> {
  const found = await db.selectFrom("corpora").select(["id", "document_count"]).where("project_id", "=", projectId).where("id", "in", settings.corpusIds).execute();
  const missing = settings.corpusIds.filter((id) => !found.some((f) => f.id === id));
  if (missing.length > 0) throw new AppError("validation_failed", "The job was not started.", [{ path: "corpusIds", message: `no corpus ${missing.join(", ")} in this project` }]);
  const total = found.reduce((sum, f) => sum + f.document_count, 0);
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("cleaning_jobs")
      .values({ project_id: projectId, settings: JSON.stringify(settings), progress: JSON.stringify(emptyProgress(total)), created_by: actor.user.id })
      .returning([...columns])
      .executeTakeFirstOrThrow();
    await recordAudit(trx, { actor, action: "cleaning_job.create", target: `project:${projectId}`, details: { jobId: row.id, corpusIds: settings.corpusIds, documents: total } });
    return view(row);
  });
}

export async function getCleaningJob(db: Db, jobId: string): Promise<CleaningJobView> {
  if (!/^\d{1,18}$/.test(jobId)) throw new AppError("not_found", "No such cleaning job.");
  const row = await db.selectFrom("cleaning_jobs").select([...columns]).where("id", "=", jobId).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such cleaning job.");
  return view(row);
}

export async function listCleaningJobs(db: Db, projectId: string, limit = 20): Promise<CleaningJobView[]> {
  return (await db.selectFrom("cleaning_jobs").select([...columns]).where("project_id", "=", projectId).orderBy("id", "desc").limit(limit).execute()).map(view);
}

/** Stops a queued or running job where it is; its verdicts so far stay, and resume goes on from there. */
export async function cancelCleaningJob(db: Db, actor: Actor, job: CleaningJobView): Promise<CleaningJobView> {
  const row = await db
    .updateTable("cleaning_jobs")
    .set({ state: "cancelled", lease_owner: null, lease_expires_at: null, finished_at: new Date(), updated_at: new Date() })
    .where("id", "=", job.id)
    .where("state", "in", ["queued", "running"])
    .returning([...columns])
    .executeTakeFirst();
  if (!row) throw new AppError("conflict", `The job is already ${job.state}.`);
  await recordAudit(db, { actor, action: "cleaning_job.cancel", target: `project:${job.projectId}`, details: { jobId: job.id } });
  return view(row);
}

/** Queues a cancelled or failed job again; it goes on after the last document it judged. */
export async function resumeCleaningJob(db: Db, actor: Actor, job: CleaningJobView): Promise<CleaningJobView> {
  const row = await db
    .updateTable("cleaning_jobs")
    .set({ state: "queued", error: null, finished_at: null, updated_at: new Date() })
    .where("id", "=", job.id)
    .where("state", "in", ["cancelled", "failed"])
    .returning([...columns])
    .executeTakeFirst();
  if (!row) throw new AppError("conflict", `Only a cancelled or failed job can be resumed; this one is ${job.state}.`);
  await recordAudit(db, { actor, action: "cleaning_job.resume", target: `project:${job.projectId}`, details: { jobId: job.id } });
  return view(row);
}

/**
 * The verdict that counts: a reviewer's decision where there is one (keep and redact keep the document, drop drops it),
 * else the filter's. Needs `cleaning_verdicts as v` left-joined with `corpus_reviews as r`.
 */
export const finalVerdict = sql<"kept" | "dropped" | "flagged">`coalesce(case r.decision when 'drop' then 'dropped' when 'keep' then 'kept' when 'redact' then 'kept' end, v.verdict)`;

/** The text training reads: a reviewer's redaction, else the PII redaction, else the document. Same joins as finalVerdict. */
export const cleanedText = sql<string>`case when r.decision = 'redact' then r.redacted_text else coalesce(v.redacted_text, d.text) end`;

export const reportQuerySchema = z.object({
  /** The final verdict (after review). */
  verdict: z.enum(["kept", "dropped", "flagged"]).optional(),
  reason: z.enum(dropReasons).optional(),
  corpusId: z.string().regex(/^\d{1,18}$/, "must be a numeric id").optional(),
  /** Keyset paging: documents after this id. */
  after: z.string().regex(/^\d{1,18}$/, "must be a numeric id").default("0"),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});
export type ReportQuery = z.infer<typeof reportQuerySchema>;

export type ReportRow = {
  documentId: string;
  corpusId: string;
  corpus: string;
  file: string;
  line: number;
  title: string | null;
  chars: number;
  /** After review: the reviewer's decision where there is one, else the filter's verdict. */
  final: string;
  /** The filter's verdict and reason. */
  verdict: string;
  reason: string | null;
  decision: string | null;
  category: string | null;
  duplicateOf: string | null;
  similarity: number | null;
  language: string | null;
  languageConfidence: number | null;
  hits: Array<Record<string, unknown>>;
  redacted: boolean;
};

/** One page of the per-document report, in document order. */
export async function cleaningReport(db: Db, jobId: string, query: ReportQuery): Promise<{ rows: ReportRow[]; next: string | null }> {
  let q = db
    .selectFrom("cleaning_verdicts as v")
    .innerJoin("corpus_documents as d", "d.id", "v.document_id")
    .innerJoin("corpora as c", "c.id", "d.corpus_id")
    .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "v.job_id").onRef("r.document_id", "=", "v.document_id"))
    .select([
      "v.document_id", "d.corpus_id", "c.name as corpus", "d.file_name", "d.line", "d.title", "d.chars", finalVerdict.as("final"), "v.verdict", "v.reason",
      "r.decision", "r.category", "v.duplicate_of", "v.similarity", "v.language", "v.language_confidence", "v.hits",
      sql<boolean>`(v.redacted_text is not null or r.decision = 'redact')`.as("redacted"),
    ])
    .where("v.job_id", "=", jobId)
    .where("v.document_id", ">", query.after);
  if (query.verdict) q = q.where(finalVerdict, "=", query.verdict);
  if (query.reason) q = q.where("v.reason", "=", query.reason);
  if (query.corpusId) q = q.where("d.corpus_id", "=", query.corpusId);
  const rows = await q.orderBy("v.document_id").limit(query.limit + 1).execute();
  const page = rows.slice(0, query.limit).map((r) => ({
    documentId: r.document_id, corpusId: r.corpus_id, corpus: r.corpus, file: r.file_name, line: r.line, title: r.title, chars: r.chars, final: r.final, verdict: r.verdict,
    reason: r.reason, decision: r.decision, category: r.category, duplicateOf: r.duplicate_of, similarity: r.similarity, language: r.language, languageConfidence: r.language_confidence, hits: r.hits, redacted: r.redacted,
  }));
  return { rows: page, next: rows.length > query.limit ? (page.at(-1)?.documentId ?? null) : null };
}

/**
 * Document and character counts per corpus, final verdict (after review) and the filter's reason, from the verdicts
 * themselves (progress is the running tally of the filter alone).
 */
export async function cleaningSummary(db: Db, jobId: string) {
  const rows = await db
    .selectFrom("cleaning_verdicts as v")
    .innerJoin("corpus_documents as d", "d.id", "v.document_id")
    .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "v.job_id").onRef("r.document_id", "=", "v.document_id"))
    .select(["d.corpus_id", finalVerdict.as("verdict"), "v.reason", sql<string>`count(*)`.as("n"), sql<string>`sum(d.chars)`.as("chars")])
    .where("v.job_id", "=", jobId)
    .groupBy(["d.corpus_id", sql`2`, "v.reason"])
    .orderBy("d.corpus_id")
    .execute();
  return rows.map((r) => ({ corpusId: r.corpus_id, verdict: r.verdict, reason: r.reason, documents: Number(r.n), chars: Number(r.chars) }));
}

/**
 * The cleaned corpus: every document whose final verdict is kept, as JSONL ({id, corpus, title, text, metadata}), with
 * the PII redaction or the reviewer's redaction applied, page by page in document order.
 */
export async function* keptDocumentsJsonl(db: Db, jobId: string, quality?: { classifierId: string; threshold: number }): AsyncGenerator<string> {
  let after = "0";
  for (;;) {
    let query = db
      .selectFrom("cleaning_verdicts as v")
      .innerJoin("corpus_documents as d", "d.id", "v.document_id")
      .innerJoin("corpora as c", "c.id", "d.corpus_id")
      .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "v.job_id").onRef("r.document_id", "=", "v.document_id"))
      .select(["v.document_id", "c.name as corpus", "d.title", "d.metadata", cleanedText.as("text")])
      .where("v.job_id", "=", jobId)
      .where(finalVerdict, "=", "kept")
      .where("v.document_id", ">", after);
    if (quality) {
      // Only documents the quality classifier scores at or above the chosen threshold (decision 0041).
      query = query.where((eb) =>
        eb.exists(eb.selectFrom("quality_scores as q").select("q.document_id").whereRef("q.document_id", "=", "v.document_id").where("q.classifier_id", "=", quality.classifierId).where("q.score", ">=", quality.threshold)),
      );
    }
    const rows = await query.orderBy("v.document_id").limit(500).execute();
    if (rows.length > 0) yield rows.map((r) => JSON.stringify({ id: r.document_id, corpus: r.corpus, title: r.title, text: r.text, metadata: r.metadata })).join("\n") + "\n";
    if (rows.length < 500) return;
    after = rows.at(-1)!.document_id;
  }
}

/** The whole report as JSONL, page by page (memory holds one page). */
export async function* cleaningReportJsonl(db: Db, jobId: string): AsyncGenerator<string> {
  let after = "0";
  for (;;) {
    const { rows, next } = await cleaningReport(db, jobId, { after, limit: 1_000 });
    if (rows.length > 0) yield rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
    if (!next) return;
    after = next;
  }
}
