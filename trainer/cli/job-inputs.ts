// What jobs read: JSONL records rendered with the chat template into token ids, and models built
// from a job's `model` source. Shared by the training jobs (run-job.ts) and `eval` (eval-job.ts).
// Bad records stop the job before any work, each named by line (DataError).
//
// Every reader takes tool transcripts (TRL's tool-calling messages: assistant `tool_calls`, `tool`
// messages) wherever a conversation or completion may stand. Tool results are context, never
// targets: SFT's loss mask and the completion masks of preference pairs and unpaired examples are
// 0 on them (chat-template.ts), so no loss and no sequence log-prob ever includes a tool result.
// A reward model reads the whole transcript, results included, as the context of its score.
import { resolveGptConfig, type GptConfig } from "../contract/gpt-config.ts";
import { type ModelSource } from "../contract/job.ts";
import { readManifest, loadCheckpointInto } from "../checkpoint/checkpoint.ts";
import { initGpt, type GptModel } from "../model/gpt.ts";
import { type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { renderChat, renderPromptCompletion, type ChatMessage } from "../tokenizer/chat-template.ts";
import {
  preferenceOrRankingSchema, ranksOf, readJsonl, sftRecordSchema, unpairedRecordSchema,
  type LineProblem, type PreferenceRecord, type RankingRecord,
} from "../data/jsonl.ts";
import { type SftExample } from "../algorithms/sft-trainer.ts";
import { type RankingExample } from "../algorithms/reward-trainer.ts";
import { type PreferencePair } from "../algorithms/dpo-trainer.ts";

export class DataError extends Error {
  constructor(
    readonly path: string,
    readonly problems: LineProblem[],
  ) {
    const shown = problems.slice(0, 20).map((p) => `  line ${p.line}: ${p.reason}`).join("\n");
    super(`${path}: ${problems.length} bad record(s)\n${shown}${problems.length > 20 ? "\n  …" : ""}`);
  }
}

export function check<T>(path: string, parsed: { records: { line: number; value: T }[]; problems: LineProblem[] }): { line: number; value: T }[] {
  if (parsed.problems.length > 0) throw new DataError(path, parsed.problems);
  return parsed.records;
}

export const asMessages = (prompt: string | ChatMessage[]): ChatMessage[] => (typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt);

/** Fresh model (vocabulary from the tokenizer) or one loaded from a checkpoint, with the wanted head. */
export function buildModel(source: ModelSource, tokenizer: BpeTokenizer, scalarHead: GptConfig["scalarHead"]): GptModel {
  if ("init" in source) {
    const input = source.init;
    const config = resolveGptConfig("preset" in input ? { ...input, vocabSize: tokenizer.vocabSize, scalarHead } : { ...input, scalarHead });
    if (config.vocabSize !== tokenizer.vocabSize)
      throw new Error(`model vocabSize ${config.vocabSize} ≠ tokenizer vocabulary ${tokenizer.vocabSize}`);
    return initGpt(config, source.seed);
  }
  const manifest = readManifest(source.checkpoint);
  const model = initGpt({ ...manifest.modelConfig, scalarHead }, 0);
  loadCheckpointInto(source.checkpoint, model, null, { tokenizerHash: tokenizer.hash, newHead: true });
  return model;
}

export function ensureFits(path: string, rows: { line: number; length: number }[], blockSize: number): void {
  const problems = rows
    .filter((r) => r.length > blockSize)
    .map((r) => ({ line: r.line, reason: `${r.length} tokens exceeds the model's blockSize ${blockSize}` }));
  if (problems.length > 0) throw new DataError(path, problems);
}

/** `messages` records rendered with assistant-only loss masks. */
export async function readSftExamples(path: string, tokenizer: BpeTokenizer, blockSize: number): Promise<SftExample[]> {
  const records = check(path, readJsonl(path, sftRecordSchema));
  const rendered = await Promise.all(records.map(async (r) => ({ line: r.line, chat: await renderChat(tokenizer, r.value.messages) })));
  ensureFits(path, rendered.map((r) => ({ line: r.line, length: r.chat.ids.length })), blockSize);
  return rendered.map((r) => r.chat);
}

/** Rankings of K completions, or preferences as rankings of two. */
export async function readRankingExamples(path: string, tokenizer: BpeTokenizer, blockSize: number): Promise<RankingExample[]> {
  const records = check(path, readJsonl(path, preferenceOrRankingSchema));
  const examples: RankingExample[] = [];
  const lengths: { line: number; length: number }[] = [];
  for (const { line, value } of records) {
    const r: RankingRecord = "completions" in value ? value : toRanking(value);
    const rendered = await Promise.all(r.completions.map((c) => renderPromptCompletion(tokenizer, asMessages(r.prompt), c)));
    rendered.forEach((x) => lengths.push({ line, length: x.full.ids.length }));
    examples.push({
      prompt: rendered[0]?.prompt ?? [],
      completions: rendered.map((x) => x.full.ids.slice(x.prompt.length)),
      ranks: ranksOf(r),
      ...(r.margin !== undefined ? { margin: r.margin } : {}),
    });
  }
  ensureFits(path, lengths, blockSize);
  return examples;
}

/** Preference records, or rankings expanded to every pair with distinct ranks. */
export async function readPreferencePairs(path: string, tokenizer: BpeTokenizer, blockSize: number): Promise<PreferencePair[]> {
  const records = check(path, readJsonl(path, preferenceOrRankingSchema));
  const pairs: PreferencePair[] = [];
  const lengths: { line: number; length: number }[] = [];
  for (const { line, value } of records) {
    const prefs: PreferenceRecord[] = "chosen" in value ? [value] : toPreferences(value);
    for (const p of prefs) {
      const chosen = await renderPromptCompletion(tokenizer, asMessages(p.prompt), p.chosen);
      const rejected = await renderPromptCompletion(tokenizer, asMessages(p.prompt), p.rejected);
      lengths.push({ line, length: chosen.full.ids.length }, { line, length: rejected.full.ids.length });
      const c = chosen.full.ids.length - chosen.prompt.length;
      const r = rejected.full.ids.length - rejected.prompt.length;
      pairs.push({
        prompt: chosen.prompt,
        chosen: chosen.full.ids.slice(-c),
        rejected: rejected.full.ids.slice(-r),
        // a plain completion is all the policy's: leave the mask out (all ones)
        ...(typeof p.chosen !== "string" ? { chosenMask: chosen.full.lossMask.slice(-c) } : {}),
        ...(typeof p.rejected !== "string" ? { rejectedMask: rejected.full.lossMask.slice(-r) } : {}),
      });
    }
  }
  ensureFits(path, lengths, blockSize);
  return pairs;
}

/** One completion with a thumbs up or down (KTO's data), rendered with its completion mask. */
export interface UnpairedExample {
  prompt: number[];
  /** Ends with the end-of-turn token. */
  completion: number[];
  /** Per completion token: 1 on the policy's own tokens, 0 on tool results (same length as completion). */
  completionMask: number[];
  /** Desirable (true) or undesirable (false). */
  label: boolean;
}

/** TRL's unpaired records ({"prompt", "completion", "label"}), plain or tool-using completions. */
export async function readUnpairedExamples(path: string, tokenizer: BpeTokenizer, blockSize: number): Promise<UnpairedExample[]> {
  const records = check(path, readJsonl(path, unpairedRecordSchema));
  const rendered = await Promise.all(records.map(async (r) => ({ line: r.line, label: r.value.label, x: await renderPromptCompletion(tokenizer, asMessages(r.value.prompt), r.value.completion) })));
  ensureFits(path, rendered.map((r) => ({ line: r.line, length: r.x.full.ids.length })), blockSize);
  return rendered.map(({ x, label }) => ({
    prompt: x.prompt,
    completion: x.full.ids.slice(x.prompt.length),
    completionMask: x.full.lossMask.slice(x.prompt.length),
    label,
  }));
}

function toRanking(p: PreferenceRecord): RankingRecord {
  return { prompt: p.prompt, completions: [p.chosen, p.rejected], ranks: [0, 1], ...(p.margin !== undefined ? { margin: p.margin } : {}) };
}

function toPreferences(r: RankingRecord): PreferenceRecord[] {
  const ranks = ranksOf(r);
  const out: PreferenceRecord[] = [];
  r.completions.forEach((a, i) =>
    r.completions.forEach((b, j) => {
      if ((ranks[i] ?? 0) < (ranks[j] ?? 0)) out.push({ prompt: r.prompt, chosen: a, rejected: b });
    }),
  );
  return out;
}
