import { z } from "zod";
import { getProject } from "../labeling/projects.server.ts";
import { publishCounters } from "../labeling/live-counters.server.ts";
import { applyOverlapToOpenTasks, openTasksWithOtherOverlap, taskTypes } from "../labeling/overlap.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

const projectParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const taskType = z.enum(taskTypes as [string, ...string[]]);

/** A changed overlap applies to new tasks; these say which open tasks differ, and apply it to them. */
export const overlapEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/open-task-overlap",
    summary: "Open tasks whose overlap differs from the project's setting, per task type (they keep the overlap they were created with)",
    access: "researcher",
    params: projectParams,
    response: z.array(z.object({ type: taskType, tasks: z.number().int(), overlaps: z.array(z.number().int()) })),
    handler: async ({ ctx, params }) => openTasksWithOtherOverlap(ctx.db, await getProject(ctx.db, params.id)),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/open-task-overlap",
    summary: "Give the open tasks of one type the project's current overlap (a lower one completes tasks that already have enough submissions)",
    access: "researcher",
    params: projectParams,
    body: z.strictObject({ taskType }),
    response: z.object({ overlap: z.number().int(), updated: z.number().int(), completed: z.number().int() }),
    handler: async ({ ctx, params, body, actor }) => {
      const project = await getProject(ctx.db, params.id);
      const result = await applyOverlapToOpenTasks(ctx.db, actor!.user.id, project, body.taskType as (typeof taskTypes)[number]);
      if (result.updated > 0) void publishCounters(ctx, project.id);
      return result;
    },
  }),
];
