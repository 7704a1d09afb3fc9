import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

/**
 * The unmasked original of a prompt whose PII was masked at import (decision 0037): only where the
 * project kept originals, only for researchers, and every read is audited.
 */
const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });

export const piiEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/prompts/:id/original",
    project: "prompt",
    summary: "The unmasked original of a prompt whose PII was masked at import (kept only if the project says so)",
    access: "researcher",
    params: idParams,
    response: z.object({ promptId: z.string(), messages: z.array(z.record(z.string(), z.unknown())), completions: z.array(z.record(z.string(), z.unknown())) }),
    handler: async ({ ctx, params }) => {
      const prompt = await ctx.db.selectFrom("prompts").select("project_id").where("id", "=", params.id).executeTakeFirst();
      if (!prompt) throw new AppError("not_found", "No such prompt.");
      const original = await ctx.db.selectFrom("prompt_originals").select(["messages", "completions"]).where("prompt_id", "=", params.id).executeTakeFirst();
      if (!original) throw new AppError("not_found", "No original was kept for this prompt.");
      await recordAudit(ctx.db, { actor: ctx.actor, action: "prompt.original_read", target: `prompt:${params.id}`, details: { projectId: prompt.project_id } });
      return { promptId: params.id, messages: original.messages, completions: original.completions };
    },
  }),
];
