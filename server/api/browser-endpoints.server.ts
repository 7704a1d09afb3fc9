import { z } from "zod";
import { browsePrompts, browseQuerySchema, exclusionSchema, promptHistory, setExclusion } from "../labeling/browser.server.ts";
import { browseSubmissions, browseTasks, requeueSchema, requeueTasks, submissionBrowseSchema, taskBrowseSchema } from "../labeling/browser-items.server.ts";
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
  endpoint({
    method: "get",
    path: "/projects/:id/tasks",
    summary:
      "Browse a project's tasks: filters (type, state, round, gold, prompt, minAgreement, maxAgreement, disputed: agreement below the project's adaptive-overlap threshold), " +
      "newest or oldest first, keyset pages (pass next as after; an agreement-filtered page may be short while next is not null)",
    access: "reviewer",
    params: projectParams,
    query: taskBrowseSchema,
    response: z.object({ items: z.array(json), next: z.string().nullable(), disputedBelow: z.number() }),
    handler: ({ ctx, params, query }) => browseTasks(ctx.db, params.id, query),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/submissions",
    summary:
      "Browse a project's submissions: filters (labeler, taskType, task, from, to, review: none|open|accept|override|send_back, gold, excluded, suggestionRevealed), " +
      "newest or oldest first, keyset pages (pass next as after)",
    access: "reviewer",
    params: projectParams,
    query: submissionBrowseSchema,
    response: z.object({ items: z.array(json), next: z.string().nullable() }),
    handler: ({ ctx, params, query }) => browseSubmissions(ctx.db, params.id, query),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/requeue",
    summary:
      "Re-queue tasks with more overlap: overlap_target + add, complete tasks open again. Without confirm: only the count (and how many reopen). " +
      "With confirm equal to that count: the change, in one transaction, audited; a count that moved is refused (409)",
    access: "researcher",
    params: projectParams,
    body: requeueSchema,
    response: z.object({ count: z.number().int(), reopened: z.number().int(), applied: z.boolean() }),
    handler: ({ ctx, params, body, actor }) => requeueTasks(ctx.db, actor!, params.id, body),
  }),
];
