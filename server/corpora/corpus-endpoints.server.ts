/**
 * The researcher's API for pre-training corpora (issue 17): sources, their files, cleaning jobs and reports.
 * Every endpoint loads its project through getProject once (the one place a project-level access check goes).
 */
import { z } from "zod";
import { endpoint, type AnyEndpoint } from "../api/endpoint.server.ts";
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
    handler: async ({ ctx, params }) => listCorpora(ctx.db, (await getProject(ctx.db, params.id)).id),
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
    handler: async ({ ctx, params, body, actor }) => createCorpus(ctx.db, actor!, (await getProject(ctx.db, params.id)).id, body),
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
    handler: async ({ ctx, params, body, actor }) => registerCorpusPath(ctx.db, ctx.config, actor!, (await getProject(ctx.db, params.id)).id, body),
  }),
  endpoint({
    method: "get",
    path: "/corpora/:id",
    summary: "A corpus and the problems found reading its files (file, line, message; the first 500)",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      const corpus = await getCorpus(ctx.db, params.id);
      await getProject(ctx.db, corpus.projectId);
      return { ...corpus, problems: await listCorpusIssues(ctx.db, corpus.id) };
    },
  }),
  endpoint({
    method: "post",
    path: "/corpora/:id/files",
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
      await getProject(ctx.db, corpus.projectId);
      if (!request!.is("application/octet-stream")) throw new AppError("unsupported_media_type", "Send the file as application/octet-stream.");
      const file = query as z.infer<typeof uploadQuerySchema>;
      const maxBytes = parseSize(ctx.config.TANDEM_CORPUS_UPLOAD_LIMIT);
      return uploadCorpusFile(ctx.db, actor!, corpus, request!, { name: file.name, format: file.format, maxBytes });
    },
  }),
  endpoint({
    method: "delete",
    path: "/corpora/:id",
    summary: "Delete a corpus, its documents and its verdicts; refused while a round uses it or a cleaning job reads it",
    access: "researcher",
    params: idParams,
    response: z.undefined(),
    status: 204,
    handler: async ({ ctx, params, actor }) => {
      const corpus = await getCorpus(ctx.db, params.id);
      await getProject(ctx.db, corpus.projectId);
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
    handler: async ({ ctx, params }) => listCleaningJobs(ctx.db, (await getProject(ctx.db, params.id)).id),
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id",
    summary: "A cleaning job: settings, state, progress, and documents and characters by corpus, verdict and reason",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      await getProject(ctx.db, job.projectId);
      return { ...job, summary: await cleaningSummary(ctx.db, job.id) };
    },
  }),
  endpoint({
    method: "post",
    path: "/cleaning-jobs/:id/cancel",
    summary: "Stop a queued or running cleaning job; its verdicts so far stay and it can be resumed",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params, actor }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      await getProject(ctx.db, job.projectId);
      const cancelled = await cancelCleaningJob(ctx.db, actor!, job);
      ctx.cleaning.abortLocal(job.id);
      return cancelled;
    },
  }),
  endpoint({
    method: "post",
    path: "/cleaning-jobs/:id/resume",
    summary: "Queue a cancelled or failed cleaning job again; it goes on after the last document it judged",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params, actor }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      await getProject(ctx.db, job.projectId);
      const resumed = await resumeCleaningJob(ctx.db, actor!, job);
      ctx.cleaning.kick();
      return resumed;
    },
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id/report",
    summary: "The per-document report, a page at a time (after=<document id>): kept, dropped or flagged, the reason, the duplicate's original and similarity, language, filter hits",
    access: "researcher",
    params: idParams,
    query: reportQuerySchema,
    response: json,
    handler: async ({ ctx, params, query }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      await getProject(ctx.db, job.projectId);
      return cleaningReport(ctx.db, job.id, query as z.infer<typeof reportQuerySchema>);
    },
  }),
  endpoint({
    method: "get",
    path: "/cleaning-jobs/:id/report.jsonl",
    summary: "The whole per-document report as JSONL, streamed",
    access: "researcher",
    params: idParams,
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string }) => `cleaning-job-${p.id}-report.jsonl` },
    handler: async ({ ctx, params }) => {
      const job = await getCleaningJob(ctx.db, params.id);
      await getProject(ctx.db, job.projectId);
      return cleaningReportJsonl(ctx.db, job.id);
    },
  }),
];
