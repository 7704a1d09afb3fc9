import type { Db } from "../db/database.server.ts";
import type { Kysely, Transaction } from "kysely";
import type { Database } from "../db/schema.ts";
import type { Actor } from "./actor.ts";

export type DbOrTrx = Db | Kysely<Database> | Transaction<Database>;

/**
 * Appends one audit entry. Pass `actor` (the request's actor) where there is one: a token's id is
 * then kept beside its owner, so "who" also says "through which token". Details never carry a
 * secret: keys that name one are replaced by "[redacted]" as a last line of defence.
 */
export async function recordAudit(
  db: DbOrTrx,
  entry: { actorUserId?: string | null; actor?: Actor | null; action: string; target?: string; details?: Record<string, unknown> },
): Promise<void> {
  const actorUserId = entry.actor !== undefined ? (entry.actor?.user.id ?? null) : (entry.actorUserId ?? null);
  const via = entry.actor?.kind === "token" ? { via: { token: entry.actor.tokenId, role: entry.actor.role } } : {};
  await db
    .insertInto("audit_log")
    .values({
      actor_user_id: actorUserId,
      action: entry.action,
      target: entry.target ?? null,
      details: JSON.stringify(redactSecrets({ ...(entry.details ?? {}), ...via })),
    })
    .execute();
}

const SECRET_KEY = /(password|secret|api_?key|authorization|cookie|token_hash|credential|private_?key)/i;

/** A copy of `value` with every property whose name suggests a secret replaced, at any depth. */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item)) as T;
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, inner]) => [key, SECRET_KEY.test(key) ? "[redacted]" : redactSecrets(inner)]),
  ) as T;
}
