import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { ppoConfigSchema, type PpoConfig } from "../contract/ppo-config.ts";
import { cloneGpt, disposeGpt, initGpt } from "../model/gpt.ts";
import { createRng } from "../random/rng.ts";
import { nextTokenLogProbs } from "../losses/logprobs.ts";
import { lmForward } from "../model/lm.ts";
import { collateRollout, type RolloutFn } from "../rollouts/rollout.ts";
import { createPpoTrainer, type RewardFn } from "./ppo-trainer.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const PAD = 0;
const END = 1;
/** Known reward: how many "good" tokens (2–8) the response has. A uniform policy scores about 4·7/16. */
const reward: RewardFn = (_prompts, responses) => Float32Array.from(responses.map((r) => r.filter((t) => t >= 2 && t <= 8).length));

/**
 * The tiny policy (seed 1), its frozen reference and a value model copied from it, a PPO trainer on the known reward,
 * and random two-token prompts drawn from `promptSeed`; dispose() frees them all.
 */
function tinyPpo(config: PpoConfig, promptSeed: number) {
  const policy = initGpt(resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 }), 1);
  const reference = cloneGpt(policy, { trainable: false });
  const value = cloneGpt(policy, { scalarHead: "value" });
  const trainer = createPpoTrainer({ policy, reference, value }, config, { padId: PAD, stopTokens: [END], reward });
  const rng = createRng(promptSeed);
  const prompts = (): number[][] => Array.from({ length: config.rolloutBatchSize }, () => [2 + Math.floor(rng.next() * 14), 2 + Math.floor(rng.next() * 14)]);
  const dispose = () => {
    trainer.dispose();
    for (const m of [policy, reference, value]) disposeGpt(m);
  };
  return { policy, value, trainer, prompts, dispose };
}

test("PPO raises a known reward while the KL to the reference stays bounded; no tensor leak", async () => {
  const config = ppoConfigSchema.parse({
    rolloutBatchSize: 32, miniBatchSize: 8, ppoEpochs: 4, responseLength: 4, temperature: 1, klCoef: 0.05,
    optim: { lr: 3e-3, minLr: 3e-3, warmupSteps: 0, totalSteps: 1000, weightDecay: 0 },
  });
  const { trainer, prompts, dispose } = tinyPpo(config, 2);

  const history: Record<string, number>[] = [];
  let tensors = 0;
  for (let r = 0; r < 12; r++) {
    history.push((await trainer.rolloutStep(prompts())).metrics);
    if (r === 1) tensors = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, tensors, "no tensor growth across rollouts");
  const first = history[0] ?? {};
  // policy = reference on the first rollout: the KL penalty is exactly zero
  assert.ok(Math.abs(first["objective/kl"] ?? NaN) < 1e-5, `initial KL ${first["objective/kl"]}`);
  const late = history.slice(-3);
  const lateScore = late.reduce((a, m) => a + (m["objective/scores"] ?? 0), 0) / late.length;
  const early = (first["objective/scores"] ?? 0);
  assert.ok(lateScore > early + 0.8, `score ${early.toFixed(2)} → ${lateScore.toFixed(2)}`);
  // The cheapest way to the maximum score spreads each token over the 7 good ones: KL ≈ 4·ln(16/7) ≈ 3.3
  // nats from the near-uniform start. Collapsing onto one token would cost up to 4·ln 16 ≈ 11 nats.
  const klBound = 4 * Math.log(16 / 7) + 1.5;
  for (const m of late) {
    assert.ok((m["objective/kl"] ?? Infinity) < klBound, `KL ${m["objective/kl"]}`);
    assert.ok((m["objective/kl"] ?? -1) > -0.5, `KL should not be clearly negative: ${m["objective/kl"]}`);
    assert.ok(Math.abs((m["val/ratio"] ?? 0) - 1) < 0.2, `ratio ${m["val/ratio"]}`);
    assert.ok((m["policy/clipfrac_avg"] ?? 1) < 0.5);
  }
  for (const key of Object.keys(first)) assert.ok(Number.isFinite(first[key]), key);
  assert.equal(first["tools/call_frac"], undefined, "plain sampling runs no tools");
  dispose();
});

test("inserted (tool) tokens: the reward model reads them, but entropy, KL, the loss and the final answer run over policy tokens", async () => {
  // A scripted sampler: every row writes a token, gets one inserted by a "tool" (policyMask 0), then ends.
  const inserted = 5;
  const scripted: RolloutFn = (_model, prompts) => {
    const completions = prompts.map((p) => [p[0] ?? 2, inserted, END]);
    return { completions, finished: prompts.map(() => true), logprobs: completions.map((c) => c.map(() => 0)), policyMask: prompts.map(() => [1, 0, 1]), toolCalls: prompts.map((_, b) => b % 2) };
  };
  const policy = initGpt(resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 }), 3);
  const reference = cloneGpt(policy, { trainable: false });
  const value = cloneGpt(policy, { scalarHead: "value" });
  const config = ppoConfigSchema.parse({ rolloutBatchSize: 4, miniBatchSize: 4, ppoEpochs: 1, responseLength: 4, temperature: 1, optim: { lr: 1e-3, warmupSteps: 0, totalSteps: 10 } });
  const seen: number[][] = [];
  const readAll: RewardFn = (_p, responses) => {
    seen.push(...responses);
    return Float32Array.from(responses.map(() => 1));
  };
  const decode = (ids: number[]) => ids.map((t) => String.fromCharCode(96 + t)).join("");
  const trainer = createPpoTrainer({ policy, reference, value }, config, { padId: PAD, stopTokens: [END], reward: readAll, decode, rollout: scripted });
  const prompts = [[2, 3], [4, 6], [7, 9], [10, 12]];
  // what the policy's own tokens cost in nats, measured before the step: the entropy metric sums only these
  const { batch, width, lossMask } = collateRollout(prompts, prompts.map((p) => [p[0] ?? 2, inserted, END]), prompts.map(() => [1, 0, 1]), PAD);
  const [B, T] = batch.shape;
  const logp = tf.tidy(() => nextTokenLogProbs(lmForward(policy, tf.tensor2d(batch.inputIds, [B, T], "int32")).logits as tf.Tensor3D, tf.tensor2d(batch.inputIds, [B, T], "int32")).dataSync() as Float32Array);
  let policyNats = 0;
  let allNats = 0;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < width; j++) {
      if (lossMask[b * width + j]) policyNats -= logp[b * width + j] ?? NaN;
      if (j >= (prompts[b]?.length ?? 0) - 1 && j < (prompts[b]?.length ?? 0) + 2) allNats -= logp[b * width + j] ?? NaN;
    }
  }
  const { metrics } = await trainer.rolloutStep(prompts);
  assert.deepEqual(seen, prompts.map((p) => [p[0] ?? 2, inserted, END]), "the reward model reads the whole transcript");
  assert.ok(Math.abs((metrics["objective/entropy"] ?? NaN) - policyNats / B) < 1e-4, `entropy ${metrics["objective/entropy"]} vs policy tokens ${policyNats / B} (all tokens: ${allNats / B})`);
  assert.ok(Math.abs(policyNats - allNats) > 0.1, "the inserted token's cost is not negligible, so the check above can tell");
  assert.ok(Math.abs(metrics["objective/kl"] ?? NaN) < 1e-5);
  // the final answer is what follows the inserted token: nothing
  assert.equal(metrics["health/empty_frac"], 1);
  assert.equal(metrics["val/num_eos_tokens"], 4);
  assert.equal(metrics["val/response_length"], 2, "the policy wrote 2 of each response's 3 tokens");
  assert.equal(metrics["tools/call_frac"], 0.5, "the sampler's call counts: rows 1 and 3 called");
  trainer.dispose();
  for (const m of [policy, reference, value]) disposeGpt(m);
});

test("the KL guard: a rollout whose KL is over klTarget updates nothing, and the last weights under it come back", async () => {
  // a learning rate that leaves the reference quickly, and a target the first rollouts stay under (KL 0 at the start)
  const config = ppoConfigSchema.parse({
    rolloutBatchSize: 32, miniBatchSize: 8, ppoEpochs: 4, responseLength: 4, temperature: 1, klCoef: 0.05, klTarget: 0.3,
    optim: { lr: 3e-3, minLr: 3e-3, warmupSteps: 0, totalSteps: 1000, weightDecay: 0 },
  });
  assert.equal(config.klControl, "early_stop", "the default control");
  const { policy, trainer, prompts, dispose } = tinyPpo(config, 2);
  // the weights each rollout sampled with, by the optimizer step they were at
  const weightsAt = new Map<number, Map<string, Float32Array>>();
  const read = () => new Map([...policy.params].map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
  let stop = null;
  let previousKl = NaN;
  let stopMetrics: Record<string, number> = {};
  for (let r = 0; r < 30 && !stop; r++) {
    weightsAt.set(trainer.step, read());
    const stepBefore = trainer.step;
    const result = await trainer.rolloutStep(prompts());
    if (result.earlyStop) {
      stop = result.earlyStop;
      stopMetrics = result.metrics;
      assert.equal(trainer.step, stepBefore, "the rollout over the target took no optimizer step");
    } else previousKl = result.metrics["kl_guard/kl"] ?? NaN;
  }
  assert.ok(stop, "the policy left the reference by more than 0.3 nats within 30 rollouts");
  assert.ok(stop.kl > 0.3 && stop.klTarget === 0.3 && stop.reason === "kl_above_target", JSON.stringify(stop));
  assert.equal(stopMetrics["kl_guard/kl"], stop.kl);
  assert.equal(stopMetrics["kl_guard/target"], 0.3);
  assert.ok(previousKl <= 0.3, `the rollout before sampled under the target (${previousKl})`);
  assert.ok(stop.keptStep < stop.step, "the kept weights are an earlier step's");
  // the policy holds exactly the weights that sampled the last rollout under the target
  const kept = weightsAt.get(stop.keptStep)!;
  for (const [name, v] of policy.params) assert.deepEqual(v.dataSync(), kept.get(name), name);
  assert.notDeepEqual([...policy.params.values()][0]!.dataSync(), weightsAt.get(stop.step)!.get([...policy.params.keys()][0]!), "and not those that went over it");
  dispose();
});

test("klControl 'adaptive' steers β toward the target (Ziegler et al. 2019) and never stops; null holds β", async () => {
  for (const control of ["adaptive", null] as const) {
    const config = ppoConfigSchema.parse({
      rolloutBatchSize: 32, miniBatchSize: 8, ppoEpochs: 4, responseLength: 4, temperature: 1, klCoef: 0.05, klHorizon: 100,
      ...(control ? { klTarget: 0.3, klControl: control } : { klTarget: null }),
      optim: { lr: 3e-3, minLr: 3e-3, warmupSteps: 0, totalSteps: 1000, weightDecay: 0 },
    });
    const { trainer, prompts, dispose } = tinyPpo(config, 2);
    let overTarget = 0;
    for (let r = 0; r < 12; r++) {
      const before = trainer.klCoef;
      const { metrics, earlyStop } = await trainer.rolloutStep(prompts());
      assert.equal(earlyStop, null);
      const kl = metrics["objective/kl"] ?? NaN;
      if (kl > 0.3) overTarget++;
      // β ← β·(1 + clip(KL/target − 1, ±0.2)·B/horizon), or unchanged without a target
      const expected = control ? before * (1 + (Math.min(Math.max(kl / 0.3 - 1, -0.2), 0.2) * 32) / 100) : before;
      assert.ok(Math.abs(trainer.klCoef - expected) < 1e-9, `${control} rollout ${r + 1}: β ${trainer.klCoef} vs ${expected}`);
    }
    assert.ok(overTarget > 0, `${control}: the KL went over 0.3 (so the adaptive rule had something to steer)`);
    dispose();
  }
});

test("criticWarmupRollouts: the first rollouts train the value model and leave the policy exactly as it was, weight decay included; then both train", async () => {
  // a weight decay, so that an update over the policy's parameters with a zero gradient would still move it
  const config = ppoConfigSchema.parse({
    rolloutBatchSize: 16, miniBatchSize: 8, ppoEpochs: 2, responseLength: 4, temperature: 1, criticWarmupRollouts: 2,
    optim: { lr: 3e-3, minLr: 3e-3, warmupSteps: 0, totalSteps: 1000, weightDecay: 0.1 },
  });
  const { policy, value, trainer, prompts, dispose } = tinyPpo(config, 4);
  const read = (m: typeof policy) => [...m.params].map(([n, v]) => [n, Array.from(v.dataSync())] as const);
  const start = { policy: read(policy), value: read(value) };
  for (let r = 0; r < 2; r++) {
    const { metrics } = await trainer.rolloutStep(prompts());
    assert.ok(Math.abs((metrics["val/ratio"] ?? NaN) - 1) < 1e-6, `the policy did not move, so the ratio stays 1: ${metrics["val/ratio"]}`);
  }
  assert.equal(trainer.step, 8, "the warm-up rollouts took their optimizer steps (2 rollouts × 2 epochs × 2 minibatches)");
  assert.deepEqual(read(policy), start.policy, "the policy is as it was");
  assert.notDeepEqual(read(value), start.value, "the value model trained");
  await trainer.rolloutStep(prompts());
  assert.notDeepEqual(read(policy), start.policy, "after the warm-up the policy trains");
  dispose();
});
