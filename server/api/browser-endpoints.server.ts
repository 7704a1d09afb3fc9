import { z } from "zod";
import { browsePrompts, browseQuerySchema, exclusionSchema, promptHistory, setExclusion } from "../labeling/browser.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

const projectParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const json = z.record(z.string(), z.unknown());

/**
 * The data browser's API (decision 0032). Reviewers and researchers of the project browse;
 * researchers change what trains (exclusion). Membership is checked by runEndpoint, as for every
 * /projects/:id endpoint.
 */
export const browserEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/prompts",
    summary:
      "Browse a project's prompts: substring search (q), filters (source, status, kind, taskType, taskState, round, labeler, gold, heldOut, excluded, from, to), " +
      "newest or oldest first, keyset pages (pass next as after)",
    access: "reviewer",
    params: projectParams,
    query: browseQuerySchema,
    response: z.object({ items: z.array(json), next: z.string().nullable() }),
    handler: ({ ctx, params, query }) => browsePrompts(ctx.db, params.id, query),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/prompts/:promptId",
    summary: "One prompt's history: completions, tasks, who was shown it and when, each submission, exclusions, and the rounds whose data included its labels",
    access: "reviewer",
    params: z.object({ id: projectParams.shape.id, promptId: projectParams.shape.id }),
    response: json,
    handler: ({ ctx, params }) => promptHistory(ctx.db, params.id, params.promptId),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/exclusions",
    summary:
      "Exclude prompts from training (or take them back) by ids or by a browser filter. Without confirm: only the count. With confirm equal to that count: " +
      "the change, in one transaction, audited; a count that moved is refused (409)",
    access: "researcher",
    params: projectParams,
    body: exclusionSchema,
    response: z.object({ count: z.number().int(), applied: z.boolean() }),
    handler: ({ ctx, params, body, actor }) => setExclusion(ctx.db, actor!, params.id, body),
  }),
];
