import type { Transaction } from "kysely";
import type { ChatMessage, Database } from "../db/schema.ts";
import type { ProjectSettings } from "./project-settings.ts";

export type NewPrompt = {
  messages: ChatMessage[];
  completions: Array<{ text: string; model: string | null }>;
  source: string | null;
  metadata: Record<string, unknown>;
  contentHash: string;
  minhash: string;
  /** "review": a content-filter hit that a reviewer sees before any labeler does. */
  status: "active" | "review";
};

/**
 * Stores prompts with their completions and creates the tasks they need:
 * a review task for filtered prompts; a ranking task when there are ≥ 2 completions
 * (the first K); otherwise a demonstration task.
 */
export async function insertPrompts(
  trx: Transaction<Database>,
  projectId: string,
  settings: ProjectSettings,
  prompts: NewPrompt[],
  authorUserId: string | null,
): Promise<{ promptIds: string[]; tasks: Record<"demonstrate" | "rank" | "review", number> }> {
  const counts = { demonstrate: 0, rank: 0, review: 0 };
  const promptIds: string[] = [];
  for (const prompt of prompts) {
    const row = await trx
      .insertInto("prompts")
      .values({
        project_id: projectId,
        messages: JSON.stringify(prompt.messages),
        content_hash: prompt.contentHash,
        minhash: prompt.minhash,
        source: prompt.source,
        metadata: JSON.stringify(prompt.metadata),
        status: prompt.status,
        author_user_id: authorUserId,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    promptIds.push(row.id);
    const completionIds: string[] = [];
    if (prompt.completions.length > 0) {
      const inserted = await trx
        .insertInto("completions")
        .values(prompt.completions.map((c) => ({ prompt_id: row.id, model_name: c.model, text: c.text })))
        .returning("id")
        .execute();
      completionIds.push(...inserted.map((c) => c.id));
    }
    const type = prompt.status === "review" ? "review" : completionIds.length >= 2 ? "rank" : "demonstrate";
    counts[type]++;
    await trx
      .insertInto("tasks")
      .values({
        project_id: projectId,
        prompt_id: row.id,
        type,
        overlap_target: settings.overlap[type],
        completion_ids: JSON.stringify(type === "rank" ? completionIds.slice(0, settings.k) : completionIds),
        author_user_id: authorUserId,
      })
      .execute();
  }
  return { promptIds, tasks: counts };
}
