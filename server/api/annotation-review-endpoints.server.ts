/**
 * Annotation review (issue 14 item 4, decision 0044): reviewers sample labelers' submitted rankings and
 * demonstrations and accept, override or send them back; researchers export every review with its provenance; a
 * labeler reads what was sent back to them. Membership is checked by runEndpoint (/projects/:id, or the review's
 * project through `project: "annotation_review"`).
 */
import { z } from "zod";
import {
  annotationDecisionSchema,
  annotationReviewSummary,
  annotationSampleSchema,
  claimAnnotationReview,
  decideAnnotationReview,
  getAnnotationReview,
  sentBackFor,
} from "../labeling/annotation-review.server.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { annotationReviewLines, exportFilterSchema } from "../labeling/exports.server.ts";
import { getProject } from "../labeling/projects.server.ts";
import { AppError } from "../lib/app-error.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const json = z.record(z.string(), z.unknown());

export const annotationReviewEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/annotation-reviews",
    summary: "Annotation review at a glance: reviewable submissions, decisions so far, the labelers (for the by-labeler mode) and the latest decisions",
    access: "reviewer",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => annotationReviewSummary(ctx.db, (await getProject(ctx.db, params.id)).id),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/annotation-reviews/next",
    summary:
      "Take the next labeler submission (ranking or demonstration) to review, sampled by mode — random, agreement (lowest item agreement first) or labeler (that labeler's, oldest first) — or the one you hold; null when none is left",
    access: "reviewer",
    params: idParams,
    body: annotationSampleSchema,
    response: json.nullable(),
    handler: async ({ ctx, params, body, actor }) => claimAnnotationReview(ctx.db, actor!.user.id, (await getProject(ctx.db, params.id)).id, body),
  }),
  endpoint({
    method: "get",
    path: "/annotation-reviews/:id",
    project: "annotation_review",
    summary: "A reviewed (or held) submission: the prompt, the labeler's ranking or demonstration, and the decision once made",
    access: "reviewer",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => getAnnotationReview(ctx.db, params.id),
  }),
  endpoint({
    method: "post",
    path: "/annotation-reviews/:id/decide",
    project: "annotation_review",
    summary:
      "Accept, override (payload: your ranking or demonstration, kept beside the original) or send back (comment: what to change; the labeler redoes it) a submission; once per submission",
    access: "reviewer",
    params: idParams,
    body: annotationDecisionSchema,
    response: json,
    handler: async ({ ctx, params, body, actor }) => {
      const review = await getAnnotationReview(ctx.db, params.id);
      const project = await getProject(ctx.db, review.projectId);
      return decideAnnotationReview(ctx.db, actor!, review, body, project.settings);
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/exports/annotation-reviews.jsonl",
    summary:
      "Every decided annotation review, one line each: the prompt, the labeler's original (who, when, payload), the decision (reviewer, when, comment), the override and a send-back's redo; people pseudonymized unless pseudonymize=false",
    access: ["researcher", "trainer"],
    params: idParams,
    query: exportFilterSchema,
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string }) => `project-${p.id}-annotation-reviews.jsonl` },
    handler: async ({ ctx, params, query }) => {
      const project = await getProject(ctx.db, params.id);
      const meaningless = (["minAgreement", "mix", "round", "labelers", "chosenChecker"] as const).filter((k) => query[k] !== undefined);
      if (meaningless.length > 0 || query.consensus) {
        throw new AppError("validation_failed", "The query string is not valid.", [...meaningless, ...(query.consensus ? ["consensus"] : [])].map((path) => ({ path, message: "does not apply to the review export" })));
      }
      await recordAudit(ctx.db, { actor: ctx.actor, action: "export.annotation_reviews", target: `project:${project.id}`, details: query });
      const { export_salt } = await ctx.db.selectFrom("projects").select("export_salt").where("id", "=", project.id).executeTakeFirstOrThrow();
      return annotationReviewLines(ctx.db, project.id, query, export_salt);
    },
  }),
  endpoint({
    method: "get",
    path: "/me/sent-back",
    summary: "What reviewers sent back to you and you have not redone yet: the project, the comment and the redo task to open",
    access: "labeler",
    response: z.array(json),
    handler: async ({ ctx, actor }) => sentBackFor(ctx.db, actor!.user),
  }),
];
