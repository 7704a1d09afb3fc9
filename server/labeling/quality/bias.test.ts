import assert from "node:assert/strict";
import { test } from "node:test";
import { labelerBias } from "./bias.ts";
import type { BiasSubmission } from "./bias.ts";

const close = (actual: number | null, expected: number) => {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `expected ${expected}, got ${actual}`);
};

test("hand-computed rates, expectations and z for a mixed set of submissions", () => {
  const submissions: BiasSubmission[] = [
    // s1: first shown a is top (hit); longest a (10) is top (hit). |top|/K = 1/4.
    { shownOrder: ["a", "b", "c", "d"], ranking: { tiers: [["a"], ["b"], ["c"], ["d"]] }, lengths: { a: 10, b: 5, c: 3, d: 1 } },
    // s2: first shown b is not top; longest d (40) is not top. 1/4.
    { shownOrder: ["b", "a", "c", "d"], ranking: { tiers: [["a"], ["b", "c"], ["d"]] }, lengths: { a: 1, b: 2, c: 3, d: 40 } },
    // s3: first shown c is top (tier of 2 → 2/4); all lengths equal → no single longest, skipped for length.
    { shownOrder: ["c", "d", "a", "b"], ranking: { tiers: [["c", "d"], ["a", "b"]] }, lengths: { a: 5, b: 5, c: 5, d: 5 } },
    // s4: not rankable → skipped for both.
    { shownOrder: ["a", "b", "c", "d"], ranking: { tiers: [["a", "b", "c", "d"]], notRankable: true }, lengths: { a: 1, b: 2, c: 3, d: 4 } },
  ];
  const { position, length } = labelerBias(submissions);

  // Position: 3 submissions, 2 hits, rate 2/3; expected (1/4 + 1/4 + 2/4)/3 = 1/3;
  // z = (2 − 1) / √(3/16 + 3/16 + 1/4) = 1/√(10/16).
  assert.equal(position.submissions, 3);
  assert.equal(position.hits, 2);
  close(position.rate, 2 / 3);
  close(position.expectedRate, 1 / 3);
  close(position.z, 1 / Math.sqrt(10 / 16));
  assert.deepEqual(position.skipped, { notRankable: 1, ambiguous: 0 });

  // Length: s1 and s2 only, 1 hit, rate 1/2; expected 1/4; z = (1 − 1/2)/√(3/16 + 3/16).
  assert.equal(length.submissions, 2);
  assert.equal(length.hits, 1);
  close(length.rate, 0.5);
  close(length.expectedRate, 0.25);
  close(length.z, 0.5 / Math.sqrt(6 / 16));
  assert.deepEqual(length.skipped, { notRankable: 1, ambiguous: 1 });
});

test("a labeler who always tops the first-shown completion stands out; one who ignores position does not", () => {
  const biased: BiasSubmission[] = [];
  const fair: BiasSubmission[] = [];
  const ids = ["a", "b", "c", "d"];
  for (let i = 0; i < 20; i++) {
    // Rotate the shown order; the biased labeler ranks in shown order, the fair one always a > b > c > d.
    const shownOrder = ids.map((_, j) => ids[(i + j) % 4] ?? "a");
    const lengths = { a: 1, b: 2, c: 3, d: 4 };
    biased.push({ shownOrder, ranking: { tiers: shownOrder.map((id) => [id]) }, lengths });
    fair.push({ shownOrder, ranking: { tiers: ids.map((id) => [id]) }, lengths });
  }
  const b = labelerBias(biased).position;
  // 20 hits of 20, expected 1/4; z = (20 − 5)/√(20·3/16) = 15/√3.75 ≈ 7.75.
  close(b.rate, 1);
  close(b.expectedRate, 0.25);
  close(b.z, 15 / Math.sqrt(3.75));
  const f = labelerBias(fair).position;
  // a is shown first in 5 of the 20 rotations: rate 1/4 = expected, z = 0.
  close(f.rate, 0.25);
  close(f.z, 0);
  // The fair labeler always puts d, the longest, last: length rate 0, z = −5/√3.75.
  close(labelerBias(fair).length.rate, 0);
  close(labelerBias(fair).length.z, -5 / Math.sqrt(3.75));
});

test("no usable submissions: rates are null, counts are zero", () => {
  const empty = labelerBias([]);
  assert.deepEqual(empty.position, { submissions: 0, hits: 0, rate: null, expectedRate: null, z: null, skipped: { notRankable: 0, ambiguous: 0 } });
  // A missing length makes the longest ambiguous.
  const missing = labelerBias([{ shownOrder: ["a", "b"], ranking: { tiers: [["a"], ["b"]] }, lengths: { a: 3 } }]);
  assert.equal(missing.length.skipped.ambiguous, 1);
  assert.equal(missing.position.hits, 1);
});
