import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Actor } from "../auth/actor.ts";
import { loadAssignmentView } from "../labeling/assignment-view.server.ts";
import { projectInputSchema } from "../labeling/project-settings.ts";
import { createProject, getProject, listProjects, queueCounters, updateProject } from "../labeling/projects.server.ts";
import { claimNextTask, skipAssignment } from "../labeling/queue.server.ts";
import { submitAssignment, submitSchema } from "../labeling/submissions.server.ts";
import { publishCounters } from "../labeling/live-counters.server.ts";
import { exportFilterSchema, preferenceLines, rawRankingLines, sftLines, withChosenChecker, type ExportFilter } from "../labeling/exports.server.ts";
import { preferenceParquet } from "../labeling/parquet-export.server.ts";
import { inapplicableMix } from "../labeling/data-mix.ts";
import { importPrompts, importRequestSchema } from "../labeling/import-prompts.server.ts";
import type { UserRole } from "../db/schema.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

const projectParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const idParams = projectParams;

/**
 * The person behind the request: signed in, or through one of their personal API tokens (a
 * custom front-end, a script, a model-judge with an account of its own). The endpoint's access
 * rule has already checked the role — a token's is never above its owner's — and a trainer
 * token, outside the person ladder, never gets this far.
 */
function person(actor: Actor | null) {
  if (!actor) throw new AppError("unauthenticated", "Sign in or send an API token (Authorization: Bearer tdm_…).");
  return actor.user;
}

export const labelingEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects",
    summary: "List projects with prompt and open-task counts",
    access: "labeler",
    response: z.array(
      z.object({ id: z.string(), name: z.string(), access: z.enum(["open", "members"]), prompt_count: z.string().nullable(), open_tasks: z.string().nullable() }),
    ),
    // Only the projects the caller may enter (decision 0031).
    handler: ({ ctx, actor }) => listProjects(ctx.db, actor!),
  }),
  endpoint({
    method: "post",
    path: "/projects",
    summary: "Create a project (guidelines, K, overlaps, flags, task weights); members-only unless access is open. You become its first researcher",
    access: "researcher",
    body: projectInputSchema.extend({ access: z.enum(["open", "members"], { error: "Pick open or members." }).default("members") }),
    response: z.object({ id: z.string(), name: z.string(), access: z.enum(["open", "members"]) }),
    status: 201,
    handler: ({ ctx, body, actor }) => createProject(ctx.db, actor!.user.id, body),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id",
    summary: "A project with its settings",
    access: "labeler",
    params: projectParams,
    response: z.object({
      id: z.string(),
      name: z.string(),
      guidelines: z.string(),
      access: z.enum(["open", "members"]),
      /** The caller's role in this project (decision 0031). */
      your_role: z.string(),
      settings: z.record(z.string(), z.unknown()),
    }),
    handler: async ({ ctx, params, project }) => ({ ...(await getProject(ctx.db, params.id)), your_role: project!.role }),
  }),
  endpoint({
    method: "put",
    path: "/projects/:id",
    summary: "Replace a project's name, guidelines and settings",
    access: "researcher",
    params: projectParams,
    body: projectInputSchema,
    response: z.object({ id: z.string(), name: z.string() }),
    handler: ({ ctx, params, body, actor }) => updateProject(ctx.db, actor!.user.id, params.id, body),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/counters",
    summary: "Open and complete tasks per type, and submissions",
    access: "labeler",
    params: projectParams,
    response: z.record(z.string(), z.unknown()),
    handler: async ({ ctx, params }) => {
      await getProject(ctx.db, params.id);
      return queueCounters(ctx.db, params.id);
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/imports",
    summary: "Import prompts (JSONL, CSV or JSON): a preview report, or with commit=true the import itself",
    access: "researcher",
    params: projectParams,
    body: importRequestSchema,
    response: z.record(z.string(), z.unknown()),
    handler: async ({ ctx, params, body, actor }) => {
      const project = await getProject(ctx.db, params.id);
      const report = await importPrompts(ctx.db, actor!.user.id, project, body);
      if (report.committed) void publishCounters(ctx, project.id);
      return report;
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/next-task",
    summary: "Claim the next task (a lease); resumes your unfinished one. null when the queue is empty for you",
    access: "labeler",
    params: projectParams,
    response: z.object({ assignmentId: z.string(), leaseExpiresAt: z.string() }).nullable(),
    handler: async ({ ctx, params, actor }) => {
      // The role in this project picks the task types (a reviewer who is a labeler here gets no reviews).
      const user = { ...person(actor), role: actor!.role as UserRole };
      const project = await getProject(ctx.db, params.id);
      const assignment = await claimNextTask(ctx.db, user, project.id, project.settings);
      if (!assignment) return null;
      void publishCounters(ctx, project.id);
      return { assignmentId: assignment.id, leaseExpiresAt: assignment.lease_expires_at.toISOString() };
    },
  }),
  endpoint({
    method: "get",
    path: "/assignments/:id",
    project: "assignment",
    summary: "One of your tasks: the conversation, the completions in their shown order, the guidelines",
    access: "labeler",
    params: idParams,
    response: z.record(z.string(), z.unknown()),
    handler: ({ ctx, params, actor }) => loadAssignmentView(ctx.db, person(actor), params.id),
  }),
  endpoint({
    method: "post",
    path: "/assignments/:id/submit",
    project: "assignment",
    summary: "Submit a task. Idempotent per idempotencyKey; refused on an expired or foreign lease",
    access: "labeler",
    params: idParams,
    body: submitSchema,
    response: z.object({ submissionId: z.string(), duplicate: z.boolean(), taskComplete: z.boolean() }),
    handler: async ({ ctx, params, body, actor }) => {
      const user = person(actor);
      const view = await loadAssignmentView(ctx.db, user, params.id);
      const project = await getProject(ctx.db, view.project.id);
      const result = await submitAssignment(ctx.db, user, params.id, body, project.settings);
      void publishCounters(ctx, project.id);
      return result;
    },
  }),
  endpoint({
    method: "post",
    path: "/assignments/:id/skip",
    project: "assignment",
    summary: "Skip a task with a reason; it goes back to the queue for others",
    access: "labeler",
    params: idParams,
    body: z.object({ reason: z.string().trim().min(1, "Say why you skip.").max(500) }),
    response: z.object({ skipped: z.literal(true) }),
    handler: async ({ ctx, params, body, actor }) => {
      const user = person(actor);
      const view = await loadAssignmentView(ctx.db, user, params.id);
      await skipAssignment(ctx.db, user, params.id, body.reason);
      void publishCounters(ctx, view.project.id);
      return { skipped: true as const };
    },
  }),
  ...(
    [
      ["preferences", "Preference pairs in TRL's format (prompt, chosen, rejected, margin, weight), one line per pair"],
      ["sft", "SFT examples in TRL's messages format, one line per demonstration"],
      ["rankings", "Every raw ranking with its shown order and timings; labelers pseudonymized unless pseudonymize=false"],
    ] as const
  ).map(([kind, summary]) =>
    endpoint({
      method: "get",
      path: `/projects/:id/exports/${kind}.jsonl`,
      summary,
      // Trainer tokens pull a round's datasets from the very download a researcher uses.
      access: ["researcher", "trainer"],
      params: projectParams,
      query: exportFilterSchema,
      // Each line is one JSON record; the summary above names its fields.
      response: z.any(),
      stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string }) => `project-${p.id}-${kind}.jsonl` },
      handler: async ({ ctx, params, query: asked }) => {
        await getProject(ctx.db, params.id);
        refuseInapplicableFilters(kind, asked);
        const query = await withChosenChecker(ctx.db, params.id, asked);
        await recordAudit(ctx.db, { actor: ctx.actor, action: `export.${kind}`, target: `project:${params.id}`, details: asked });
        if (kind === "preferences") return preferenceLines(ctx.db, params.id, query);
        if (kind === "sft") return sftLines(ctx.db, params.id, query);
        const { export_salt } = await ctx.db.selectFrom("projects").select("export_salt").where("id", "=", params.id).executeTakeFirstOrThrow();
        return rawRankingLines(ctx.db, params.id, query, export_salt);
      },
    }),
  ),
  endpoint({
    method: "get",
    path: "/projects/:id/exports/preferences.parquet",
    summary: "The preference set as Parquet (same records and filters as preferences.jsonl), streamed in row groups",
    access: ["researcher", "trainer"],
    params: projectParams,
    query: exportFilterSchema,
    response: z.any(),
    stream: { contentType: "application/vnd.apache.parquet", filename: (p: { id: string }) => `project-${p.id}-preferences.parquet` },
    handler: async ({ ctx, params, query: asked }) => {
      await getProject(ctx.db, params.id);
      // before the stream: the file's first bytes go out with the response
      const query = await withChosenChecker(ctx.db, params.id, asked);
      await recordAudit(ctx.db, { actor: ctx.actor, action: "export.preferences_parquet", target: `project:${params.id}`, details: asked });
      return preferenceParquet(ctx.db, params.id, query);
    },
  }),
];

/** A filter that means nothing for an export is refused, not silently ignored. */
function refuseInapplicableFilters(kind: "preferences" | "sft" | "rankings", filter: ExportFilter): void {
  const errors: Array<{ path: string; message: string }> = [];
  if (filter.consensus && kind !== "preferences") errors.push({ path: "consensus", message: "only the preference export has a consensus option" });
  if (filter.chosenChecker !== undefined && kind !== "preferences") errors.push({ path: "chosenChecker", message: "only the preference export has pairs to check" });
  if (filter.minAgreement !== undefined && kind === "sft") {
    errors.push({ path: "minAgreement", message: "demonstrations are not ranked, so they have no agreement; filter the preference or ranking export" });
  }
  const mix = inapplicableMix(filter.mix, kind);
  if (mix) errors.push(mix);
  if (errors.length > 0) throw new AppError("validation_failed", "The query string is not valid.", errors);
}
