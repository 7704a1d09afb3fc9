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
import { allocate, mixWindows, type MixSearchResult } from "./corpus-jobs.ts";

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
