import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { loadAssignmentView } from "../labeling/assignment-view.server.ts";
import { getProject } from "../labeling/projects.server.ts";
import { judgeLines } from "../labeling/judge/judge-export.server.ts";
import { revealSuggestion } from "../labeling/judge/suggestions.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

/**
 * The model judge's API (decision 0035): a labeler reveals the suggestion of their task (the
 * reveal is recorded), and researchers download the judge's verdicts as their own annotator.
 * The audit's figures are part of GET /projects/:id/quality.
 */
const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });

export const judgeEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "post",
    path: "/assignments/:id/suggestion",
    project: "assignment",
    summary: "Reveal the model judge's suggestion for one of your tasks (recorded; refused on tasks without one)",
    access: "labeler",
    params: idParams,
    response: z.object({
      tiers: z.array(z.array(z.string())).describe("The judge's ranking in your letters, best first (a tier holds equally good answers)"),
      revealedAt: z.string().describe("When you first revealed it"),
    }),
    handler: async ({ ctx, params, actor }) => {
      if (!actor) throw new AppError("unauthenticated", "Sign in first.");
      const view = await loadAssignmentView(ctx.db, actor.user, params.id);
      const project = await getProject(ctx.db, view.project.id);
      return revealSuggestion(ctx.db, actor.user.id, params.id, project.settings);
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/exports/judge.jsonl",
    summary: "The model judge's verdicts, one line per judged task, as their own annotator (never mixed into the human exports)",
    access: ["researcher", "trainer"],
    params: idParams,
    // the time window of the human exports (since / until on when the verdict was reached)
    query: z.object({ since: z.iso.datetime({ offset: true }).optional(), until: z.iso.datetime({ offset: true }).optional() }),
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string }) => `project-${p.id}-judge.jsonl` },
    handler: async ({ ctx, params, query }) => {
      const project = await getProject(ctx.db, params.id);
      await recordAudit(ctx.db, { actor: ctx.actor, action: "export.judge", target: `project:${project.id}`, details: query });
      return judgeLines(ctx.db, project.id, query);
    },
  }),
];
