import assert from "node:assert/strict";
import { test } from "node:test";
import { armReport, judgePositionBias, Z95, type AuditSubmission } from "./anchoring.ts";

const judge = { tiers: [["a"], ["b"], ["c"]] };
const rec = (arm: "shown" | "withheld", human: string[][], msOnTask: number | null = null, revealed = false): AuditSubmission => ({
  labelerId: "1", arm, revealed, human: { tiers: human }, judge, msOnTask,
});

test("per-submission agreement, the arms' means and the Welch interval, by hand", () => {
  const records = [
    rec("shown", [["a"], ["b"], ["c"]], 1000, true), // 3/3
    rec("shown", [["a"], ["c"], ["b"]], 3000), // 2/3
    rec("withheld", [["b"], ["a"], ["c"]], 2000), // 2/3
    rec("withheld", [["c"], ["b"], ["a"]]), // 0/3
    rec("withheld", [["a", "b", "c"]], 4000), // no pair ordered by both: left out of the mean
  ];
  const r = armReport(records);
  assert.equal(r.shown.compared, 2);
  assert.equal(r.shown.revealed, 1);
  assert.equal(r.withheld.submissions, 3);
  assert.equal(r.withheld.compared, 2);
  assert.ok(Math.abs(r.shown.meanAgreement! - 5 / 6) < 1e-12);
  assert.ok(Math.abs(r.withheld.meanAgreement! - 1 / 3) < 1e-12);
  // Sample variances: shown (1, 2/3): mean 5/6, s² = 2·(1/6)² = 1/18; withheld (2/3, 0): s² = 2·(1/3)² = 2/9.
  const se = Math.sqrt(1 / 18 / 2 + 2 / 9 / 2);
  assert.ok(Math.abs(r.effect.difference! - 0.5) < 1e-12);
  assert.ok(Math.abs(r.effect.low! - (0.5 - Z95 * se)) < 1e-12);
  assert.ok(Math.abs(r.effect.high! - (0.5 + Z95 * se)) < 1e-12);
  assert.equal(r.shown.meanMsOnTask, 2000);
  assert.equal(r.withheld.meanMsOnTask, 3000);
  assert.deepEqual([r.shown.agreedPairs, r.shown.comparedPairs, r.withheld.agreedPairs, r.withheld.comparedPairs], [5, 6, 2, 6]);
});

test("no interval with fewer than two compared submissions in an arm", () => {
  const r = armReport([rec("shown", [["a"], ["b"], ["c"]]), rec("withheld", [["a"], ["b"], ["c"]]), rec("withheld", [["b"], ["a"], ["c"]])]);
  assert.deepEqual(r.effect, { difference: null, low: null, high: null, method: "welch-normal-95" });
});

test("position bias counts answers with one winner; chance is 1/(answers read)", () => {
  const bias = judgePositionBias([
    {
      answers: [
        { order: ["a", "b"], answer: "A", ranking: { tiers: [["a"], ["b"]] }, first: true },
        { order: ["b", "a"], answer: "A", ranking: { tiers: [["b"], ["a"]] }, first: true },
        { order: ["a", "b", "c"], answer: "B > A > C", ranking: { tiers: [["b"], ["a"], ["c"]] }, first: false },
        { order: ["c", "b", "a"], answer: "A = B > C", ranking: { tiers: [["c", "b"], ["a"]] }, first: null },
      ],
      consistency: { agreed: 1, compared: 4 },
    },
  ]);
  assert.deepEqual({ ...bias, expectedRate: undefined }, { applies: true, firstWon: 2, decided: 3, rate: 2 / 3, expectedRate: undefined, consistency: { agreed: 1, compared: 4, rate: 0.25 } });
  assert.ok(Math.abs(bias.expectedRate! - (1 / 2 + 1 / 2 + 1 / 3) / 3) < 1e-12);
});

test("position bias does not apply to a reward-model judge (it reads nothing in an order), unless a chat judge's verdicts are there too", () => {
  const scored = { answers: [], consistency: { agreed: 0, compared: 0 }, mode: "reward-model" };
  assert.deepEqual(judgePositionBias([scored, scored], false), { applies: false, firstWon: 0, decided: 0, rate: null, expectedRate: null, consistency: { agreed: 0, compared: 0, rate: null } });
  assert.equal(judgePositionBias([], false).applies, false);
  assert.equal(judgePositionBias([scored], true).applies, true, "the judge is now a chat model: its verdicts will have a bias");
  assert.equal(judgePositionBias([scored, { answers: [], consistency: { agreed: 0, compared: 0 }, mode: "pairwise" }], false).applies, true);
});
