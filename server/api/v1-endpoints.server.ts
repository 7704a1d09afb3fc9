import { z } from "zod";
import { createApiToken, createOwnApiToken, listApiTokens, listOwnApiTokens, revokeApiToken } from "../auth/tokens.server.ts";
import { createUser, listUsers, updateUser } from "../auth/users.server.ts";
import { createTokenSchema, createUserSchema, updateUserSchema } from "../auth/user-schemas.ts";
import { tokenRoles, userRoles } from "../auth/roles.ts";
import { deleteUserSessions } from "../auth/sessions.server.ts";
import { AppError } from "../lib/app-error.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";
import { endSessionSockets } from "../socket/socket-server.server.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });

// Dates leave as ISO strings (res.json serialises them).
const timestamp = z.union([z.date(), z.iso.datetime()]);

const userSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    role: z.enum(userRoles),
    active: z.boolean(),
    created_at: timestamp,
  })
  .meta({ id: "User" });

const tokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(tokenRoles),
    token_prefix: z.string(),
    created_at: timestamp,
    last_used_at: timestamp.nullable(),
    revoked_at: timestamp.nullable(),
  })
  .meta({ id: "ApiToken" });

export const v1Endpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/me",
    summary: "The signed-in person or the token's owner, with the effective role",
    access: "any",
    response: z.object({ id: z.string(), email: z.string(), name: z.string(), role: z.enum(tokenRoles), via: z.enum(["session", "token"]) }),
    handler: async ({ actor }) => {
      if (!actor) throw new AppError("unauthenticated", "Not signed in.");
      return { ...actor.user, role: actor.role, via: actor.kind };
    },
  }),
  endpoint({
    method: "get",
    path: "/users",
    summary: "List users",
    access: "admin",
    response: z.array(userSchema),
    handler: ({ ctx }) => listUsers(ctx.db),
  }),
  endpoint({
    method: "post",
    path: "/users",
    summary: "Create a user",
    access: "admin",
    body: createUserSchema,
    response: userSchema,
    status: 201,
    handler: ({ ctx, body, actor }) => createUser(ctx.db, actor?.user.id ?? null, body),
  }),
  endpoint({
    method: "patch",
    path: "/users/:id",
    project: "none",
    summary: "Change a user's role or deactivate / reactivate them",
    access: "admin",
    params: idParams,
    body: updateUserSchema,
    response: userSchema,
    handler: async ({ ctx, params, body, actor }) => {
      const user = await updateUser(ctx.db, actor!.user, params.id, body);
      if (body.active === false || body.role !== undefined) {
        endSessionSockets(ctx.io, user.id, body.active === false ? "deactivated" : "role_changed");
      }
      return user;
    },
  }),
  endpoint({
    method: "post",
    path: "/me/logout-everywhere",
    summary: "End every session of the caller",
    access: "labeler",
    response: z.object({ ended: z.number().int() }),
    handler: async ({ ctx, actor }) => {
      const ended = await deleteUserSessions(ctx.db, actor!.user.id);
      endSessionSockets(ctx.io, actor!.user.id, "logout");
      return { ended };
    },
  }),
  // Personal tokens: anyone manages their own, never above their own role (roles.ts:
  // a token always acts with the lower of its own role and its owner's current one).
  endpoint({
    method: "get",
    path: "/me/tokens",
    summary: "Your own API tokens (never their secrets)",
    access: "labeler",
    sessionOnly: true,
    response: z.array(tokenSchema),
    handler: ({ ctx, actor }) => listOwnApiTokens(ctx.db, actor!.user.id),
  }),
  endpoint({
    method: "post",
    path: "/me/tokens",
    summary: "Create a token for yourself, with your role or a lower one; the secret is in this response only",
    access: "labeler",
    sessionOnly: true,
    body: createTokenSchema,
    response: z.object({ token: tokenSchema, secret: z.string() }),
    status: 201,
    // sessionOnly: a session's role is a person's role, never "trainer"
    handler: ({ ctx, body, actor }) => createOwnApiToken(ctx.db, { id: actor!.user.id, role: actor!.user.role }, body),
  }),
  endpoint({
    method: "delete",
    path: "/me/tokens/:id",
    project: "none",
    summary: "Revoke one of your own tokens",
    access: "labeler",
    sessionOnly: true,
    params: idParams,
    response: z.undefined(),
    status: 204,
    handler: async ({ ctx, params, actor }) => {
      await revokeApiToken(ctx.db, actor!.user.id, params.id, actor!.user.id);
      return undefined;
    },
  }),
  endpoint({
    method: "get",
    path: "/tokens",
    summary: "List API tokens (never their secrets)",
    access: "admin",
    response: z.array(tokenSchema.extend({ owner_email: z.string() })),
    handler: ({ ctx }) => listApiTokens(ctx.db),
  }),
  endpoint({
    method: "post",
    path: "/tokens",
    summary: "Create an API token; the secret is in this response only",
    access: "admin",
    body: createTokenSchema,
    response: z.object({ token: tokenSchema, secret: z.string() }),
    status: 201,
    handler: ({ ctx, body, actor }) => createApiToken(ctx.db, actor!.user.id, body),
  }),
  endpoint({
    method: "delete",
    path: "/tokens/:id",
    project: "none",
    summary: "Revoke an API token",
    access: "admin",
    params: idParams,
    response: z.undefined(),
    status: 204,
    handler: async ({ ctx, params, actor }) => {
      await revokeApiToken(ctx.db, actor!.user.id, params.id);
      return undefined;
    },
  }),
];
