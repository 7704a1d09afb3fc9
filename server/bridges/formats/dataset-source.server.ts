import type { Db } from "../../db/database.server.ts";
import type { ChatMessage } from "../../db/schema.ts";
import { completionAnswers, preferenceBatches, sftConversations, submissionsOf, type ExportFilter } from "../../labeling/exports.server.ts";
import { splitAnswer, withFinalWords } from "../../labeling/transcript.ts";
import type { DatasetItem, DatasetKind, PromptItem, SftItem, UnpairedItem } from "./dataset-records.ts";
import { promptRules } from "../../labeling/eval-split.ts";

/**
 * A project's records of one dataset kind, a batch at a time, with the export filters
 * (since, until, labeler, round, minAgreement, consensus where they apply). The labeled kinds are
 * exactly what the existing exports hold; unpaired adds review decisions and unpairs the pairs.
 */
const BATCH = 1000;

export function datasetBatches<K extends DatasetKind>(db: Db, projectId: string, kind: K, filter: ExportFilter): AsyncGenerator<Array<DatasetItem[K]>> {
  const sources: { [D in DatasetKind]: () => AsyncGenerator<Array<DatasetItem[D]>> } = {
    preferences: () => preferenceBatches(db, projectId, filter),
    sft: () => sftBatches(db, projectId, filter),
    unpaired: () => unpairedBatches(db, projectId, filter),
    prompts: () => promptBatches(db, projectId, filter),
  };
  return sources[kind]() as AsyncGenerator<Array<DatasetItem[K]>>;
}

async function* sftBatches(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<SftItem[]> {
  let batch: SftItem[] = [];
  for await (const messages of sftConversations(db, projectId, filter)) {
    // The answer is the last assistant turn (with its tool calls and results); a continued
    // demonstration's earlier turns are its prompt.
    const { prompt, answer } = splitAnswer(messages);
    batch.push({ prompt, completion: answer });
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * KTO's unpaired labels: first every answer review (accept → true; reject → false; edit → the
 * original false and the correction true) and every imported label, then each preference pair
 * as chosen → true and rejected → false (what TRL's unpair_preference_dataset does).
 */
async function* unpairedBatches(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<UnpairedItem[]> {
  type Pending = { messages: ChatMessage[]; completionId: string; payload: Record<string, unknown>; qa: boolean };
  let pending: Pending[] = [];
  const flush = async (): Promise<UnpairedItem[]> => {
    const texts = await completionAnswers(db, pending.map((p) => p.completionId));
    const items = pending.flatMap((p): UnpairedItem[] => {
      const original = texts.get(p.completionId) ?? "";
      if (!p.qa) return [{ prompt: p.messages, completion: original, label: p.payload.label === true }];
      if (p.payload.decision === "accept") return [{ prompt: p.messages, completion: original, label: true }];
      if (p.payload.decision === "reject") return [{ prompt: p.messages, completion: original, label: false }];
      return [
        { prompt: p.messages, completion: original, label: false },
        { prompt: p.messages, completion: withFinalWords(original, String(p.payload.editedText)), label: true },
      ];
    });
    pending = [];
    return items;
  };
  for await (const row of submissionsOf(db, projectId, "review", filter)) {
    const completionId = row.shown_order[0];
    const qa = row.kind === "qa";
    // A review of a held-back prompt (content filter) judges the prompt, not an answer.
    if (!completionId || (!qa && typeof row.payload.label !== "boolean")) continue;
    pending.push({ messages: row.messages, completionId, payload: row.payload, qa });
    if (pending.length >= BATCH) yield await flush();
  }
  if (pending.length > 0) yield await flush();
  // The reviews above already hold each correction (original false, corrected true): the pairs
  // pass leaves corrections out, or every edit would be there twice.
  for await (const batch of preferenceBatches(db, projectId, { ...filter, mix: { ...filter.mix, corrections: 0 } })) {
    yield batch.flatMap((p) => [
      { prompt: p.prompt, completion: p.chosen, label: true },
      { prompt: p.prompt, completion: p.rejected, label: false },
    ]);
  }
}

/**
 * The project's active prompts (not Q&A for review, not held back) with their metadata, in the
 * order they were added; with `round`, the prompts that round's tasks were sampled for.
 */
async function* promptBatches(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<PromptItem[]> {
  let after = "0";
  for (;;) {
    let query = db
      .selectFrom("prompts")
      .select(["id", "messages", "metadata"])
      .where("project_id", "=", projectId)
      .where("status", "=", "active")
      .where("kind", "=", "prompt")
      .where("id", ">", after)
      .where((eb) => eb.and(promptRules(filter, "prompts.id", "prompts.held_out")))
      .orderBy("id")
      .limit(BATCH);
    if (filter.since) query = query.where("created_at", ">=", new Date(filter.since));
    if (filter.until) query = query.where("created_at", "<", new Date(filter.until));
    const round = filter.round;
    if (round) query = query.where((eb) => eb.exists(eb.selectFrom("tasks").select("tasks.id").whereRef("tasks.prompt_id", "=", "prompts.id").where("tasks.round_id", "=", round)));
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows.map((r) => ({ messages: r.messages, metadata: r.metadata }));
    after = rows.at(-1)!.id;
  }
}
