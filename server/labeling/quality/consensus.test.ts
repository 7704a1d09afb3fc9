import assert from "node:assert/strict";
import { test } from "node:test";
import { copeland, pairwiseTally, rankedPairs } from "./consensus.ts";
import type { Ranking } from "./ranking.ts";

const order = (...ids: string[]): Ranking => ({ tiers: ids.map((id) => [id]) });
const repeat = (count: number, ranking: Ranking): Ranking[] => Array.from({ length: count }, () => ranking);

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

// Classic Condorcet cycle: 4 × A>B>C, 3 × B>C>A, 2 × C>A>B (9 voters).
//   A vs B: A above B for 4 + 2 = 6, B above A for 3 → A ≻ B, margin 3
//   B vs C: 4 + 3 = 7 vs 2                          → B ≻ C, margin 5
//   C vs A: 3 + 2 = 5 vs 4                          → C ≻ A, margin 1
// Majorities cycle A ≻ B ≻ C ≻ A.
const cycle = [...repeat(4, order("A", "B", "C")), ...repeat(3, order("B", "C", "A")), ...repeat(2, order("C", "A", "B"))];

test("tally of the Condorcet cycle", () => {
  const { ids, prefers } = pairwiseTally(cycle);
  assert.deepEqual(ids, ["A", "B", "C"]);
  assert.deepEqual(prefers, [
    [0, 6, 4],
    [3, 0, 7],
    [5, 2, 0],
  ]);
});

test("ranked pairs breaks the cycle at its weakest majority: lock B≻C (5), A≻B (3), skip C≻A (1) → A, B, C", () => {
  assert.deepEqual(rankedPairs(cycle), order("A", "B", "C"));
});

test("Copeland on the cycle: every candidate wins one and loses one → score 0 each → one shared tier", () => {
  assert.deepEqual(copeland(cycle), { tiers: [["A", "B", "C"]] });
});

test("a perfectly symmetric cycle (each majority 2:1) is a tie under ranked pairs, not an input-order accident", () => {
  const symmetric = [order("A", "B", "C"), order("B", "C", "A"), order("C", "A", "B")];
  assert.deepEqual(rankedPairs(symmetric), { tiers: [["A", "B", "C"]] });
  // Feeding the same ballots in another order gives the same (tied) answer.
  assert.deepEqual(rankedPairs([...symmetric].reverse()).tiers.map((t) => [...t].sort()), [["A", "B", "C"]]);
});

test("clear winner: A first on every ballot; B over C 2:1 → A, B, C under both methods", () => {
  const ballots = [order("A", "B", "C"), order("A", "C", "B"), order("A", "B", "C")];
  // Copeland scores: A beats B and C (+2), B beats C and loses to A (0), C loses both (−2).
  assert.deepEqual(rankedPairs(ballots), order("A", "B", "C"));
  assert.deepEqual(copeland(ballots), order("A", "B", "C"));
});

test("a tied tally stays a tie: A>B>C and B>A>C → [A B], C", () => {
  // A vs B 1:1 (no majority); A and B each beat C 2:0.
  const ballots = [order("A", "B", "C"), order("B", "A", "C")];
  assert.deepEqual(rankedPairs(ballots), { tiers: [["A", "B"], ["C"]] });
  assert.deepEqual(copeland(ballots), { tiers: [["A", "B"], ["C"]] });
});

test("labelers' own ties are respected and a single ranking is its own consensus", () => {
  const tied: Ranking = { tiers: [["a", "b"], ["c"], ["d", "e"]] };
  assert.deepEqual(rankedPairs([tied]), tied);
  assert.deepEqual(copeland([tied]), tied);
  assert.deepEqual(rankedPairs([tied, tied, tied]), tied);
});

test("not-rankable rankings cast no votes", () => {
  const ballots: Ranking[] = [order("x", "y", "z"), { tiers: [["z", "y", "x"]], notRankable: true }];
  assert.deepEqual(rankedPairs(ballots), order("x", "y", "z"));
  assert.deepEqual(copeland(ballots), order("x", "y", "z"));
  assert.deepEqual(rankedPairs([{ tiers: [["x", "y"]], notRankable: true }]), { tiers: [["x", "y"]] });
  assert.deepEqual(rankedPairs([]), { tiers: [] });
});

test("pure: raw rankings are neither mutated nor needed to be mutable", () => {
  const ballots = deepFreeze([...cycle.map((r) => structuredClone(r)), { tiers: [["A", "C"], ["B"]], strengths: [2] }]);
  const before = structuredClone(ballots);
  const consensus = rankedPairs(ballots);
  copeland(ballots);
  pairwiseTally(ballots);
  assert.deepEqual(ballots, before);
  // The result shares no arrays with the input, so editing it cannot reach a raw ranking.
  for (const tier of consensus.tiers) for (const ballot of ballots) assert.ok(!ballot.tiers.includes(tier));
});
