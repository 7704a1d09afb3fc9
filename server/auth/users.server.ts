import type { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import type { Db } from "../db/database.server.ts";
import type { User } from "../db/schema.ts";
import type { SessionUser } from "./actor.ts";
import { recordAudit } from "./audit.server.ts";
import { hashPassword, verifyPassword } from "./password.server.ts";
import { deleteUserSessions } from "./sessions.server.ts";
import type { createUserSchema, updateUserSchema } from "./user-schemas.ts";

export type PublicUser = Pick<User, "id" | "email" | "name" | "role" | "active" | "created_at">;
const publicColumns = ["id", "email", "name", "role", "active", "created_at"] as const;

export function listUsers(db: Db): Promise<PublicUser[]> {
  return db.selectFrom("users").select(publicColumns).orderBy("id").execute();
}

export async function createUser(
  db: Db,
  actorId: string | null,
  input: z.infer<typeof createUserSchema>,
): Promise<PublicUser> {
  const passwordHash = await hashPassword(input.password);
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom("users")
      .select("id")
      .where((eb) => eb(eb.fn("lower", ["email"]), "=", input.email.toLowerCase()))
      .executeTakeFirst();
    if (existing) throw new AppError("conflict", "A user with this e-mail address already exists.", [{ path: "email", message: "Already in use." }]);
    const user = await trx
      .insertInto("users")
      .values({ email: input.email, name: input.name, role: input.role, password_hash: passwordHash })
      .returning(publicColumns)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, { actorUserId: actorId, action: "user.create", target: `user:${user.id}`, details: { role: input.role } });
    return user;
  });
}

/** Changes a role or (de)activates; deactivation ends every session at once. */
export async function updateUser(
  db: Db,
  actor: SessionUser,
  userId: string,
  change: z.infer<typeof updateUserSchema>,
): Promise<PublicUser> {
  if (userId === actor.id && (change.active === false || (change.role !== undefined && change.role !== "admin"))) {
    // Otherwise the last admin could lock everyone out of the admin pages.
    throw new AppError("conflict", "You cannot demote or deactivate yourself; ask another admin.");
  }
  return db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom("users").select(["role", "active"]).where("id", "=", userId).forUpdate().executeTakeFirst();
    const user = await trx
      .updateTable("users")
      .set({ ...change, updated_at: new Date() })
      .where("id", "=", userId)
      .returning(publicColumns)
      .executeTakeFirst();
    if (!user) throw new AppError("not_found", "No such user.");
    if (change.active === false) await deleteUserSessions(trx, userId);
    // One entry per kind of change, with the value before, so the log answers "who made X an admin".
    if (before && change.role !== undefined && change.role !== before.role) {
      await recordAudit(trx, { actorUserId: actor.id, action: "user.role_change", target: `user:${userId}`, details: { from: before.role, to: change.role } });
    }
    if (before && change.active !== undefined && change.active !== before.active) {
      await recordAudit(trx, { actorUserId: actor.id, action: change.active ? "user.reactivate" : "user.deactivate", target: `user:${userId}` });
    }
    return user;
  });
}

export async function changePassword(db: Db, userId: string, currentPassword: string, newPassword: string): Promise<void> {
  const row = await db.selectFrom("users").select("password_hash").where("id", "=", userId).executeTakeFirstOrThrow();
  if (!(await verifyPassword(row.password_hash, currentPassword))) {
    throw new AppError("validation_failed", "The current password is not correct.", [{ path: "currentPassword", message: "Not correct." }]);
  }
  const passwordHash = await hashPassword(newPassword);
  await db.transaction().execute(async (trx) => {
    await trx.updateTable("users").set({ password_hash: passwordHash, updated_at: new Date() }).where("id", "=", userId).execute();
    await recordAudit(trx, { actorUserId: userId, action: "user.password_change", target: `user:${userId}` });
  });
}

/** Creates the first admin when the database has no admin; returns the generated password once. */
export async function ensureFirstAdmin(
  db: Db,
  email: string,
  givenPassword: string | undefined,
  generate: () => string,
): Promise<{ created: false } | { created: true; email: string; password: string; generated: boolean }> {
  const admin = await db.selectFrom("users").select("id").where("role", "=", "admin").executeTakeFirst();
  if (admin) return { created: false };
  const password = givenPassword ?? generate();
  await createUser(db, null, { email, name: "Administrator", role: "admin", password });
  return { created: true, email, password, generated: givenPassword === undefined };
}
