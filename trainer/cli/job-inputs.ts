// What jobs read: JSONL records rendered with the model's chat format into token ids, and models
// built from a job's `model` source. Shared by the training jobs (run-job.ts) and `eval` (eval-job.ts).
// Bad records stop the job before any work, each named by line (DataError).
//
// Every reader takes tool transcripts (TRL's tool-calling messages: assistant `tool_calls`, `tool`
// messages) wherever a conversation or completion may stand. Tool results are context, never
// targets: SFT's loss mask and the completion masks of preference pairs and unpaired examples are
// 0 on them (chat-template.ts, hf-chat.ts), so no loss and no sequence log-prob ever includes a
// tool result. A reward model reads the whole transcript, results included, as the context of its score.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { resolveGptConfig, type GptConfigInput } from "../contract/gpt-config.ts";
import { isLlamaConfigInput, resolveLlamaConfig, type LlamaConfigInput } from "../contract/llama-config.ts";
import { type LoraConfig } from "../contract/lora-config.ts";
import { type ModelSource } from "../contract/job.ts";
import { readManifest } from "../checkpoint/checkpoint.ts";
import { loadModel } from "../checkpoint/load-model.ts";
import { initModel, isLlama, type LanguageModel, type ModelConfig } from "../model/lm.ts";
import { attachLora, mergeLora } from "../model/lora.ts";
import { asChatFormat, loadChatFormat, type AnyMessage, type ChatFormat, type FormatLike } from "../tokenizer/chat-format.ts";
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

export const asMessages = (prompt: string | AnyMessage[]): AnyMessage[] => (typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt);

/**
 * The chat format of a job's model: the model's own (HF) tokenizer and template when its checkpoint
 * was imported from Hugging Face, else Tandem's template over the tokenizer.json given.
 */
export function chatFormatFor(tokenizerPath: string, source: ModelSource | { checkpoint: string }): ChatFormat {
  const hf = "checkpoint" in source && existsSync(join(source.checkpoint, "manifest.json")) ? readManifest(source.checkpoint).hf : undefined;
  return loadChatFormat(readFileSync(tokenizerPath, "utf8"), hf);
}

/**
 * Fresh model (vocabulary from the tokenizer) or one loaded from a checkpoint, with the wanted head.
 * With `lora`, adapters are attached over the loaded weights (an adapter checkpoint is merged into
 * its base first, so it becomes the frozen base); without, a loaded adapter is merged in.
 */
export function buildModel(source: ModelSource, formatLike: FormatLike, scalarHead: ModelConfig["scalarHead"], lora?: LoraConfig): LanguageModel {
  const format = asChatFormat(formatLike);
  const vocabSize = format.tokenizer.vocabSize;
  if ("init" in source) {
    if (lora) throw new Error("lora: adapters train on a pretrained model; give model.checkpoint (a model trained from scratch trains every weight)");
    const input = source.init;
    // a preset takes the tokenizer's vocabulary; explicit dimensions name their own
    const config: ModelConfig = isLlamaConfigInput(input)
      ? resolveLlamaConfig({ ...input, ...("preset" in input ? { vocabSize } : {}), scalarHead } as LlamaConfigInput)
      : resolveGptConfig({ ...input, ...("preset" in input ? { vocabSize } : {}), scalarHead } as GptConfigInput);
    if (config.vocabSize !== vocabSize) throw new Error(`model vocabSize ${config.vocabSize} ≠ tokenizer vocabulary ${vocabSize}`);
    return initModel(config, source.seed);
  }
  const model = loadModel(source.checkpoint, { scalarHead, tokenizerHash: format.tokenizer.hash });
  if (!isLlama(model)) {
    if (lora) throw new Error(`lora: ${source.checkpoint} is a GPT-2 model; LoRA is for Llama-family models (train GPT-2 in full)`);
    return model;
  }
  if (model.lora) mergeLora(model);
  if (lora) {
    attachLora(model, lora);
    if (model.lora) model.lora.base = resolve(source.checkpoint);
  }
  return model;
}

export function ensureFits(path: string, rows: { line: number; length: number }[], blockSize: number): void {
  const problems = rows
    .filter((r) => r.length > blockSize)
    .map((r) => ({ line: r.line, reason: `${r.length} tokens exceeds the model's blockSize ${blockSize}` }));
  if (problems.length > 0) throw new DataError(path, problems);
}

/** `messages` records rendered with assistant-only loss masks. */
export async function readSftExamples(path: string, formatLike: FormatLike, blockSize: number): Promise<SftExample[]> {
  const format = asChatFormat(formatLike);
  const records = check(path, readJsonl(path, sftRecordSchema));
  const rendered = await Promise.all(records.map(async (r) => ({ line: r.line, chat: await format.renderChat(r.value.messages) })));
  ensureFits(path, rendered.map((r) => ({ line: r.line, length: r.chat.ids.length })), blockSize);
  return rendered.map((r) => r.chat);
}

/** Rankings of K completions, or preferences as rankings of two. */
export async function readRankingExamples(path: string, formatLike: FormatLike, blockSize: number): Promise<RankingExample[]> {
  const format = asChatFormat(formatLike);
  const records = check(path, readJsonl(path, preferenceOrRankingSchema));
  const examples: RankingExample[] = [];
  const lengths: { line: number; length: number }[] = [];
  for (const { line, value } of records) {
    const r: RankingRecord = "completions" in value ? value : toRanking(value);
    const rendered = await Promise.all(r.completions.map((c) => format.renderPromptCompletion(asMessages(r.prompt), c)));
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
export async function readPreferencePairs(path: string, formatLike: FormatLike, blockSize: number): Promise<PreferencePair[]> {
  const format = asChatFormat(formatLike);
  const records = check(path, readJsonl(path, preferenceOrRankingSchema));
  const pairs: PreferencePair[] = [];
  const lengths: { line: number; length: number }[] = [];
  for (const { line, value } of records) {
    const prefs: PreferenceRecord[] = "chosen" in value ? [value] : toPreferences(value);
    for (const p of prefs) {
      const chosen = await format.renderPromptCompletion(asMessages(p.prompt), p.chosen);
      const rejected = await format.renderPromptCompletion(asMessages(p.prompt), p.rejected);
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
export async function readUnpairedExamples(path: string, formatLike: FormatLike, blockSize: number): Promise<UnpairedExample[]> {
  const format = asChatFormat(formatLike);
  const records = check(path, readJsonl(path, unpairedRecordSchema));
  const rendered = await Promise.all(records.map(async (r) => ({ line: r.line, label: r.value.label, x: await format.renderPromptCompletion(asMessages(r.value.prompt), r.value.completion) })));
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
