import { z } from "zod";
import type { Db } from "../db/database.server.ts";

const day = z.iso.date();
const instant = z.iso.datetime({ offset: true });

/** Filters of the audit page and GET /api/v1/audit; the same schema validates both. */
export const auditQuerySchema = z.object({
  /** An exact action ("user.role_change") or a family without a dot ("export" = every export.*). */
  action: z
    .string()
    .trim()
    .max(100)
    .regex(/^[a-z0-9_.]*$/, "use lower-case letters, digits, dots and underscores")
    .optional()
    .transform((v) => v || undefined),
  /** The actor's user id or e-mail address (case-insensitive). */
  actor: z
    .string()
    .trim()
    .max(320)
    .optional()
    .transform((v) => v || undefined),
  /** From this day (UTC, inclusive) or instant. */
  from: z
    .union([day, instant, z.literal("")])
    .optional()
    .transform((v) => v || undefined),
  /** Up to this day (UTC, inclusive) or instant (exclusive). */
  to: z
    .union([day, instant, z.literal("")])
    .optional()
    .transform((v) => v || undefined),
  /** Keyset pagination: entries older than this id (the previous page's `nextBefore`). */
  before: z
    .string()
    .regex(/^\d{1,18}$/, "must be a numeric id")
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export type AuditQuery = z.output<typeof auditQuerySchema>;

export type AuditEntry = {
  id: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  created_at: Date;
  actor: { id: string; email: string; name: string } | null;
};

/** Newest first, `limit` at a time; `nextBefore` is null on the last page. */
export async function listAudit(db: Db, query: AuditQuery): Promise<{ entries: AuditEntry[]; nextBefore: string | null }> {
  let q = db
    .selectFrom("audit_log")
    .leftJoin("users", "users.id", "audit_log.actor_user_id")
    .select([
      "audit_log.id",
      "audit_log.action",
      "audit_log.target",
      "audit_log.details",
      "audit_log.created_at",
      "audit_log.actor_user_id",
      "users.email",
      "users.name",
    ]);
  if (query.action) {
    const action = query.action;
    q = action.includes(".")
      ? q.where("audit_log.action", "=", action)
      : q.where((eb) => eb.or([eb("audit_log.action", "=", action), eb("audit_log.action", "like", `${action}.%`)]));
  }
  if (query.actor) {
    const actor = query.actor;
    q = /^\d{1,18}$/.test(actor)
      ? q.where("audit_log.actor_user_id", "=", actor)
      : q.where((eb) => eb(eb.fn("lower", ["users.email"]), "=", actor.toLowerCase()));
  }
  if (query.from) q = q.where("audit_log.created_at", ">=", startOf(query.from));
  if (query.to) q = q.where("audit_log.created_at", "<", endOf(query.to));
  if (query.before) q = q.where("audit_log.id", "<", query.before);
  const rows = await q.orderBy("audit_log.id", "desc").limit(query.limit + 1).execute();
  const page = rows.slice(0, query.limit);
  return {
    entries: page.map((r) => ({
      id: r.id,
      action: r.action,
      target: r.target,
      details: r.details,
      created_at: r.created_at,
      actor: r.actor_user_id && r.email !== null && r.name !== null ? { id: r.actor_user_id, email: r.email, name: r.name } : null,
    })),
    nextBefore: rows.length > query.limit ? (page[page.length - 1]?.id ?? null) : null,
  };
}

/** The actions seen so far, for the page's filter list. */
export async function auditActions(db: Db): Promise<string[]> {
  const rows = await db.selectFrom("audit_log").select("action").distinct().orderBy("action").execute();
  return rows.map((r) => r.action);
}

const isDay = (value: string) => /^\d{4}-\d{2}-\d{2}$/.test(value);
const startOf = (value: string) => new Date(isDay(value) ? `${value}T00:00:00Z` : value);
/** A day includes all of itself: the bound is the next midnight (UTC). */
const endOf = (value: string) => (isDay(value) ? new Date(Date.parse(`${value}T00:00:00Z`) + 86_400_000) : new Date(value));
