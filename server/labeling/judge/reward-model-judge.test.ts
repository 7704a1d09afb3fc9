import assert from "node:assert/strict";
import { test } from "node:test";
import { rankByScores, REWARD_TIE_EPSILON } from "./reward-model-judge.ts";

test("a reward-model judge ranks by score, best first", () => {
  assert.deepEqual(rankByScores(["x", "y", "z"], [0.5, 2, -1]), { tiers: [["y"], ["x"], ["z"]] });
  assert.deepEqual(rankByScores(["x", "y"], [-3, -2.5]), { tiers: [["y"], ["x"]] });
});

test("scores within ε of a tier's best tie; a tier never spans more than ε", () => {
  assert.equal(REWARD_TIE_EPSILON, 1e-4);
  assert.deepEqual(rankByScores(["x", "y", "z"], [1, 1, 0]), { tiers: [["x", "y"], ["z"]] });
  assert.deepEqual(rankByScores(["x", "y"], [1, 1 + 0.5e-4]), { tiers: [["y", "x"]] });
  assert.deepEqual(rankByScores(["x", "y"], [1, 1 + 2e-4]), { tiers: [["y"], ["x"]] });
  // 1, 1 − 0.6ε, 1 − 1.2ε: the third is within ε of the second but not of the tier's best.
  assert.deepEqual(rankByScores(["a", "b", "c"], [1, 1 - 0.6e-4, 1 - 1.2e-4]), { tiers: [["a", "b"], ["c"]] });
});

test("scores that do not line up with the completions, or are not numbers, are refused", () => {
  assert.throws(() => rankByScores(["x", "y"], [1]), /1 scores for 2 completions/);
  assert.throws(() => rankByScores(["x", "y"], [1, Number.NaN]), /finite/);
});
