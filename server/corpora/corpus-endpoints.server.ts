/**
 * The researcher's API for pre-training corpora (issue 17): sources, their files, cleaning jobs and reports.
 * runEndpoint checks the caller's access to the project each path names (its `project:` scope) before a handler runs.
 */
import { z } from "zod";
import { endpoint, type AnyEndpoint } from "../api/endpoint.server.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { getProject } from "../labeling/projects.server.ts";
import { AppError } from "../lib/app-error.ts";
import { parseSize } from "../lib/size.ts";
import { cleaningSettingsSchema } from "./cleaning-settings.ts";
import {
  cancelCleaningJob,
  cleaningReport,
  cleaningReportJsonl,
  cleaningSummary,
  createCleaningJob,
  getCleaningJob,
  keptDocumentsJsonl,
  listCleaningJobs,
  reportQuerySchema,
  resumeCleaningJob,
} from "./cleaning-jobs.server.ts";
import {
  corpusInputSchema,
  corpusPathInputSchema,
  createCorpus,
  deleteCorpus,
  getCorpus,
  listCorpora,
  listCorpusIssues,
  registerCorpusPath,
  uploadCorpusFile,
  uploadQuerySchema,
} from "./corpora.server.ts";

import { claimNextReview, decideReview, getReview, reviewQueue } from "./corpus-review.server.ts";
import { claimNextRating, createRatingSample, getOwnRating, ratingSummary, submitRating } from "./corpus-ratings.server.ts";
import { ratingSampleSchema, ratingScoreSchema, reviewDecisionSchema } from "./review-scale.ts";
import { chooseThreshold, getClassifier, listClassifiers, samplesAt, thresholdCurve, thresholdSchema, trainClassifier, trainClassifierSchema } from "./quality-classifier.server.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const json = z.record(z.string(), z.unknown());

export const corpusEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/corpora",
    summary: "The project's source corpora: name, license, provenance, documents, bytes and reading problems",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => listCorpora(ctx.db, params.id),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/corpora",
    summary: "Make an empty corpus for uploads: a unique name, its license and a provenance note",
    access: "researcher",
    params: idParams,
    body: corpusInputSchema,
    response: json,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => createCorpus(ctx.db, actor!, params.id, body),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/corpora/register",
    summary: "Register a corpus from a file or folder under TANDEM_CORPUS_DIR on the server and read it (streamed); reading problems named by file and line",
    access: "researcher",
    params: idParams,
    body: corpusPathInputSchema,
    response: json,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => registerCorpusPath(ctx.db, ctx.config, actor!, params.id, body),
  }),
  endpoint({
    method: "get",
    path: "/corpora/:id",
    project: "corpus",
    summary: "A corpus and the problems found reading its files (file, line, message; the first 500)",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      const corpus = await getCorpus(ctx.db, params.id);
      return { ...corpus, problems: await listCorpusIssues(ctx.db, corpus.id) };
    },
  }),
  endpoint({
    method: "post",
    path: "/corpora/:id/files",
    project: "corpus",
    summary:
      "Add one file to an uploaded corpus: the request body (application/octet-stream) is streamed, never held whole; ?name= names the file, ?format=auto|text|markdown|jsonl. Text files split into documents at <|endoftext|> lines",
    access: "researcher",
    params: idParams,
    query: uploadQuerySchema,
    body: z.any(),
    upload: true,
    response: json,
    status: 201,
    handler: async ({ ctx, params, query, actor, request }) => {
      const corpus = await getCorpus(ctx.db, params.id);
      if (!request!.is("application/octet-stream")) throw new AppError("unsupported_media_type", "Send the file as application/octet-stream.");
      const file = query as z.infer<typeof uploadQuerySchema>;
      const maxBytes = parseSize(ctx.config.TANDEM_CORPUS_UPLOAD_LIMIT);
      return uploadCorpusFile(ctx.db, actor!, corpus, request!, { name: file.name, format: file.format, maxBytes });
    },
  }),
  endpoint({
    method: "delete",
    path: "/corpora/:id",
    project: "corpus",
    summary: "Delete a corpus, its documents and its verdicts; refused while a round uses it or a cleaning job reads it",
    access: "researcher",
    params: idParams,
    response: z.undefined(),
    status: 204,
    handler: async ({ ctx, params, actor }) => {
      const corpus = await getCorpus(ctx.db, params.id);
      await deleteCorpus(ctx.db, actor!, corpus);
      return undefined;
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/cleaning-jobs",
    summary:
      "Start cleaning corpora in the background: length and language filters, exact and near-duplicate removal across them (in the order given), the project's content filter and PII handling",
    access: "researcher",
    params: idParams,
    body: cleaningSettingsSchema,
    response: json,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      const project = await getProject(ctx.db, params.id);
      const job = await createCleaningJob(ctx.db, actor!, project.id, body);
      ctx.cleaning.kick();
      return job;
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/cleaning-jobs",
    summary: "The project's cleaning jobs, newest first, with their progress",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => listCleaningJobs(ctx.db, params.id),
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id",
    project: "cleaning_job",
    summary: "A cleaning job: settings, state, progress, and documents and characters by corpus, verdict and reason",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      return { ...job, summary: await cleaningSummary(ctx.db, job.id) };
    },
  }),
  endpoint({
    method: "post",
    path: "/cleaning-jobs/:id/cancel",
    project: "cleaning_job",
    summary: "Stop a queued or running cleaning job; its verdicts so far stay and it can be resumed",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params, actor }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      const cancelled = await cancelCleaningJob(ctx.db, actor!, job);
      ctx.cleaning.abortLocal(job.id);
      return cancelled;
    },
  }),
  endpoint({
    method: "post",
    path: "/cleaning-jobs/:id/resume",
    project: "cleaning_job",
    summary: "Queue a cancelled or failed cleaning job again; it goes on after the last document it judged",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params, actor }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      const resumed = await resumeCleaningJob(ctx.db, actor!, job);
      ctx.cleaning.kick();
      return resumed;
    },
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id/report",
    project: "cleaning_job",
    summary: "The per-document report, a page at a time (after=<document id>): kept, dropped or flagged, the reason, the duplicate's original and similarity, language, filter hits",
    access: "researcher",
    params: idParams,
    query: reportQuerySchema,
    response: json,
    handler: async ({ ctx, params, query }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      return cleaningReport(ctx.db, job.id, query as z.infer<typeof reportQuerySchema>);
    },
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id/report.jsonl",
    project: "cleaning_job",
    summary: "The whole per-document report as JSONL, streamed",
    access: "researcher",
    params: idParams,
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string }) => `cleaning-job-${p.id}-report.jsonl` },
    handler: async ({ ctx, params }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      // Exports say who took what, as every other export does.
      await recordAudit(ctx.db, { actor: ctx.actor, action: "export.cleaning_report", target: `project:${job.projectId}`, details: { jobId: job.id } });
      return cleaningReportJsonl(ctx.db, job.id);
    },
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id/kept.jsonl",
    project: "cleaning_job",
    summary:
      "The cleaned corpus: every document kept after filters and review, with PII and reviewers' redactions applied, as JSONL, streamed; ?classifier=<id> keeps only documents at or above that quality classifier's chosen threshold",
    access: "researcher",
    params: idParams,
    query: z.object({ classifier: z.string().regex(/^\d{1,18}$/, "must be a numeric id").optional() }),
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string }) => `cleaning-job-${p.id}-kept.jsonl` },
    handler: async ({ ctx, params, query }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      const classifierId = (query as { classifier?: string }).classifier;
      const audit = (details: Record<string, unknown>) => recordAudit(ctx.db, { actor: ctx.actor, action: "export.cleaned_corpus", target: `project:${job.projectId}`, details: { jobId: job.id, ...details } });
      if (!classifierId) {
        await audit({});
        return keptDocumentsJsonl(ctx.db, job.id);
      }
      const classifier = await getClassifier(ctx.db, classifierId);
      if (classifier.jobId !== job.id) throw new AppError("validation_failed", "The classifier belongs to another cleaning job.", [{ path: "classifier", message: "not trained on this job" }]);
      if (classifier.threshold === null) throw new AppError("conflict", "Choose the classifier's threshold first.", [{ path: "classifier", message: "no threshold chosen" }]);
      await audit({ classifierId: classifier.id, threshold: classifier.threshold });
      return keptDocumentsJsonl(ctx.db, job.id, { classifierId: classifier.id, threshold: classifier.threshold });
    },
  }),
  // --- people in the cleaning loop (decision 0040) ---
  endpoint({
    method: "get",
    path: "/projects/:id/corpus-reviews",
    summary: "The review queue of flagged documents (state=open, the default, or decided), with open and decided counts",
    access: "reviewer",
    params: idParams,
    query: z.object({ state: z.enum(["open", "decided"]).default("open") }),
    response: json,
    handler: async ({ ctx, params, query }) => reviewQueue(ctx.db, params.id, (query as { state: "open" | "decided" }).state),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/corpus-reviews/next",
    summary: "Take the next flagged document to review (or the one you hold); null when the queue is empty",
    access: "reviewer",
    params: idParams,
    response: json.nullable(),
    handler: async ({ ctx, params, actor }) => claimNextReview(ctx.db, actor!.user.id, params.id),
  }),
  endpoint({
    method: "get",
    path: "/corpus-reviews/:id",
    project: "corpus_review",
    summary: "A flagged document with the filter's hits and, once decided, the decision",
    access: "reviewer",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      const review = await getReview(ctx.db, params.id);
      return review;
    },
  }),
  endpoint({
    method: "post",
    path: "/corpus-reviews/:id/decide",
    project: "corpus_review",
    summary: "Keep, drop or redact a flagged document (drop and redact name a category); the decision overrides the filter's verdict",
    access: "reviewer",
    params: idParams,
    body: reviewDecisionSchema,
    response: json,
    handler: async ({ ctx, params, body, actor }) => {
      const review = await getReview(ctx.db, params.id);
      return decideReview(ctx.db, actor!, review, body);
    },
  }),
  endpoint({
    method: "post",
    path: "/cleaning-jobs/:id/rating-tasks",
    project: "cleaning_job",
    summary: "Send a seeded sample of the job's kept documents to quality rating (1–5), each to `overlap` different people",
    access: "researcher",
    params: idParams,
    body: ratingSampleSchema,
    response: json,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      return createRatingSample(ctx.db, actor!, job, body);
    },
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id/ratings",
    project: "cleaning_job",
    summary: "The job's quality ratings: tasks, ratings, score histogram, mean, and Krippendorff's alpha (ordinal and interval)",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      return ratingSummary(ctx.db, job.id);
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/corpus-ratings/next",
    summary: "Take the next document to rate for quality (or the one you hold); null when none needs you",
    access: "labeler",
    params: idParams,
    response: json.nullable(),
    handler: async ({ ctx, params, actor }) => claimNextRating(ctx.db, actor!.user.id, params.id),
  }),
  endpoint({
    method: "get",
    path: "/corpus-ratings/:id",
    project: "corpus_rating",
    summary: "One of your quality ratings: the document and your score",
    access: "labeler",
    params: idParams,
    response: json,
    handler: async ({ ctx, params, actor }) => {
      const rating = await getOwnRating(ctx.db, actor!, params.id);
      return rating;
    },
  }),
  endpoint({
    method: "post",
    path: "/corpus-ratings/:id/submit",
    project: "corpus_rating",
    summary: "Submit your 1–5 quality score for the document",
    access: "labeler",
    params: idParams,
    body: ratingScoreSchema,
    response: json,
    handler: async ({ ctx, params, body, actor }) => {
      const rating = await getOwnRating(ctx.db, actor!, params.id);
      return submitRating(ctx.db, actor!, rating, body.score);
    },
  }),
  // --- the quality classifier (decision 0041) ---
  endpoint({
    method: "post",
    path: "/cleaning-jobs/:id/quality-classifiers",
    project: "cleaning_job",
    summary: "Train a quality classifier (ridge regression on hashed word n-grams) from the job's ratings, measure it on held-out documents against the raters' agreement, and score every kept document",
    access: "researcher",
    params: idParams,
    body: trainClassifierSchema,
    response: json,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      return trainClassifier(ctx.db, actor!, job, body);
    },
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id/quality-classifiers",
    project: "cleaning_job",
    summary: "The job's quality classifiers with their held-out metrics, newest first",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      return listClassifiers(ctx.db, job.id);
    },
  }),
  endpoint({
    method: "get",
    path: "/quality-classifiers/:id",
    project: "quality_classifier",
    summary: "A quality classifier: settings, held-out metrics, chosen threshold, and the curve of kept documents and words vs. predicted quality",
    access: "researcher",
    params: idParams,
    query: z.object({ points: z.coerce.number().int().min(2).max(100).default(20) }),
    response: json,
    handler: async ({ ctx, params, query }) => {
      const classifier = await getClassifier(ctx.db, params.id);
      return { ...classifier, curve: await thresholdCurve(ctx.db, classifier.id, (query as { points: number }).points) };
    },
  }),
  endpoint({
    method: "get",
    path: "/quality-classifiers/:id/samples",
    project: "quality_classifier",
    summary: "The documents just at or above a predicted-quality threshold, to read before choosing it",
    access: "researcher",
    params: idParams,
    query: z.object({ threshold: z.coerce.number().min(-10).max(15), limit: z.coerce.number().int().min(1).max(50).default(5) }),
    response: z.array(json),
    handler: async ({ ctx, params, query }) => {
      const classifier = await getClassifier(ctx.db, params.id);
      const q = query as { threshold: number; limit: number };
      return samplesAt(ctx.db, classifier, q.threshold, q.limit);
    },
  }),
  endpoint({
    method: "put",
    path: "/quality-classifiers/:id/threshold",
    project: "quality_classifier",
    summary: "Choose the predicted-quality threshold: kept.jsonl?classifier=<id> then keeps only documents at or above it",
    access: "researcher",
    params: idParams,
    body: thresholdSchema,
    response: json,
    handler: async ({ ctx, params, body, actor }) => {
      const classifier = await getClassifier(ctx.db, params.id);
      return chooseThreshold(ctx.db, actor!, classifier, body.threshold);
    },
  }),
];
