import { z } from "zod";
import { userRoles } from "../auth/roles.ts";
import { projectRoles } from "../auth/project-access.server.ts";
import { addMembers, addMembersSchema, listMembers, projectAccessSchema, removeMember, removeMembers, removeMembersSchema, setProjectAccess } from "../labeling/members.server.ts";
import { getProject } from "../labeling/projects.server.ts";
import { recheckProjectSockets } from "../socket/socket-server.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

const projectParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const timestamp = z.union([z.date(), z.iso.datetime()]);

const memberSchema = z
  .object({
    user_id: z.string(),
    email: z.string(),
    name: z.string(),
    global_role: z.enum(userRoles),
    project_role: z.enum(projectRoles),
    effective_role: z.enum(userRoles),
    active: z.boolean(),
    created_at: timestamp,
  })
  .meta({ id: "ProjectMember" });

const membersView = z.object({ access: z.enum(["open", "members"]), members: z.array(memberSchema) });

/**
 * Project membership (decision 0031). The project's researchers and admins manage it; the
 * membership check in runEndpoint has already lowered the caller's role to their role in this
 * project, so `access: "researcher"` means "a researcher of this project".
 */
export const memberEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/members",
    summary: "Who may work on the project, with their project role and the role they get there; and whether the project is open to everyone",
    access: "researcher",
    params: projectParams,
    response: membersView,
    handler: async ({ ctx, params }) => ({ access: (await getProject(ctx.db, params.id)).access, members: await listMembers(ctx.db, params.id) }),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/members",
    summary: "Add people by e-mail address with a project role (existing members get the new role). All or nothing: every unknown address is reported",
    access: "researcher",
    params: projectParams,
    body: addMembersSchema,
    response: z.object({ added: z.number().int(), updated: z.number().int() }),
    handler: ({ ctx, params, body, actor }) => addMembers(ctx.db, actor!, params.id, body),
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/members/removals",
    summary: "Remove people by e-mail address; their queue, pages and live updates of this project end at once. All or nothing",
    access: "researcher",
    params: projectParams,
    body: removeMembersSchema,
    response: z.object({ removed: z.number().int() }),
    handler: async ({ ctx, params, body, actor }) => {
      const { removed } = await removeMembers(ctx.db, actor!, params.id, body.emails);
      await recheckProjectSockets(ctx.io, ctx.db, params.id, removed);
      return { removed: removed.length };
    },
  }),
  endpoint({
    method: "delete",
    path: "/projects/:id/members/:userId",
    summary: "Remove one person from the project",
    access: "researcher",
    params: z.object({ id: projectParams.shape.id, userId: z.string().regex(/^\d{1,18}$/, "must be a numeric id") }),
    response: z.object({ removed: z.number().int() }),
    handler: async ({ ctx, params, actor }) => {
      const { removed } = await removeMember(ctx.db, actor!, params.id, params.userId);
      await recheckProjectSockets(ctx.io, ctx.db, params.id, removed);
      return { removed: removed.length };
    },
  }),
  endpoint({
    method: "put",
    path: "/projects/:id/access",
    summary: "Open the project to every signed-in person, or close it to its members (non-members lose it at once)",
    access: "researcher",
    params: projectParams,
    body: projectAccessSchema,
    response: projectAccessSchema,
    handler: async ({ ctx, params, body, actor }) => {
      const result = await setProjectAccess(ctx.db, actor!, params.id, body.access);
      await recheckProjectSockets(ctx.io, ctx.db, params.id);
      return result;
    },
  }),
];
