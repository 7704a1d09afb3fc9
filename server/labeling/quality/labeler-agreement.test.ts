import assert from "node:assert/strict";
import { test } from "node:test";
import { labelerAgreement } from "./labeler-agreement.ts";
import type { AgreementSubmission } from "./labeler-agreement.ts";
import type { Ranking } from "./ranking.ts";

const order = (...ids: string[]): Ranking => ({ tiers: ids.map((id) => [id]) });
const close = (actual: number | null, expected: number) => {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `expected ${expected}, got ${actual}`);
};

// Item i1 (a, b, c): L1 and L2 say a > b > c, L3 says the reverse.
// Item i2 (x, y): all three say x > y.
const submissions: AgreementSubmission[] = [
  { itemId: "i1", labelerId: "L1", ranking: order("a", "b", "c") },
  { itemId: "i1", labelerId: "L2", ranking: order("a", "b", "c") },
  { itemId: "i1", labelerId: "L3", ranking: order("c", "b", "a") },
  { itemId: "i2", labelerId: "L1", ranking: order("x", "y") },
  { itemId: "i2", labelerId: "L2", ranking: order("x", "y") },
  { itemId: "i2", labelerId: "L3", ranking: order("x", "y") },
];

test("leave-one-out consensus: pairs the others split on are not held against anyone", () => {
  const { labelers } = labelerAgreement(submissions);
  const byId = Object.fromEntries(labelers.map((l) => [l.labelerId, l]));
  // L1 on i1: others L2 (a>b>c) and L3 (c>b>a) split 1:1 on every pair → consensus all tied → 0 compared.
  // L1 on i2: others agree x > y → 1 of 1. Total 1/1.
  assert.deepEqual(byId.L1?.vsConsensus, { rate: 1, agreed: 1, compared: 1, comparisons: 1 });
  assert.deepEqual(byId.L2?.vsConsensus, { rate: 1, agreed: 1, compared: 1, comparisons: 1 });
  // L3 on i1: others both a>b>c, L3 reverses all 3 pairs → 0/3; on i2 1/1. Total 1/4.
  assert.deepEqual(byId.L3?.vsConsensus, { rate: 0.25, agreed: 1, compared: 4, comparisons: 2 });
  assert.equal(byId.L3?.submissions, 2);
  // No gold given.
  assert.deepEqual(byId.L1?.vsGold, { rate: null, agreed: 0, compared: 0, comparisons: 0 });
});

test("agreement with gold", () => {
  const { labelers } = labelerAgreement(submissions, [{ itemId: "i1", ranking: order("a", "b", "c") }]);
  const byId = Object.fromEntries(labelers.map((l) => [l.labelerId, l.vsGold]));
  assert.deepEqual(byId.L1, { rate: 1, agreed: 3, compared: 3, comparisons: 1 });
  assert.deepEqual(byId.L3, { rate: 0, agreed: 0, compared: 3, comparisons: 1 });
});

test("project: pooled pairwise agreement, mean over labeler pairs, mean τ-b", () => {
  const { project } = labelerAgreement(submissions);
  assert.equal(project.overlappingItems, 2);
  // i1: L1–L2 3/3, L1–L3 0/3, L2–L3 0/3; i2: 1/1 each. Pooled (3 + 0 + 0 + 3)/(9 + 3) = 6/12.
  assert.equal(project.pairwise.agreed, 6);
  assert.equal(project.pairwise.compared, 12);
  close(project.pairwise.rate, 0.5);
  assert.equal(project.pairwise.comparisons, 6);
  // Per labeler pair: L1–L2 4/4 = 1, L1–L3 1/4, L2–L3 1/4 → mean (1 + 0.25 + 0.25)/3 = 0.5.
  close(project.pairwise.meanOverLabelerPairs, 0.5);
  assert.equal(project.pairwise.labelerPairs, 3);
  // τ-b: i1 → 1, −1, −1; i2 (two ids, same order) → 1, 1, 1. Mean 2/6.
  close(project.kendall.meanTau, 1 / 3);
  assert.equal(project.kendall.comparisons, 6);
});

test("project: ordinal Krippendorff α over (item, completion) units of average rank positions, by hand", () => {
  const { alpha } = labelerAgreement(submissions).project;
  // Units (values from L1, L2, L3): i1.a (1,1,3), i1.b (2,2,2), i1.c (3,3,1), i2.x (1,1,1), i2.y (2,2,2).
  // m_u = 3, weight 1/2. Coincidences: o11 = 1 + 3 = 4, o13 = o31 = 1 + 1 = 2, o22 = 3 + 3 = 6, o33 = 1.
  // Marginals n_1 = 6, n_2 = 6, n_3 = 3, n = 15.
  // Ordinal δ²: δ²_12 = (6 + 6 − 6)² = 36; δ²_23 = (6 + 3 − 4.5)² = 20.25; δ²_13 = (15 − 4.5)² = 110.25.
  // Σ o·δ² = 2·2·110.25 = 441; Σ n_c n_k δ² = 2·(36·36 + 18·20.25 + 18·110.25) = 2·3645 = 7290.
  // α = 1 − 14·441/7290 = 1 − 6174/7290.
  close(alpha.alpha, 1 - 6174 / 7290);
  assert.equal(alpha.pairableUnits, 5);
  assert.equal(alpha.pairableValues, 15);
});

test("ties use average rank positions in α: identical tied rankings give α = 1", () => {
  const tied: Ranking = { tiers: [["a", "b"], ["c"]] };
  const report = labelerAgreement([
    { itemId: "i", labelerId: "L1", ranking: tied },
    { itemId: "i", labelerId: "L2", ranking: tied },
    { itemId: "j", labelerId: "L1", ranking: order("p", "q") },
    { itemId: "j", labelerId: "L2", ranking: order("p", "q") },
  ]);
  assert.equal(report.project.alpha.alpha, 1);
  // Tied pair a–b is excluded: i compares 2 pairs (a–c, b–c), j compares 1, per labeler pair.
  assert.equal(report.project.pairwise.compared, 3);
});

test("minOthers: default 2 skips overlap-2 items; minOthers 1 compares with the single other labeler", () => {
  const two: AgreementSubmission[] = [
    { itemId: "i", labelerId: "A", ranking: order("a", "b", "c") },
    { itemId: "i", labelerId: "B", ranking: order("a", "c", "b") },
  ];
  const strict = labelerAgreement(two);
  assert.equal(strict.labelers[0]?.vsConsensus.rate, null);
  // With one other: a>b, a>c agree, b>c vs c>b disagrees → 2/3.
  const loose = labelerAgreement(two, [], { minOthers: 1 });
  assert.deepEqual(loose.labelers[0]?.vsConsensus, { rate: 2 / 3, agreed: 2, compared: 3, comparisons: 1 });
  const copelandLoose = labelerAgreement(two, [], { minOthers: 1, consensus: "copeland" });
  assert.deepEqual(copelandLoose.labelers[0]?.vsConsensus, loose.labelers[0]?.vsConsensus);
});

test("not-rankable submissions count as submissions but add no comparisons; a resubmission replaces the earlier one", () => {
  const report = labelerAgreement([
    { itemId: "i", labelerId: "A", ranking: order("a", "b") },
    { itemId: "i", labelerId: "B", ranking: order("b", "a") },
    { itemId: "i", labelerId: "B", ranking: order("a", "b") },
    { itemId: "i", labelerId: "C", ranking: { tiers: [["a", "b"]], notRankable: true } },
  ]);
  const byId = Object.fromEntries(report.labelers.map((l) => [l.labelerId, l]));
  assert.equal(byId.B?.submissions, 1);
  assert.equal(byId.C?.submissions, 1);
  // Only A–B compare (1 pair, agreeing after B's resubmission).
  assert.deepEqual({ agreed: report.project.pairwise.agreed, compared: report.project.pairwise.compared }, { agreed: 1, compared: 1 });
  assert.equal(report.project.kendall.comparisons, 1);
  // A's others: B (a>b) and C (no votes) → consensus a>b → 1/1.
  assert.deepEqual(byId.A?.vsConsensus, { rate: 1, agreed: 1, compared: 1, comparisons: 1 });
});

test("no overlap: every project figure is null with zero counts", () => {
  const report = labelerAgreement([{ itemId: "i", labelerId: "A", ranking: order("a", "b") }]);
  assert.equal(report.project.overlappingItems, 0);
  assert.equal(report.project.pairwise.rate, null);
  assert.equal(report.project.pairwise.meanOverLabelerPairs, null);
  assert.equal(report.project.kendall.meanTau, null);
  assert.equal(report.project.alpha.alpha, null);
});
