/** The researcher's API for synthetic Q&A: documents, the prompt template, generation runs. */
import { z } from "zod";
import { getProject } from "../../labeling/projects.server.ts";
import { endpoint, type AnyEndpoint } from "../../api/endpoint.server.ts";
import { documentUploadSchema } from "./document-upload.ts";
import { deleteDocument, failedChunks, getDocument, listChunks, listDocuments, uploadDocuments } from "./documents.server.ts";
import { generatorOptions, generatorSourceSchema, resolveGenerator } from "./qa-generators.server.ts";
import { cancelQaRun, getQaRun, listQaRuns, runOptionsSchema, startQaRun } from "./qa-runs.server.ts";
import { DEFAULT_QA_TEMPLATE, qaTemplateInputSchema, TEMPLATE_PLACEHOLDERS } from "./qa-template.ts";
import { getQaTemplate, saveQaTemplate } from "./qa-templates.server.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const json = z.record(z.string(), z.unknown());

export const qaEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "post",
    path: "/projects/:id/documents",
    summary: "Upload documents (plain text, markdown, or JSONL with one {title, text} per line) for synthetic Q&A; all-or-nothing, problems named by file and line",
    access: "researcher",
    params: idParams,
    body: documentUploadSchema,
    response: json,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      const project = await getProject(ctx.db, params.id);
      return uploadDocuments(ctx.db, actor!.user.id, project.id, body);
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/documents",
    summary: "The project's documents with their chunks' generation states",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => listDocuments(ctx.db, (await getProject(ctx.db, params.id)).id),
  }),
  endpoint({
    method: "get",
    path: "/documents/:id/chunks",
    project: "document",
    summary: "A document's chunks: text, heading path, last generation's state, error and pair count",
    access: "researcher",
    params: idParams,
    response: z.object({ document: json, chunks: z.array(json) }),
    handler: async ({ ctx, params }) => ({ document: await getDocument(ctx.db, params.id), chunks: await listChunks(ctx.db, params.id) }),
  }),
  endpoint({
    method: "delete",
    path: "/documents/:id",
    project: "document",
    summary: "Delete a document and its chunks (the Q&A generated from it stays)",
    access: "researcher",
    params: idParams,
    response: z.undefined(),
    status: 204,
    handler: async ({ ctx, params, actor }) => {
      await deleteDocument(ctx.db, actor!.user.id, params.id);
      return undefined;
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/document-errors",
    summary: "Chunks whose last generation failed, with the reason (generator error, unreadable output)",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => failedChunks(ctx.db, (await getProject(ctx.db, params.id)).id),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/qa-template",
    summary: "The project's Q&A prompt template (the default until one is saved) and pairs per chunk",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => ({
      ...(await getQaTemplate(ctx.db, (await getProject(ctx.db, params.id)).id)),
      defaultTemplate: DEFAULT_QA_TEMPLATE,
      placeholders: [...TEMPLATE_PLACEHOLDERS],
    }),
  }),
  endpoint({
    method: "put",
    path: "/projects/:id/qa-template",
    summary: "Save the Q&A prompt template; placeholders {{document_title}}, {{chunk}} (required) and {{n}}; anything else is refused by line",
    access: "researcher",
    params: idParams,
    body: qaTemplateInputSchema,
    response: json,
    handler: async ({ ctx, params, body, actor }) => saveQaTemplate(ctx.db, actor!.user.id, (await getProject(ctx.db, params.id)).id, body),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/qa-generators",
    summary: "What can generate the Q&A: the registered policies (and the project's external endpoints)",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => generatorOptions(ctx.db, (await getProject(ctx.db, params.id)).id),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/qa-runs",
    summary: "Start generating Q&A for review from the pending and failed chunks (background; one run per project at a time)",
    access: "researcher",
    params: idParams,
    body: runOptionsSchema.extend({ generator: generatorSourceSchema }),
    response: json,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      const project = await getProject(ctx.db, params.id);
      const { generator: source, ...options } = body;
      const generator = await resolveGenerator(ctx, project.id, source);
      return startQaRun(ctx, actor!.user.id, project, { source, generator, options });
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/qa-runs",
    summary: "The project's Q&A generation runs with their progress, newest first",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => listQaRuns(ctx.db, (await getProject(ctx.db, params.id)).id),
  }),
  endpoint({
    method: "get",
    path: "/qa-runs/:id",
    project: "qa_run",
    summary: "One Q&A generation run: state and progress",
    access: "researcher",
    params: idParams,
    response: json,
    handler: ({ ctx, params }) => getQaRun(ctx.db, params.id),
  }),
  endpoint({
    method: "post",
    path: "/qa-runs/:id/cancel",
    project: "qa_run",
    summary: "Cancel a running Q&A generation; the chunk in flight goes back to pending",
    access: "researcher",
    params: idParams,
    response: json,
    handler: ({ ctx, params, actor }) => cancelQaRun(ctx.db, actor!.user.id, params.id),
  }),
];
