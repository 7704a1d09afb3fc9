// `eval` on tiny checkpoints: closed forms on a model with uniform outputs (zero weights), agreement
// with the trainers' own in-batch evaluation, and the KL estimate against the exact KL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import { rewardConfigSchema } from "../contract/reward-config.ts";
import { sftConfigSchema } from "../contract/sft-config.ts";
import { readManifest, saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { disposeModel, lmForward } from "../model/lm.ts";
import { loadBpeTokenizerFile } from "../tokenizer/bpe-tokenizer.ts";
import { tandemChatFormat } from "../tokenizer/chat-format.ts";
import { createSftTrainer } from "../algorithms/sft-trainer.ts";
import { createRewardTrainer } from "../algorithms/reward-trainer.ts";
import { createMemoryLogger } from "./logger.ts";
import { runJob } from "./run-job.ts";
import { buildModel, readPreferencePairs, readRankingExamples, readSftExamples } from "./job-inputs.ts";
import { createRng } from "../random/rng.ts";

let dir = "";
const path = (name: string): string => join(dir, name);
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const tiny = { vocabSize: 320, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 };
const close = (a: unknown, b: number, tol: number, what: string): void => assert.ok(Math.abs(Number(a) - b) <= tol, `${what}: ${String(a)} vs ${b}`);

type Event = { type: string; [k: string]: unknown };
async function run(spec: JobSpecInput): Promise<Event[]> {
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
}
async function evalMetrics(spec: Omit<Extract<JobSpecInput, { kind: "eval" }>, "schemaVersion" | "kind" | "out" | "backend">, out: string): Promise<Record<string, number>> {
  const events = await run({ schemaVersion: 1, kind: "eval", out: path(out), backend: "wasm", ...spec });
  const metrics = events.filter((e) => e.type === "metrics");
  assert.equal(metrics.length, 1);
  assert.equal(events.at(-1)?.type, "done");
  return metrics[0] as unknown as Record<string, number>;
}

const tok = (): string => path("tok/tokenizer.json");

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tandem-eval-test-"));
  const rng = createRng(9);
  const words = "the labeler ranks four answers and writes a helpful honest reply about the reward model".split(" ");
  const sentence = (n: number): string => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
  writeFileSync(path("corpus.txt"), Array.from({ length: 60 }, () => sentence(10)).join("\n"));
  writeFileSync(path("sft.jsonl"), jsonl(Array.from({ length: 5 }, () => ({ messages: [{ role: "user", content: sentence(3) }, { role: "assistant", content: sentence(2 + Math.floor(rng.next() * 5)) }] }))));
  writeFileSync(path("prefs.jsonl"), jsonl(Array.from({ length: 4 }, () => ({ prompt: sentence(3), chosen: sentence(4), rejected: sentence(3), margin: 0.25 }))));
  writeFileSync(path("rankings.jsonl"), jsonl(Array.from({ length: 3 }, () => ({ prompt: sentence(3), completions: [sentence(2), sentence(3), sentence(4)], ranks: [1, 0, 1] }))));
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("corpus.txt")], vocabSize: 320, out: path("tok") });
  const train = { steps: 4, batchSize: 2, optim: { lr: 1e-2, warmupSteps: 0 } };
  await run({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer: tok(), model: { init: tiny, seed: 3 }, train, out: path("sft"), backend: "wasm" });
  await run({ schemaVersion: 1, kind: "reward", data: path("rankings.jsonl"), tokenizer: tok(), model: { checkpoint: path("sft") }, train, out: path("rm"), backend: "wasm" });
  await run({ schemaVersion: 1, kind: "dpo", data: path("prefs.jsonl"), tokenizer: tok(), model: { checkpoint: path("sft") }, train: { ...train, beta: 0.5 }, out: path("dpo"), backend: "wasm" });

  // all-zero weights: every logit is 0 (uniform next token) and every reward is 0
  const format = tandemChatFormat(loadBpeTokenizerFile(tok()));
  for (const [name, source, head] of [["zero-policy", "sft", "none"], ["zero-rm", "rm", "reward"]] as const) {
    const model = buildModel({ checkpoint: path(source) }, format, head);
    for (const v of model.params.values()) tf.tidy(() => v.assign(tf.zerosLike(v)));
    saveCheckpoint(path(name), model, null, { step: 0, rngState: 0, trainConfig: {}, tokenizerHash: format.tokenizer.hash });
    copyFileSync(tok(), path(`${name}/tokenizer.json`));
    disposeModel(model);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("sft: uniform outputs give loss ln V and perplexity V over exactly the assistant tokens", async () => {
  const format = tandemChatFormat(loadBpeTokenizerFile(tok()));
  const examples = await readSftExamples(path("sft.jsonl"), format, 64);
  const targets = examples.reduce((a, e) => a + e.lossMask.slice(1).reduce((x, y) => x + y, 0), 0);
  const m = await evalMetrics({ data: path("sft.jsonl"), model: { checkpoint: path("zero-policy") }, batchSize: 2 }, "eval-zero-sft");
  close(m["eval_loss"], Math.log(320), 1e-5, "loss");
  close(m["eval_perplexity"], 320, 1e-2, "perplexity");
  assert.equal(m["eval_tokens"], targets);
  assert.equal(m["eval_examples"], 5);
  assert.ok(JSON.parse(readFileSync(path("eval-zero-sft/eval.json"), "utf8")).metrics.eval_loss > 0);
});

test("sft: the token-weighted loss does not depend on batching and equals the trainer's loss on one batch", async () => {
  const small = await evalMetrics({ data: path("sft.jsonl"), model: { checkpoint: path("sft") }, batchSize: 2 }, "eval-sft-2");
  const large = await evalMetrics({ data: path("sft.jsonl"), model: { checkpoint: path("sft") }, batchSize: 64 }, "eval-sft-64");
  close(small["eval_loss"], Number(large["eval_loss"]), 1e-5, "batch 2 vs 64");
  const format = tandemChatFormat(loadBpeTokenizerFile(tok()));
  const model = buildModel({ checkpoint: path("sft") }, format, "none");
  const trainer = createSftTrainer(model, sftConfigSchema.parse({}), format.padId);
  close(small["eval_loss"], trainer.evalLoss(await readSftExamples(path("sft.jsonl"), format, 64)), 1e-5, "vs SftTrainer.evalLoss");
  assert.ok(Number(small["eval_loss"]) < Math.log(320), "trained below the uniform loss");
  trainer.dispose();
  disposeModel(model);
});

test("reward: zero scores give accuracy ½, margin 0, loss ln 2; a trained model matches RewardTrainer.evaluate", async () => {
  const zero = await evalMetrics({ data: path("rankings.jsonl"), model: { checkpoint: path("zero-rm") } }, "eval-zero-rm");
  assert.equal(zero["eval_accuracy"], 0.5);
  assert.equal(zero["eval_margin"], 0);
  close(zero["eval_loss"], Math.LN2, 1e-6, "loss");
  assert.equal(zero["eval_pairs"], 3 * 2); // ranks [1, 0, 1]: the best beats each of the two tied ones
  // margins enter the loss as in training: ln(1 + e^{0.25}) per pair
  const zeroPrefs = await evalMetrics({ data: path("prefs.jsonl"), model: { checkpoint: path("zero-rm") } }, "eval-zero-rm-prefs");
  close(zeroPrefs["eval_loss"], Math.log1p(Math.exp(0.25)), 1e-6, "loss with margin");

  const m = await evalMetrics({ data: path("rankings.jsonl"), model: { checkpoint: path("rm") }, batchSize: 2 }, "eval-rm");
  const format = tandemChatFormat(loadBpeTokenizerFile(tok()));
  const model = buildModel({ checkpoint: path("rm") }, format, "reward");
  const trainer = createRewardTrainer(model, rewardConfigSchema.parse({}), format.padId);
  const direct = trainer.evaluate(await readRankingExamples(path("rankings.jsonl"), format, 64));
  for (const key of ["loss", "accuracy", "margin", "min_reward", "mean_reward", "max_reward"]) close(m[`eval_${key}`], direct[key] ?? NaN, 1e-5, key);
  assert.notEqual(m["eval_margin"], 0);
  trainer.dispose();
  disposeModel(model);
});

test("dpo: policy = reference gives ln 2, accuracy ½, zero rewards and a KL of exactly 0", async () => {
  const m = await evalMetrics({ data: path("prefs.jsonl"), model: { checkpoint: path("sft") }, reference: { checkpoint: path("sft") }, kl: { samplesPerPrompt: 2, maxNewTokens: 4 } }, "eval-dpo-same");
  close(m["eval_loss"], Math.LN2, 1e-6, "loss");
  assert.equal(m["eval_rewards/accuracies"], 0.5);
  assert.equal(m["eval_rewards/margins"], 0);
  assert.equal(m["eval_kl"], 0);
  assert.equal(m["eval_kl_samples"], 4 * 2);
});

test("dpo: a trained policy's implicit rewards separate chosen from rejected", async () => {
  const m = await evalMetrics({ data: path("prefs.jsonl"), model: { checkpoint: path("dpo") }, reference: { checkpoint: path("sft") }, beta: 0.5, kl: { samplesPerPrompt: 0 } }, "eval-dpo");
  assert.ok(Number(m["eval_rewards/margins"]) > 0, "DPO training separated chosen from rejected");
  assert.ok(Number(m["eval_loss"]) < Math.LN2);
  assert.equal(m["eval_kl"], undefined, "samplesPerPrompt 0 skips the KL");
});

test("dpo: the sampled KL estimate agrees with the exact KL of one-token completions", async () => {
  // a policy fitted hard to the data, against the uniform (zero) reference: a KL of nats, ln V − H(π)
  await run({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer: tok(), model: { checkpoint: path("sft") }, train: { steps: 40, batchSize: 5, optim: { lr: 1e-2, warmupSteps: 0 } }, out: path("sft-fit"), backend: "wasm" });
  const m = await evalMetrics(
    { data: path("prefs.jsonl"), model: { checkpoint: path("sft-fit") }, reference: { checkpoint: path("zero-policy") }, batchSize: 50, kl: { samplesPerPrompt: 200, maxNewTokens: 1, seed: 4 } },
    "eval-kl",
  );
  // exact KL(π‖π_ref) of the first response token, averaged over the distinct prompts
  const format = tandemChatFormat(loadBpeTokenizerFile(tok()));
  const policy = buildModel({ checkpoint: path("sft-fit") }, format, "none");
  const reference = buildModel({ checkpoint: path("zero-policy") }, format, "none");
  const prompts = [...new Map((await readPreferencePairs(path("prefs.jsonl"), format, 64)).map((p) => [p.prompt.join(","), p.prompt])).values()];
  const exact = prompts.map((p) =>
    tf.tidy(() => {
      const last = (model: typeof policy): tf.Tensor1D => {
        const logits = lmForward(model, tf.tensor2d([p], [1, p.length], "int32")).logits as tf.Tensor3D; // (1, P, V)
        return tf.logSoftmax(tf.reshape(tf.slice(logits, [0, p.length - 1, 0], [1, 1, -1]), [-1])) as tf.Tensor1D; // (V)
      };
      const lp = last(policy);
      return tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, last(reference)))).dataSync()[0] ?? NaN;
    }),
  );
  const expected = exact.reduce((a, x) => a + x, 0) / exact.length;
  const se = Number(m["eval_kl_stderr"]);
  assert.ok(expected > 8 * se, `the test needs a KL (${expected}) well above the estimate's noise (${se})`);
  assert.ok(Math.abs(Number(m["eval_kl"]) - expected) < 4 * se, `estimate ${m["eval_kl"]} ± ${se} vs exact ${expected}`);
  disposeModel(policy);
  disposeModel(reference);
});

test("bad eval configs name the problem; the CLI prints JSON lines", async () => {
  await assert.rejects(run({ schemaVersion: 1, kind: "eval", data: path("prefs.jsonl"), model: { checkpoint: path("rm") }, reference: { checkpoint: path("sft") }, out: path("x"), backend: "wasm" }), /reference is for DPO policies/);
  // a policy without a reference evaluates messages; preference records are reported by line
  await assert.rejects(run({ schemaVersion: 1, kind: "eval", data: path("prefs.jsonl"), model: { checkpoint: path("sft") }, out: path("x"), backend: "wasm" }), /line 1: messages: /);
  await assert.rejects(run({ schemaVersion: 1, kind: "eval", data: path("sft.jsonl"), model: { checkpoint: path("ppo-value-missing") }, out: path("x"), backend: "wasm" }), /ppo-value-missing/);
  assert.equal(readManifest(path("rm")).modelConfig.scalarHead, "reward");

  writeFileSync(path("eval.json"), JSON.stringify({ data: path("sft.jsonl"), model: { checkpoint: path("sft") }, out: path("eval-cli"), backend: "wasm" }));
  const r = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "cli.ts"), "eval", "--config", path("eval.json")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.includes("\r"), false, "no progress bar when stderr is not a terminal");
  const lines = r.stdout.trim().split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Event);
  assert.deepEqual(lines.map((l) => l.type), ["backend", "start", "metrics", "done"]);
  assert.ok(Number(lines[2]?.["eval_perplexity"]) > 1);
});
