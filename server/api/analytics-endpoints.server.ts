import { z } from "zod";
import { hasRole } from "../auth/roles.ts";
import {
  analyticsRangeSchema,
  burndown,
  disputedItems,
  disputedQuerySchema,
  labelerAnalytics,
  resolveRange,
} from "../labeling/analytics.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

/**
 * Progress and analytics as JSON (issue 14 item 3, decision 0046); the analytics page's loader
 * calls the same functions. Membership is checked by runEndpoint. Reviewers and researchers of
 * the project see everyone; a labeler sees only their own row of the labeler figures.
 */
const projectParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });

const pooledRate = z.object({
  rate: z.number().nullable().describe("agreed / compared, pooled over every compared pair of completions; null when nothing was compared"),
  agreed: z.number().int(),
  compared: z.number().int(),
  comparisons: z.number().int(),
});
const rangeSchema = z.object({ from: z.string(), to: z.string(), days: z.array(z.string()).describe("Every day of the range, UTC") });

const labelerAnalyticsSchema = z
  .object({
    range: rangeSchema,
    labelers: z.array(
      z.object({
        labelerId: z.string(),
        name: z.string(),
        submissions: z.number().int(),
        perDay: z.number().describe("Submissions per calendar day of the range"),
        medianSecondsOnTask: z.number().nullable().describe("Median of submission time − claim time, seconds"),
        skipped: z.number().int(),
        skipRate: z.number().nullable().describe("skipped / (submitted + skipped); expired leases count as neither"),
        vsConsensus: pooledRate.describe("Ordinary ranking items of the range vs the leave-one-out consensus of the others (as on the quality page)"),
        vsGold: pooledRate.describe("Gold ranking items of the range vs their known answer"),
        daily: z.array(
          z.object({
            day: z.string(),
            submissions: z.number().int(),
            medianSecondsOnTask: z.number().nullable(),
            skipped: z.number().int(),
            skipRate: z.number().nullable(),
            vsConsensus: z.number().nullable(),
            vsGold: z.number().nullable(),
          }),
        ),
      }),
    ),
  })
  .meta({ id: "LabelerAnalytics" });

const burndownSchema = z
  .object({
    range: rangeSchema,
    etaMethod: z.string().describe("How the ETA is computed, in words"),
    types: z.array(
      z.object({
        type: z.enum(["demonstrate", "rank", "review", "compare"]),
        points: z.array(z.object({ day: z.string(), open: z.number().int(), done: z.number().int() })).describe("At the end of each day (gold tasks left out)"),
        eta: z.object({
          windowDays: z.number().int(),
          completedInWindow: z.number().int(),
          perDay: z.number(),
          open: z.number().int(),
          days: z.number().nullable().describe("open / perDay; 0 when nothing is open; null when nothing was completed in the window"),
          date: z.string().nullable().describe("YYYY-MM-DD: the end of the range plus days, rounded up"),
        }),
      }),
    ),
  })
  .meta({ id: "Burndown" });

const disputedSchema = z
  .object({
    range: rangeSchema,
    items: z.array(
      z.object({
        taskId: z.string(),
        type: z.enum(["rank", "compare"]),
        promptId: z.string().describe("The data browser's item: /projects/{id}/prompts/{promptId}"),
        text: z.string().describe("The prompt's first message, up to 200 characters"),
        labelers: z.number().int(),
        pairwise: pooledRate.describe("Pooled pairwise agreement over every two labelers of the item"),
        meanTau: z.number().nullable(),
      }),
    ),
  })
  .meta({ id: "DisputedItems" });

export const analyticsEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/analytics/labelers",
    summary:
      "Per-labeler throughput, median time on task, skip rate and agreement (consensus and gold), in total and per UTC day of the range (from, to: YYYY-MM-DD, at most 366 days). Labelers get their own row only",
    access: "labeler",
    params: projectParams,
    query: analyticsRangeSchema,
    response: labelerAnalyticsSchema,
    handler: ({ ctx, params, query, actor, project }) => {
      const everyone = project && (project.role === "trainer" || hasRole(project.role, "reviewer"));
      return labelerAnalytics(ctx.db, params.id, resolveRange(query), everyone ? undefined : actor!.user.id);
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/analytics/burndown",
    summary: "Open and done tasks per task type at the end of each UTC day of the range, and an ETA from the tasks completed over the range's last 7 days",
    access: "reviewer",
    params: projectParams,
    query: analyticsRangeSchema,
    response: burndownSchema,
    handler: ({ ctx, params, query }) => burndown(ctx.db, params.id, resolveRange(query)),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/analytics/disputed",
    summary:
      "The most disputed ranking and A/B items labeled in the range (from, to: YYYY-MM-DD; two or more labelers, gold left out): lowest pairwise agreement first",
    access: "reviewer",
    params: projectParams,
    query: disputedQuerySchema,
    response: disputedSchema,
    handler: ({ ctx, params, query }) => disputedItems(ctx.db, params.id, resolveRange(query), query.limit),
  }),
];
