import assert from "node:assert/strict";
import { test } from "node:test";
import { averageRankPositions, rankingSchema, tierIndex, validateRanking } from "./ranking.ts";

const shown = ["a", "b", "c", "d"];

function reasonsOf(input: unknown, ids: readonly string[] = shown): string[] {
  const result = validateRanking(ids, input);
  assert.equal(result.ok, false, "expected the ranking to be refused");
  return result.ok ? [] : result.reasons;
}

test("a complete tiered ranking with ties and strengths is accepted as given", () => {
  const input = { tiers: [["b"], ["a", "d"], ["c"]], strengths: [2, 1] };
  const result = validateRanking(shown, input);
  assert.deepEqual(result, { ok: true, ranking: input });
  assert.ok(result.ok && rankingSchema.safeParse(result.ranking).success);
});

test("missing ids are refused and named", () => {
  const reasons = reasonsOf({ tiers: [["a"], ["b"]] });
  assert.equal(reasons.length, 1);
  assert.match(reasons[0] ?? "", /missing completions "c", "d"/);
});

test("unknown ids are refused and named", () => {
  const reasons = reasonsOf({ tiers: [["a"], ["b", "c", "d", "zz"]] });
  assert.deepEqual(reasons.length, 1);
  assert.match(reasons[0] ?? "", /unknown completion id "zz"/);
});

test("an id given twice is refused, across tiers and inside one tier", () => {
  assert.match(reasonsOf({ tiers: [["a", "b"], ["c", "d", "a"]] }).join("\n"), /"a" appears 2 times/);
  assert.match(reasonsOf({ tiers: [["a", "a", "b", "c", "d"]] }).join("\n"), /"a" appears 2 times/);
});

test("empty tiers are refused", () => {
  assert.match(reasonsOf({ tiers: [["a", "b"], [], ["c", "d"]] }).join("\n"), /tier 2 is empty/);
});

test("strengths must number tiers − 1 and be whole numbers 1..3", () => {
  // 3 tiers → 2 strengths expected.
  assert.match(reasonsOf({ tiers: [["a"], ["b"], ["c", "d"]], strengths: [1] }).join("\n"), /expected 2 preference strengths.*got 1/);
  const outOfRange = reasonsOf({ tiers: [["a"], ["b"], ["c"], ["d"]], strengths: [0, 4, 1.5] });
  assert.equal(outOfRange.length, 3);
  assert.match(outOfRange[0] ?? "", /strength 1 is 0/);
  assert.match(outOfRange[1] ?? "", /strength 2 is 4/);
  assert.match(outOfRange[2] ?? "", /strength 3 is 1.5/);
});

test("not rankable: one tier with every id, or no tier, is accepted; with an order or strengths it is refused", () => {
  assert.deepEqual(validateRanking(shown, { tiers: [["d", "c", "b", "a"]], notRankable: true }), {
    ok: true,
    ranking: { tiers: [["d", "c", "b", "a"]], notRankable: true },
  });
  assert.deepEqual(validateRanking(shown, { tiers: [], notRankable: true }), { ok: true, ranking: { tiers: [], notRankable: true } });
  assert.match(reasonsOf({ tiers: [["a", "b"], ["c", "d"]], notRankable: true }).join("\n"), /not rankable cannot also order/);
  assert.match(reasonsOf({ tiers: [["a", "b", "c", "d"]], strengths: [2], notRankable: true }).join("\n"), /not rankable cannot have preference strengths/);
  // Without the escape, an empty ranking is simply incomplete.
  assert.match(reasonsOf({ tiers: [] }).join("\n"), /missing completions "a", "b", "c", "d"/);
});

test("several problems are reported together", () => {
  const reasons = reasonsOf({ tiers: [["a", "zz"], [], ["a"]], strengths: [9] });
  // unknown zz, duplicated a, empty tier 2, missing b c d, wrong strength count, strength out of range.
  assert.equal(reasons.length, 6);
});

test("malformed shapes are refused with a reason, not thrown", () => {
  assert.ok(reasonsOf(null).length > 0);
  assert.ok(reasonsOf("a>b").length > 0);
  assert.ok(reasonsOf({ tiers: [[1, 2]] }).length > 0);
  assert.ok(reasonsOf({ tiers: [["a", "b", "c", "d"]], extra: true }).length > 0);
});

test("ranks form: 1 = best, equal numbers tie, converted to tiers", () => {
  assert.deepEqual(validateRanking(shown, { ranks: { a: 2, b: 1, c: 4, d: 2 } }), {
    ok: true,
    ranking: { tiers: [["b"], ["a", "d"], ["c"]] },
  });
  // Gaps keep only the order: ranks 1 and 3 are two adjacent tiers.
  assert.deepEqual(validateRanking(["x", "y"], { ranks: { y: 1, x: 2 }, strengths: [3] }), {
    ok: true,
    ranking: { tiers: [["y"], ["x"]], strengths: [3] },
  });
});

test("ranks form: out-of-range and fractional ranks are refused with the id named (and not also reported missing)", () => {
  const reasons = reasonsOf({ ranks: { a: 0, b: 5, c: 1.5, d: 1 } });
  assert.equal(reasons.length, 3);
  assert.match(reasons[0] ?? "", /rank of "a" is 0; .*1 \(best\) to 4/);
  assert.match(reasons[1] ?? "", /rank of "b" is 5/);
  assert.match(reasons[2] ?? "", /rank of "c" is 1.5/);
  assert.match(reasonsOf({ ranks: { a: 1, b: 2, c: 3 } }).join("\n"), /missing completion "d"/);
  assert.match(reasonsOf({ ranks: { a: 1, b: 2, c: 3, d: 4, e: 1 } }).join("\n"), /unknown completion id "e"/);
});

test("duplicated shown ids are a caller bug and throw", () => {
  assert.throws(() => validateRanking(["a", "a"], { tiers: [["a"]] }), /duplicates/);
});

test("average rank positions share the mean of the tied positions", () => {
  // [[b], [a, d], [c]]: b = 1; a, d occupy positions 2 and 3 → 2.5; c = 4.
  const positions = averageRankPositions({ tiers: [["b"], ["a", "d"], ["c"]] });
  assert.deepEqual(Object.fromEntries(positions), { b: 1, a: 2.5, d: 2.5, c: 4 });
  // The positions of any ranking of K ids sum to 1 + … + K = K(K+1)/2 = 10 for K = 4.
  assert.equal([...positions.values()].reduce((s, x) => s + x, 0), 10);
  assert.equal(averageRankPositions({ tiers: [["a", "b"]], notRankable: true }).size, 0);
  assert.deepEqual(Object.fromEntries(tierIndex({ tiers: [["b"], ["a", "d"]] })), { b: 0, a: 1, d: 1 });
});
