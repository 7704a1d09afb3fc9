import { data, redirect } from "react-router";
import type { AppLoadContext } from "react-router";
import type { SessionUser } from "../../server/auth/actor.ts";
import { hasRole } from "../../server/auth/roles.ts";
import { projectIdOf, projectAccessOf, type ProjectAccess, type ProjectResource } from "../../server/auth/project-access.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import type { UserRole } from "../../server/db/schema.ts";
import { UNSAFE_URL_CHARS } from "../../server/lib/unsafe-text.ts";

/**
 * Pages are for people with a session. Anonymous visitors go to the login page (and come
 * back afterwards); a signed-in person without the role gets a 403 page.
 */
export function requireUser(context: AppLoadContext, request: Request, role: UserRole = "labeler"): SessionUser {
  const actor = context.actor;
  if (!actor || actor.kind !== "session") {
    const url = new URL(request.url);
    throw redirect(`/login?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
  }
  if (!hasRole(actor.role, role)) {
    throw new Response("Your role does not allow this page.", { status: 403, statusText: "Forbidden" });
  }
  return actor.user;
}

/**
 * Pages of one project (or of something inside one: a round, a task): the person must be signed
 * in with `role`, and may enter the project with `role` there (decision 0031: the membership
 * check in server/auth/project-access.server.ts). A missing project or resource is a 404 page,
 * a non-member or a project role too low a 403 page. `at` is a project id, or a resource and its id.
 */
export async function requireProjectRole(
  context: AppLoadContext,
  request: Request,
  at: string | { resource: ProjectResource; id: string },
  role: UserRole = "labeler",
): Promise<{ user: SessionUser; project: ProjectAccess; projectRole: UserRole }> {
  const user = requireUser(context, request, role);
  const actor = context.actor!;
  try {
    const projectId = typeof at === "string" ? at : await projectIdOf(context.db, at.resource, at.id);
    if (projectId === null) throw new AppError("not_found", "Not found.");
    const project = await projectAccessOf(context.db, actor, projectId);
    if (!project) throw new Response("You are not a member of this project; a researcher of the project can add you.", { status: 403, statusText: "Forbidden" });
    if (project.role === "trainer" || !hasRole(project.role, role)) {
      throw new Response("Your role in this project does not allow this page.", { status: 403, statusText: "Forbidden" });
    }
    return { user, project, projectRole: project.role as UserRole };
  } catch (error) {
    if (error instanceof AppError && error.code === "not_found") throw new Response(error.message, { status: 404, statusText: "Not Found" });
    throw error;
  }
}

/**
 * Where to go after login or a theme change. The target is parsed the way a browser parses a
 * Location header (WHATWG URL, against our own origin) and followed only when it is still on our
 * origin after parsing: checking the raw string misses what browsers strip (`/\t/evil.example`
 * becomes `//evil.example`). A target with control or whitespace characters is refused with 400,
 * never turned into a header value (a CR/LF there made the response itself fail with 500).
 * Other foreign or unparseable targets fall back to the home page.
 */
export function safeRedirect(target: FormDataEntryValue | string | null, fallback = "/"): string {
  if (typeof target !== "string" || target === "") return fallback;
  if (UNSAFE_URL_CHARS.test(target)) {
    throw data("The redirect target contains control or whitespace characters.", { status: 400, statusText: "Bad Request" });
  }
  if (!target.startsWith("/")) return fallback;
  const base = "http://tandem.invalid";
  let url: URL;
  try {
    url = new URL(target, base);
  } catch {
    return fallback;
  }
  if (url.origin !== base) return fallback;
  // The serialised path is what goes out; it must not itself read as `//host` or `/\host`.
  const local = url.pathname + url.search + url.hash;
  return local.startsWith("//") || local.startsWith("/\\") ? fallback : local;
}
