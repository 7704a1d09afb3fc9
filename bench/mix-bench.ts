// Data-mix search bench (issue 17, decision trainer-018): a mix search of 8 candidates — two generated sources (two
// "languages" of letter-pair words that share no letters), weights on a grid of 8 levels (0, 1/7, …, 1), the target a
// third held-out sample of the second language — run as the trainer's `mix-search` command on a fresh tokenizer, as a
// mix-search round's job does (without the server). Prints the wall time of fitting the tokenizer and of the search,
// seconds and tokens/s per candidate, and the table with the chosen mix (which should put all weight on the target's
// language). Times are wall-clock on whatever machine runs it; on a shared box run it twice.
// Usage: npx tsx bench/mix-bench.ts [--preset nano] [--steps 20] [--batch 8] [--levels 8] [--docs 200] [--backend wasm]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { jobSpecSchema, type MixSearchResult } from "../trainer/contract/job.ts";
import { simplexGrid } from "../trainer/contract/round.ts";
import { createJobLogger } from "../trainer/cli/logger.ts";
import { runJob } from "../trainer/cli/run-job.ts";
import { createRng } from "../trainer/random/rng.ts";
import { arg } from "./cli-arg.ts";

const preset = arg("preset", "nano") as "nano" | "micro";
const steps = Number(arg("steps", "20"));
const batchSize = Number(arg("batch", "8"));
const levels = Number(arg("levels", "8"));
const docs = Number(arg("docs", "200"));
const backend = arg("backend", "wasm") as "wasm";

function language(letters: string, seed: number, n: number): string {
  const rng = createRng(seed);
  const pick = () => letters[Math.floor(rng.next() * letters.length)]!;
  const word = () => Array.from({ length: 2 + Math.floor(rng.next() * 3) }, () => pick() + pick()).join("");
  return Array.from({ length: n }, () => JSON.stringify({ text: Array.from({ length: 120 }, word).join(" ") })).join("\n") + "\n";
}

const dir = mkdtempSync(join(tmpdir(), "tandem-mix-bench-"));
const file = (name: string) => join(dir, name);
// the job's own output (JSON lines) goes to the metrics file, not the console
const log = createJobLogger({ file: file("metrics.jsonl"), stdout: false });
try {
  writeFileSync(file("a.jsonl"), language("abcdefghijklm", 1, docs));
  writeFileSync(file("b.jsonl"), language("nopqrstuvwxyz", 2, docs));
  writeFileSync(file("target.jsonl"), language("nopqrstuvwxyz", 3, Math.max(4, Math.floor(docs / 10))));
  writeFileSync(file("tok.txt"), readFileSync(file("a.jsonl"), "utf8") + readFileSync(file("b.jsonl"), "utf8"));
  const candidates = simplexGrid(2, levels);

  let t = performance.now();
  await runJob(jobSpecSchema.parse({ schemaVersion: 1, kind: "train-tokenizer", corpus: [file("tok.txt")], vocabSize: 512, out: file("tok") }), log);
  const tokenizerSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  await runJob(
    jobSpecSchema.parse({
      schemaVersion: 1, kind: "mix-search", out: file("search"), backend, tokenizer: file("tok/tokenizer.json"), model: { init: { preset }, seed: 0 },
      train: { steps, batchSize, seed: 0 }, sources: [{ name: "a", files: [file("a.jsonl")] }, { name: "b", files: [file("b.jsonl")] }],
      target: { name: "b-target", files: [file("target.jsonl")] }, candidates,
    }),
    log,
  );
  const searchSeconds = (performance.now() - t) / 1000;
  const result = JSON.parse(readFileSync(file("search/mix-search.json"), "utf8")) as MixSearchResult;
  const tokens = result.candidates.reduce((a, c) => a + c.tokens, 0);
  console.log(`mix search: ${candidates.length} candidates, preset ${preset}, ${steps} steps × ${batchSize} windows each (${result.candidates[0]!.tokens} tokens), backend ${backend}`);
  console.log(`tokenizer fit: ${tokenizerSeconds.toFixed(1)} s; search: ${searchSeconds.toFixed(1)} s wall, ${(searchSeconds / candidates.length).toFixed(1)} s per candidate, ${(tokens / searchSeconds).toFixed(0)} training tokens/s overall`);
  console.log("weights (a, b)   target loss   train loss");
  for (const [i, c] of result.candidates.entries()) console.log(`${c.weights.map((w) => w.toFixed(2)).join(", ").padEnd(16)} ${c.loss.toFixed(3).padStart(11)}   ${(c.trainLoss ?? NaN).toFixed(3).padStart(10)}${i === result.best ? "   ← chosen" : ""}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
