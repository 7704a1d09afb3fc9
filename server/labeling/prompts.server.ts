import { initialOverlap } from "./adaptive-overlap.ts";
import type { Transaction } from "kysely";
import type { ChatMessage, Database, TranscriptMessage } from "../db/schema.ts";
import type { ProjectSettings } from "./project-settings.ts";

export type NewPrompt = {
  messages: ChatMessage[];
  /** `messages`: a completion's transcript when it used tools (text is then its final answer). */
  completions: Array<{ text: string; model: string | null; messages?: TranscriptMessage[] }>;
  source: string | null;
  metadata: Record<string, unknown>;
  contentHash: string;
  minhash: string;
  /** "review": a content-filter hit that a reviewer sees before any labeler does. */
  status: "active" | "review";
  /** "qa": a synthetic question and answer for a reviewer to accept, edit or reject. */
  kind?: "prompt" | "qa";
  /** "compare": two completions from two models, judged A / B / tie (else decided by the completions). */
  taskType?: "compare";
  /** A gold task's answer: each completion's rank (1 = best, equal = tie), parallel to `completions`. */
  gold?: number[];
  /** In the project's eval set: stored with its metadata, never turned into a labeling task. */
  heldOut?: boolean;
};

const CHUNK = 1000;

/** The labeling task a prompt needs: ranking with ≥ 2 completions, else a demonstration. */
export function labelingTaskType(completionCount: number): "rank" | "demonstrate" {
  return completionCount >= 2 ? "rank" : "demonstrate";
}

/** Rank numbers parallel to the completion ids → tiers of ids, best first (the Ranking shape). */
export function goldRanking(completionIds: readonly string[], ranks: readonly number[]): { tiers: string[][] } {
  const byRank = new Map<number, string[]>();
  completionIds.forEach((id, i) => {
    const rank = ranks[i]!;
    byRank.set(rank, [...(byRank.get(rank) ?? []), id]);
  });
  return { tiers: [...byRank.entries()].sort(([a], [b]) => a - b).map(([, ids]) => ids) };
}

/**
 * Stores prompts with their completions and creates the tasks they need:
 * a review task for filtered prompts; a ranking task when there are ≥ 2 completions
 * (the first K); otherwise a demonstration task; none for a held-out (eval set) prompt.
 * Inserts go in chunks of 1,000 rows,
 * so a 100k-prompt import is a few hundred statements, not 300,000.
 */
export async function insertPrompts(
  trx: Transaction<Database>,
  projectId: string,
  settings: ProjectSettings,
  prompts: NewPrompt[],
  authorUserId: string | null,
): Promise<{ promptIds: string[]; tasks: Record<"demonstrate" | "rank" | "review" | "compare", number> }> {
  const counts = { demonstrate: 0, rank: 0, review: 0, compare: 0 };
  const promptIds: string[] = [];
  for (let start = 0; start < prompts.length; start += CHUNK) {
    const chunk = prompts.slice(start, start + CHUNK);
    const rows = await trx
      .insertInto("prompts")
      .values(
        chunk.map((prompt) => ({
          project_id: projectId,
          messages: JSON.stringify(prompt.messages),
          content_hash: prompt.contentHash,
          minhash: prompt.minhash,
          source: prompt.source,
          metadata: JSON.stringify(prompt.metadata),
          status: prompt.status,
          kind: prompt.kind ?? "prompt",
          author_user_id: authorUserId,
          held_out: prompt.heldOut === true,
        })),
      )
      .returning(["id", "content_hash"])
      .execute();
    // Content hashes are unique per project, so they tie returned ids to inputs whatever the row order.
    const idByHash = new Map(rows.map((r) => [r.content_hash, r.id]));
    const ids = chunk.map((p) => idByHash.get(p.contentHash)!);
    promptIds.push(...ids);

    const completionRows = chunk.flatMap((prompt, i) => prompt.completions.map((c) => ({ prompt_id: ids[i]!, model_name: c.model, text: c.text, messages: c.messages ? JSON.stringify(c.messages) : null })));
    const completionIds = new Map<string, string[]>();
    for (let c = 0; c < completionRows.length; c += CHUNK) {
      const inserted = await trx.insertInto("completions").values(completionRows.slice(c, c + CHUNK)).returning(["id", "prompt_id"]).execute();
      for (const row of inserted) completionIds.set(row.prompt_id, [...(completionIds.get(row.prompt_id) ?? []), row.id]);
    }

    const tasks = chunk.flatMap((prompt, i) => {
      if (prompt.heldOut) return [];
      const own = (completionIds.get(ids[i]!) ?? []).sort((a, b) => Number(a) - Number(b));
      const type = prompt.status === "review" ? "review" : (prompt.taskType ?? labelingTaskType(own.length));
      counts[type]++;
      return [{
        project_id: projectId,
        prompt_id: ids[i]!,
        type,
        overlap_target: initialOverlap(settings, type),
        completion_ids: JSON.stringify(type === "rank" ? own.slice(0, settings.k) : own),
        author_user_id: authorUserId,
        gold: type === "rank" && prompt.gold ? JSON.stringify(goldRanking(own.slice(0, settings.k), prompt.gold)) : null,
      } as const];
    });
    if (tasks.length > 0) await trx.insertInto("tasks").values(tasks).execute();
  }
  return { promptIds, tasks: counts };
}
