import type { Db } from "../db/database.server.ts";
import type { SessionUser } from "./actor.ts";
import { newSecret, sha256 } from "./secrets.server.ts";

export const SESSION_COOKIE = "tandem_session";

/** Creates a session and returns the cookie value; only its hash is stored. */
export async function createSession(
  db: Db,
  userId: string,
  days: number,
  meta: { userAgent?: string; ip?: string },
): Promise<{ cookieValue: string; expiresAt: Date }> {
  const cookieValue = newSecret();
  const expiresAt = new Date(Date.now() + days * 86_400_000);
  await db
    .insertInto("sessions")
    .values({
      id: sha256(cookieValue),
      user_id: userId,
      expires_at: expiresAt,
      user_agent: meta.userAgent?.slice(0, 300) ?? null,
      ip: meta.ip ?? null,
    })
    .execute();
  return { cookieValue, expiresAt };
}

/** The active user behind a cookie value, or null for an unknown, expired or deactivated one. */
export async function findSessionUser(db: Db, cookieValue: string): Promise<{ sessionId: string; user: SessionUser } | null> {
  const sessionId = sha256(cookieValue);
  const row = await db
    .selectFrom("sessions")
    .innerJoin("users", "users.id", "sessions.user_id")
    .select(["users.id", "users.email", "users.name", "users.role"])
    .where("sessions.id", "=", sessionId)
    .where("sessions.expires_at", ">", new Date())
    .where("users.active", "=", true)
    .executeTakeFirst();
  return row ? { sessionId, user: row } : null;
}

export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.deleteFrom("sessions").where("id", "=", sessionId).execute();
}

/** "Log out everywhere": every session of the user ends, this one included. */
export async function deleteUserSessions(db: Pick<Db, "deleteFrom">, userId: string): Promise<number> {
  const result = await db.deleteFrom("sessions").where("user_id", "=", userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
