import { z } from "zod";
import { endpoint, type AnyEndpoint } from "../api/endpoint.server.ts";
import { auditQuerySchema, listAudit } from "./audit-log.server.ts";

const auditEntrySchema = z
  .object({
    id: z.string(),
    action: z.string(),
    target: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    created_at: z.union([z.date(), z.iso.datetime()]),
    actor: z.object({ id: z.string(), email: z.string(), name: z.string() }).nullable(),
  })
  .meta({ id: "AuditEntry" });

export const auditEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/audit",
    summary: "The audit log, newest first: filter by action (exact, or a family such as `export`), actor (id or e-mail) and date; page with `before`",
    access: "admin",
    query: auditQuerySchema,
    response: z.object({ entries: z.array(auditEntrySchema), nextBefore: z.string().nullable() }),
    handler: ({ ctx, query }) => listAudit(ctx.db, query),
  }),
];
