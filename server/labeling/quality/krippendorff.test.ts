import assert from "node:assert/strict";
import { test } from "node:test";
import { krippendorffAlpha } from "./krippendorff.ts";
import type { AlphaMetric, AlphaValue } from "./krippendorff.ts";

const metrics: AlphaMetric[] = ["nominal", "ordinal", "interval"];

/** Coders × units table (rows = coders) → the per-unit value lists krippendorffAlpha takes. */
function columns(rows: readonly (readonly AlphaValue[])[]): AlphaValue[][] {
  const width = rows[0]?.length ?? 0;
  return Array.from({ length: width }, (_, u) => rows.map((row) => row[u]));
}

function alphaOf(units: readonly (readonly AlphaValue[])[], metric: AlphaMetric): number {
  const { alpha } = krippendorffAlpha(units, metric);
  assert.ok(alpha !== null, "alpha should be defined");
  return alpha;
}

// Reliability data of Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
// section C (4 observers A–D × 12 units, "." = missing). The paper reports
// α_nominal = 0.743 (section C), α_ordinal = 0.815 (section D), α_interval = 0.849 (section E).
// The same table and the ordinal value 0.815 (and ratio 0.797) are in the tests of the Python
// `krippendorff` package: pln-fing-udelar/fast-krippendorff, tests/test_krippendorff.py
// (test_ordinal_metric, test_ratio_metric).
const N = null;
const krippendorff2011 = [
  [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
  [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
  [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
  [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
];

test("Krippendorff (2011) worked example: nominal 0.743, ordinal 0.815, interval 0.849", () => {
  const units = columns(krippendorff2011);
  assert.equal(alphaOf(units, "nominal").toFixed(3), "0.743");
  assert.equal(alphaOf(units, "ordinal").toFixed(3), "0.815");
  assert.equal(alphaOf(units, "interval").toFixed(3), "0.849");
  // Unit 12 has a single value (observer B's 3), so it is not pairable: 11 units, and
  // n = 40 pairable values (3+4+4+4+4+4+4+4+4+3+2 = 40), as in the paper's coincidence matrix.
  const result = krippendorffAlpha(units, "nominal");
  assert.equal(result.pairableUnits, 11);
  assert.equal(result.pairableValues, 40);
});

test("Krippendorff (2011) nominal by hand: D_o = 8/40, α = 1 − (n−1)·Σo_ck / Σn_c·n_k (c≠k)", () => {
  // Paper's coincidence matrix marginals: n_1 = 9, n_2 = 13, n_3 = 10, n_4 = 5, n_5 = 3 (n = 40);
  // off-diagonal coincidences sum to 8 (m_u = 4, weight 1/3: unit 2 has 6 ordered 2–3 pairs → 2, unit 6 has 12 → 4, unit 8 has 6 → 2).
  // Σ_{c≠k} n_c n_k = 40² − (81 + 169 + 100 + 25 + 9) = 1600 − 384 = 1216.
  // α = 1 − 39·8/1216 = 1 − 312/1216 = 0.743421…
  const alpha = alphaOf(columns(krippendorff2011), "nominal");
  assert.ok(Math.abs(alpha - (1 - 312 / 1216)) < 1e-12);
});

// Example data of the Wikipedia article "Krippendorff's alpha" (3 coders × 15 units), also
// used by pln-fing-udelar/fast-krippendorff tests/test_krippendorff.py:
// nominal 0.691358 (test_nominal_metric_reliability_data), interval 0.810845 (test_interval_metric).
const wikipedia = [
  [N, N, N, N, N, 3, 4, 1, 2, 1, 1, 3, 3, N, 3],
  [1, N, 2, 1, 3, 3, 4, 3, N, N, N, N, N, N, N],
  [N, N, 2, 1, 3, 4, 4, N, 2, 1, 1, 3, 3, N, 4],
];

test("published 3-coder example: nominal 0.691358, interval 0.810845", () => {
  const units = columns(wikipedia);
  assert.equal(alphaOf(units, "nominal").toFixed(6), "0.691358");
  assert.equal(alphaOf(units, "interval").toFixed(6), "0.810845");
});

test("small example by hand: units (1,1), (2,2), (1,2) → α = 1 − 5·2/18 = 4/9 under every metric", () => {
  // Coincidences: o11 = 2, o22 = 2, o12 = o21 = 1 → n_1 = n_2 = 3, n = 6.
  // nominal: 1 − (n−1)·(o12+o21) / (2·n_1·n_2) = 1 − 5·2/18.
  // interval: δ² = (1−2)² = 1, same numbers. ordinal: δ²_12 = (3 + 3 − (3+3)/2)² = 9,
  // 1 − 5·2·9 / (2·3·3·9) = 1 − 90/162 = 4/9. With two values all metrics coincide.
  for (const metric of metrics) {
    assert.ok(Math.abs(alphaOf([[1, 1], [2, 2], [1, 2]], metric) - 4 / 9) < 1e-12, metric);
  }
});

test("perfect agreement gives α = 1 under every metric, missing values or not", () => {
  const units = [[1, 1, 1], [2, 2], [3, 3, null], [1.5, 1.5, undefined, 1.5]];
  for (const metric of metrics) assert.equal(alphaOf(units, metric), 1, metric);
});

test("α is null (undefined) when nothing varies or nothing is pairable, and the counts say why", () => {
  // Every value 3: D_e = 0, α = 0/0.
  const constant = krippendorffAlpha([[3, 3], [3, 3, 3]], "interval");
  assert.equal(constant.alpha, null);
  assert.equal(constant.pairableValues, 5);
  // Single-value units cannot be paired.
  const lonely = krippendorffAlpha([[1], [2, null], []], "ordinal");
  assert.deepEqual({ alpha: lonely.alpha, units: lonely.pairableUnits, n: lonely.pairableValues }, { alpha: null, units: 0, n: 0 });
  assert.equal(krippendorffAlpha([], "nominal").alpha, null);
});

test("missing values may be left out or given as null/undefined", () => {
  const withNulls = columns(krippendorff2011);
  const compact = withNulls.map((unit) => unit.filter((v) => v !== null));
  for (const metric of metrics) assert.equal(alphaOf(compact, metric), alphaOf(withNulls, metric));
});

test("order of units and of values inside a unit does not matter", () => {
  const units = columns(krippendorff2011);
  const shuffled = [...units].reverse().map((unit) => [...unit].reverse());
  for (const metric of metrics) assert.ok(Math.abs(alphaOf(shuffled, metric) - alphaOf(units, metric)) < 1e-12);
});

test("ordinal α depends only on the order of values; interval α does not survive a non-linear rescaling", () => {
  const units = columns(krippendorff2011);
  // x ↦ x³ + 10 is strictly increasing: the ordinal metric sees the same data.
  const warped = units.map((unit) => unit.map((v) => (typeof v === "number" ? v ** 3 + 10 : v)));
  assert.ok(Math.abs(alphaOf(warped, "ordinal") - alphaOf(units, "ordinal")) < 1e-12);
  assert.ok(Math.abs(alphaOf(warped, "nominal") - alphaOf(units, "nominal")) < 1e-12);
  assert.ok(Math.abs(alphaOf(warped, "interval") - alphaOf(units, "interval")) > 1e-3);
  // An affine map (2x − 7) keeps interval α.
  const affine = units.map((unit) => unit.map((v) => (typeof v === "number" ? 2 * v - 7 : v)));
  assert.ok(Math.abs(alphaOf(affine, "interval") - alphaOf(units, "interval")) < 1e-12);
});

test("systematic disagreement drives α below 0", () => {
  // Two coders always opposite on a 1/2 scale: o12 = o21 = 2, n_1 = n_2 = 2, n = 4.
  // α = 1 − 3·4 / (2·2·2) = 1 − 12/8 = −0.5.
  assert.equal(alphaOf([[1, 2], [2, 1]], "nominal"), -0.5);
});
