/**
 * The built-in tools a registered model may call while it answers on the server (the playground
 * and /v1/chat/completions): those its project declares (settings.tools; decision 0019).
 */
import type { Db } from "../db/database.server.ts";
import { projectSettingsSchema } from "../labeling/project-settings.ts";
import type { ToolName } from "../../trainer/contract/conversation.ts";

export async function projectTools(db: Db, modelId: string): Promise<ToolName[]> {
  const row = await db
    .selectFrom("models")
    .innerJoin("projects", "projects.id", "models.project_id")
    .select("projects.settings")
    .where("models.id", "=", modelId)
    .executeTakeFirst();
  if (!row) return [];
  const settings = projectSettingsSchema.safeParse(row.settings);
  return settings.success ? settings.data.tools : [];
}
