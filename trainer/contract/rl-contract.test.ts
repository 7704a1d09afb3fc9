import { test } from "node:test";
import assert from "node:assert/strict";
import { remoteJobSchema } from "./round.ts";
import { grpoConfigSchema } from "./grpo-config.ts";
import { rlooConfigSchema } from "./rloo-config.ts";
import { ktoConfigSchema } from "./kto-config.ts";
import { dpoConfigSchema, dpopLambdaFor } from "./dpo-config.ts";
import { ppoConfigSchema } from "./ppo-config.ts";
import { earlyStopEventSchema } from "./kl-guard.ts";

const job = { schemaVersion: 1, jobId: "7", roundId: "3", attempt: 1, model: { modelId: "12" }, leaseSeconds: 60 };
const paths = (r: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }): string[] => r.error?.issues.map((i) => i.path.join(".")) ?? [];

test("remote jobs: grpo/rloo carry prompts, a reward spec, an optional reward model and tools; kto its unpaired export", () => {
  const grpo = remoteJobSchema.parse({
    ...job, kind: "grpo", promptsUrl: "/api/v1/trainer/jobs/7/prompts.jsonl", rewardModel: { modelId: "9" }, tools: ["calculator"],
    reward: { checker: { kind: "numeric", tolerance: 0.5 }, format: { pattern: "answer is" }, weights: { checker: 1, rewardModel: 0.2, format: 0.1 } },
    train: { numGenerations: 4 },
  });
  assert.equal(grpo.reward?.checker?.kind, "numeric");
  assert.equal(remoteJobSchema.parse({ ...job, kind: "rloo", promptsUrl: "/api/v1/p", reward: { length: { target: 20 } } }).kind, "rloo");
  assert.equal(remoteJobSchema.parse({ ...job, kind: "kto", dataUrl: "/api/v1/projects/1/exports/unpaired.jsonl" }).kind, "kto");
  assert.deepEqual(paths(remoteJobSchema.safeParse({ ...job, kind: "grpo", promptsUrl: "/api/v1/p" })), ["reward"]);
  assert.deepEqual(paths(remoteJobSchema.safeParse({ ...job, kind: "rloo", reward: { length: { target: 5 } } })), ["promptsUrl"]);
  assert.deepEqual(paths(remoteJobSchema.safeParse({ ...job, kind: "grpo", promptsUrl: "/api/v1/p", reward: { checker: { kind: "exact" }, weights: { rewardModel: 1 } } })), ["rewardModel"]);
  assert.deepEqual(paths(remoteJobSchema.safeParse({ ...job, model: { init: { preset: "nano" } }, kind: "grpo", promptsUrl: "/api/v1/p", reward: { length: { target: 5 } } })), ["model"]);
  assert.deepEqual(paths(remoteJobSchema.safeParse({ ...job, kind: "kto" })), ["dataUrl"]);
  assert.deepEqual(paths(remoteJobSchema.safeParse({ ...job, kind: "dpo", dataUrl: "/api/v1/d", reward: { length: { target: 5 } } })), ["reward"]);
  // PPO: more sources beside its reward model, and the tools its rollouts run (decision 0065); without them, as before
  const ppo = remoteJobSchema.parse({ ...job, kind: "ppo", promptsUrl: "/api/v1/p", rewardModel: { modelId: "9" }, tools: ["calculator"], reward: { checker: { kind: "numeric" }, weights: { checker: 1, rewardModel: 1 } } });
  assert.deepEqual([ppo.reward?.checker?.kind, ppo.tools], ["numeric", ["calculator"]]);
  assert.equal(remoteJobSchema.parse({ ...job, kind: "ppo", promptsUrl: "/api/v1/p", rewardModel: { modelId: "9" } }).reward, undefined);
  // PPO's reward model and prompts are never optional: a job without them is refused by name, not read as undefined
  assert.deepEqual(remoteJobSchema.safeParse({ ...job, kind: "ppo" }).error?.issues.map((i) => i.path.join(".")).sort(), ["promptsUrl", "rewardModel"]);
  assert.deepEqual(paths(remoteJobSchema.safeParse({ ...job, kind: "grpo", promptsUrl: "/api/v1/p", reward: { checker: { kind: "numeric", field: "no spaces" } } })), ["reward.checker.field"]);
  // the kinds that were there still parse as before
  assert.equal(remoteJobSchema.parse({ ...job, kind: "sample", promptsUrl: "/api/v1/p" }).kind, "sample");
});

test("defaults follow TRL 1.x except where the comments say; every trainer has a KL target", () => {
  const grpo = grpoConfigSchema.parse({});
  assert.equal(grpo.lossType, "dapo");
  assert.equal(grpo.scaleRewards, "group");
  assert.equal(grpo.epsilon, 0.2);
  assert.equal(grpo.numIterations, 1);
  assert.equal(grpo.temperature, 1);
  assert.equal(grpo.beta, 0.04); // DeepSeekMath's; TRL 0
  assert.equal(grpo.optim.totalSteps, grpo.rollouts); // one optimizer step per rollout by default
  assert.equal(grpoConfigSchema.parse({ rollouts: 5, numIterations: 2, promptsPerRollout: 4, numGenerations: 4, miniBatchSize: 6 }).optim.totalSteps, 5 * 2 * 3);
  const rloo = rlooConfigSchema.parse({});
  assert.equal(rloo.beta, 0.05);
  assert.equal(rloo.normalizeAdvantages, false);
  const kto = ktoConfigSchema.parse({});
  assert.deepEqual([kto.beta, kto.desirableWeight, kto.undesirableWeight], [0.1, 1, 1]);
  for (const c of [grpo, rloo, kto, dpoConfigSchema.parse({}), ppoConfigSchema.parse({})]) assert.equal(c.klTarget, 6);
  // PPO stops at its target like GRPO (decision 0066); its adaptive β is the other choice, and needs a target and β > 0
  assert.equal(ppoConfigSchema.parse({}).klControl, "early_stop");
  assert.deepEqual(paths(ppoConfigSchema.safeParse({ klControl: "adaptive", klTarget: null })), ["klControl"]);
  assert.deepEqual(paths(ppoConfigSchema.safeParse({ klControl: "adaptive", klCoef: 0 })), ["klControl"]);
  // a critic warm-up is off by default and must leave the policy some rollouts
  assert.equal(ppoConfigSchema.parse({}).criticWarmupRollouts, 0);
  assert.equal(ppoConfigSchema.parse({ rollouts: 4, criticWarmupRollouts: 3 }).criticWarmupRollouts, 3);
  assert.deepEqual(paths(ppoConfigSchema.safeParse({ rollouts: 3, criticWarmupRollouts: 3 })), ["criticWarmupRollouts"]);
  assert.deepEqual(dpoConfigSchema.parse({}).klCheck, { every: 25, samples: 16, maxNewTokens: 32, seed: 0 });
  // DPOP's λ is left blank for the round to choose (decisions 0064, 0068): 0.3, or 10 after an RL step; a given one is kept
  assert.equal(dpoConfigSchema.parse({}).dpopLambda, undefined);
  assert.deepEqual([dpopLambdaFor(undefined, false), dpopLambdaFor(undefined, true), dpopLambdaFor(0, true), dpopLambdaFor(3, false)], [0.3, 10, 0, 3]);
  assert.equal(ktoConfigSchema.safeParse({ batchSize: 1 }).success, false);
  assert.deepEqual(paths(grpoConfigSchema.safeParse({ klControl: "adaptive", klTarget: null })), ["klControl"]);
  assert.equal(earlyStopEventSchema.safeParse({ type: "early_stop", reason: "kl_above_target", kl: 7, klTarget: 6, step: 40, keptStep: 30, dir: "/x" }).success, true);
});
