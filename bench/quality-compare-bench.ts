// Quality classifier comparison (issue 17 item 3; decision 0041 left it open): the app's linear classifier (ridge on
// hashed word uni- and bigrams, server/corpora/quality-model.ts) against the trainer's scalar-head model (a `nano` GPT
// with the reward head, trained from scratch with Bradley–Terry on rankings of rated documents, on a tokenizer fitted
// to the training documents), on the same generated documents, the same made-up raters and the same held-out split.
// Reports what decision 0041's report does (held-out accuracy at "mean rating ≥ 3", ROC AUC, Pearson r, with the
// raters' own agreement and the majority baseline) plus Spearman ρ, training wall time and scoring documents/s.
//
// The documents: ~30 words from a Zipf vocabulary of 2,000 generated words (short enough for nano's 128-token
// context with the chat template around them). Each document has a hidden level L in 1..5 that sets how often one of
// 50 "quality words" (vocabulary ranks 26–75, as corpus-bench's rating rule) appears; its true rating is
// 1 + min(4, count of quality words), and each of 3 raters gives that plus Gaussian noise (σ --noise, default 0.6),
// rounded and clamped to 1–5. The classifiers learn from the raters' mean; they are measured against it.
// The scalar head sees no features: it has to learn the words from 1,600 documents' rankings.
//
// Usage: npx tsx bench/quality-compare-bench.ts [--docs 2000] [--steps 150] [--lr 1e-3] [--noise 0.6] [--seed 1]
//   [--backend auto|wasm|cpu] [--groupings 2]. Times are wall-clock on whatever machine runs it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { featurize, pearson, predict, rankingAuc, raterAgreementAccuracy, trainRidge } from "../server/corpora/quality-model.ts";
import { jobSpecSchema, type JobSpecInput } from "../trainer/contract/job.ts";
import { runJob } from "../trainer/cli/run-job.ts";
import { createMemoryLogger } from "../trainer/cli/logger.ts";
import { buildModel, chatFormatFor } from "../trainer/cli/job-inputs.ts";
import { scoreCompletions } from "../trainer/algorithms/reward-trainer.ts";
import { collateCompletions } from "../trainer/data/collate.ts";
import { disposeModel } from "../trainer/model/lm.ts";
import { createRng } from "../trainer/random/rng.ts";
import { arg } from "./cli-arg.ts";

const docCount = Number(arg("docs", "2000"));
const steps = Number(arg("steps", "150"));
const lr = Number(arg("lr", "1e-3"));
const noise = Number(arg("noise", "0.6"));
const groupings = Number(arg("groupings", "2"));
const backend = arg("backend", "auto") as "auto";
// the trainer's mulberry32 (the same stream the bench's own copy drew)
const rng = createRng(Number(arg("seed", "1")));
const random = (): number => rng.next();
const gaussian = (): number => rng.normal();

// --- documents and raters ---
const functionWords = "the of and to in is that it was for on are with as be this by not or have from at but which an".split(" ");
const vocabulary = [...functionWords, ...Array.from({ length: 2_000 }, () => Array.from({ length: 3 + Math.floor(random() * 4) }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join(""))];
const qualityWords = vocabulary.slice(25, 75);
const quality = new Set(qualityWords);
const cumulative: number[] = [];
let total = 0;
for (let rank = 1; rank <= vocabulary.length; rank++) cumulative.push((total += quality.has(vocabulary[rank - 1]!) ? 0 : 1 / rank));
const zipfWord = (): string => {
  const target = random() * total;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return vocabulary[lo]!;
};

type Doc = { text: string; truth: number; ratings: number[]; mean: number };
const docs: Doc[] = Array.from({ length: docCount }, () => {
  const level = 1 + Math.floor(random() * 5);
  const share = 0.01 + 0.035 * (level - 1);
  const words = Array.from({ length: 30 }, () => (random() < share ? qualityWords[Math.floor(random() * qualityWords.length)]! : zipfWord()));
  const truth = 1 + Math.min(4, words.filter((w) => quality.has(w)).length);
  const ratings = Array.from({ length: 3 }, () => Math.max(1, Math.min(5, Math.round(truth + noise * gaussian()))));
  return { text: words.join(" "), truth, ratings, mean: ratings.reduce((a, b) => a + b, 0) / 3 };
});
const heldOutCount = Math.round(docCount * 0.2);
const train = docs.slice(heldOutCount);
const heldOut = docs.slice(0, heldOutCount);
const HIGH = 3;

// --- metrics (decision 0041's, on the held-out documents' mean rating) ---
const ranks = (xs: readonly number[]): number[] => {
  const order = xs.map((x, i) => ({ x, i })).sort((a, b) => a.x - b.x);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]!.x === order[i]!.x) j++;
    for (let k = i; k <= j; k++) out[order[k]!.i] = (i + j) / 2;
    i = j + 1;
  }
  return out;
};
/** The score threshold that classifies the training documents best (high = mean rating ≥ 3). */
function fitThreshold(scores: number[], set: Doc[]): number {
  const sorted = [...scores].sort((a, b) => a - b);
  let best = { t: sorted[0]!, acc: -1 };
  for (let q = 0; q <= 100; q++) {
    const t = sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))]!;
    const acc = set.filter((d, i) => scores[i]! >= t === d.mean >= HIGH).length / set.length;
    if (acc > best.acc) best = { t, acc };
  }
  return best.t;
}
function measure(name: string, heldScores: number[], threshold: number) {
  const truth = heldOut.map((d) => d.mean >= HIGH);
  return {
    name,
    accuracy: heldOut.filter((d, i) => heldScores[i]! >= threshold === truth[i]).length / heldOut.length,
    auc: rankingAuc(heldScores, truth),
    pearson: pearson(heldScores, heldOut.map((d) => d.mean)),
    spearman: pearson(ranks(heldScores), ranks(heldOut.map((d) => d.mean))),
  };
}

// --- the linear classifier ---
const ridgeStarted = performance.now();
const ridge = trainRidge(train.map((d) => featurize(d.text)), train.map((d) => d.mean), { lambda: 0.01 });
const ridgeTrainS = (performance.now() - ridgeStarted) / 1000;
const ridgeScoreStarted = performance.now();
const ridgeHeld = heldOut.map((d) => predict(ridge, featurize(d.text)));
const ridgeScoreS = (performance.now() - ridgeScoreStarted) / 1000;
const ridgeTrainScores = train.map((d) => predict(ridge, featurize(d.text)));

// --- the scalar head: tokenizer, Bradley–Terry on rankings of 4 training documents, then score each held-out one ---
const dir = mkdtempSync(join(tmpdir(), "tandem-quality-compare-"));
const PROMPT = "Rate this document.";
const run = async (spec: JobSpecInput) => {
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
};
const headStarted = performance.now();
writeFileSync(join(dir, "corpus.txt"), train.map((d) => d.text).join("\n"));
await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [join(dir, "corpus.txt")], vocabSize: 512, out: join(dir, "tok") });
const tokenizerS = (performance.now() - headStarted) / 1000;
const records: string[] = [];
for (let g = 0; g < groupings; g++) {
  const order = train.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (let i = 0; i + 4 <= order.length; i += 4) {
    const group = order.slice(i, i + 4).map((k) => train[k]!);
    const distinct = [...new Set(group.map((d) => d.mean))].sort((a, b) => b - a);
    if (distinct.length < 2) continue; // all tied: no pair to learn from
    records.push(JSON.stringify({ prompt: PROMPT, completions: group.map((d) => d.text), ranks: group.map((d) => distinct.indexOf(d.mean)) }));
  }
}
writeFileSync(join(dir, "rankings.jsonl"), records.join("\n") + "\n");
const out = join(dir, "rm");
const rewardStarted = performance.now();
const events = await run({
  schemaVersion: 1, kind: "reward", out, backend, data: join(dir, "rankings.jsonl"), tokenizer: join(dir, "tok/tokenizer.json"),
  model: { init: { preset: "nano" }, seed: 1 }, train: { steps, batchSize: 8, seed: 1, optim: { lr, warmupSteps: 10 } },
});
const rewardTrainS = (performance.now() - rewardStarted) / 1000;
const usedBackend = events.find((e) => e.type === "backend");
const trainMetrics = events.filter((e) => e.type === "metrics");

const format = chatFormatFor(join(out, "tokenizer.json"), { checkpoint: out });
const model = buildModel({ checkpoint: out }, format, "reward");
async function headScores(set: Doc[]): Promise<number[]> {
  const rows: Array<{ prompt: number[]; completion: number[] }> = [];
  for (const d of set) {
    const r = await format.renderPromptCompletion([{ role: "user", content: PROMPT }], d.text);
    rows.push({ prompt: r.prompt, completion: r.full.ids.slice(r.prompt.length) });
  }
  const scores: number[] = [];
  for (let i = 0; i < rows.length; i += 32) scores.push(...tf.tidy(() => Array.from(scoreCompletions(model, collateCompletions(rows.slice(i, i + 32), format.padId)).dataSync())));
  return scores;
}
const headScoreStarted = performance.now();
const headHeld = await headScores(heldOut);
const headScoreS = (performance.now() - headScoreStarted) / 1000;
const headTrainScores = await headScores(train);
disposeModel(model);
rmSync(dir, { recursive: true, force: true });

// --- report ---
const high = heldOut.filter((d) => d.mean >= HIGH).length;
const f = (x: number | null, digits = 3) => (x === null ? "–" : x.toFixed(digits));
const rows = [
  { ...measure("linear: ridge on hashed n-grams (threshold 3.0 on the predicted rating)", ridgeHeld, HIGH), trainS: ridgeTrainS, perS: heldOut.length / ridgeScoreS },
  { ...measure("linear: same, threshold fit on the training documents", ridgeHeld, fitThreshold(ridgeTrainScores, train)), trainS: ridgeTrainS, perS: heldOut.length / ridgeScoreS },
  { ...measure("scalar head: nano + reward head, Bradley–Terry (threshold fit on the training documents)", headHeld, fitThreshold(headTrainScores, train)), trainS: tokenizerS + rewardTrainS, perS: heldOut.length / headScoreS },
];
console.log(`quality classifiers: ${train.length} training and ${heldOut.length} held-out documents (~30 words), 3 raters each (noise σ ${noise}), high = mean rating ≥ ${HIGH}`);
console.log(`backend: ${JSON.stringify(usedBackend)}; scalar head: ${records.length} rankings of 4, ${steps} steps × 8, lr ${lr}; loss ${f(Number(trainMetrics[0]?.["loss"]))} → ${f(Number(trainMetrics.at(-1)?.["loss"]))}, train accuracy (last step) ${f(Number(trainMetrics.at(-1)?.["accuracy"]))}`);
console.log(`held-out: ${high} of ${heldOut.length} high (majority baseline ${f(Math.max(high, heldOut.length - high) / heldOut.length)}); raters' agreement ${f(raterAgreementAccuracy(heldOut.map((d) => d.ratings), HIGH))}; true rating vs raters' mean: Pearson ${f(pearson(heldOut.map((d) => d.truth), heldOut.map((d) => d.mean)))}`);
console.log("");
console.log("| classifier | held-out accuracy | ROC AUC | Pearson r | Spearman ρ | training s | scoring docs/s |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const r of rows) console.log(`| ${r.name} | ${f(r.accuracy)} | ${f(r.auc)} | ${f(r.pearson)} | ${f(r.spearman)} | ${r.trainS.toFixed(2)} | ${r.perS.toFixed(0)} |`);
console.log(`(scalar head training: tokenizer ${tokenizerS.toFixed(2)} s + reward job ${rewardTrainS.toFixed(2)} s)`);
