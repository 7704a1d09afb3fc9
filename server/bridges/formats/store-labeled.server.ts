import { randomBytes, randomUUID } from "node:crypto";
import type { Transaction } from "kysely";
import { hashPassword } from "../../auth/password.server.ts";
import type { ChatMessage, Database, TaskType } from "../../db/schema.ts";
import { signatureToBase64, textSignature } from "../../labeling/import/minhash.ts";
import { contentHash } from "../../labeling/import/normalize.ts";
import { nearDuplicateText } from "../../labeling/import/plan-import.ts";
import { demonstrationOf } from "../../labeling/demonstration.ts";
import { answerText, storedMessages, type Answer } from "../../labeling/transcript.ts";
import type { PreferenceItem, SftItem, UnpairedItem } from "./dataset-records.ts";

/**
 * Imported judgements become ordinary Tandem data (decision 0013): each record is a completed
 * task on its prompt with one submission by the deactivated "Imported data" account, so every
 * export, round and filter treats it like a person's label (and `labeler=<that id>` picks it out).
 *   preferences → an A/B (compare) task: winner = chosen, strength = margin, plus the weight
 *   sft         → a demonstration task: the answer as the demonstration (tool calls and results as
 *                 its toolTurns; tool use in earlier turns makes them the demonstration's continuation)
 *   unpaired    → a review task over the one answer: accept (true) or reject (false), plus the label
 * Prompts are matched by content hash: one already in the project gets the new tasks; a new one is
 * stored once however many records share it. Completions are stored once per prompt and answer
 * (a tool-using answer with its transcript in completions.messages).
 */
export const IMPORTED_DATA_EMAIL = "imported-data@tandem.local";
export const IMPORTED_DATA_NAME = "Imported data";

export type LabeledImport =
  | { dataset: "preferences"; items: PreferenceItem[] }
  | { dataset: "sft"; items: SftItem[] }
  | { dataset: "unpaired"; items: UnpairedItem[] };

export type StoredCounts = { prompts: number; existingPrompts: number; tasks: Record<TaskType, number> };

const CHUNK = 1000;

/** The account imported labels are recorded under: created on first use, never able to sign in. */
export async function importedDataAccount(trx: Transaction<Database>): Promise<string> {
  const existing = await trx.selectFrom("users").select("id").where((eb) => eb(eb.fn("lower", ["email"]), "=", IMPORTED_DATA_EMAIL)).executeTakeFirst();
  if (existing) return existing.id;
  const passwordHash = await hashPassword(randomBytes(24).toString("base64url"));
  const user = await trx
    .insertInto("users")
    .values({ email: IMPORTED_DATA_EMAIL, name: IMPORTED_DATA_NAME, role: "labeler", password_hash: passwordHash, active: false })
    .returning("id")
    .executeTakeFirstOrThrow();
  return user.id;
}

async function insertChunked<R extends { id: string }>(rows: unknown[], insert: (chunk: unknown[]) => Promise<R[]>): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < rows.length; start += CHUNK) {
    // Identity values follow the VALUES order of one INSERT; sorting the returned ids restores it.
    const returned = await insert(rows.slice(start, start + CHUNK));
    ids.push(...returned.map((r) => r.id).sort((a, b) => Number(a) - Number(b)));
  }
  return ids;
}

export async function storeLabeled(
  trx: Transaction<Database>,
  projectId: string,
  actorId: string,
  data: LabeledImport,
  source: string | null,
): Promise<StoredCounts> {
  const importer = await importedDataAccount(trx);
  const records = data.items.map((item: PreferenceItem | SftItem | UnpairedItem) => {
    // An SFT conversation whose earlier turns used tools is stored from its first reply on.
    const demonstration = data.dataset === "sft" ? demonstrationOf(item.prompt, (item as SftItem).completion) : null;
    const prompt = (demonstration?.prompt ?? item.prompt) as ChatMessage[];
    return { item, prompt, demonstration, hash: contentHash(prompt) };
  });

  // 1. Prompts: the project's own when the content hash matches, else one new row per distinct prompt.
  const hashes = [...new Set(records.map((r) => r.hash))];
  const promptIds = new Map<string, string>();
  for (let start = 0; start < hashes.length; start += CHUNK) {
    const rows = await trx.selectFrom("prompts").select(["id", "content_hash"]).where("project_id", "=", projectId).where("content_hash", "in", hashes.slice(start, start + CHUNK)).execute();
    for (const row of rows) promptIds.set(row.content_hash, row.id);
  }
  const existingPrompts = promptIds.size;
  const firstOf = new Map<string, ChatMessage[]>();
  for (const r of records) if (!promptIds.has(r.hash) && !firstOf.has(r.hash)) firstOf.set(r.hash, r.prompt);
  const newPrompts = [...firstOf.entries()];
  for (let start = 0; start < newPrompts.length; start += CHUNK) {
    const rows = await trx
      .insertInto("prompts")
      .values(
        newPrompts.slice(start, start + CHUNK).map(([hash, messages]) => ({
          project_id: projectId,
          messages: JSON.stringify(messages),
          content_hash: hash,
          minhash: signatureToBase64(textSignature(nearDuplicateText(messages))),
          source,
          metadata: "{}",
          status: "active" as const,
          kind: "prompt" as const,
          author_user_id: actorId,
        })),
      )
      .returning(["id", "content_hash"])
      .execute();
    for (const row of rows) promptIds.set(row.content_hash, row.id);
  }

  // 2. Completions: one row per prompt and distinct answer (text, or the transcript with tool use).
  const answersOf = (item: PreferenceItem | SftItem | UnpairedItem): Answer[] =>
    data.dataset === "preferences" ? [(item as PreferenceItem).chosen, (item as PreferenceItem).rejected] : data.dataset === "unpaired" ? [(item as UnpairedItem).completion] : [];
  const completionKey = (promptId: string, answer: Answer) => `${promptId}\u0000${JSON.stringify(answer)}`;
  const completionIds = new Map<string, string>();
  const wanted: Array<{ prompt_id: string; answer: Answer }> = [];
  for (const r of records) {
    const promptId = promptIds.get(r.hash)!;
    for (const answer of answersOf(r.item)) {
      const key = completionKey(promptId, answer);
      if (completionIds.has(key)) continue;
      completionIds.set(key, "");
      wanted.push({ prompt_id: promptId, answer });
    }
  }
  const insertedCompletions = await insertChunked(wanted, (chunk) =>
    trx
      .insertInto("completions")
      .values(
        (chunk as typeof wanted).map((c) => {
          const messages = storedMessages(c.answer);
          return { prompt_id: c.prompt_id, text: answerText(c.answer), messages: messages ? JSON.stringify(messages) : null, model_name: "imported" };
        }),
      )
      .returning("id")
      .execute(),
  );
  wanted.forEach((c, i) => completionIds.set(completionKey(c.prompt_id, c.answer), insertedCompletions[i]!));

  // 3. One completed task, assignment and submission per record, in the file's order.
  const type: TaskType = data.dataset === "preferences" ? "compare" : data.dataset === "sft" ? "demonstrate" : "review";
  const planned = records.map((r) => {
    const promptId = promptIds.get(r.hash)!;
    const shown = answersOf(r.item).map((text) => completionIds.get(completionKey(promptId, text))!);
    let payload: Record<string, unknown>;
    if (data.dataset === "preferences") {
      const p = r.item as PreferenceItem;
      payload = { choice: "A", strength: p.margin, rationale: "", winner: shown[0], loser: shown[1], weight: p.weight };
    } else if (data.dataset === "sft") {
      payload = r.demonstration!.payload;
    } else {
      const label = (r.item as UnpairedItem).label;
      payload = { decision: label ? "accept" : "reject", reasons: [], note: "", label };
    }
    return { promptId, shown, payload };
  });
  const taskIds = await insertChunked(planned, (chunk) =>
    trx
      .insertInto("tasks")
      .values(
        (chunk as typeof planned).map((p) => ({
          project_id: projectId,
          prompt_id: p.promptId,
          type,
          state: "complete" as const,
          overlap_target: 1,
          completion_ids: JSON.stringify(p.shown),
          author_user_id: actorId,
        })),
      )
      .returning("id")
      .execute(),
  );
  const now = new Date();
  const indexed = planned.map((p, i) => ({ p, i }));
  type Indexed = (typeof indexed)[number];
  const assignmentIds = await insertChunked(indexed, (chunk) =>
    trx
      .insertInto("assignments")
      .values(
        (chunk as Indexed[]).map(({ p, i }) => ({
          task_id: taskIds[i]!,
          user_id: importer,
          state: "submitted" as const,
          lease_expires_at: now,
          shown_order: JSON.stringify(p.shown),
        })),
      )
      .returning("id")
      .execute(),
  );
  const batch = randomUUID();
  await insertChunked(
    indexed,
    (chunk) =>
      trx
        .insertInto("submissions")
        .values(
          (chunk as Indexed[]).map(({ p, i }) => ({
            assignment_id: assignmentIds[i]!,
            task_id: taskIds[i]!,
            user_id: importer,
            payload: JSON.stringify(p.payload),
            timings: "{}",
            idempotency_key: `import:${batch}:${i}`,
          })),
        )
        .returning("id")
        .execute(),
  );
  const tasks: Record<TaskType, number> = { demonstrate: 0, rank: 0, review: 0, compare: 0 };
  tasks[type] = planned.length;
  return { prompts: newPrompts.length, existingPrompts, tasks };
}
