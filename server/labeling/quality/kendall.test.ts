import assert from "node:assert/strict";
import { test } from "node:test";
import { kendallTauB, pairwiseAgreement } from "./kendall.ts";
import type { Ranking } from "./ranking.ts";

const close = (actual: number | null, expected: number, eps = 1e-12) => {
  assert.ok(actual !== null && Math.abs(actual - expected) < eps, `expected ${expected}, got ${actual}`);
};

function randomRankings(count: number, seed0: number): Ranking[] {
  let seed = seed0;
  const random = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  return Array.from({ length: count }, () => {
    const ids = ["a", "b", "c", "d", "e", "f"].sort(() => random() - 0.5);
    const tiers: string[][] = [];
    for (const id of ids) {
      if (tiers.length === 0 || random() < 0.6) tiers.push([id]);
      else tiers[tiers.length - 1]?.push(id);
    }
    return { tiers };
  });
}

test("τ-b(a, a) = 1 and τ-b(a, reverse a) = −1 for strict rankings", () => {
  const a: Ranking = { tiers: [["a"], ["b"], ["c"], ["d"], ["e"]] };
  const reversed: Ranking = { tiers: [...a.tiers].reverse() };
  close(kendallTauB(a, a).tau, 1);
  close(kendallTauB(a, reversed).tau, -1);
  assert.deepEqual(pairwiseAgreement(a, a), { rate: 1, agreed: 10, compared: 10 });
  assert.deepEqual(pairwiseAgreement(a, reversed), { rate: 0, agreed: 0, compared: 10 });
});

test("τ-b(a, a) = 1 and τ-b(a, reverse a) = −1 also with ties (τ-b's tie correction)", () => {
  for (const a of randomRankings(50, 7)) {
    if (a.tiers.length < 2) continue;
    close(kendallTauB(a, a).tau, 1);
    close(kendallTauB(a, { tiers: [...a.tiers].reverse() }).tau, -1);
  }
});

test("one adjacent swap in four: C = 5, D = 1, τ = (5 − 1)/6 = 2/3, agreement 5/6", () => {
  // a: x y z w; b: x z y w. Pairs: xy C, xz C, xw C, yz D, yw C, zw C.
  const a: Ranking = { tiers: [["x"], ["y"], ["z"], ["w"]] };
  const b: Ranking = { tiers: [["x"], ["z"], ["y"], ["w"]] };
  const result = kendallTauB(a, b);
  assert.deepEqual({ ...result, tau: undefined }, { tau: undefined, n: 4, concordant: 5, discordant: 1, tiedA: 0, tiedB: 0 });
  close(result.tau, 4 / 6);
  assert.deepEqual(pairwiseAgreement(a, b), { rate: 5 / 6, agreed: 5, compared: 6 });
});

test("ties: τ-b = (C − D)/√((n0 − n1)(n0 − n2)) = 2/√(2·3) and the tied pair is excluded from agreement", () => {
  // a: [p q] r; b: p q r. n0 = 3; pq tied in a (n1 = 1), n2 = 0; pr C, qr C → C = 2, D = 0.
  const a: Ranking = { tiers: [["p", "q"], ["r"]] };
  const b: Ranking = { tiers: [["p"], ["q"], ["r"]] };
  const result = kendallTauB(a, b);
  assert.equal(result.tiedA, 1);
  assert.equal(result.tiedB, 0);
  close(result.tau, 2 / Math.sqrt(6));
  assert.deepEqual(pairwiseAgreement(a, b), { rate: 1, agreed: 2, compared: 2 });
});

test("ties on both sides: a = [a b] c d, b = a [b c] d → C = 4, D = 0, n1 = n2 = 1, τ-b = 4/5", () => {
  // Pairs: ab tied in a; bc tied in b; ac C; ad C; bd C; cd C. τ-b = 4/√((6 − 1)(6 − 1)) = 4/5.
  const result = kendallTauB({ tiers: [["a", "b"], ["c"], ["d"]] }, { tiers: [["a"], ["b", "c"], ["d"]] });
  close(result.tau, 0.8);
  assert.equal(result.concordant, 4);
});

test("symmetry: τ-b(a, b) = τ-b(b, a) and agreement(a, b) = agreement(b, a)", () => {
  const rankings = randomRankings(30, 11);
  for (let i = 0; i + 1 < rankings.length; i++) {
    const a = rankings[i] ?? { tiers: [] };
    const b = rankings[i + 1] ?? { tiers: [] };
    assert.equal(kendallTauB(a, b).tau, kendallTauB(b, a).tau);
    assert.deepEqual(pairwiseAgreement(a, b), pairwiseAgreement(b, a));
    const tau = kendallTauB(a, b).tau;
    assert.ok(tau === null || (tau >= -1 - 1e-12 && tau <= 1 + 1e-12));
  }
});

test("undefined cases are null: everything tied, not rankable, fewer than two shared ids", () => {
  const strict: Ranking = { tiers: [["a"], ["b"], ["c"]] };
  assert.equal(kendallTauB(strict, { tiers: [["a", "b", "c"]] }).tau, null);
  assert.equal(kendallTauB(strict, { tiers: [["c"], ["b"], ["a"]], notRankable: true }).tau, null);
  assert.deepEqual(pairwiseAgreement(strict, { tiers: [["a", "b", "c"]], notRankable: true }), { rate: null, agreed: 0, compared: 0 });
  assert.equal(kendallTauB(strict, { tiers: [["a"], ["z"]] }).tau, null);
});

test("only ids present in both rankings are compared", () => {
  // Shared: a, b, c (x and y are ignored): a b c vs c b a → τ = −1 over n = 3.
  const result = kendallTauB({ tiers: [["a"], ["x"], ["b"], ["c"]] }, { tiers: [["c"], ["b"], ["y"], ["a"]] });
  assert.equal(result.n, 3);
  close(result.tau, -1);
});

test("published value: scipy.stats.kendalltau docs example x = [12, 2, 1, 12, 2], y = [1, 4, 7, 1, 0] → τ-b = −0.47140452079103173", () => {
  // As tiers (higher value first; the direction does not matter when both use the same one):
  // x: [1 4] [2 5] [3]; y: [3] [2] [1 4] [5].
  // By hand: C = 2 (1–5, 4–5), D = 6, tied in x: 1–4, 2–5 (n1 = 2), tied in y: 1–4 (n2 = 1);
  // τ-b = (2 − 6)/√((10 − 2)(10 − 1)) = −4/√72.
  const x: Ranking = { tiers: [["1", "4"], ["2", "5"], ["3"]] };
  const y: Ranking = { tiers: [["3"], ["2"], ["1", "4"], ["5"]] };
  const result = kendallTauB(x, y);
  assert.deepEqual([result.concordant, result.discordant, result.tiedA, result.tiedB], [2, 6, 2, 1]);
  close(result.tau, -4 / Math.sqrt(72));
  close(result.tau, -0.47140452079103173, 1e-15);
});
