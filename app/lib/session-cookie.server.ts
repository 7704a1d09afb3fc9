import { serialize } from "cookie";
import { SESSION_COOKIE } from "../../server/auth/sessions.server.ts";

/** HttpOnly + SameSite=Lax always; Secure whenever the request came over TLS. */
export function sessionCookie(value: string, expires: Date, secure: boolean): string {
  return serialize(SESSION_COOKIE, value, { httpOnly: true, sameSite: "lax", secure, path: "/", expires });
}

export function clearSessionCookie(secure: boolean): string {
  return serialize(SESSION_COOKIE, "", { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: 0 });
}
