import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { ppoConfigSchema } from "../contract/ppo-config.ts";
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

test("PPO raises a known reward while the KL to the reference stays bounded; no tensor leak", async () => {
  const policy = initGpt(resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 }), 1);
  const reference = cloneGpt(policy, { trainable: false });
  const value = cloneGpt(policy, { scalarHead: "value" });
  const config = ppoConfigSchema.parse({
    rolloutBatchSize: 32, miniBatchSize: 8, ppoEpochs: 4, responseLength: 4, temperature: 1, klCoef: 0.05,
    optim: { lr: 3e-3, minLr: 3e-3, warmupSteps: 0, totalSteps: 1000, weightDecay: 0 },
  });
  const trainer = createPpoTrainer({ policy, reference, value }, config, { padId: PAD, stopTokens: [END], reward });
  const rng = createRng(2);
  const prompts = (): number[][] => Array.from({ length: config.rolloutBatchSize }, () => [2 + Math.floor(rng.next() * 14), 2 + Math.floor(rng.next() * 14)]);

  const history: Record<string, number>[] = [];
  let tensors = 0;
  for (let r = 0; r < 12; r++) {
    history.push(await trainer.rolloutStep(prompts()));
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
  trainer.dispose();
  for (const m of [policy, reference, value]) disposeGpt(m);
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
  const metrics = await trainer.rolloutStep(prompts);
  assert.deepEqual(seen, prompts.map((p) => [p[0] ?? 2, inserted, END]), "the reward model reads the whole transcript");
  assert.ok(Math.abs((metrics["objective/entropy"] ?? NaN) - policyNats / B) < 1e-4, `entropy ${metrics["objective/entropy"]} vs policy tokens ${policyNats / B} (all tokens: ${allNats / B})`);
  assert.ok(Math.abs(policyNats - allNats) > 0.1, "the inserted token's cost is not negligible, so the check above can tell");
  assert.ok(Math.abs(metrics["objective/kl"] ?? NaN) < 1e-5);
  // the final answer is what follows the inserted token: nothing
  assert.equal(metrics["health/empty_frac"], 1);
  assert.equal(metrics["val/num_eos_tokens"], 4);
  assert.equal(metrics["tools/call_frac"], 0.5, "the sampler's call counts: rows 1 and 3 called");
  trainer.dispose();
  for (const m of [policy, reference, value]) disposeGpt(m);
});
