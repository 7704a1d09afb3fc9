import { OpenAPIRegistry, OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import { once } from "node:events";
import type { Request, Response } from "express";
import { z } from "zod";
import type { TandemContext } from "../../app/context.ts";
import { AppError } from "../lib/app-error.ts";
import { findDisallowed } from "../lib/unsafe-text.ts";
import type { Actor } from "../auth/actor.ts";
import { hasRole } from "../auth/roles.ts";
import { projectIdOf, requireProjectAccess, type ProjectAccess, type ProjectResource } from "../auth/project-access.server.ts";
import { operationIdFor } from "./operation-id.ts";
import type { UserRole } from "../db/schema.ts";

/**
 * One declaration per API endpoint: the same zod schemas validate the request, type the
 * handler and generate the OpenAPI document, so the three cannot drift apart.
 *
 * access: "public" (anyone), "any" (any person or token, the trainer included),
 * "trainer" (trainer tokens and admins), or the lowest person role allowed; a list allows
 * whoever any of its entries allows (exports: ["researcher", "trainer"]).
 */
type AccessRule = "public" | "any" | "trainer" | UserRole;
export type Access = AccessRule | AccessRule[];
type Method = "get" | "post" | "put" | "patch" | "delete";

export type Endpoint<P extends z.ZodType, B extends z.ZodType, R extends z.ZodType> = {
  method: Method;
  path: string; // express style, e.g. /users/:id
  summary: string;
  access: Access;
  /**
   * Which project the path's `:id` belongs to, for the membership check (decision 0031):
   * a resource kind (the endpoint then runs with the caller's role in that project), or "none"
   * for endpoints outside any project. Paths under /projects/:id need not say (they are
   * "project"); any other path with an :id must say, and the access test checks that it does.
   */
  project?: ProjectResource | "none";
  /** Only a signed-in person, never an API token (e.g. the labeling queue: a token has no queue). */
  sessionOnly?: boolean;
  /** Only an API token, never a browser session (a trainer's job lease belongs to its token). */
  tokenOnly?: boolean;
  params?: P;
  query?: z.ZodType;
  body?: B;
  /** The handler returns chunks to stream (JSONL lines, or a binary file's bytes) instead of one JSON value. */
  stream?: { contentType: string; filename: (params: z.infer<P>) => string };
  /**
   * Like `stream`, but the handler names the file (its type among these, its name) with its
   * chunks: `{ contentType, filename, chunks }` (one endpoint that writes several formats).
   */
  download?: { contentTypes: string[] };
  /** The body is raw bytes (application/octet-stream), handed to the handler as the request stream. */
  upload?: true;
  /** A null answer is an idle poll (no work right now): the access log leaves it out. */
  idlePoll?: true;
  /** The handler returns a file on disk to send ({ path, filename }). */
  file?: { contentType: string };
  response: R;
  status?: 200 | 201 | 204;
  handler: (input: {
    params: z.infer<P>;
    body: z.infer<B>;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed by `query`
    query: any;
    /** The caller, with `role` lowered to their role in the endpoint's project when it has one. */
    actor: Actor | null;
    /** The project the endpoint touches and the caller's access to it (absent for "none"). */
    project?: ProjectAccess;
    ctx: TandemContext;
    /** Only for `upload` endpoints: the request, to stream its body. */
    request?: Request;
  }) => Promise<z.infer<R>>;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyEndpoint = Endpoint<any, any, any>;

export function endpoint<P extends z.ZodType = z.ZodObject, B extends z.ZodType = z.ZodUndefined, R extends z.ZodType = z.ZodType>(
  definition: Endpoint<P, B, R>,
): Endpoint<P, B, R> {
  return definition;
}

export function checkAccess(access: Access, actor: Actor | null, refusal = "Your role does not allow this."): void {
  const rules = Array.isArray(access) ? access : [access];
  if (rules.includes("public")) return;
  if (!actor) throw new AppError("unauthenticated", "Sign in or send an API token (Authorization: Bearer tdm_…).");
  const allowed = (rule: AccessRule) =>
    rule === "any" || (rule === "trainer" ? actor.role === "trainer" || actor.role === "admin" : rule !== "public" && hasRole(actor.role, rule));
  if (rules.some(allowed)) return;
  throw new AppError("forbidden", refusal);
}

/** The resource an endpoint's `:id` names (see `Endpoint.project`). */
export function projectScopeOf(ep: Pick<AnyEndpoint, "path" | "project">): ProjectResource | "none" {
  if (ep.project) return ep.project;
  return ep.path.startsWith("/projects/:id") ? "project" : "none";
}

/** Runs one endpoint for an Express request; errors go to the API error handler. */
export async function runEndpoint(ep: AnyEndpoint, req: Request, res: Response, ctx: TandemContext): Promise<void> {
  // The global role first: it refuses most callers before any lookup.
  checkAccess(ep.access, ctx.actor);
  if (ep.sessionOnly && ctx.actor?.kind !== "session") throw new AppError("forbidden", "This needs a signed-in person, not an API token.");
  if (ep.tokenOnly && ctx.actor?.kind !== "token") throw new AppError("forbidden", "This needs an API token (a trainer holds jobs with its token).");
  refuseDisallowedText(req, ep);
  // Then membership, before anything else of the request is read: a non-member learns nothing
  // from validation errors. projectIdOf checks the id's shape itself (404 when it is no id).
  let actor = ctx.actor;
  let project: ProjectAccess | undefined;
  const scope = projectScopeOf(ep);
  if (scope !== "none" && actor) {
    const rawId = String(req.params.id ?? "");
    // Not an id at all: the path schema names the field (422); should it pass, there is nothing to find.
    if (!/^\d{1,18}$/.test(rawId)) {
      if (ep.params) parseOr422(ep.params, req.params, "The path is not valid.");
      throw new AppError("not_found", "Not found.");
    }
    const projectId = await projectIdOf(ctx.db, scope, rawId);
    if (projectId !== null) {
      project = await requireProjectAccess(ctx.db, actor, projectId);
      actor = { ...actor, role: project.role } as Actor;
      checkAccess(ep.access, actor, "Your role in this project does not allow this.");
    }
  }
  const params = ep.params ? parseOr422(ep.params, req.params, "The path is not valid.") : {};
  const body = ep.body && !ep.upload ? parseOr422(ep.body, req.body, "The request body is not valid.") : undefined;
  const query = ep.query ? parseOr422(ep.query, req.query, "The query string is not valid.") : {};
  const result = await ep.handler({ params, body, query, actor, project, ctx, ...(ep.upload ? { request: req } : {}) });
  if (ep.idlePoll && result === null) res.locals.idlePoll = true;
  if (ep.file) {
    const { path, filename } = result as { path: string; filename: string };
    res.setHeader("Content-Type", ep.file.contentType);
    res.setHeader("Content-Disposition", `attachment; filename="${filename}"`);
    await new Promise<void>((resolve, reject) => res.sendFile(path, { dotfiles: "allow" }, (error) => (error ? reject(error) : resolve())));
    return;
  }
  if (ep.stream) {
    await streamChunks(res, result as AsyncIterable<string | Uint8Array>, ep.stream.contentType, ep.stream.filename(params));
    return;
  }
  if (ep.download) {
    const file = result as { contentType: string; filename: string; chunks: AsyncIterable<string | Uint8Array> };
    await streamChunks(res, file.chunks, file.contentType, file.filename);
    return;
  }
  if (ep.status === 204) {
    res.status(204).end();
    return;
  }
  res.status(ep.status ?? 200).json(result);
}

/** Writes chunks as they come, waiting for the socket to drain: memory stays flat. */
async function streamChunks(res: Response, chunks: AsyncIterable<string | Uint8Array>, contentType: string, filename: string): Promise<void> {
  res.status(200).setHeader("Content-Type", contentType);
  res.setHeader("Content-Disposition", `attachment; filename="${filename}"`);
  for await (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await once(res, "drain");
  }
  res.end();
}

/**
 * NUL, other control characters and lone surrogates are refused before any schema sees the
 * input, for every endpoint at once (decision 0022): PostgreSQL cannot store NUL in text nor a
 * lone surrogate in jsonb, and a 422 naming the field beats a 500 from the database.
 */
function refuseDisallowedText(req: Request, ep: AnyEndpoint): void {
  const sources: Array<[unknown, string]> = [
    [req.params, "The path"],
    [req.query, "The query string"],
    [ep.upload ? undefined : req.body, "The request body"],
  ];
  for (const [value, where] of sources) {
    const found = findDisallowed(value);
    if (found) {
      throw new AppError("validation_failed", `${where} contains ${found.problem} in "${found.path}"; remove it and send again.`, [
        { path: found.path, message: `Contains ${found.problem}.` },
      ]);
    }
  }
}

function parseOr422<T extends z.ZodType>(schema: T, value: unknown, message: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw AppError.fromZod(parsed.error, message);
  return parsed.data;
}

const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: "Problem" });

export function buildOpenApiDocument(endpoints: AnyEndpoint[], base: string): unknown {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent("securitySchemes", "bearerToken", { type: "http", scheme: "bearer" });
  const cookie = registry.registerComponent("securitySchemes", "sessionCookie", { type: "apiKey", in: "cookie", name: "tandem_session" });
  const problem = { description: "Problem document (RFC 9457)", content: { "application/problem+json": { schema: problemSchema } } };
  const operationIds = new Set<string>();
  for (const ep of endpoints) {
    const operationId = operationIdFor(ep.method, ep.path);
    // Generated clients name methods after these: two alike would silently shadow one.
    if (operationIds.has(operationId)) throw new Error(`two API endpoints share the operationId ${operationId} (${ep.method} ${ep.path})`);
    operationIds.add(operationId);
    registry.registerPath({
      method: ep.method,
      path: base + ep.path.replace(/:(\w+)/g, "{$1}"),
      operationId,
      summary: ep.summary,
      description: `Access: ${[ep.access].flat().join(" or ")}${ep.sessionOnly ? " (signed-in people only, no tokens)" : ""}${ep.tokenOnly ? " (API tokens only)" : ""}.`,
      security: ep.access === "public" ? [] : [{ [bearer.name]: [] }, { [cookie.name]: [] }],
      request: {
        ...(ep.params ? { params: ep.params } : {}),
        ...(ep.query ? { query: ep.query as z.ZodObject } : {}),
        ...(ep.body ? { body: { content: { [ep.upload ? "application/octet-stream" : "application/json"]: { schema: ep.body } } } } : {}),
      },
      responses: {
        [ep.status ?? 200]:
          ep.status === 204
            ? { description: "Done" }
            : ep.stream || ep.file
              ? { description: ep.file ? "A file" : "A file, streamed", content: { [(ep.stream ?? ep.file)!.contentType]: { schema: ep.response } } }
              : ep.download
                ? { description: "A file, streamed, in one of these types", content: Object.fromEntries(ep.download.contentTypes.map((type) => [type, { schema: ep.response }])) }
                : { description: "Success", content: { "application/json": { schema: ep.response } } },
        400: problem,
        401: problem,
        403: problem,
        422: problem,
      },
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: { title: "Tandem API", version: "1", description: "Human-feedback labeling and RLHF. Errors are problem documents with a stable `code`." },
    servers: [{ url: "/" }],
  });
}
