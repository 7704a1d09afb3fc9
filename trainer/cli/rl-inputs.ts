// What GRPO/RLOO jobs read: prompt records with metadata (TRL's format), rendered with the chat
// template (KTO's unpaired labels: job-inputs.ts). Bad records stop the job before any work, each named by
// line (DataError), as the other jobs' inputs (job-inputs.ts).
import { z } from "zod";
import { type CheckerSpec } from "../contract/checker.ts";
import { promptRecordSchema, readJsonl } from "../data/jsonl.ts";
import { type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { renderChat, type ChatMessage } from "../tokenizer/chat-template.ts";
import { type RlPrompt } from "../algorithms/grpo-trainer.ts";
import { asMessages, check, DataError } from "./job-inputs.ts";

/**
 * {"prompt": …, "metadata": {…}}, or TRL's prompt-only record whose extra columns are the metadata
 * ({"prompt": …, "answer": 84}); not both at once.
 */
export const rlPromptRecordSchema = z
  .looseObject({ prompt: promptRecordSchema.shape.prompt, metadata: z.record(z.string(), z.unknown()).optional() })
  .superRefine((r, ctx) => {
    const extra = Object.keys(r).filter((k) => k !== "prompt" && k !== "metadata");
    if (r.metadata !== undefined && extra.length > 0)
      ctx.addIssue({ code: "custom", message: `metadata given twice: in "metadata" and as extra columns (${extra.join(", ")})`, path: [extra[0] ?? "metadata"] });
  })
  .transform(({ prompt, metadata, ...extra }) => ({ prompt, metadata: metadata ?? extra }));

/** The prompt records with their metadata; a checker reading a metadata field refuses records without it, by line. */
export function readRlPromptRecords(path: string, checker: CheckerSpec | undefined) {
  const records = check(path, readJsonl(path, rlPromptRecordSchema));
  const field = checker?.field;
  if (field !== undefined) {
    const missing = records.filter((r) => r.value.metadata[field] === undefined || r.value.metadata[field] === null);
    if (missing.length > 0) throw new DataError(path, missing.map((r) => ({ line: r.line, reason: `metadata.${field} is missing: the checker reads the reference answer from it` })));
  }
  return records;
}

/**
 * Prompts rendered with the generation prompt, with their metadata. `room` is the context left for a
 * prompt (blockSize − maxCompletionLength). A checker reading a metadata field refuses prompts without it.
 */
export async function readRlPrompts(path: string, tokenizer: BpeTokenizer, room: number, checker: CheckerSpec | undefined): Promise<(RlPrompt & { line: number })[]> {
  const records = readRlPromptRecords(path, checker);
  const prompts = await Promise.all(records.map(async (r) => ({
    line: r.line,
    ids: (await renderChat(tokenizer, asMessages(r.value.prompt) as ChatMessage[], { addGenerationPrompt: true })).ids,
    metadata: r.value.metadata,
  })));
  ensureWithin(path, prompts.map((p) => ({ line: p.line, length: p.ids.length })), room, `leaves the answer less than train.maxCompletionLength tokens of the model's context (at most ${room} prompt tokens)`);
  return prompts;
}

function ensureWithin(path: string, rows: { line: number; length: number }[], limit: number, what: string): void {
  const problems = rows.filter((r) => r.length > limit).map((r) => ({ line: r.line, reason: `${r.length} tokens ${what}` }));
  if (problems.length > 0) throw new DataError(path, problems);
}
