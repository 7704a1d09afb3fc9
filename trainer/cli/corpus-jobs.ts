// Pre-training on corpora (decision trainer-018): documents → token windows, a weighted mix of
// sources drawn to a fixed token budget, held-out loss per token, and the data-mix search that trains
// one small model per candidate mixture and scores each on the target domain's held-out text.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type JobSpec, type MixSearchResult } from "../contract/job.ts";
import { CheckpointMismatchError } from "../checkpoint/checkpoint.ts";

export type { MixSearchResult };
import { createRng } from "../random/rng.ts";
import { countModelParams, disposeModel, type LanguageModel } from "../model/lm.ts";
import { createSftTrainer, type SftExample } from "../algorithms/sft-trainer.ts";
import { type ChatFormat } from "../tokenizer/chat-format.ts";
import { evalSftLoss } from "./eval-job.ts";
import { buildModel } from "./job-inputs.ts";
import { batchesFrom, firstDifference, hashExamples } from "./train-loop.ts";
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
export async function heldOutLoss(model: LanguageModel, windows: number[][], padId: number): Promise<{ loss: number; tokens: number }> {
  const metrics = await evalSftLoss(model, windows.map((ids) => ({ ids, lossMask: ids.map(() => 1) })), padId, 8);
  return { loss: metrics["eval_loss"]!, tokens: metrics["eval_tokens"]! };
}

/** Held-out sets of a pretrain job: their windows, and their loss before training (the model as the job names it). */
export async function evalSetsBefore(spec: Extract<JobSpec, { kind: "pretrain" }>, model: LanguageModel, format: ChatFormat) {
  const w = Math.min(spec.windowLength ?? model.config.blockSize, model.config.blockSize);
  const sets = [];
  for (const source of spec.eval) {
    const windows = await windowsOf(source, format, w);
    if (windows.length === 0) throw new Error(`eval set ${source.name} has no text`);
    sets.push({ name: source.name, windows, before: await heldOutLoss(model, windows, format.padId) });
  }
  return sets;
}

/** After training: each held-out set's loss before and after, logged and written to <out>/lm-eval.json. */
export async function writeEvalSets(out: string, sets: Awaited<ReturnType<typeof evalSetsBefore>>, model: LanguageModel, padId: number, log: JobLogger): Promise<void> {
  if (sets.length === 0) return;
  const results = [];
  for (const s of sets) {
    const after = await heldOutLoss(model, s.windows, padId);
    results.push({ name: s.name, windows: s.windows.length, tokens: after.tokens, lossBefore: s.before.loss, lossAfter: after.loss });
  }
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
 *
 * Resumable (decision 0056): after each candidate but the last, the results so far go to
 * <out>/checkpoints/candidate-N (manifest.json with the results, and the tokenizer: round.ts MIX_SEARCH_RESUME_FILES), announced by a `checkpoint` line
 * with `step` N that the trainer service uploads. `resume` names such a folder: its candidates are not trained again
 * and the search goes on with candidate N. A candidate's result depends only on the init, the seed, the budget and its
 * own weights, never on the candidates before it, so the final choice is the one an uninterrupted search makes.
 */
export async function mixSearchJob(spec: Extract<JobSpec, { kind: "mix-search" }>, format: ChatFormat, log: JobLogger): Promise<MixSearchResult> {
  const probe = buildModel(spec.model, format, "none");
  const w = Math.min(spec.windowLength ?? probe.config.blockSize, probe.config.blockSize);
  const modelConfig = probe.config;
  const blockSize = probe.config.blockSize;
  const params = countModelParams(probe.config);
  disposeModel(probe);
  const sourceWindows = await Promise.all(spec.sources.map(async (s) => ({ name: s.name, windows: await windowsOf(s, format, w, true) })));
  const target = await targetScorer(spec, format, w, blockSize);
  // what the candidates were trained and scored on: the tokenized sources and the target
  const dataHash = hashExamples([...sourceWindows.map((s) => [s.name, s.windows]), [target.name, target.hash]]);
  const state: MixSearchState = {
    kind: "mix-search", step: 0, modelConfig: modelConfig as unknown as Record<string, unknown>, tokenizerHash: format.tokenizer.hash, dataHash,
    trainConfig: spec.train as unknown as Record<string, unknown>, sources: spec.sources.map((s) => s.name), target: target.name, scoring: target.scoring, candidates: [], results: [],
  };
  const results: MixSearchResult["candidates"] = [];
  if (spec.resume) {
    const done = readMixSearchCheckpoint(spec.resume, state, spec.candidates);
    results.push(...done.results);
  }
  const first = results.length;
  log.event("start", {
    kind: spec.kind, candidates: spec.candidates.length, sources: spec.sources.map((s) => s.name), params, config: spec.train,
    ...(spec.resume ? { resumedFrom: spec.resume, resumedAtCandidate: first } : {}),
  });
  const total = spec.train.steps * spec.train.batchSize;
  for (const [index, raw] of spec.candidates.entries()) {
    if (index < first) continue;
    const sum = raw.reduce((a, b) => a + b, 0);
    const weights = raw.map((x) => x / sum);
    const examples = mixWindows(sourceWindows.map((s, i) => ({ ...s, weight: weights[i]! })), total, spec.train.seed);
    const model = buildModel(spec.model, format, "none");
    const trainer = createSftTrainer(model, spec.train, format.padId);
    const { batches } = batchesFrom(examples, spec.train.batchSize, spec.train.seed, null);
    let trainLoss = NaN;
    while (trainer.step < spec.train.steps) trainLoss = (await trainer.trainStepAsync(batches.next().value as SftExample[])).loss;
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
    // the results so far, for a resumed search to skip (none after the last: mix-search.json follows at once)
    if (index + 1 < spec.candidates.length) {
      const dir = writeMixSearchCheckpoint(spec.out, { ...state, step: index + 1, candidates: spec.candidates.slice(0, index + 1), results }, format.tokenizer.json, spec.train.keepCheckpoints);
      log.event("checkpoint", { step: index + 1, candidate: index, dir });
    }
  }
  const best = results.reduce((b, r, i) => (better(r, results[b]!) ? i : b), 0);
  const result: MixSearchResult = { sources: spec.sources.map((s) => s.name), target: target.name, scoring: target.scoring, candidates: results, best };
  writeFileSync(join(spec.out, "mix-search.json"), JSON.stringify(result, null, 2));
  log.event("done", { kind: spec.kind, best, weights: results[best]!.weights, loss: results[best]!.loss, dataHash });
  return result;
}

/**
 * A mix search's checkpoint manifest: the candidates done (their raw weights, in order) and their results, with what
 * must be the same for a resumed search to skip them: the model, tokenizer, data, train settings, sources and target.
 */
export type MixSearchState = {
  kind: "mix-search"; step: number; modelConfig: Record<string, unknown>; tokenizerHash: string; dataHash: string; trainConfig: Record<string, unknown>;
  sources: string[]; target: string; scoring: "loss" | "checker"; candidates: number[][]; results: MixSearchResult["candidates"];
};

/** Writes <out>/checkpoints/candidate-N through a temporary folder (a `checkpoint` line only names a whole one); keeps the newest `keep`. */
function writeMixSearchCheckpoint(out: string, state: MixSearchState, tokenizerJson: string, keep: number): string {
  const root = join(out, "checkpoints");
  mkdirSync(root, { recursive: true });
  const dir = join(root, `candidate-${state.step}`);
  const tmp = join(root, `.candidate-${state.step}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeFileSync(join(tmp, "manifest.json"), JSON.stringify(state, null, 2));
  writeFileSync(join(tmp, "tokenizer.json"), tokenizerJson);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  if (keep > 0) {
    const older = readdirSync(root).map((n) => /^candidate-(\d+)$/.exec(n)?.[1]).filter((n): n is string => n !== undefined).map(Number).filter((n) => n <= state.step).sort((a, b) => b - a);
    for (const n of older.slice(keep)) rmSync(join(root, `candidate-${n}`), { recursive: true, force: true });
  }
  return dir;
}

/** Train settings that change what a candidate learns: all but the checkpoint cadence and how many are kept. */
const budgetOf = (train: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(train).filter(([k]) => k !== "checkpointEvery" && k !== "keepCheckpoints"));

/**
 * The checkpoint `dir` of an earlier run of this search, checked against it: the same model, tokenizer, data, train
 * settings (all of them: the budget is every candidate's), sources, target, and the same first candidates. A mismatch
 * is refused naming the first field that differs, as other jobs' resumes are.
 */
export function readMixSearchCheckpoint(dir: string, expect: MixSearchState, candidates: number[][]): MixSearchState {
  const file = join(dir, "manifest.json");
  if (!existsSync(file)) throw new CheckpointMismatchError(`resume: ${dir} is not a checkpoint (no manifest.json)`);
  const read = JSON.parse(readFileSync(file, "utf8")) as Partial<MixSearchState>;
  if (read.kind !== "mix-search") throw new CheckpointMismatchError(`resume: ${dir} was written by a '${String(read.kind)}' job, not 'mix-search'`);
  if (!Number.isInteger(read.step) || read.step! < 1 || read.results?.length !== read.step || read.candidates?.length !== read.step) {
    throw new CheckpointMismatchError(`resume: ${dir} holds no mix-search results (step ${String(read.step)})`);
  }
  const saved = read as MixSearchState;
  if (saved.step > candidates.length) throw new CheckpointMismatchError(`resume: ${dir} has ${saved.step} candidates done, this search has ${candidates.length}`);
  if (saved.tokenizerHash !== expect.tokenizerHash) throw new CheckpointMismatchError(`resume: ${dir} was written with another tokenizer`);
  if (saved.dataHash !== expect.dataHash) throw new CheckpointMismatchError(`resume: ${dir} was trained on other data (the tokenized sources or the target differ)`);
  const checks: Array<[string, unknown, unknown]> = [
    ["model", saved.modelConfig, expect.modelConfig], ["train", budgetOf(saved.trainConfig), budgetOf(expect.trainConfig)], ["sources", saved.sources, expect.sources],
    ["target", [saved.target, saved.scoring], [expect.target, expect.scoring]], ["candidates", saved.candidates, candidates.slice(0, saved.step)],
  ];
  for (const [field, a, b] of checks) {
    const diff = firstDifference(a, b);
    if (diff === null) continue;
    const at = (c: unknown): string => JSON.stringify(diff === "(root)" ? c : diff.split(".").reduce<unknown>((x, k) => (x as Record<string, unknown> | undefined)?.[k], c));
    throw new CheckpointMismatchError(`resume: ${field}${diff === "(root)" ? "" : `.${diff}`} is ${at(a)} in ${dir} but ${at(b)} in this job`);
  }
  return saved;
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
    return { name: tasks.name, scoring: "checker" as const, hash: hashExamples([tasks.checker, tasks.maxNewTokens, ...items]), score: (model: LanguageModel) => scoreTasks(model, items, tasks, format) };
  }
  const text = spec.target!;
  const windows = await windowsOf(text, format, w);
  if (windows.length === 0) throw new Error(`the target ${text.name} has no text`);
  return { name: text.name, scoring: "loss" as const, hash: hashExamples(windows), score: (model: LanguageModel): Promise<{ loss: number; checker?: TaskScore["checker"] }> => heldOutLoss(model, windows, format.padId) };
}
