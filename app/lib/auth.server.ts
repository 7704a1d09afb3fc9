import { redirect } from "react-router";
import type { AppLoadContext } from "react-router";
import type { SessionUser } from "../../server/auth/actor.ts";
import { hasRole } from "../../server/auth/roles.ts";
import type { UserRole } from "../../server/db/schema.ts";

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

/** Only local paths are followed after login, so the form cannot be used as an open redirect. */
export function safeRedirect(target: FormDataEntryValue | string | null, fallback = "/"): string {
  if (typeof target !== "string" || !target.startsWith("/") || target.startsWith("//") || target.startsWith("/\\")) return fallback;
  return target;
}
