// Dynamic sampling (DAPO): which groups count as mixed, which rows train, how many batches are drawn, and the scores
// and metrics of several batches joined as one.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../backend/select-backend.ts";
import { checkerSpecSchema } from "../contract/checker.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { checkerReward, scoreRewards, joinScored } from "../rewards/reward-sources.ts";
import { TOY, alikeOnZero, toyDecode, toyModelConfig, toyPrompt as prompt } from "../testing/toy-copy-task.ts";
import { mixedGroupsOf, sampleGroups, samplingSeed, type GroupSampling } from "./group-sampling.ts";
import { rolloutSeed } from "./rollout.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

test("a group is mixed when two of its scored rewards differ; unscored answers (NaN) do not count", () => {
  assert.deepEqual(mixedGroupsOf([1, 1, 1, 0, 0, 0, 0.5, 0.5 + 1e-9], 2), [false, true, false, false]);
  assert.deepEqual(mixedGroupsOf([1, NaN, NaN, NaN, 0, NaN, 1, 0.5], 2), [false, false, false, true]);
  assert.deepEqual(mixedGroupsOf([0, 0, 1, 0, 0, 0], 3), [true, false]);
});

test("batch 0 samples with the rollout's seed; later batches with seeds no other rollout uses", () => {
  assert.equal(samplingSeed(7, 3, 0), rolloutSeed(7, 3));
  const seeds = new Set<number>();
  for (let r = 0; r < 50; r++) for (let d = 0; d < 4; d++) seeds.add(samplingSeed(7, r, d));
  assert.equal(seeds.size, 200);
});

test("joinScored: totals and per-source scores in order, means and stds over all samples, counts summed", async () => {
  const checker = checkerReward(checkerSpecSchema.parse({ kind: "numeric" }), 1);
  const sample = (answer: string, metadata: Record<string, unknown>) => ({ prompt: [1], completion: [2], metadata, answer, policyLength: 1 });
  const a = await scoreRewards([checker], [sample("5", { answer: 5 }), sample("x", { answer: 5 })]);
  const b = await scoreRewards([checker], [sample("3", { answer: 3 }), sample("4", { answer: 3 }), sample("y", { answer: 1 }), sample("1", {})]);
  const all = await scoreRewards([checker], [sample("5", { answer: 5 }), sample("x", { answer: 5 }), sample("3", { answer: 3 }), sample("4", { answer: 3 }), sample("y", { answer: 1 }), sample("1", {})]);
  const joined = joinScored([a, b]);
  assert.deepEqual([...joined.total], [...all.total]);
  assert.deepEqual(joined.perSource.get("checker"), all.perSource.get("checker"));
  assert.deepEqual(joined.metrics, all.metrics);
  assert.equal(joined.metrics["checker/unscored"], 1);
});

const settings = (o: Partial<GroupSampling> = {}): GroupSampling => ({
  groupSize: 4, maxNewTokens: 2, temperature: 1, padId: TOY.pad, stopTokens: [TOY.end], seed: 1, rollout: 0, dynamicSampling: true, maxSamplingBatches: 3, ...o,
});
const deps = {
  sample: alikeOnZero, rewards: [checkerReward(checkerSpecSchema.parse({ kind: "numeric" }), 1)], decode: toyDecode,
  answerText: async (c: number[]) => toyDecode(c), toolResult: async () => null,
};

test("dynamic sampling draws batches until enough groups are mixed, and trains on the first mixed ones only", async () => {
  const model = initGpt(toyModelConfig, 1);
  // the scripted sampler answers a prompt of answer 0 right on every row (all alike), any other right on half the rows
  const queue = [[prompt(0), prompt(3)], [prompt(0), prompt(4)], [prompt(2), prompt(0)], [prompt(3), prompt(4)]];
  let drawn = 0;
  const more = () => queue[++drawn] ?? [];
  // batch 0: one mixed group (3); batch 1: one more (4), enough for 2 → stop after 2 batches
  const two = await sampleGroups(model, queue[0] ?? [], more, 2, settings(), deps);
  assert.equal(two.batches, 2);
  assert.equal(drawn, 1);
  assert.equal(two.mixedGroups, 2);
  assert.equal(two.rows.length, 16);
  assert.deepEqual(two.trainRows, [4, 5, 6, 7, 12, 13, 14, 15]);
  assert.deepEqual(two.trainRows.map((b) => two.rows[b]?.metadata["answer"]), [3, 3, 3, 3, 4, 4, 4, 4]);
  // every sampled answer is in the metrics: 4 + 2 + 4 + 2 right of 16
  assert.equal(two.scored.metrics["rewards/checker/mean"], 12 / 16);
  assert.equal(two.scored.total.length, 16);

  // wanting 3 mixed groups: batch 2 adds one (2), batch 3 would add two more but maxSamplingBatches is 3
  drawn = 0;
  const capped = await sampleGroups(model, queue[0] ?? [], more, 3, settings(), deps);
  assert.equal(capped.batches, 3);
  assert.equal(capped.mixedGroups, 3);
  assert.deepEqual(capped.trainRows.map((b) => capped.rows[b]?.metadata["answer"]), [3, 3, 3, 3, 4, 4, 4, 4, 2, 2, 2, 2]);

  // more mixed groups than wanted: the first ones train, the rest are sampled and scored only
  drawn = 2;
  const over = await sampleGroups(model, [prompt(3), prompt(4), prompt(2)], more, 2, settings(), deps);
  assert.equal(over.batches, 1);
  assert.equal(over.mixedGroups, 3);
  assert.deepEqual(over.trainRows, [0, 1, 2, 3, 4, 5, 6, 7]);

  // off: one batch, every group trains, uniform ones included (TRL)
  drawn = 0;
  const off = await sampleGroups(model, queue[0] ?? [], more, 2, settings({ dynamicSampling: false }), deps);
  assert.equal(off.batches, 1);
  assert.equal(drawn, 0);
  assert.deepEqual(off.trainRows, [0, 1, 2, 3, 4, 5, 6, 7]);

  // no mixed group anywhere: nothing trains; a source with no more prompts stops the drawing
  const none = await sampleGroups(model, [prompt(0), prompt(0)], () => [], 2, settings(), deps);
  assert.equal(none.batches, 1);
  assert.deepEqual(none.trainRows, []);
  disposeGpt(model);
});
