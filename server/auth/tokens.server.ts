import type { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import type { Db } from "../db/database.server.ts";
import type { Actor } from "./actor.ts";
import { recordAudit } from "./audit.server.ts";
import { effectiveTokenRole, hasRole, userRoles } from "./roles.ts";
import type { UserRole } from "../db/schema.ts";
import { newSecret, sha256 } from "./secrets.server.ts";
import type { createTokenSchema } from "./user-schemas.ts";

/** Tokens look like `tdm_<random>`; the prefix makes a leaked one easy to grep for. */
const TOKEN_PREFIX = "tdm_";
const tokenColumns = ["id", "name", "role", "token_prefix", "created_at", "last_used_at", "revoked_at"] as const;

export async function createApiToken(db: Db, ownerId: string, input: z.infer<typeof createTokenSchema>) {
  const secret = TOKEN_PREFIX + newSecret();
  const token = await db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("api_tokens")
      .values({ user_id: ownerId, name: input.name, role: input.role, token_hash: sha256(secret), token_prefix: secret.slice(0, 10) })
      .returning(tokenColumns)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, { actorUserId: ownerId, action: "token.create", target: `token:${row.id}`, details: { name: input.name, role: input.role, prefix: row.token_prefix } });
    return row;
  });
  // The secret leaves the server exactly once, here.
  return { token, secret };
}

export function listApiTokens(db: Db) {
  return db
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select([...tokenColumns.map((c) => `api_tokens.${c}` as const), "users.email as owner_email"])
    .orderBy("api_tokens.id")
    .execute();
}

/**
 * A personal token: made by a person for themselves, with their role or a lower one. The trainer
 * role is a service's, made by admins under /tokens. Refused with the field named.
 */
export async function createOwnApiToken(db: Db, owner: { id: string; role: UserRole }, input: z.infer<typeof createTokenSchema>) {
  if (input.role === "trainer" || !hasRole(owner.role, input.role)) {
    throw new AppError("validation_failed", "The token's role is above yours.", [{ path: "role", message: `choose ${userRoles.filter((r) => hasRole(owner.role, r)).join(", ")}` }]);
  }
  return createApiToken(db, owner.id, input);
}

/** One person's own tokens (the account's personal tokens). */
export function listOwnApiTokens(db: Db, ownerId: string) {
  return db.selectFrom("api_tokens").select([...tokenColumns]).where("user_id", "=", ownerId).orderBy("id").execute();
}

/** Revokes a token; with `ownerId`, only that person's own (anyone else's is "no such token"). */
export async function revokeApiToken(db: Db, actorId: string, tokenId: string, ownerId?: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable("api_tokens")
      .set({ revoked_at: new Date() })
      .where("id", "=", tokenId)
      .where("revoked_at", "is", null)
      .$if(ownerId !== undefined, (q) => q.where("user_id", "=", ownerId!))
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new AppError("not_found", "No such active token.");
    await recordAudit(trx, { actorUserId: actorId, action: "token.revoke", target: `token:${tokenId}` });
  });
}

/**
 * The actor behind a bearer token, or null; a deactivated owner disables its tokens. Looked up on
 * every request, owner included, so the token's role is never more than the owner's role now.
 */
export async function findTokenActor(db: Db, secret: string): Promise<Actor | null> {
  if (!secret.startsWith(TOKEN_PREFIX)) return null;
  const row = await db
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select(["api_tokens.id as token_id", "api_tokens.role as token_role", "users.id", "users.email", "users.name", "users.role"])
    .where("api_tokens.token_hash", "=", sha256(secret))
    .where("api_tokens.revoked_at", "is", null)
    .where("users.active", "=", true)
    .executeTakeFirst();
  if (!row) return null;
  const role = effectiveTokenRole(row.token_role, row.role);
  if (!role) throw new AppError("forbidden", "This trainer token's owner is no longer an admin; an admin must create a new one.");
  await db.updateTable("api_tokens").set({ last_used_at: new Date() }).where("id", "=", row.token_id).execute();
  const { token_id, token_role: _tokenRole, ...user } = row;
  return { kind: "token", user, role, tokenId: token_id };
}
