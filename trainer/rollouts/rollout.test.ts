import { test } from "node:test";
import assert from "node:assert/strict";
import { batchRows, byRowChunks, collateRollout, pickRows, policyMaskOf, policyTokens } from "./rollout.ts";
import { healthMetrics } from "./health.ts";

test("rollout batch: the loss mask covers policy tokens only; inserted tokens stay in the inputs", () => {
  const PAD = 0;
  // prompt [7, 8]; completion [20, 21, 22, 23, 1] where 21–22 were inserted by the sampler (a tool result)
  const r = collateRollout([[7, 8], [9]], [[20, 21, 22, 23, 1], [30, 1]], [[1, 0, 0, 1, 1], [1, 1]], PAD);
  assert.deepEqual(r.batch.shape, [2, 7]);
  assert.deepEqual(Array.from(r.batch.inputIds), [7, 8, 20, 21, 22, 23, 1, 9, 30, 1, PAD, PAD, PAD, PAD]);
  // position j predicts token j + 1: row 0 predicts 20 at j = 1, 23 at j = 4, 1 at j = 5; row 1 predicts 30, 1 at j = 0, 1
  assert.deepEqual(Array.from(r.lossMask), [0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(r.policyLengths, [3, 2]);
  assert.deepEqual(policyTokens([20, 21, 22, 23, 1], [1, 0, 0, 1, 1]), [20, 23, 1]);
});

test("policy mask: absent means all ones; a mask of another shape is refused", () => {
  const base = { completions: [[5, 6], [7]], finished: [true, false], logprobs: [[0, 0], [0]] };
  assert.deepEqual(policyMaskOf(base as Parameters<typeof policyMaskOf>[0]), [[1, 1], [1]]);
  assert.deepEqual(policyMaskOf({ ...base, policyMask: [[1, 0], [1]] }), [[1, 0], [1]]);
  assert.throws(() => policyMaskOf({ ...base, policyMask: [[1], [1]] }), /shape of completions/);
});

test("health: replacement characters, loops at the end, empty answers, mean length", () => {
  const m = healthMetrics([
    { text: "fine", answer: "fine", policyTokens: [1, 2] },
    { text: "caf\uFFFD", answer: "caf\uFFFD", policyTokens: [1, 2, 3, 4] },
    { text: "", answer: "  ", policyTokens: [9] },
    { text: "aaaaaaaaaaaa", answer: "aaaaaaaaaaaa", policyTokens: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5] },
  ]);
  assert.deepEqual(m, { "health/undecodable_frac": 0.25, "health/repeat_loop_frac": 0.25, "health/empty_frac": 0.25, "health/mean_length": 19 / 4 });
});

test("byRowChunks: a row-wise function over chunks of rows equals it over the whole batch; one chunk passes the batch itself", async () => {
  const r = collateRollout([[5], [6, 7], [8], [9, 10, 11], [12]], [[1, 2], [3], [4, 4, 4], [2], [1]], [[1, 1], [1], [1, 1, 1], [1], [1]], 0);
  const batch = r.batch;
  const [B, T] = batch.shape;
  // per row: its ids, its attention mask and its last index (a stand-in for a forward pass's per-row outputs)
  const rowwise = async (part: typeof batch): Promise<Float32Array[]> => [Float32Array.from(part.inputIds), Float32Array.from(part.attentionMask), Float32Array.from(part.lastIndex)];
  const whole = await rowwise(batch);
  for (const size of [1, 2, 3, 4]) assert.deepEqual(await byRowChunks(batch, size, rowwise), whole, `chunks of ${size}`);
  let seen: unknown = null;
  await byRowChunks(batch, B, async (part) => ((seen = part), []));
  assert.equal(seen, batch);
  const picked = batchRows(batch, [3, 0]);
  assert.deepEqual([...picked.inputIds], [...batch.inputIds.subarray(3 * T, 4 * T), ...batch.inputIds.subarray(0, T)]);
  assert.deepEqual([...picked.lastIndex], [batch.lastIndex[3], batch.lastIndex[0]]);
  assert.deepEqual([...pickRows(r.lossMask, [4], r.width)], [...r.lossMask.subarray(4 * r.width, 5 * r.width)]);
});
