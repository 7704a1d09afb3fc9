import { redirect } from "react-router";
import type { Route } from "./+types/logout";
import { deleteSession } from "../../server/auth/sessions.server.ts";
import { clearSessionCookie } from "../lib/session-cookie.server.ts";

// Signing out is a POST (a GET link could be triggered by any page).
export async function action({ context }: Route.ActionArgs) {
  if (context.actor?.kind === "session") await deleteSession(context.db, context.actor.sessionId);
  return redirect("/login", { headers: { "Set-Cookie": clearSessionCookie(context.secureCookies) } });
}

export function loader() {
  return redirect("/");
}
