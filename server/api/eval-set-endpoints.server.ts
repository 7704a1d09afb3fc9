import { z } from "zod";
import { getProject } from "../labeling/projects.server.ts";
import { changeEvalSet, evalSetChangeSchema, evalSetSummary } from "../labeling/eval-set.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

const projectParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });

const summarySchema = z.object({
  count: z.number(),
  withReference: z.number().nullable(),
  labeled: z.number(),
  prompts: z.array(z.object({ id: z.string(), text: z.string(), metadata: z.record(z.string(), z.unknown()) })),
});

/** The held-out eval set of a project (issue #11): every round is scored on it, nothing trains on it. */
export const evalSetEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/eval-set",
    summary: "The project's held-out eval set: its size, how many prompts carry the checker's reference, and the first prompts",
    access: ["researcher", "trainer"],
    params: projectParams,
    response: summarySchema,
    handler: async ({ ctx, params }) => evalSetSummary(ctx.db, await getProject(ctx.db, params.id)),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/eval-set",
    summary: "Add prompts to the eval set, remove them, or hold out a seeded random sample of the unlabeled prompts (their open tasks close)",
    access: "researcher",
    params: projectParams,
    body: evalSetChangeSchema,
    response: summarySchema.extend({ added: z.number(), removed: z.number() }),
    handler: async ({ ctx, params, body, actor }) => changeEvalSet(ctx.db, actor!.user.id, await getProject(ctx.db, params.id), body),
  }),
];
