import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { checkerSpecSchema } from "../contract/checker.ts";
import { rlooConfigSchema, type RlooConfigInput } from "../contract/rloo-config.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { createRng } from "../random/rng.ts";
import { checkerReward } from "../rewards/reward-sources.ts";
import { frozenReference } from "../rollouts/kl-guard.ts";
import { type RolloutFn } from "../rollouts/rollout.ts";
import { TOY, alikeOnZero, toyAccuracy, toyDecode, toyModelConfig, toyPrompt, toyPrompts } from "../testing/toy-copy-task.ts";
import { type GroupRlDeps, type RlPrompt } from "./grpo-trainer.ts";
import { createRlooTrainer } from "./rloo-trainer.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const checker = checkerReward(checkerSpecSchema.parse({ kind: "numeric" }), 1);
const deps = (rollout?: RolloutFn): GroupRlDeps => ({ padId: TOY.pad, stopTokens: [TOY.end], decode: toyDecode, rewards: [checker], ...(rollout ? { rollout } : {}) });
const config = (o: RlooConfigInput = {}) =>
  rlooConfigSchema.parse({ promptsPerRollout: 8, numGenerations: 8, rollouts: 6, numIterations: 2, maxCompletionLength: 1, optim: { lr: 2e-2, minLr: 2e-2, warmupSteps: 0, weightDecay: 0 }, ...o });
const draw = (seed: number) => {
  const all = toyPrompts();
  const rng = createRng(seed);
  return (n: number): RlPrompt[] => Array.from({ length: n }, () => all[Math.floor(rng.next() * all.length)] as RlPrompt);
};

test("RLOO with a checker raises the share of right answers on a toy task, for every seed; no tensor leak", async () => {
  const gains: number[] = [];
  for (const seed of [1, 2, 3]) {
    const policy = initGpt(toyModelConfig, seed);
    const reference = frozenReference(policy);
    const c = config({ seed });
    const trainer = createRlooTrainer(policy, reference, c, deps());
    const next = draw(seed + 100);
    const before = toyAccuracy(policy);
    let tensors = 0;
    for (let r = 0; r < c.rollouts; r++) {
      const { metrics, earlyStop } = await trainer.rolloutStep(next(c.promptsPerRollout));
      assert.equal(earlyStop, null);
      if (r === 0) {
        assert.ok(Math.abs(metrics["kl_guard/kl"] ?? NaN) < 1e-5 && Math.abs(metrics["kl"] ?? NaN) < 1e-5, `kl ${metrics["kl"]}`);
        for (const key of ["loss", "reward", "rewards/checker/mean", "frac_reward_zero_std", "entropy", "clip_ratio/region_mean", "completions/mean_length"]) assert.ok(Number.isFinite(metrics[key]), key);
      }
      if (r === 1) tensors = tf.memory().numTensors;
    }
    assert.equal(tf.memory().numTensors, tensors, "no tensor growth across rollouts");
    const after = toyAccuracy(policy);
    gains.push(after - before);
    assert.ok(after - before > 0.2, `seed ${seed}: right answers ${before.toFixed(3)} → ${after.toFixed(3)}`);
    trainer.dispose();
    reference.dispose();
    disposeGpt(policy);
  }
  const mean = gains.reduce((a, x) => a + x, 0) / gains.length;
  assert.ok(mean > 0.3, `mean gain ${mean.toFixed(3)} (${gains.map((g) => g.toFixed(3)).join(", ")})`);
});

test("RLOO over a tool transcript: lengths and KL over policy tokens, the answer after the inserted result", async () => {
  const scripted: RolloutFn = (_model, prompts) => {
    const completions = prompts.map((p) => [p[1] ?? 0, TOY.end]);
    return { completions, finished: prompts.map(() => true), logprobs: completions.map((c) => c.map(() => 0)), policyMask: prompts.map((_, i) => (i % 2 === 0 ? [1, 1] : [0, 1])) };
  };
  const policy = initGpt(toyModelConfig, 4);
  const reference = frozenReference(policy);
  const trainer = createRlooTrainer(policy, reference, config({ numIterations: 1, promptsPerRollout: 2, maxCompletionLength: 2 }), deps(scripted));
  const { metrics } = await trainer.rolloutStep(draw(5)(2));
  assert.equal(metrics["rewards/checker/mean"], 0.5);
  assert.equal(metrics["checker/unreadable/empty_answer"], 8);
  assert.equal(metrics["completions/mean_length"], 1.5);
  assert.ok(Math.abs(metrics["kl_guard/kl"] ?? NaN) < 1e-5);
  // one update at ratio 1: leave-one-out advantages sum to zero in each group, so the loss is −mean(A) = 0
  assert.ok(Math.abs(metrics["loss"] ?? NaN) < 1e-6, `loss ${metrics["loss"]}`);
  trainer.dispose();
  reference.dispose();
  disposeGpt(policy);
});

test("dynamic sampling: RLOO trains on the mixed groups alone, as on a rollout of only those prompts, normalised advantages included", async () => {
  const run = async (o: RlooConfigInput, first: RlPrompt[], more?: () => RlPrompt[]) => {
    const policy = initGpt(toyModelConfig, 12);
    const reference = frozenReference(policy);
    const c = config({ promptsPerRollout: 2, numGenerations: 4, numIterations: 2, miniBatchSize: 4, maxCompletionLength: 2, normalizeAdvantages: true, ...o });
    const trainer = createRlooTrainer(policy, reference, c, deps(alikeOnZero));
    const { metrics } = await trainer.rolloutStep(first, more);
    const out = { metrics, step: trainer.step };
    trainer.dispose();
    reference.dispose();
    disposeGpt(policy);
    return out;
  };
  const close = (a: number | undefined, b: number | undefined) => Math.abs((a ?? NaN) - (b ?? NaN)) <= 1e-6 * Math.max(1, Math.abs(b ?? 0));
  // batch 0: one all-right group (answer 0) and one mixed (3); batch 1: another mixed (4) and another all-right
  const dynamic = await run({ dynamicSampling: true }, [toyPrompt(0), toyPrompt(3)], () => [toyPrompt(4), toyPrompt(0)]);
  const plain = await run({}, [toyPrompt(3), toyPrompt(4)]);
  const diluted = await run({}, [toyPrompt(0), toyPrompt(3)]);
  assert.equal(dynamic.metrics["dynamic_sampling/batches"], 2);
  assert.equal(dynamic.step, plain.step);
  for (const key of ["loss", "gradNorm"]) assert.ok(close(dynamic.metrics[key], plain.metrics[key]), `${key}: ${dynamic.metrics[key]} vs ${plain.metrics[key]}`);
  assert.ok(!close(diluted.metrics["loss"], plain.metrics["loss"]), "the all-alike group changes a step it is part of");
  // nothing mixed: no update
  const idle = await run({ dynamicSampling: true, maxSamplingBatches: 2 }, [toyPrompt(0), toyPrompt(0)], () => [toyPrompt(0), toyPrompt(0)]);
  assert.equal(idle.step, 0);
  assert.equal(idle.metrics["loss"], undefined);
});
