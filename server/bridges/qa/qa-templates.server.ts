import type { Db } from "../../db/database.server.ts";
import { recordAudit } from "../../auth/audit.server.ts";
import { AppError } from "../../lib/app-error.ts";
import { DEFAULT_PAIRS_PER_CHUNK, DEFAULT_QA_TEMPLATE, templateIssues, type QaTemplateInput } from "./qa-template.ts";

export type QaTemplate = { template: string; pairsPerChunk: number; isDefault: boolean };

/** The project's Q&A prompt template, or the default one when it has none. */
export async function getQaTemplate(db: Db, projectId: string): Promise<QaTemplate> {
  const row = await db.selectFrom("qa_templates").select(["template", "pairs_per_chunk"]).where("project_id", "=", projectId).executeTakeFirst();
  return row ? { template: row.template, pairsPerChunk: row.pairs_per_chunk, isDefault: false } : { template: DEFAULT_QA_TEMPLATE, pairsPerChunk: DEFAULT_PAIRS_PER_CHUNK, isDefault: true };
}

/** Saves a template after checking its placeholders; a refused one changes nothing. */
export async function saveQaTemplate(db: Db, actorId: string, projectId: string, input: QaTemplateInput): Promise<QaTemplate> {
  const issues = templateIssues(input.template);
  if (issues.length > 0) {
    throw new AppError("validation_failed", "The template was not saved.", issues.map((issue) => ({ path: `template line ${issue.line}`, message: issue.message })));
  }
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto("qa_templates")
      .values({ project_id: projectId, template: input.template, pairs_per_chunk: input.pairsPerChunk, updated_by: actorId })
      .onConflict((oc) => oc.column("project_id").doUpdateSet({ template: input.template, pairs_per_chunk: input.pairsPerChunk, updated_by: actorId, updated_at: new Date() }))
      .execute();
    await recordAudit(trx, { actorUserId: actorId, action: "qa_template.update", target: `project:${projectId}` });
  });
  return { template: input.template, pairsPerChunk: input.pairsPerChunk, isDefault: false };
}
