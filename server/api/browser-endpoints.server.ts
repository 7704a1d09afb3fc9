import { z } from "zod";
import { browsePrompts, browseQuerySchema, exclusionSchema, promptHistory, setExclusion } from "../labeling/browser.server.ts";
import { browseSubmissions, browseTasks, requeueSchema, requeueTasks, submissionBrowseSchema, taskBrowseSchema } from "../labeling/browser-items.server.ts";
import { exportSelection, selectionExportSchema } from "../labeling/browser-export.server.ts";
import { browserSendBackSchema, sendBackFromBrowser } from "../labeling/browser-send-back.server.ts";
import { publishCounters } from "../labeling/live-counters.server.ts";
import { moveToReview, reviewMoveSchema } from "../labeling/prompt-review.server.ts";
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
      "Browse a project's prompts: substring search (q), filters (source, status, kind, taskType, taskState, round, labeler, gold, heldOut, excluded, from, to, " +
      "flag: a labeler's flag or any, model: a completion's model, minQuality/maxQuality: the mean quality score labelers gave), " +
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
      "Browse a project's tasks: substring search of the prompt (q), filters (type, state, round, gold, prompt, minAgreement, maxAgreement, disputed: agreement below the project's adaptive-overlap threshold), " +
      "newest or oldest first, keyset pages (pass next as after)",
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
      "Browse a project's submissions: substring search of the prompt, the reply or the rationale (q), filters (labeler, taskType, task, from, to, review: none|open|accept|override|send_back, gold, excluded, suggestionRevealed), " +
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
      "Re-queue tasks with more overlap, by taskIds or by a task filter (its cancelled and redo tasks left out): overlap_target + add, complete tasks open again. Without confirm: only the count (and how many reopen). " +
      "With confirm equal to that count: the change, in one transaction, audited; a count that moved is refused (409)",
    access: "researcher",
    params: projectParams,
    body: requeueSchema,
    response: z.object({ count: z.number().int(), reopened: z.number().int(), applied: z.boolean() }),
    handler: async ({ ctx, params, body, actor }) => {
      const result = await requeueTasks(ctx.db, actor!, params.id, body);
      if (result.applied) void publishCounters(ctx, params.id);
      return result;
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/review-moves",
    summary:
      "Move prompts to review (toReview: true; reviewers get each as a held-back prompt, its open labeling tasks wait) or back to the labelers (false), by promptIds or a browser filter. " +
      "Without confirm: only the count of prompts that change. With confirm equal to it: the change, in one transaction, audited; a count that moved is refused (409)",
    access: "researcher",
    params: projectParams,
    body: reviewMoveSchema,
    response: z.object({ count: z.number().int(), applied: z.boolean() }),
    handler: async ({ ctx, params, body, actor }) => {
      const result = await moveToReview(ctx.db, actor!, params.id, body);
      if (result.applied) void publishCounters(ctx, params.id);
      return result;
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/exports/selection/count",
    summary: "How many prompts a data-browser selection (promptIds or a browser filter) holds: the count to confirm when exporting it",
    access: "researcher",
    params: projectParams,
    body: selectionExportSchema,
    response: z.object({ count: z.number().int() }),
    handler: async ({ ctx, params, body }) => ({ count: (await exportSelection(ctx.db, null, params.id, { ...body, confirm: undefined })).count }),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/exports/selection",
    summary:
      "Export a data-browser selection (promptIds or a browser filter) as any export writes it: dataset preferences|sft|unpaired|prompts in format trl|openrlhf|verl|hf, " +
      "preferences as parquet, rankings as raw; options as the export's query string takes them. confirm: the count from /exports/selection/count (409 if it moved). Audited",
    access: "researcher",
    params: projectParams,
    body: selectionExportSchema.refine((b) => b.confirm !== undefined, { path: ["confirm"], message: "count first (POST …/exports/selection/count), then send that count" }),
    download: { contentTypes: ["application/x-ndjson; charset=utf-8", "application/vnd.apache.parquet", "application/zip"] },
    response: z.any(),
    handler: async ({ ctx, params, body, actor }) => (await exportSelection(ctx.db, actor, params.id, body)).download!,
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/submissions/:submissionId/send-back",
    summary:
      "Send a labeler's ranking or demonstration back from the data browser with a comment: the annotation review's send-back (the labeler gets a redo task that starts from what they submitted), once per submission",
    access: "reviewer",
    params: z.object({ id: projectParams.shape.id, submissionId: projectParams.shape.id }),
    body: browserSendBackSchema,
    response: json,
    handler: async ({ ctx, params, body, actor }) => sendBackFromBrowser(ctx.db, actor!, params.id, params.submissionId, body),
  }),
];
