import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import { simplexGrid } from "../contract/round.ts";
import { createRng } from "../random/rng.ts";
import { createMemoryLogger } from "./logger.ts";
import { runJob } from "./run-job.ts";
import { allocate, better, mixWindows, type MixSearchResult } from "./corpus-jobs.ts";

let dir = "";
const path = (name: string): string => join(dir, name);
const tiny = { vocabSize: 300, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 };

/** A generated "language": words of syllables from its own letters, so two of them share no characters but the space. */
export function language(letters: string, seed: number, docs: number): string {
  const rng = createRng(seed);
  const pick = () => letters[Math.floor(rng.next() * letters.length)]!;
  const word = () => Array.from({ length: 2 + Math.floor(rng.next() * 3) }, () => pick() + pick()).join("");
  return Array.from({ length: docs }, () => JSON.stringify({ text: Array.from({ length: 30 }, word).join(" ") })).join("\n") + "\n";
}

async function run(spec: JobSpecInput) {
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tandem-corpus-jobs-"));
  writeFileSync(path("a.jsonl"), language("abcdefghijklm", 1, 12));
  writeFileSync(path("b.jsonl"), language("nopqrstuvwxyz", 2, 12));
  writeFileSync(path("b-heldout.jsonl"), language("nopqrstuvwxyz", 3, 3));
  writeFileSync(path("tok.txt"), readFileSync(path("a.jsonl"), "utf8") + readFileSync(path("b.jsonl"), "utf8"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("allocate: largest remainder, exactly the total; a zero weight gets nothing", () => {
  assert.deepEqual(allocate([1, 1, 1], 10), [4, 3, 3]);
  assert.deepEqual(allocate([0, 3], 7), [0, 7]);
  assert.deepEqual(allocate([0.25, 0.75], 8), [2, 6]);
  assert.throws(() => allocate([0, 0], 4), /add up to 0/);
});

test("mixWindows: each source's share of a fixed budget, a small source going round again", () => {
  const a = { name: "a", weight: 3, windows: [[1], [2]] };
  const b = { name: "b", weight: 1, windows: [[9], [8], [7], [6], [5]] };
  const out = mixWindows([a, b], 8, 0);
  assert.equal(out.length, 8);
  assert.equal(out.filter((e) => e.ids[0]! < 3).length, 6);
  assert.equal(out.filter((e) => e.ids[0]! > 4).length, 2);
  assert.deepEqual(mixWindows([a, b], 8, 0), out, "seeded");
});

test("simplexGrid: every mixture in steps of 1/(levels − 1)", () => {
  assert.deepEqual(simplexGrid(2, 3), [[1, 0], [0.5, 0.5], [0, 1]]);
  assert.equal(simplexGrid(3, 3).length, 6);
  for (const c of simplexGrid(3, 4)) assert.ok(Math.abs(c.reduce((x, y) => x + y, 0) - 1) < 1e-12);
});

test("mix search picks the mix of the target's language; a weighted pretrain reports held-out loss before and after", async () => {
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("tok.txt")], vocabSize: 300, out: path("tok") });
  const tokenizer = path("tok/tokenizer.json");
  const train = { steps: 12, batchSize: 4, seed: 1, optim: { lr: 1e-2, warmupSteps: 1 } };
  const events = await run({
    schemaVersion: 1, kind: "mix-search", out: path("search"), backend: "wasm", tokenizer, model: { init: tiny, seed: 3 }, train,
    sources: [{ name: "a", files: [path("a.jsonl")] }, { name: "b", files: [path("b.jsonl")] }], target: { name: "b-heldout", files: [path("b-heldout.jsonl")] },
    candidates: simplexGrid(2, 3),
  });
  const result = JSON.parse(readFileSync(path("search/mix-search.json"), "utf8")) as MixSearchResult;
  assert.equal(result.candidates.length, 3);
  assert.deepEqual(result.candidates[result.best]!.weights, [0, 1], JSON.stringify(result.candidates));
  // the same token budget for every candidate
  assert.equal(new Set(result.candidates.map((c) => c.tokens)).size, 1);
  assert.ok(result.candidates[0]!.loss > result.candidates[2]!.loss + 0.5, "a model of the other language is far worse on the target");
  assert.equal(events.filter((e) => e.type === "metrics").length, 3);

  await run({
    schemaVersion: 1, kind: "pretrain", out: path("pre"), backend: "wasm", tokenizer, model: { init: tiny, seed: 3 }, train,
    mix: [{ name: "a", files: [path("a.jsonl")], weight: 1 }, { name: "b", files: [path("b.jsonl")], weight: 0 }], eval: [{ name: "b", files: [path("b-heldout.jsonl")] }],
  });
  const lm = JSON.parse(readFileSync(path("pre/lm-eval.json"), "utf8")) as { sets: Array<{ name: string; lossBefore: number; lossAfter: number }> };
  assert.equal(lm.sets[0]!.name, "b");
  assert.ok(Number.isFinite(lm.sets[0]!.lossBefore) && Number.isFinite(lm.sets[0]!.lossAfter));
  assert.ok(existsSync(path("pre/model.safetensors")));
  assert.throws(() => jobSpecSchema.parse({ schemaVersion: 1, kind: "pretrain", out: "x", tokenizer, model: { init: tiny }, mix: [{ name: "a", files: ["a"], weight: 0 }] }), /weight above 0/);
});

test("a mix search resumed from its checkpoint after candidate N trains only the rest and writes the same result as an uninterrupted one", async () => {
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("tok.txt")], vocabSize: 300, out: path("tok-resume") });
  const tokenizer = path("tok-resume/tokenizer.json");
  const spec = {
    schemaVersion: 1 as const, kind: "mix-search" as const, out: path("search-full"), backend: "wasm" as const, tokenizer, model: { init: tiny, seed: 3 },
    train: { steps: 6, batchSize: 4, seed: 1, optim: { lr: 1e-2, warmupSteps: 1 }, keepCheckpoints: 0 },
    sources: [{ name: "a", files: [path("a.jsonl")] }, { name: "b", files: [path("b.jsonl")] }], target: { name: "b-heldout", files: [path("b-heldout.jsonl")] },
    candidates: simplexGrid(2, 4),
  };
  const full = await run(spec);
  const uninterrupted = readFileSync(path("search-full/mix-search.json"), "utf8");
  // a checkpoint after every candidate but the last, each announced with step = candidates done
  const checkpoints = full.filter((e) => e.type === "checkpoint");
  assert.deepEqual(checkpoints.map((e) => e["step"]), [1, 2, 3]);
  assert.deepEqual(checkpoints.map((e) => e["dir"]), [1, 2, 3].map((n) => path(`search-full/checkpoints/candidate-${n}`)));
  const at2 = JSON.parse(readFileSync(path("search-full/checkpoints/candidate-2/manifest.json"), "utf8")) as { step: number; modelConfig: Record<string, unknown>; results: unknown[] };
  assert.equal(at2.step, 2);
  assert.deepEqual(at2.results, (JSON.parse(uninterrupted) as MixSearchResult).candidates.slice(0, 2));
  assert.equal(readFileSync(path("search-full/checkpoints/candidate-2/tokenizer.json"), "utf8"), readFileSync(tokenizer, "utf8"));

  // resumed as the trainer service does: the checkpoint's tokenizer and model config, in a fresh folder
  const resumed = { ...spec, out: path("search-resumed"), resume: path("search-full/checkpoints/candidate-2"), tokenizer: path("search-full/checkpoints/candidate-2/tokenizer.json"), model: { init: at2.modelConfig, seed: 3 } };
  const events = await run(resumed as JobSpecInput);
  assert.equal(events.find((e) => e.type === "start")?.["resumedAtCandidate"], 2);
  assert.deepEqual(events.filter((e) => e.type === "metrics").map((e) => e["candidate"]), [2, 3], "only the candidates not done are trained");
  assert.equal(readFileSync(path("search-resumed/mix-search.json"), "utf8"), uninterrupted, "the same table and choice, to the last digit");

  // a checkpoint of another search is refused, naming what differs
  const refused = async (change: Record<string, unknown>, message: RegExp) => assert.rejects(run({ ...resumed, out: path("search-refused"), ...change } as JobSpecInput), message);
  await refused({ train: { ...spec.train, steps: 7 } }, /resume: train\.steps is 6 in .* but 7 in this job/);
  await refused({ candidates: [[0, 1], ...simplexGrid(2, 4).slice(1)] }, /resume: candidates is \[\[1,0\],\[0\.6+7?,0\.3+\]\] in .* but \[\[0,1\],/);
  await refused({ sources: [{ name: "a", files: [path("a.jsonl")] }, { name: "b", files: [path("a.jsonl")] }] }, /other data/);
  await refused({ target: { name: "b-heldout", files: [path("b.jsonl")] } }, /other data/);
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("a.jsonl")], vocabSize: 300, out: path("tok-other") });
  await refused({ tokenizer: path("tok-other/tokenizer.json") }, /another tokenizer/);
  await refused({ candidates: simplexGrid(2, 4).slice(0, 1) }, /2 candidates done, this search has 1/);
  // the cadence and how many are kept may change
  await run({ ...resumed, out: path("search-kept"), train: { ...spec.train, keepCheckpoints: 2 } } as JobSpecInput);
  assert.equal(readFileSync(path("search-kept/mix-search.json"), "utf8"), uninterrupted);
});

test("better: a higher checker pass rate wins, then a lower loss; a tie is not better (the earlier candidate stays)", () => {
  const c = (passRate: number | null, loss: number) => ({ weights: [1], loss, tokens: 1, trainLoss: null, ...(passRate === null ? {} : { checker: { passRate, correct: 0, scored: 1 } }) });
  assert.equal(better(c(0.5, 9), c(0.25, 1)), true);
  assert.equal(better(c(0, 1), c(0, 2)), true);
  assert.equal(better(c(0, 2), c(0, 2)), false);
  assert.equal(better(c(null, 1), c(null, 2)), true, "a text target: the loss alone");
});

test("mix search on a task set: the checker scores each candidate's greedy answers, and the source that matches the tasks wins", async () => {
  // one fact over and over: a model trained on it answers "4" after any such question; the other source never writes digits
  writeFileSync(path("fours.jsonl"), Array.from({ length: 12 }, () => JSON.stringify({ text: Array.from({ length: 6 }, () => "What is 2 + 2?\n4").join("\n") })).join("\n") + "\n");
  writeFileSync(path("tasks.jsonl"), ["2 + 2", "1 + 3", "3 + 1"].map((q) => JSON.stringify({ prompt: `What is ${q}?`, metadata: { answer: 4 } })).join("\n") + "\n");
  writeFileSync(path("tok-tasks.txt"), readFileSync(path("fours.jsonl"), "utf8") + readFileSync(path("a.jsonl"), "utf8"));
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("tok-tasks.txt")], vocabSize: 300, out: path("tok-tasks") });
  const spec = {
    schemaVersion: 1 as const, kind: "mix-search" as const, out: path("search-tasks"), backend: "wasm" as const, tokenizer: path("tok-tasks/tokenizer.json"), model: { init: tiny, seed: 3 },
    train: { steps: 80, batchSize: 4, seed: 1, optim: { lr: 3e-2, warmupSteps: 1 } },
    sources: [{ name: "a", files: [path("a.jsonl")] }, { name: "fours", files: [path("fours.jsonl")] }], candidates: [[1, 0], [0, 1]],
    tasks: { name: "sums", prompts: path("tasks.jsonl"), checker: { kind: "numeric" as const }, maxNewTokens: 4 },
  };
  await run(spec);
  const result = JSON.parse(readFileSync(path("search-tasks/mix-search.json"), "utf8")) as MixSearchResult;
  assert.equal(result.scoring, "checker");
  assert.deepEqual(result.candidates.map((c) => c.checker?.scored), [3, 3]);
  assert.equal(result.candidates[0]!.checker?.correct, 0, "a model of letters writes no number");
  assert.ok(result.candidates[1]!.checker!.correct > 0, JSON.stringify(result.candidates));
  assert.equal(result.best, 1);
  assert.ok(result.candidates[1]!.loss < result.candidates[0]!.loss);

  // one target, a checker with an answer text, and every prompt's reference: refused otherwise, naming what is wrong
  const { tasks, ...noTarget } = spec;
  assert.throws(() => jobSpecSchema.parse(noTarget), /either target .* or tasks/);
  assert.throws(() => jobSpecSchema.parse({ ...spec, target: { name: "t", files: ["t"] } }), /either target .* or tasks/);
  assert.throws(() => jobSpecSchema.parse({ ...spec, tasks: { ...tasks, checker: { kind: "regex", pattern: "4" } } }), /numeric or exact/);
  writeFileSync(path("tasks-unanswered.jsonl"), JSON.stringify({ prompt: "What is 2 + 2?", metadata: {} }) + "\n");
  await assert.rejects(run({ ...spec, out: path("search-unanswered"), tasks: { ...tasks, prompts: path("tasks-unanswered.jsonl") } }), /line 1: no usable metadata\.answer/);
});
