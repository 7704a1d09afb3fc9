import assert from "node:assert/strict";
import { test } from "node:test";
import { buildPairs, expectedPairCount } from "./pair-builder.ts";
import type { PairMode } from "./pair-builder.ts";
import type { Ranking } from "./ranking.ts";

const singletons = (k: number): Ranking => ({ tiers: Array.from({ length: k }, (_, i) => [`c${i}`]) });

function key(pair: { chosen: string; rejected: string }): string {
  return `${pair.chosen}>${pair.rejected}`;
}

test("K = 4 distinct tiers: all C(4,2) = 6 pairs, margin = tier distance, weight 1/6 each", () => {
  const pairs = buildPairs({ tiers: [["a"], ["b"], ["c"], ["d"]] });
  assert.deepEqual(
    pairs.map((p) => [key(p), p.margin]),
    [["a>b", 1], ["a>c", 2], ["a>d", 3], ["b>c", 1], ["b>d", 2], ["c>d", 1]],
  );
  for (const pair of pairs) assert.equal(pair.weight, 1 / 6);
});

test("closed form: K distinct tiers give K(K−1)/2 pairs for K = 2..9, and weights sum to 1", () => {
  for (let k = 2; k <= 9; k++) {
    const pairs = buildPairs(singletons(k));
    assert.equal(pairs.length, (k * (k - 1)) / 2);
    assert.equal(expectedPairCount(Array.from({ length: k }, () => 1)), (k * (k - 1)) / 2);
    assert.ok(Math.abs(pairs.reduce((s, p) => s + p.weight, 0) - 1) < 1e-12);
  }
});

test("ties give no pairs: tiers of sizes 2, 1, 3 give Σ|Ti||Tj| = 2·1 + 2·3 + 1·3 = 11 pairs", () => {
  const ranking: Ranking = { tiers: [["a", "b"], ["c"], ["d", "e", "f"]] };
  const pairs = buildPairs(ranking);
  assert.equal(pairs.length, 11);
  assert.equal(expectedPairCount([2, 1, 3]), 11);
  // Same count from ((Σ)² − Σ²)/2 = (36 − 14)/2 = 11, and C(6,2) − C(2,2) − C(3,2) = 15 − 1 − 3 = 11.
  const tierOf = new Map(ranking.tiers.flatMap((tier, i) => tier.map((id) => [id, i] as const)));
  for (const pair of pairs) assert.ok((tierOf.get(pair.chosen) ?? 0) < (tierOf.get(pair.rejected) ?? 0));
  assert.equal(new Set(pairs.map(key)).size, 11, "no pair twice");
});

test("property: for random tierings, 'all' yields exactly the cross-tier pairs and matches the closed form", () => {
  let seed = 42;
  const random = () => {
    // Park–Miller LCG: deterministic, so a failure is reproducible.
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  for (let trial = 0; trial < 200; trial++) {
    const k = 2 + Math.floor(random() * 8);
    const tiers: string[][] = [];
    for (let i = 0; i < k; i++) {
      if (tiers.length === 0 || random() < 0.5) tiers.push([`c${i}`]);
      else tiers[tiers.length - 1]?.push(`c${i}`);
    }
    const pairs = buildPairs({ tiers });
    const expected = new Set<string>();
    tiers.forEach((upper, i) => tiers.slice(i + 1).forEach((lower) => upper.forEach((a) => lower.forEach((b) => expected.add(`${a}>${b}`)))));
    assert.deepEqual(new Set(pairs.map(key)), expected);
    assert.equal(pairs.length, expectedPairCount(tiers.map((t) => t.length)));
  }
});

test("modes: adjacent and best_vs_rest, with their closed forms", () => {
  const ranking: Ranking = { tiers: [["a", "b"], ["c"], ["d", "e", "f"]] };
  const adjacent = buildPairs(ranking, { mode: "adjacent" });
  // 2·1 + 1·3 = 5, all margin 1.
  assert.deepEqual(adjacent.map(key), ["a>c", "b>c", "c>d", "c>e", "c>f"]);
  assert.ok(adjacent.every((p) => p.margin === 1 && p.weight === 1 / 5));
  const best = buildPairs(ranking, { mode: "best_vs_rest" });
  // |T0|·(K − |T0|) = 2·4 = 8.
  assert.equal(best.length, 8);
  assert.ok(best.every((p) => p.chosen === "a" || p.chosen === "b"));
  const modes: [PairMode, number][] = [["adjacent", 5], ["best_vs_rest", 8], ["all", 11]];
  for (const [mode, count] of modes) assert.equal(expectedPairCount([2, 1, 3], mode), count);
});

test("margin from strength sums the steps between the two tiers", () => {
  const ranking: Ranking = { tiers: [["a"], ["b"], ["c"]], strengths: [1, 3] };
  const byStrength = buildPairs(ranking, { marginFrom: "strength" });
  // a>b: 1; b>c: 3; a>c: 1 + 3 = 4.
  assert.deepEqual(Object.fromEntries(byStrength.map((p) => [key(p), p.margin])), { "a>b": 1, "a>c": 4, "b>c": 3 });
  // Default stays the tier distance even when strengths exist.
  assert.deepEqual(Object.fromEntries(buildPairs(ranking).map((p) => [key(p), p.margin])), { "a>b": 1, "a>c": 2, "b>c": 1 });
  // No strengths given: strength mode falls back to tier distance.
  assert.deepEqual(buildPairs({ tiers: [["a"], ["b"], ["c"]] }, { marginFrom: "strength" }).map((p) => p.margin), [1, 2, 1]);
});

test("minMargin drops weak pairs before normalising", () => {
  const pairs = buildPairs({ tiers: [["a"], ["b"], ["c"]], strengths: [1, 3] }, { marginFrom: "strength", minMargin: 2 });
  // Margins 1 (a>b), 4 (a>c), 3 (b>c): a>b dropped, the two left share weight 1.
  assert.deepEqual(pairs, [
    { chosen: "a", rejected: "c", margin: 4, weight: 0.5 },
    { chosen: "b", rejected: "c", margin: 3, weight: 0.5 },
  ]);
});

test("normalize: false gives weight 1 to every pair", () => {
  const pairs = buildPairs(singletons(5), { normalize: false });
  assert.equal(pairs.length, 10);
  assert.ok(pairs.every((p) => p.weight === 1));
});

test("not rankable, a single tier, and one completion give no pairs", () => {
  assert.deepEqual(buildPairs({ tiers: [["a", "b", "c"]], notRankable: true }), []);
  assert.deepEqual(buildPairs({ tiers: [["a", "b", "c"]] }), []);
  assert.deepEqual(buildPairs({ tiers: [["a"]] }), []);
  assert.equal(expectedPairCount([3]), 0);
});
