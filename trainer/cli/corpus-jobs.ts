// Pre-training on corpora (decision trainer-018): documents → token windows, a weighted mix of
// sources drawn to a fixed token budget, held-out loss per token, and the data-mix search that trains
// one small model per candidate mixture and scores each on the target domain's held-out text.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type JobSpec, type MixSearchResult } from "../contract/job.ts";

export type { MixSearchResult };
import { createRng } from "../random/rng.ts";
import { countModelParams, disposeModel, type LanguageModel } from "../model/lm.ts";
import { createSftTrainer, type SftExample } from "../algorithms/sft-trainer.ts";
import { type ChatFormat } from "../tokenizer/chat-format.ts";
import { evalSftLoss } from "./eval-job.ts";
import { buildModel } from "./job-inputs.ts";
import { batchesFrom, hashExamples } from "./train-loop.ts";
import { readTaskTarget, scoreTasks, type TaskScore } from "./task-target.ts";
import { type JobLogger } from "./logger.ts";

type Source = { name: string; files: string[] };

/** The documents of a file: each line's "text" of a .jsonl file, else the whole file as one document. */
export function readDocuments(file: string): string[] {
  const text = readFileSync(file, "utf8");
  if (!file.endsWith(".jsonl")) return text.length > 0 ? [text] : [];
  const docs: string[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${file} line ${i + 1}: not JSON`);
    }
    const doc = (value as { text?: unknown }).text;
    if (typeof doc !== "string") throw new Error(`${file} line ${i + 1}: no "text" string`);
    docs.push(doc);
  });
  return docs;
}

/**
 * A source's documents, each followed by <|endoftext|>, cut into windows of `w` tokens (every token a target).
 * `full`: only whole windows (the short tail is left out unless it is all there is), so a mix of N windows
 * is exactly N × w tokens whatever its sources.
 */
export async function windowsOf(source: Source, format: ChatFormat, w: number, full = false): Promise<number[][]> {
  const stream: number[] = [];
  for (const file of source.files) for (const doc of readDocuments(file)) stream.push(...(await format.tokenizer.encode(doc)), format.eosId);
  const windows: number[][] = [];
  for (let i = 0; i + 1 < stream.length; i += w) windows.push(stream.slice(i, i + w));
  return full && windows.length > 1 && windows.at(-1)!.length < w ? windows.slice(0, -1) : windows;
}

/**
 * How many of `total` windows each source gets: its share of the weights, rounded by largest
 * remainder so the counts add up to exactly `total` (ties to the earlier source).
 */
export function allocate(weights: number[], total: number): number[] {
  const sum = weights.reduce((a, b) => a + Math.max(0, b), 0);
  if (!(sum > 0)) throw new Error("the weights add up to 0");
  const exact = weights.map((w) => (Math.max(0, w) / sum) * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    counts[i]!++;
    left--;
  }
  return counts;
}

/**
 * The training windows of a weighted mix: `total` windows, each source's share drawn from its windows
 * in a seeded order, going round again when a small source runs out (an epoch more of it, as a
 * mix that up-weights a small source does). The train loop shuffles them afterwards.
 */
export function mixWindows(sources: Array<{ windows: number[][]; weight: number; name: string }>, total: number, seed: number): SftExample[] {
  const counts = allocate(sources.map((s) => s.weight), total);
  const rng = createRng(seed);
  const out: SftExample[] = [];
  sources.forEach((s, i) => {
    const n = counts[i] ?? 0;
    if (n === 0) return;
    if (s.windows.length === 0) throw new Error(`source ${s.name} has no text, and its weight asks for ${n} windows`);
    const order = s.windows.map((_, k) => k);
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(rng.next() * (k + 1));
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    for (let k = 0; k < n; k++) {
      const ids = s.windows[order[k % order.length]!]!;
      out.push({ ids, lossMask: ids.map(() => 1) });
    }
  });
  return out;
}

/** Mean loss per token (nats) of `model` on held-out windows. */
export function heldOutLoss(model: LanguageModel, windows: number[][], padId: number): { loss: number; tokens: number } {
  const metrics = evalSftLoss(model, windows.map((ids) => ({ ids, lossMask: ids.map(() => 1) })), padId, 8);
  return { loss: metrics["eval_loss"]!, tokens: metrics["eval_tokens"]! };
}

/** Held-out sets of a pretrain job: their windows, and their loss before training (the model as the job names it). */
export async function evalSetsBefore(spec: Extract<JobSpec, { kind: "pretrain" }>, model: LanguageModel, format: ChatFormat) {
  const w = Math.min(spec.windowLength ?? model.config.blockSize, model.config.blockSize);
  const sets = [];
  for (const source of spec.eval) {
    const windows = await windowsOf(source, format, w);
    if (windows.length === 0) throw new Error(`eval set ${source.name} has no text`);
    sets.push({ name: source.name, windows, before: heldOutLoss(model, windows, format.padId) });
  }
  return sets;
}

/** After training: each held-out set's loss before and after, logged and written to <out>/lm-eval.json. */
export function writeEvalSets(out: string, sets: Awaited<ReturnType<typeof evalSetsBefore>>, model: LanguageModel, padId: number, log: JobLogger): void {
  if (sets.length === 0) return;
  const results = sets.map((s) => {
    const after = heldOutLoss(model, s.windows, padId);
    return { name: s.name, windows: s.windows.length, tokens: after.tokens, lossBefore: s.before.loss, lossAfter: after.loss };
  });
  const metrics: Record<string, number> = {};
  for (const r of results) Object.assign(metrics, { [`eval/${r.name}/loss`]: r.lossAfter, [`eval/${r.name}/loss_before`]: r.lossBefore });
  log.event("metrics", metrics);
  writeFileSync(join(out, "lm-eval.json"), JSON.stringify({ sets: results }, null, 2));
}

/** The training windows of a pretrain job: every window of `corpus` once, or `mix` drawn to steps × batchSize. */
export async function pretrainExamples(spec: Extract<JobSpec, { kind: "pretrain" }>, model: LanguageModel, format: ChatFormat): Promise<{ examples: SftExample[]; counts: Record<string, number> }> {
  const w = Math.min(spec.windowLength ?? model.config.blockSize, model.config.blockSize);
  if (spec.mix) {
    const sources = await Promise.all(spec.mix.map(async (s) => ({ name: s.name, weight: s.weight, windows: await windowsOf(s, format, w, true) })));
    const examples = mixWindows(sources, spec.train.steps * spec.train.batchSize, spec.train.seed);
    const counts = Object.fromEntries(allocate(sources.map((s) => s.weight), examples.length).map((n, i) => [`windows/${sources[i]!.name}`, n]));
    return { examples, counts: { examples: examples.length, ...counts } };
  }
  const examples = (await windowsOf({ name: "corpus", files: spec.corpus ?? [] }, format, w)).map((ids) => ({ ids, lossMask: ids.map(() => 1) }));
  return { examples, counts: { examples: examples.length } };
}

/**
 * `mix-search`: for each candidate, a fresh model from the same init and seed trains on
 * steps × batchSize windows of that mixture, then is scored on the target: the mean loss per token of held-out
 * text, or a task set with a checker (task-target.ts). The same tokenizer throughout, so the scores compare. One
 * candidate at a time: memory holds one model.
 */
export async function mixSearchJob(spec: Extract<JobSpec, { kind: "mix-search" }>, format: ChatFormat, log: JobLogger): Promise<MixSearchResult> {
  const probe = buildModel(spec.model, format, "none");
  const w = Math.min(spec.windowLength ?? probe.config.blockSize, probe.config.blockSize);
  log.event("start", { kind: spec.kind, candidates: spec.candidates.length, sources: spec.sources.map((s) => s.name), params: countModelParams(probe.config), config: spec.train });
  const blockSize = probe.config.blockSize;
  disposeModel(probe);
  const sourceWindows = await Promise.all(spec.sources.map(async (s) => ({ name: s.name, windows: await windowsOf(s, format, w, true) })));
  const target = await targetScorer(spec, format, w, blockSize);
  const total = spec.train.steps * spec.train.batchSize;
  const results: MixSearchResult["candidates"] = [];
  for (const [index, raw] of spec.candidates.entries()) {
    const sum = raw.reduce((a, b) => a + b, 0);
    const weights = raw.map((x) => x / sum);
    const examples = mixWindows(sourceWindows.map((s, i) => ({ ...s, weight: weights[i]! })), total, spec.train.seed);
    const model = buildModel(spec.model, format, "none");
    const trainer = createSftTrainer(model, spec.train, format.padId);
    const { batches } = batchesFrom(examples, spec.train.batchSize, spec.train.seed, null);
    let trainLoss = NaN;
    while (trainer.step < spec.train.steps) trainLoss = trainer.trainStep(batches.next().value as SftExample[]).loss;
    const scored = await target.score(model);
    results.push({ weights, loss: scored.loss, tokens: examples.reduce((a, e) => a + e.ids.length, 0), trainLoss, ...(scored.checker ? { checker: scored.checker } : {}) });
    log.event("metrics", {
      candidate: index, step: index + 1, "mix/target_loss": scored.loss, "mix/train_loss": trainLoss,
      ...(scored.checker ? { "mix/checker_pass_rate": scored.checker.passRate } : {}),
      ...Object.fromEntries(weights.map((x, i) => [`mix/weight/${spec.sources[i]!.name}`, x])),
    });
    log.event("progress", { done: index + 1, total: spec.candidates.length });
    trainer.dispose();
    disposeModel(model);
  }
  const best = results.reduce((b, r, i) => (better(r, results[b]!) ? i : b), 0);
  const result: MixSearchResult = { sources: spec.sources.map((s) => s.name), target: target.name, scoring: target.scoring, candidates: results, best };
  writeFileSync(join(spec.out, "mix-search.json"), JSON.stringify(result, null, 2));
  log.event("done", { kind: spec.kind, best, weights: results[best]!.weights, loss: results[best]!.loss, dataHash: hashExamples(sourceWindows.map((s) => s.windows.length)) });
  return result;
}

type Candidate = MixSearchResult["candidates"][number];

/**
 * Whether candidate `a` beats `b`: the higher checker pass rate (a task target), then the lower target loss. Strictly
 * better only, so a tie keeps the earlier candidate.
 */
export function better(a: Candidate, b: Candidate): boolean {
  const pa = a.checker?.passRate ?? 0;
  const pb = b.checker?.passRate ?? 0;
  return pa !== pb ? pa > pb : a.loss < b.loss;
}

/** The search's target as a scorer of one trained model: held-out text, or a task set with its checker. */
async function targetScorer(spec: Extract<JobSpec, { kind: "mix-search" }>, format: ChatFormat, w: number, blockSize: number) {
  if (spec.tasks) {
    const tasks = spec.tasks;
    const items = await readTaskTarget(tasks, format, blockSize);
    return { name: tasks.name, scoring: "checker" as const, score: (model: LanguageModel) => scoreTasks(model, items, tasks, format) };
  }
  const text = spec.target!;
  const windows = await windowsOf(text, format, w);
  if (windows.length === 0) throw new Error(`the target ${text.name} has no text`);
  return { name: text.name, scoring: "loss" as const, score: (model: LanguageModel): Promise<{ loss: number; checker?: TaskScore["checker"] }> => Promise.resolve(heldOutLoss(model, windows, format.padId)) };
}
