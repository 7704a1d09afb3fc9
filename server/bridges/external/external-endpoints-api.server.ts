/**
 * /api/v1 endpoints for external models (researchers): a project's OpenAI-compatible endpoints
 * (the API key is write-only), a connection test, and generation runs with their per-request errors.
 */
import { z } from "zod";
import { recordAudit } from "../../auth/audit.server.ts";
import { getProject } from "../../labeling/projects.server.ts";
import { endpoint, type AnyEndpoint } from "../../api/endpoint.server.ts";
import { createEndpoint, deleteEndpoint, endpointConnection, endpointInputSchema, endpointPatchSchema, getEndpoint, listEndpoints, publicEndpointSchema, updateEndpoint } from "./endpoints.server.ts";
import { cancelGenerationRun, createGenerationRun, generationRunDetail, generationRunInputSchema, listGenerationRuns, publicRunSchema } from "./generation-runs.server.ts";
import { testConnection } from "./test-connection.server.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const testResultSchema = z.object({
  ok: z.boolean(),
  latencyMs: z.number(),
  model: z.string().nullable(),
  sample: z.string().nullable(),
  error: z.object({ kind: z.string(), status: z.number().nullable(), message: z.string() }).nullable(),
});
const runDetailSchema = publicRunSchema.extend({
  errors: z.array(z.object({ id: z.string(), promptId: z.string().nullable(), source: z.string(), kind: z.string(), status: z.number().nullable(), attempts: z.number(), message: z.string(), at: z.string() })),
});

export const externalModelEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/external-endpoints",
    summary: "The project's OpenAI-compatible endpoints (API keys are never returned: hasApiKey and a 4-character hint)",
    access: "researcher",
    params: idParams,
    response: z.array(publicEndpointSchema),
    handler: async ({ ctx, params }) => {
      await getProject(ctx.db, params.id);
      return listEndpoints(ctx.db, params.id);
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/external-endpoints",
    summary: "Register an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, TGI, a hosted API); the API key is stored encrypted",
    access: "researcher",
    params: idParams,
    body: endpointInputSchema,
    response: publicEndpointSchema,
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      await getProject(ctx.db, params.id);
      return createEndpoint(ctx.db, ctx.external.box, actor!.user.id, params.id, body);
    },
  }),
  endpoint({
    method: "get",
    path: "/external-endpoints/:id",
    project: "external_endpoint",
    summary: "One external endpoint",
    access: "researcher",
    params: idParams,
    response: publicEndpointSchema,
    handler: ({ ctx, params }) => getEndpoint(ctx.db, params.id),
  }),
  endpoint({
    method: "patch",
    path: "/external-endpoints/:id",
    project: "external_endpoint",
    summary: "Edit an endpoint; apiKey left out keeps the stored key, null removes it",
    access: "researcher",
    params: idParams,
    body: endpointPatchSchema,
    response: publicEndpointSchema,
    handler: ({ ctx, params, body, actor }) => updateEndpoint(ctx.db, ctx.external.box, actor!.user.id, params.id, body),
  }),
  endpoint({
    method: "delete",
    path: "/external-endpoints/:id",
    project: "external_endpoint",
    summary: "Remove an endpoint (completions it produced stay)",
    access: "researcher",
    params: idParams,
    response: z.undefined(),
    status: 204,
    handler: async ({ ctx, params, actor }) => {
      await deleteEndpoint(ctx.db, actor!.user.id, params.id);
      return undefined;
    },
  }),
  endpoint({
    method: "post",
    path: "/external-endpoints/:id/test",
    project: "external_endpoint",
    summary: "Send one short chat request (no retries) and report the answer or the error",
    access: "researcher",
    params: idParams,
    response: testResultSchema,
    handler: async ({ ctx, params }) => testConnection(await endpointConnection(ctx.db, ctx.external.box, params.id)),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/generation-runs",
    summary: "The project's generation runs (completions from external endpoints or policies), newest first",
    access: "researcher",
    params: idParams,
    response: z.array(publicRunSchema),
    handler: async ({ ctx, params }) => {
      await getProject(ctx.db, params.id);
      return listGenerationRuns(ctx.db, params.id);
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/generation-runs",
    summary: "Start a background run that fills ranking (or A/B compare) tasks for prompts from endpoints or registered policies",
    access: "researcher",
    params: idParams,
    body: generationRunInputSchema,
    response: z.object({ id: z.string(), prompts: z.number() }),
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      const project = await getProject(ctx.db, params.id);
      const run = await createGenerationRun(ctx.db, actor!.user.id, params.id, project.settings, body);
      await recordAudit(ctx.db, { actorUserId: actor!.user.id, action: "generation_run.start", target: `generation_run:${run.id}`, details: { projectId: params.id, kind: body.kind, prompts: run.prompts } });
      ctx.external.runner.kick();
      return run;
    },
  }),
  endpoint({
    method: "get",
    path: "/generation-runs/:id",
    project: "generation_run",
    summary: "A generation run: state, progress and every failed request (prompt, source, kind, status, attempts, message)",
    access: "researcher",
    params: idParams,
    response: runDetailSchema,
    handler: ({ ctx, params }) => generationRunDetail(ctx.db, params.id),
  }),
  endpoint({
    method: "post",
    path: "/generation-runs/:id/cancel",
    project: "generation_run",
    summary: "Cancel a queued or running generation run; tasks already made stay",
    access: "researcher",
    params: idParams,
    response: runDetailSchema,
    handler: async ({ ctx, params }) => {
      await cancelGenerationRun(ctx.db, params.id);
      ctx.external.runner.abortLocal(params.id);
      return generationRunDetail(ctx.db, params.id);
    },
  }),
];
