import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import { readManifest } from "../checkpoint/checkpoint.ts";
import { createMemoryLogger } from "./logger.ts";
import { DataError, runJob } from "./run-job.ts";
import { createRng } from "../random/rng.ts";

let dir = "";
const path = (name: string): string => join(dir, name);
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const tiny = { vocabSize: 320, blockSize: 96, nLayer: 1, nHead: 2, nEmbd: 16 };
const fewSteps = { steps: 3, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 1, totalSteps: 3 } };

async function run(spec: JobSpecInput): Promise<ReturnType<typeof createMemoryLogger>["events"]> {
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tandem-cli-test-"));
  const rng = createRng(1);
  const words = "the labeler ranks four answers and writes a helpful honest reply about the reward model".split(" ");
  const sentence = (n: number): string => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
  writeFileSync(path("corpus.txt"), Array.from({ length: 200 }, () => sentence(12)).join("\n"));
  writeFileSync(path("sft.jsonl"), jsonl(Array.from({ length: 6 }, () => ({ messages: [{ role: "user", content: sentence(4) }, { role: "assistant", content: sentence(6) }] }))));
  writeFileSync(path("prefs.jsonl"), jsonl(Array.from({ length: 4 }, () => ({ prompt: sentence(4), chosen: sentence(5), rejected: sentence(3), margin: 0.5 }))));
  writeFileSync(path("rankings.jsonl"), jsonl(Array.from({ length: 4 }, () => ({ prompt: [{ role: "user", content: sentence(4) }], completions: [sentence(3), sentence(4), sentence(2)], ranking: [2, 0, 1] }))));
  writeFileSync(path("prompts.jsonl"), jsonl([{ prompt: "rank the answers" }, { prompt: [{ role: "system", content: "be brief" }, { role: "user", content: "why" }] }]));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("tokenizer → pretrain → SFT → reward model and DPO → samples, all from local files", async () => {
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("corpus.txt")], vocabSize: 320, out: path("tok") });
  const tokenizer = path("tok/tokenizer.json");
  assert.ok(existsSync(tokenizer));

  const pre = await run({ schemaVersion: 1, kind: "pretrain", corpus: [path("corpus.txt")], tokenizer, model: { init: tiny }, train: fewSteps, out: path("pre"), backend: "wasm" });
  assert.equal(pre.filter((e) => e.type === "metrics").length, 3);
  assert.equal(readManifest(path("pre")).step, 3);

  const sft = await run({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer, model: { checkpoint: path("pre") }, train: fewSteps, out: path("sft"), backend: "wasm" });
  const sftMetrics = sft.filter((e) => e.type === "metrics");
  assert.ok(sftMetrics.every((m) => Number.isFinite(m["loss"])));

  // the reward model starts from the SFT policy with a fresh head
  const rm = await run({ schemaVersion: 1, kind: "reward", data: path("rankings.jsonl"), tokenizer, model: { checkpoint: path("sft") }, train: fewSteps, out: path("rm"), backend: "wasm" });
  const rmFirst = rm.find((e) => e.type === "metrics");
  for (const key of ["loss", "accuracy", "margin", "min_reward", "mean_reward", "max_reward"]) assert.ok(Number.isFinite(rmFirst?.[key]), key);
  assert.equal(readManifest(path("rm")).modelConfig.scalarHead, "reward");
  await run({ schemaVersion: 1, kind: "reward", data: path("prefs.jsonl"), tokenizer, model: { checkpoint: path("sft") }, train: fewSteps, out: path("rm2"), backend: "wasm" });

  const dpo = await run({ schemaVersion: 1, kind: "dpo", data: path("prefs.jsonl"), tokenizer, model: { checkpoint: path("sft") }, train: fewSteps, out: path("dpo"), backend: "wasm" });
  const dpoFirst = dpo.find((e) => e.type === "metrics");
  assert.ok(Math.abs(Number(dpoFirst?.["loss"]) - Math.LN2) < 1e-4, "DPO starts at ln 2");
  // policy = reference: the margin is 0 up to float noise (with native BLAS a sequence's log-probs depend on
  // its batch at the 1e-7 level, so exact ties, accuracy ½, hold only on plain wasm)
  assert.ok(Math.abs(Number(dpoFirst?.["rewards/margins"])) < 1e-5, "DPO starts with margin 0");
  await run({ schemaVersion: 1, kind: "dpo", data: path("rankings.jsonl"), tokenizer, model: { checkpoint: path("sft") }, train: fewSteps, out: path("dpo2"), backend: "wasm" });

  // PPO: policy and frozen reference from SFT, reward and value models from the RM
  const ppo = await run({
    schemaVersion: 1, kind: "ppo", prompts: path("prompts.jsonl"), tokenizer, model: { checkpoint: path("sft") }, rewardModel: { checkpoint: path("rm") },
    train: { rollouts: 2, rolloutBatchSize: 2, miniBatchSize: 2, ppoEpochs: 1, responseLength: 6 }, out: path("ppo"), backend: "wasm",
  });
  const ppoMetrics = ppo.filter((e) => e.type === "metrics");
  assert.equal(ppoMetrics.length, 2);
  assert.ok(Math.abs(Number(ppoMetrics[0]?.["objective/kl"])) < 1e-5, "policy = reference on the first rollout");
  for (const key of ["objective/kl", "objective/entropy", "policy/approxkl_avg", "policy/clipfrac_avg", "val/ratio", "kl_guard/kl", "health/undecodable_frac", "health/empty_frac"]) assert.ok(Number.isFinite(ppoMetrics[1]?.[key]), key);
  assert.equal(readManifest(path("ppo/value")).modelConfig.scalarHead, "value");

  await run({ schemaVersion: 1, kind: "sample", prompts: path("prompts.jsonl"), tokenizer, model: { checkpoint: path("dpo") }, sampling: { n: 2, maxNewTokens: 8, seed: 3 }, out: path("samples"), backend: "wasm" });
  const samples = readFileSync(path("samples/samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { line: number; completion: string; tokens: number });
  assert.equal(samples.length, 4);
  assert.deepEqual(samples.map((s) => s.line), [1, 1, 2, 2]);
  assert.ok(samples.every((s) => typeof s.completion === "string" && s.tokens >= 1 && s.tokens <= 8));
});

test("bad data is reported with line numbers and reasons, not dropped; another tokenizer is refused", async () => {
  writeFileSync(path("bad.jsonl"), ['{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}', "{not json", '{"messages":[{"role":"user","content":"no answer"}]}', ""].join("\n"));
  const tokenizer = path("tok/tokenizer.json");
  const spec = { schemaVersion: 1 as const, kind: "sft" as const, data: path("bad.jsonl"), tokenizer, model: { init: tiny }, train: fewSteps, out: path("bad"), backend: "wasm" as const };
  await assert.rejects(run(spec), (e: unknown) => e instanceof DataError && /line 2: invalid JSON/.test(e.message) && /line 3: .*assistant/.test(e.message));
  writeFileSync(path("long.jsonl"), jsonl([{ messages: [{ role: "user", content: "word ".repeat(200) }, { role: "assistant", content: "ok" }] }]));
  await assert.rejects(run({ ...spec, data: path("long.jsonl") }), /line 1: \d+ tokens exceeds the model's blockSize 96/);
  // a checkpoint trained with one tokenizer cannot be paired with another
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("corpus.txt")], vocabSize: 330, out: path("tok2") });
  await assert.rejects(
    run({ ...spec, data: path("sft.jsonl"), tokenizer: path("tok2/tokenizer.json"), model: { checkpoint: path("sft") } }),
    /another (tokenizer|architecture)/,
  );
});

test("the CLI validates the config and reports failures as JSON lines with exit codes", () => {
  const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "cli.ts"), ...args], { encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  writeFileSync(path("job-bad.json"), JSON.stringify({ tokenizer: "x", out: path("o") }));
  const bad = cli(["sft", "--config", path("job-bad.json")]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /data: /);
  writeFileSync(path("job-missing.json"), JSON.stringify({ data: path("nope.jsonl"), tokenizer: path("tok/tokenizer.json"), model: { init: tiny }, out: path("o2"), backend: "cpu" }));
  const failed = cli(["sft", "--config", path("job-missing.json")]);
  assert.equal(failed.status, 1);
  const last = JSON.parse(failed.stdout.trim().split("\n").pop() ?? "{}") as { type?: string; message?: string };
  assert.equal(last.type, "failed");
  assert.match(last.message ?? "", /nope\.jsonl/);
  assert.ok(existsSync(path("o2/metrics.jsonl")));
});
