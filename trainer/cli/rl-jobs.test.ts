// GRPO, RLOO and KTO jobs end to end over local files (tokenizer, tiny model, checkpoints), their exact
// resume, the refusals of bad input, and the DPO/KTO KL guard stopping an over-aggressive run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import * as tf from "@tensorflow/tfjs-core";
import { disposeModel, initModel } from "../model/lm.ts";
import { loadCheckpointInto, readManifest, saveCheckpoint } from "../checkpoint/checkpoint.ts";

import { createMemoryLogger } from "./logger.ts";
import { DataError, runJob } from "./run-job.ts";
import { transcriptReaders } from "./rl-jobs.ts";
import { renderCompletion } from "../tokenizer/chat-template.ts";
import { createRng } from "../random/rng.ts";
import { loadBpeTokenizerFile } from "../tokenizer/bpe-tokenizer.ts";
import { healthMetrics } from "../rollouts/health.ts";

let dir = "";
const path = (name: string): string => join(dir, name);
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const tiny = { vocabSize: 320, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 16 };
type Event = { type: string; [k: string]: unknown };

async function run(spec: JobSpecInput): Promise<Event[]> {
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
}
const metricsOf = (events: Event[]): Event[] => events.filter((e) => e.type === "metrics").map(({ time: _time, ...m }) => m as Event);
const tokenizer = (): string => path("tok/tokenizer.json");

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tandem-rl-jobs-"));
  const rng = createRng(3);
  const words = "what is two plus three the answer is five four one six seven".split(" ");
  const sentence = (n: number): string => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
  writeFileSync(path("corpus.txt"), Array.from({ length: 80 }, () => `${sentence(8)} 1 2 3 4 5 6 7 8 9 0`).join("\n"));
  writeFileSync(path("sft.jsonl"), jsonl(Array.from({ length: 4 }, (_, i) => ({ messages: [{ role: "user", content: `what is ${i} plus 2` }, { role: "assistant", content: `the answer is ${i + 2}` }] }))));
  writeFileSync(path("prefs.jsonl"), jsonl(Array.from({ length: 6 }, (_, i) => ({ prompt: `what is ${i} plus 1`, chosen: `the answer is ${i + 1}`, rejected: sentence(3) }))));
  // prompts with metadata, both forms: "metadata", and TRL's extra columns
  writeFileSync(path("prompts.jsonl"), jsonl([
    { prompt: "what is 2 plus 3", metadata: { answer: 5 } },
    { prompt: [{ role: "user", content: "what is 1 plus 3" }], answer: 4 },
    { prompt: "what is 4 plus 2", metadata: { answer: "6" } },
    { prompt: "what is 0 plus 1", metadata: { answer: 1 } },
  ]));
  writeFileSync(path("unpaired.jsonl"), jsonl(Array.from({ length: 6 }, (_, i) => ({ prompt: `what is ${i} plus 1`, completion: i % 2 ? `the answer is ${i + 1}` : [{ role: "assistant", content: sentence(3) }], label: i % 2 === 1 }))));
  const fitted = await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("corpus.txt")], vocabSize: 320, out: path("tok") });
  // numbers split into digits leave a small corpus short of merges: the model takes the vocabulary fitted
  tiny.vocabSize = Number(fitted.find((e) => e.type === "done")?.["vocabSize"]);
  await run({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer: tokenizer(), model: { init: tiny, seed: 1 }, train: { steps: 2, batchSize: 2 }, out: path("base"), backend: "wasm" });
  await run({ schemaVersion: 1, kind: "reward", data: path("prefs.jsonl"), tokenizer: tokenizer(), model: { checkpoint: path("base") }, train: { steps: 2, batchSize: 2 }, out: path("rm"), backend: "wasm" });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const rlTrain = { rollouts: 4, promptsPerRollout: 2, numGenerations: 2, numIterations: 2, maxCompletionLength: 6, checkpointEvery: 2, keepCheckpoints: 0, optim: { lr: 1e-2 } };
const rlSpec = (kind: "grpo" | "rloo", out: string, extra: Record<string, unknown> = {}): JobSpecInput => ({
  schemaVersion: 1, kind, prompts: path("prompts.jsonl"), tokenizer: tokenizer(), model: { checkpoint: path("base") },
  reward: { checker: { kind: "numeric" }, length: { target: 4 }, weights: { length: 0.1 } }, train: rlTrain, out, backend: "wasm", ...extra,
} as JobSpecInput);

for (const kind of ["grpo", "rloo"] as const) {
  test(`${kind}: rollouts with TRL's metric names and every reward source on its own; resuming at rollout 2 repeats rollouts 3–4 exactly`, async () => {
    const withRm = kind === "grpo" ? { rewardModel: { checkpoint: path("rm") }, reward: { checker: { kind: "numeric" }, length: { target: 4 }, weights: { length: 0.1, rewardModel: 0.5 } } } : {};
    const whole = await run(rlSpec(kind, path(`${kind}-whole`), withRm));
    const metrics = metricsOf(whole);
    assert.deepEqual(metrics.map((m) => m["rollout"]), [1, 2, 3, 4]);
    const first = metrics[0] ?? { type: "" };
    const names = ["reward", "reward_std", "rewards/checker/mean", "rewards/length/mean", "frac_reward_zero_std", "kl", "entropy", "clip_ratio/region_mean", "completions/mean_length", "kl_guard/kl", "kl_guard/target", "health/undecodable_frac", "health/repeat_loop_frac", "health/empty_frac", "health/mean_length", "loss", "gradNorm", "lr", "beta"];
    for (const name of [...names, ...(kind === "grpo" ? ["rewards/reward_model/mean"] : [])]) assert.equal(typeof first[name], "number", name);
    assert.ok(Math.abs(Number(first["kl_guard/kl"])) < 1e-4, "the policy starts as the reference");
    const start = whole.find((e) => e.type === "start");
    assert.deepEqual(start?.["rewardSources"], kind === "grpo"
      ? [{ name: "checker", weight: 1 }, { name: "reward_model", weight: 0.5 }, { name: "length", weight: 0.1 }]
      : [{ name: "checker", weight: 1 }, { name: "length", weight: 0.1 }]);
    assert.deepEqual(whole.filter((e) => e.type === "checkpoint").map((e) => e["dir"]), [path(`${kind}-whole/checkpoints/rollout-2`), path(`${kind}-whole`)]);
    assert.equal(readManifest(path(`${kind}-whole`)).kind, kind);
    assert.equal(readManifest(path(`${kind}-whole`)).step, 4 * 2);
    const resumed = await run({ ...rlSpec(kind, path(`${kind}-resumed`), withRm), resume: path(`${kind}-whole/checkpoints/rollout-2`) } as JobSpecInput);
    assert.equal(resumed.find((e) => e.type === "start")?.["resumedAtRollout"], 2);
    assert.deepEqual(metricsOf(resumed), metrics.slice(2));
    // a checkpoint written before dynamic sampling existed (no such train fields, no count of prompt batches) resumes
    const before = path(`${kind}-before-dynamic-sampling`);
    cpSync(path(`${kind}-whole/checkpoints/rollout-2`), before, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(before, "manifest.json"), "utf8")) as { trainConfig: Record<string, unknown>; resumeState: Record<string, unknown> };
    assert.equal(manifest.resumeState["promptBatches"], 2);
    delete manifest.trainConfig["dynamicSampling"];
    delete manifest.trainConfig["maxSamplingBatches"];
    delete manifest.resumeState["promptBatches"];
    writeFileSync(join(before, "manifest.json"), JSON.stringify(manifest));
    const old = await run({ ...rlSpec(kind, path(`${kind}-resumed-old`), withRm), resume: before } as JobSpecInput);
    assert.deepEqual(metricsOf(old), metrics.slice(2));
    // another reward is another run: its checkpoint is refused
    await assert.rejects(
      run({ ...rlSpec(kind, path(`${kind}-other`), { reward: { checker: { kind: "numeric" } } }), resume: path(`${kind}-whole/checkpoints/rollout-2`) } as JobSpecInput),
      /train\.reward\.(length|weights)/,
    );
  });
}

test("kto: unpaired labels in TRL's format; metrics with TRL's names; resuming at step 2 repeats the run; the KL check runs at the last step", async () => {
  const spec = (out: string): JobSpecInput => ({
    schemaVersion: 1, kind: "kto", data: path("unpaired.jsonl"), tokenizer: tokenizer(), model: { checkpoint: path("base") },
    train: { steps: 4, batchSize: 3, checkpointEvery: 2, keepCheckpoints: 0, klCheck: { samples: 4, maxNewTokens: 6 }, optim: { lr: 3e-3, warmupSteps: 1 } }, out, backend: "wasm",
  });
  const whole = await run(spec(path("kto-whole")));
  const metrics = metricsOf(whole);
  assert.deepEqual(metrics.map((m) => m["step"]), [1, 2, 3, 4]);
  assert.equal(whole.find((e) => e.type === "start")?.["desirable"], 3);
  // TRL's KTO names; at step 1 the policy is the reference: ½ per answer, z₀ = 0
  assert.ok(Math.abs(Number(metrics[0]?.["loss"]) - 0.5) < 1e-5, `first loss ${metrics[0]?.["loss"]}`);
  for (const name of ["kl", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"]) assert.equal(typeof metrics.find((m) => name in m)?.[name], "number", name);
  // the default check (every 25 steps) still runs at the last step
  assert.equal(metrics[3]?.["kl_guard/samples"], 4);
  assert.equal(typeof metrics[3]?.["health/undecodable_frac"], "number");
  assert.equal(metrics[1]?.["kl_guard/kl"], undefined);
  const resumed = await run({ ...spec(path("kto-resumed")), resume: path("kto-whole/checkpoints/step-2") } as JobSpecInput);
  assert.deepEqual(metricsOf(resumed), metrics.slice(2));
});

test("the KL guard stops an over-aggressive DPO run and keeps the weights of its last check under the target", async () => {
  const events = await run({
    schemaVersion: 1, kind: "dpo", data: path("prefs.jsonl"), tokenizer: tokenizer(), model: { checkpoint: path("base") },
    train: { steps: 30, batchSize: 3, beta: 0.1, klTarget: 1, klCheck: { every: 2, samples: 8, maxNewTokens: 8 }, checkpointEvery: 2, keepCheckpoints: 0, optim: { lr: 0.02, warmupSteps: 0 } },
    out: path("dpo-guarded"), backend: "wasm",
  });
  const stop = events.find((e) => e.type === "early_stop");
  assert.ok(stop, `no early stop: KL ${metricsOf(events).map((m) => m["kl_guard/kl"]).filter((k) => k !== undefined).join(", ")}`);
  assert.equal(stop["reason"], "kl_above_target");
  assert.ok(Number(stop["kl"]) > 1 && Number(stop["klTarget"]) === 1);
  const keptStep = Number(stop["keptStep"]);
  assert.equal(keptStep, Number(stop["step"]) - 2, "the previous check");
  assert.ok(keptStep >= 2, "some checks passed before the KL ran away");
  const checks = metricsOf(events).filter((m) => m["kl_guard/kl"] !== undefined);
  assert.ok(checks.slice(0, -1).every((m) => Number(m["kl_guard/kl"]) <= 1), "every earlier check was under the target");
  assert.equal(events.filter((e) => e.type === "done")[0]?.["earlyStop"], true);
  // the final checkpoint holds the weights of the kept step (the periodic checkpoint of that step)
  assert.equal(readManifest(path("dpo-guarded")).step, keptStep);
  const keptWeights = path(`dpo-guarded/checkpoints/step-${keptStep}/model.safetensors`);
  assert.ok(readFileSync(path("dpo-guarded/model.safetensors")).equals(readFileSync(keptWeights)), "final weights = kept weights");
  assert.equal(stop["dir"], path("dpo-guarded"));
});

test("a DPO resume whose checkpoint is over the (new) KL target stops at once on it, instead of keeping it as if it had passed a check", async () => {
  const spec = (out: string, klTarget: number | null): JobSpecInput => ({
    schemaVersion: 1, kind: "dpo", data: path("prefs.jsonl"), tokenizer: tokenizer(), model: { checkpoint: path("base") },
    train: { steps: 6, batchSize: 3, beta: 0.1, klTarget, klCheck: { every: 2, samples: 8, maxNewTokens: 8 }, checkpointEvery: 2, keepCheckpoints: 0, optim: { lr: 0.02, warmupSteps: 0 } },
    out, backend: "wasm",
  });
  const unguarded = metricsOf(await run(spec(path("dpo-unguarded"), null)));
  const kl4 = Number(unguarded.find((m) => m["step"] === 4)?.["kl_guard/kl"]);
  assert.ok(kl4 > 0.01, `KL at step 4: ${kl4}`);
  const events = await run({ ...spec(path("dpo-resumed-over"), kl4 / 2), resume: path("dpo-unguarded/checkpoints/step-4") } as JobSpecInput);
  const stop = events.find((e) => e.type === "early_stop");
  assert.ok(stop, "no early stop");
  // measured with the check's prompts and seed: the KL the first run logged at step 4
  assert.ok(Math.abs(Number(stop["kl"]) - kl4) < 1e-5, `${stop["kl"]} vs ${kl4}`);
  assert.equal(stop["step"], 4);
  assert.equal(stop["keptStep"], 4);
  assert.deepEqual(metricsOf(events), [], "no step trained");
  assert.equal(readManifest(path("dpo-resumed-over")).step, 4);
  assert.ok(readFileSync(path("dpo-resumed-over/model.safetensors")).equals(readFileSync(path("dpo-unguarded/checkpoints/step-4/model.safetensors"))));
});

test("ppo: the reward model plus the checker (Σ w·r, each source logged), the tools run in its rollouts; another reward does not resume; a prompt without the checker's field is scored by the reward model alone", async () => {
  const ppoSpec = (out: string, extra: Record<string, unknown> = {}): JobSpecInput => ({
    schemaVersion: 1, kind: "ppo", prompts: path("prompts.jsonl"), tokenizer: tokenizer(), model: { checkpoint: path("base") }, rewardModel: { checkpoint: path("rm") },
    reward: { checker: { kind: "numeric" }, weights: { checker: 2, rewardModel: 0.5 } }, tools: ["calculator"],
    train: { rollouts: 2, rolloutBatchSize: 2, miniBatchSize: 2, ppoEpochs: 1, responseLength: 6, checkpointEvery: 1, keepCheckpoints: 0 }, out, backend: "wasm", ...extra,
  } as JobSpecInput);
  const whole = await run(ppoSpec(path("ppo-whole")));
  const start = whole.find((e) => e.type === "start");
  assert.deepEqual(start?.["tools"], ["calculator"]);
  assert.ok(start?.["reward"]);
  const metrics = metricsOf(whole);
  assert.equal(metrics.length, 2);
  for (const m of metrics) {
    const [checker, rm, score] = [m["rewards/checker/mean"], m["rewards/reward_model/mean"], m["objective/scores"]].map(Number);
    assert.ok(Math.abs(score! - (2 * checker! + 0.5 * rm!)) < 1e-4, `score ${score} = 2·${checker} + 0.5·${rm}`);
    assert.equal(typeof m["tools/call_frac"], "number", "the tool-running sampler made the rollouts");
  }
  const resumed = await run({ ...ppoSpec(path("ppo-resumed")), resume: path("ppo-whole/checkpoints/rollout-1") } as JobSpecInput);
  assert.deepEqual(metricsOf(resumed), metrics.slice(1));
  await assert.rejects(run({ ...ppoSpec(path("ppo-other"), { reward: undefined }), resume: path("ppo-whole/checkpoints/rollout-1") } as JobSpecInput), /train\.reward/);
  // a prompt without the checker's reference: the reward model alone scores its answer (GRPO would refuse it, having no other signal)
  writeFileSync(path("ppo-no-answer.jsonl"), jsonl([{ prompt: "what is 1 plus 1", metadata: { answer: 2 } }, { prompt: "and 2 plus 2" }]));
  const partial = metricsOf(await run({ ...ppoSpec(path("ppo-partial")), prompts: path("ppo-no-answer.jsonl") } as JobSpecInput));
  assert.deepEqual(partial.map((m) => m["checker/unscored"]), [1, 1], "each batch holds both prompts; one has no reference");
  // without a reward spec: the reward model alone, as before
  const alone = metricsOf(await run(ppoSpec(path("ppo-alone"), { reward: undefined, train: { rollouts: 1, rolloutBatchSize: 2, miniBatchSize: 2, ppoEpochs: 1, responseLength: 6 } })));
  assert.equal(alone[0]?.["rewards/checker/mean"], undefined);
});

test("the KL guard stops a PPO run whose rollouts went over the target, and keeps the weights that sampled the last one under it", async () => {
  const events = await run({
    schemaVersion: 1, kind: "ppo", prompts: path("prompts.jsonl"), tokenizer: tokenizer(), model: { checkpoint: path("base") }, rewardModel: { checkpoint: path("rm") },
    train: { rollouts: 20, rolloutBatchSize: 4, miniBatchSize: 2, ppoEpochs: 2, responseLength: 6, klTarget: 2, checkpointEvery: 1, keepCheckpoints: 0, optim: { lr: 0.02 } },
    out: path("ppo-guarded"), backend: "wasm",
  } as JobSpecInput);
  const stop = events.find((e) => e.type === "early_stop");
  const kls = metricsOf(events).map((m) => Number(m["kl_guard/kl"]));
  assert.ok(stop, `no early stop: KL ${kls.join(", ")}`);
  assert.equal(stop["reason"], "kl_above_target");
  assert.ok(Number(stop["kl"]) > 2 && Number(stop["klTarget"]) === 2);
  assert.ok(kls.slice(0, -1).every((kl) => kl <= 2) && kls.at(-1)! > 2, `every rollout before the last sampled under the target: ${kls.join(", ")}`);
  assert.equal(events.filter((e) => e.type === "done")[0]?.["earlyStop"], true);
  // the weights kept are those after the rollout before the last: its periodic checkpoint (4 rows ÷ 2 × 2 epochs = 4 steps a rollout)
  const keptStep = Number(stop["keptStep"]);
  assert.equal(keptStep, Number(stop["step"]) - 4, "the weights that sampled the rollout before (the one over the target took no step)");
  assert.ok(keptStep >= 4 && keptStep % 4 === 0, `some rollouts trained first (kept step ${keptStep})`);
  assert.equal(readManifest(path("ppo-guarded")).step, keptStep);
  const kept = path(`ppo-guarded/checkpoints/rollout-${keptStep / 4}/model.safetensors`);
  assert.ok(readFileSync(path("ppo-guarded/model.safetensors")).equals(readFileSync(kept)), "final weights = the kept rollout's");
});

test("bad GRPO input is refused before any work, naming the line or field", async () => {
  writeFileSync(path("no-answer.jsonl"), jsonl([{ prompt: "what is 1 plus 1", metadata: { answer: 2 } }, { prompt: "and 2 plus 2", metadata: { note: "x" } }, { prompt: "x", metadata: { a: 1 }, answer: 3 }]));
  await assert.rejects(run({ ...rlSpec("grpo", path("bad")), prompts: path("no-answer.jsonl") } as JobSpecInput), (e: unknown) => e instanceof DataError && /line 3: answer: metadata given twice/.test(e.message));
  writeFileSync(path("no-answer.jsonl"), jsonl([{ prompt: "what is 1 plus 1", metadata: { answer: 2 } }, { prompt: "and 2 plus 2", metadata: { note: "x" } }]));
  await assert.rejects(run({ ...rlSpec("grpo", path("bad")), prompts: path("no-answer.jsonl") } as JobSpecInput), (e: unknown) => e instanceof DataError && /line 2: metadata\.answer is missing/.test(e.message));
  const issues = (spec: unknown): string[] => jobSpecSchema.safeParse(spec).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
  assert.deepEqual(issues({ ...rlSpec("grpo", path("bad")), reward: {} }), ["reward: no reward source: give reward.checker, reward.format, reward.length or a rewardModel"]);
  assert.match(issues({ ...rlSpec("rloo", path("bad")), reward: { checker: { kind: "numeric" }, weights: { rewardModel: 1 } } })[0] ?? "", /^reward\.weights\.rewardModel: /);
  assert.match(issues({ ...rlSpec("grpo", path("bad")), tools: ["shell"] })[0] ?? "", /^tools\.0: /);
  assert.match(issues({ ...rlSpec("grpo", path("bad")), train: { klControl: "adaptive", beta: 0 } })[0] ?? "", /^train\.klControl: /);
  assert.equal(existsSync(path("bad/model.safetensors")), false);
});

test("a reward model that scores NaN stops the rollout before any update, naming the step and the last checkpoint", async () => {
  // a broken reward model: its head's weights are NaN
  const manifest = readManifest(path("rm"));
  const model = initModel(manifest.modelConfig, 0);
  loadCheckpointInto(path("rm"), model, null, { tokenizerHash: manifest.tokenizerHash });
  const head = model.params.get("score.weight");
  head?.assign(tf.fill(head.shape, NaN));
  saveCheckpoint(path("rm-nan"), model, null, { step: 0, rngState: 0, trainConfig: {}, tokenizerHash: manifest.tokenizerHash });
  disposeModel(model);
  await assert.rejects(
    run(rlSpec("grpo", path("nan"), { rewardModel: { checkpoint: path("rm-nan") } })),
    /non-finite reward NaN from reward_model on sample 1 of 4 at step 1 \(rollout 1\) \(last checkpoint: none; set train\.checkpointEvery\)/,
  );
  assert.equal(existsSync(path("nan/model.safetensors")), false);
});

test("an answer cut inside a UTF-8 character decodes with U+FFFD and counts as undecodable", async () => {
  const tok = loadBpeTokenizerFile(tokenizer());
  const ids = await tok.encode("é"); // two byte tokens: the corpus never had it
  assert.equal(ids.length, 2);
  const broken = await tok.decode(ids.slice(0, 1), true);
  const whole = await tok.decode(ids, true);
  const m = healthMetrics([{ text: broken, answer: broken, policyTokens: ids.slice(0, 1) }, { text: whole, answer: whole, policyTokens: ids }]);
  assert.equal(m["health/undecodable_frac"], 0.5);
});

test("a reward reads the transcript: the final answer, and the last tool message's content (null without a call)", async () => {
  const tok = loadBpeTokenizerFile(tokenizer());
  const call = (expression: string) => ({ type: "function" as const, function: { name: "calculator", arguments: { expression } } });
  const twoCalls = await renderCompletion(tok, [
    { role: "assistant", content: "", tool_calls: [call("2+3")] }, { role: "tool", name: "calculator", content: "5" },
    { role: "assistant", content: "", tool_calls: [call("5*7")] }, { role: "tool", name: "calculator", content: "35" },
    { role: "assistant", content: "the answer is 4" },
  ]);
  const read = transcriptReaders(tok);
  assert.equal(await read.toolResult(twoCalls.ids, []), "35");
  assert.equal(await read.answerText(twoCalls.ids, []), "the answer is 4");
  const plain = await renderCompletion(tok, "the answer is 5");
  assert.equal(await read.toolResult(plain.ids, []), null);
  assert.equal(await read.answerText(plain.ids, []), "the answer is 5");
  // the same readers on a different completion read that one (one parse per completion, never a stale one)
  assert.equal(await read.toolResult(twoCalls.ids, []), "35");
});

for (const kind of ["grpo", "rloo"] as const) {
  test(`${kind} with dynamic sampling: rollouts draw extra prompt batches, and resuming at rollout 2 repeats rollouts 3–4 exactly`, async () => {
    // a 0/1 reward that a tiny model's groups of 2 get all-alike about half of the time
    const spec = (out: string): JobSpecInput => rlSpec(kind, out, { reward: { format: { pattern: "e" } }, train: { ...rlTrain, dynamicSampling: true, maxSamplingBatches: 4 } });
    const whole = await run(spec(path(`${kind}-dyn-whole`)));
    const metrics = metricsOf(whole);
    const batches = metrics.map((m) => Number(m["dynamic_sampling/batches"]));
    // the resume point must skip more prompt batches than rollouts
    assert.ok((batches[0] ?? 0) + (batches[1] ?? 0) > 2, `extra batches drawn: ${batches.join(" ")}`);
    assert.ok(metrics.every((m) => Number(m["dynamic_sampling/trained_groups"]) <= rlTrain.promptsPerRollout));
    const resumed = await run({ ...spec(path(`${kind}-dyn-resumed`)), resume: path(`${kind}-dyn-whole/checkpoints/rollout-2`) } as JobSpecInput);
    assert.deepEqual(metricsOf(resumed), metrics.slice(2));
  });
}
