import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { checkerSpecSchema } from "../contract/checker.ts";
import { grpoConfigSchema, type GrpoConfigInput } from "../contract/grpo-config.ts";
import { grpoAdvantages } from "../losses/grpo-loss.ts";
import { disposeGpt, initGpt, type GptModel } from "../model/gpt.ts";
import { createRng } from "../random/rng.ts";
import { checkerReward, NonFiniteRewardError, type RewardSource } from "../rewards/reward-sources.ts";
import { frozenReference, type EarlyStop } from "../rollouts/kl-guard.ts";
import { type RolloutFn } from "../rollouts/rollout.ts";
import { TOY, alikeOnZero, toyAccuracy, toyDecode, toyModelConfig, toyPrompt as prompt, toyPrompts } from "../testing/toy-copy-task.ts";
import { createGrpoTrainer, type GroupRlDeps, type RlPrompt } from "./grpo-trainer.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const checker = checkerReward(checkerSpecSchema.parse({ kind: "numeric" }), 1);
const deps = (rewards: RewardSource[] = [checker], rollout?: RolloutFn): GroupRlDeps => ({ padId: TOY.pad, stopTokens: [TOY.end], decode: toyDecode, rewards, ...(rollout ? { rollout } : {}) });
const config = (o: GrpoConfigInput = {}) =>
  grpoConfigSchema.parse({ promptsPerRollout: 8, numGenerations: 8, rollouts: 6, numIterations: 2, maxCompletionLength: 1, optim: { lr: 2e-2, minLr: 2e-2, warmupSteps: 0, weightDecay: 0 }, ...o });
const draw = (seed: number) => {
  const all = toyPrompts();
  const rng = createRng(seed);
  return (n: number): RlPrompt[] => Array.from({ length: n }, () => all[Math.floor(rng.next() * all.length)] as RlPrompt);
};
const weights = (m: GptModel): Float32Array[] => [...m.params.values()].map((v) => v.dataSync().slice() as Float32Array);
const sameWeights = (a: Float32Array[], b: Float32Array[]): boolean => a.every((w, i) => w.every((x, j) => x === b[i]?.[j]));
const maxDiff = (a: Float32Array[], b: Float32Array[]): number => Math.max(...a.map((w, i) => w.reduce((m, x, j) => Math.max(m, Math.abs(x - (b[i]?.[j] ?? NaN))), 0)));

test("GRPO with a checker raises the share of right answers on a toy task, for every seed; no tensor leak", async () => {
  const gains: number[] = [];
  for (const seed of [1, 2, 3]) {
    const policy = initGpt(toyModelConfig, seed);
    const reference = frozenReference(policy);
    const c = config({ seed });
    const trainer = createGrpoTrainer(policy, reference, c, deps());
    const next = draw(seed + 100);
    const before = toyAccuracy(policy);
    let tensors = 0;
    for (let r = 0; r < c.rollouts; r++) {
      const { metrics, earlyStop } = await trainer.rolloutStep(next(c.promptsPerRollout));
      assert.equal(earlyStop, null);
      if (r === 0) {
        // policy = reference on the first rollout: KL exactly zero, ratio 1 (nothing clipped)
        assert.ok(Math.abs(metrics["kl_guard/kl"] ?? NaN) < 1e-5 && Math.abs(metrics["kl"] ?? NaN) < 1e-6, `kl ${metrics["kl_guard/kl"]}`);
        for (const key of ["reward", "reward_std", "rewards/checker/mean", "frac_reward_zero_std", "entropy", "clip_ratio/region_mean", "completions/mean_length", "num_tokens", "health/empty_frac"])
          assert.ok(Number.isFinite(metrics[key]), key);
        assert.equal(metrics["step"], 2); // μ = 2 iterations × 1 minibatch
        assert.equal(metrics["tools/call_frac"], undefined, "plain sampling runs no tools");
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

test("inserted (tool) tokens: kept in the context, but the loss, lengths and KL run over policy tokens, and the answer is what follows them", async () => {
  // A scripted sampler: even rows answer the right digit themselves ([b, END], 2 policy tokens); odd
  // rows get the right digit inserted by a "tool" and then end ([b (inserted), END], 1 policy token),
  // so their final answer (after the tool result) is empty: 0.
  const scripted: RolloutFn = (_model, prompts) => {
    const completions = prompts.map((p) => [p[1] ?? 0, TOY.end]);
    return { completions, finished: prompts.map(() => true), logprobs: completions.map((c) => c.map(() => 0)), policyMask: prompts.map((_, i) => (i % 2 === 0 ? [1, 1] : [0, 1])), toolCalls: prompts.map((_, i) => i % 2) };
  };
  const policy = initGpt(toyModelConfig, 4);
  const reference = frozenReference(policy);
  const c = config({ numIterations: 1, numGenerations: 8, promptsPerRollout: 2, maxCompletionLength: 2 });
  const trainer = createGrpoTrainer(policy, reference, c, deps([checker], scripted));
  const { metrics } = await trainer.rolloutStep(draw(5)(2));
  assert.equal(metrics["rewards/checker/mean"], 0.5);
  assert.equal(metrics["checker/unreadable/empty_answer"], 8);
  assert.equal(metrics["completions/mean_length"], 1.5);
  assert.equal(metrics["health/empty_frac"], 0.5);
  assert.equal(metrics["tools/call_frac"], 0.5, "the sampler's call counts: the odd rows called");
  // advantages ±a alternate; at ratio 1 (β·k3 = 0) the dapo loss is −Σ A·n / Σ n over policy tokens n
  const a = grpoAdvantages([1, 0, 1, 0, 1, 0, 1, 0], 8, "group").advantages[0] ?? NaN;
  const expected = -(8 * a * 2 - 8 * a * 1) / (8 * 2 + 8 * 1); // counting the inserted token would give 0
  assert.ok(Math.abs((metrics["loss"] ?? NaN) - expected) < 1e-5, `loss ${metrics["loss"]} vs ${expected}`);
  assert.ok(Math.abs(metrics["kl_guard/kl"] ?? NaN) < 1e-5);
  trainer.dispose();
  reference.dispose();
  disposeGpt(policy);
});

test("KL guard: an over-aggressive run stops when the measured KL passes the target and keeps the last weights under it", async () => {
  const policy = initGpt(toyModelConfig, 6);
  const reference = frozenReference(policy);
  const c = config({ klTarget: 0.3, numIterations: 4, optim: { lr: 0.2, minLr: 0.2, warmupSteps: 0, weightDecay: 0 } });
  const trainer = createGrpoTrainer(policy, reference, c, deps());
  const next = draw(7);
  const history: Float32Array[][] = [weights(policy)]; // history[k]: the weights that sample rollout k
  const kls: number[] = [];
  let stop: EarlyStop | null = null;
  for (let r = 0; r < 20 && !stop; r++) {
    const result = await trainer.rolloutStep(next(c.promptsPerRollout));
    kls.push(result.metrics["kl_guard/kl"] ?? NaN);
    stop = result.earlyStop;
    if (!stop) history.push(weights(policy));
  }
  assert.ok(stop, `the run never stopped: KL ${kls.map((k) => k.toFixed(2)).join(" ")}`);
  const r = kls.length - 1; // the rollout whose KL was over the target
  assert.ok(r >= 1, "the first rollouts are under the target");
  assert.equal(stop.reason, "kl_above_target");
  assert.ok(stop.kl > 0.3 && stop.kl === kls[r], `stopping KL ${stop.kl}`);
  assert.ok((kls[r - 1] ?? Infinity) <= 0.3, `the kept weights measured ${kls[r - 1]}`);
  // the policy holds the weights that sampled the last rollout under the target again
  assert.ok(sameWeights(weights(policy), history[r - 1] ?? []), "kept weights restored");
  assert.equal(stop.keptStep, (r - 1) * c.numIterations);
  assert.equal(stop.step, r * c.numIterations);
  trainer.dispose();
  reference.dispose();
  disposeGpt(policy);
});

test("adaptive β rises while the KL is over the target; a non-finite reward stops the step before any update", async () => {
  const policy = initGpt(toyModelConfig, 8);
  const reference = frozenReference(policy);
  const c = config({ klTarget: 0.05, klControl: "adaptive", klHorizon: 100, numIterations: 4, optim: { lr: 0.2, minLr: 0.2, warmupSteps: 0, weightDecay: 0 } });
  const trainer = createGrpoTrainer(policy, reference, c, deps());
  const next = draw(9);
  const betas: number[] = [];
  for (let r = 0; r < 4; r++) {
    const { metrics, earlyStop } = await trainer.rolloutStep(next(c.promptsPerRollout));
    assert.equal(earlyStop, null, "adaptive control does not stop");
    betas.push(metrics["beta"] ?? NaN);
  }
  assert.equal(betas[0], 0.04);
  assert.ok(trainer.beta > (betas[1] ?? Infinity) && (betas[3] ?? 0) > 0.04, `β ${betas.join(" ")} → ${trainer.beta}`);
  assert.deepEqual(trainer.resumeState().beta, trainer.beta);
  trainer.dispose();

  const broken: RewardSource = { name: "reward_model", weight: 1, score: (samples) => ({ values: samples.map((_, i) => (i === 3 ? NaN : 0)) }) };
  const nan = createGrpoTrainer(policy, reference, config(), deps([broken]));
  const before = weights(policy);
  await assert.rejects(nan.rolloutStep(next(8)), (e: unknown) => e instanceof NonFiniteRewardError && /reward_model on sample 4/.test(e.message));
  assert.ok(sameWeights(weights(policy), before), "no update");
  assert.equal(nan.step, 0);
  nan.dispose();
  reference.dispose();
  disposeGpt(policy);
});

test("dynamic sampling: the step trains on the mixed groups alone, exactly as a rollout of only those prompts; all-alike groups never train", async () => {
  const c = (o: GrpoConfigInput) => config({ promptsPerRollout: 2, numGenerations: 4, numIterations: 2, miniBatchSize: 4, maxCompletionLength: 2, ...o });
  const run = async (o: GrpoConfigInput, first: RlPrompt[], more?: () => RlPrompt[]) => {
    const policy = initGpt(toyModelConfig, 11);
    const reference = frozenReference(policy);
    const trainer = createGrpoTrainer(policy, reference, c(o), deps([checker], alikeOnZero));
    const { metrics } = await trainer.rolloutStep(first, more);
    const out = { metrics, weights: weights(policy), step: trainer.step };
    trainer.dispose();
    reference.dispose();
    disposeGpt(policy);
    return out;
  };
  // batch 0 holds one all-right group (0) and one mixed (3); the next batch another mixed (4) and another all-right
  const dynamic = await run({ dynamicSampling: true }, [prompt(0), prompt(3)], () => [prompt(4), prompt(0)]);
  const plain = await run({}, [prompt(3), prompt(4)]);
  assert.equal(dynamic.metrics["dynamic_sampling/batches"], 2);
  assert.equal(dynamic.metrics["dynamic_sampling/trained_groups"], 2);
  assert.equal(dynamic.metrics["frac_reward_zero_std"], 0.5, "the metrics describe every sampled group");
  assert.equal(dynamic.step, plain.step);
  assert.equal(dynamic.step, 4); // μ 2 × (8 rows / 4)
  // the same four updates: loss and gradient norm to float rounding (the old log-probs came from a batch of 16 rows, not
  // 8). The weights are compared loosely: AdamW's first steps turn rounding-sized gradients into ±lr moves.
  const close = (a: number | undefined, b: number | undefined) => Math.abs((a ?? NaN) - (b ?? NaN)) <= 1e-6 * Math.max(1, Math.abs(b ?? 0));
  assert.ok(close(dynamic.metrics["loss"], plain.metrics["loss"]), `loss ${dynamic.metrics["loss"]} vs ${plain.metrics["loss"]}`);
  assert.ok(close(dynamic.metrics["gradNorm"], plain.metrics["gradNorm"]), `gradNorm ${dynamic.metrics["gradNorm"]} vs ${plain.metrics["gradNorm"]}`);
  assert.ok(maxDiff(dynamic.weights, plain.weights) < 1e-3, `weights ${maxDiff(dynamic.weights, plain.weights)}`);
  // advantages scaled by the batch's std: the batch is what trains, not every group sampled
  const dynamicBatch = await run({ dynamicSampling: true, scaleRewards: "batch" }, [prompt(0), prompt(3)], () => [prompt(4), prompt(0)]);
  const plainBatch = await run({ scaleRewards: "batch" }, [prompt(3), prompt(4)]);
  assert.ok(close(dynamicBatch.metrics["loss"], plainBatch.metrics["loss"]), `batch-scaled loss ${dynamicBatch.metrics["loss"]} vs ${plainBatch.metrics["loss"]}`);
  // without it, the all-right groups' rows are in the step (their advantage is 0, but the dapo loss averages over their tokens too)
  const diluted = await run({}, [prompt(0), prompt(3)]);
  assert.ok(!close(diluted.metrics["loss"], plain.metrics["loss"]) && maxDiff(diluted.weights, plain.weights) > 1e-2, `diluted: ${diluted.metrics["loss"]}, ${maxDiff(diluted.weights, plain.weights)}`);
  // nothing mixed in maxSamplingBatches batches: no update, no loss; the rollout still counts
  const idle = await run({ dynamicSampling: true, maxSamplingBatches: 3 }, [prompt(0), prompt(0)], () => [prompt(0), prompt(0)]);
  assert.equal(idle.metrics["dynamic_sampling/batches"], 3);
  assert.equal(idle.metrics["dynamic_sampling/trained_groups"], 0);
  assert.equal(idle.step, 0);
  assert.equal(idle.metrics["loss"], undefined);
  assert.equal(idle.metrics["rollout"], 1);
  const untouched = initGpt(toyModelConfig, 11);
  assert.ok(sameWeights(idle.weights, weights(untouched)), "no update");
  disposeGpt(untouched);
});
