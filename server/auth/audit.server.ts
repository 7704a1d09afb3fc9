import type { Db } from "../db/database.server.ts";
import type { Kysely, Transaction } from "kysely";
import type { Database } from "../db/schema.ts";

export type DbOrTrx = Db | Kysely<Database> | Transaction<Database>;

export async function recordAudit(
  db: DbOrTrx,
  entry: { actorUserId: string | null; action: string; target?: string; details?: Record<string, unknown> },
): Promise<void> {
  await db
    .insertInto("audit_log")
    .values({
      actor_user_id: entry.actorUserId,
      action: entry.action,
      target: entry.target ?? null,
      details: JSON.stringify(entry.details ?? {}),
    })
    .execute();
}
