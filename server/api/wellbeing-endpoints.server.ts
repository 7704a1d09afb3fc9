import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import { loadAssignmentView } from "../labeling/assignment-view.server.ts";
import { exposureToday, optOuts, recordContentReveal, setOptOuts } from "../labeling/wellbeing/sensitive.server.ts";
import { categorySchema } from "../labeling/wellbeing/wellbeing-settings.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

/**
 * Labeler wellbeing (decision 0036): revealing a blurred task is recorded; a person sees their own
 * exposure and chooses categories they are never served.
 */
const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const exposureSchema = z.object({
  sensitiveTasks: z.number().int().describe("Sensitive tasks served to you today (UTC), all projects"),
  reveals: z.number().int().describe("Times you revealed blurred content today"),
  byProject: z.array(z.object({ projectId: z.string(), name: z.string(), tasks: z.number().int() })),
  optOuts: z.array(z.string()),
});

export const wellbeingEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "post",
    path: "/assignments/:id/reveal-content",
    project: "assignment",
    summary: "Reveal the blurred sensitive content of one of your tasks (every reveal is recorded)",
    access: "labeler",
    params: idParams,
    response: z.object({ reveals: z.number().int() }),
    handler: async ({ ctx, params, actor }) => {
      if (!actor) throw new AppError("unauthenticated", "Sign in first.");
      await loadAssignmentView(ctx.db, actor.user, params.id);
      return recordContentReveal(ctx.db, actor.user.id, params.id);
    },
  }),
  endpoint({
    method: "get",
    path: "/me/exposure",
    summary: "Your own exposure to sensitive content today, and the categories you opted out of",
    access: "labeler",
    response: exposureSchema,
    handler: async ({ ctx, actor }) => ({ ...(await exposureToday(ctx.db, actor!.user.id)), optOuts: await optOuts(ctx.db, actor!.user.id) }),
  }),
  endpoint({
    method: "put",
    path: "/me/opt-outs",
    summary: "Replace the sensitive categories you are never served",
    access: "labeler",
    body: z.object({ categories: z.array(categorySchema).max(40) }),
    response: z.object({ optOuts: z.array(z.string()) }),
    handler: async ({ ctx, actor, body }) => ({ optOuts: await setOptOuts(ctx.db, actor!.user.id, body.categories) }),
  }),
];
