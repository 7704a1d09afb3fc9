// Krippendorff's α for units × coders with missing values, computed with the coincidence-
// matrix method of Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
// Departmental Papers (ASC) 43, University of Pennsylvania.
//
//   o_ck  = Σ_u (number of c-k pairs of values from different coders in unit u) / (m_u − 1)
//   n_c   = Σ_k o_ck,  n = Σ_c n_c   (pairable values: units with m_u ≥ 2 only)
//   α     = 1 − (n − 1) · Σ_c Σ_k o_ck δ²_ck / Σ_c Σ_k n_c n_k δ²_ck
//
// with the difference functions δ²:
//   nominal  : 0 if c = k, else 1
//   ordinal  : (Σ_{g=c..k} n_g − (n_c + n_k)/2)²   (distance in "ranks" of the pooled values)
//   interval : (c − k)²
export type AlphaMetric = "nominal" | "ordinal" | "interval";

export interface AlphaResult {
  /**
   * null when α is undefined: no unit has two values (n = 0) or the pooled values do not
   * vary (expected disagreement 0, e.g. every coder used the same single value everywhere).
   * Krippendorff notes α is then 0/0; reporting 1 would claim reliability the data cannot show.
   */
  alpha: number | null;
  /** Units with at least two values (the only ones that can be paired). */
  pairableUnits: number;
  /** n: the number of pairable values. */
  pairableValues: number;
  /** D_o and D_e (α = 1 − D_o/D_e), both normalised per pairable value. */
  observedDisagreement: number;
  expectedDisagreement: number;
}

/** A coder's value for a unit, or null/undefined when that coder did not rate it. */
export type AlphaValue = number | null | undefined;

/**
 * `units[u]` holds the values the coders gave unit u. Missing values may be left out or
 * given as null/undefined (so a coders-by-units table can be passed column by column).
 */
export function krippendorffAlpha(units: readonly (readonly AlphaValue[])[], metric: AlphaMetric): AlphaResult {
  const pairable: number[][] = [];
  for (const unit of units) {
    const values = unit.filter((value): value is number => typeof value === "number" && Number.isFinite(value));
    if (values.length >= 2) pairable.push(values);
  }

  const domain = [...new Set(pairable.flat())].sort((x, y) => x - y);
  const indexOf = new Map(domain.map((value, index) => [value, index] as const));
  const size = domain.length;
  const o: number[][] = domain.map(() => new Array<number>(size).fill(0));

  for (const values of pairable) {
    const weight = 1 / (values.length - 1);
    for (let i = 0; i < values.length; i++) {
      for (let j = 0; j < values.length; j++) {
        if (i === j) continue;
        const c = indexOf.get(values[i] ?? 0) ?? 0;
        const k = indexOf.get(values[j] ?? 0) ?? 0;
        const row = o[c];
        if (row) row[k] = (row[k] ?? 0) + weight;
      }
    }
  }

  const marginals = o.map((row) => row.reduce((sum, x) => sum + x, 0));
  const n = marginals.reduce((sum, x) => sum + x, 0);
  const delta = differenceFunction(metric, domain, marginals);

  let observed = 0;
  let expected = 0;
  for (let c = 0; c < size; c++) {
    for (let k = 0; k < size; k++) {
      const d = delta(c, k);
      observed += (o[c]?.[k] ?? 0) * d;
      expected += (marginals[c] ?? 0) * (marginals[k] ?? 0) * d;
    }
  }
  const observedDisagreement = n > 0 ? observed / n : 0;
  const expectedDisagreement = n > 1 ? expected / (n * (n - 1)) : 0;
  const alpha = n === 0 || expected === 0 ? null : 1 - ((n - 1) * observed) / expected;
  return { alpha, pairableUnits: pairable.length, pairableValues: Math.round(n), observedDisagreement, expectedDisagreement };
}

function differenceFunction(metric: AlphaMetric, domain: readonly number[], marginals: readonly number[]): (c: number, k: number) => number {
  if (metric === "nominal") return (c, k) => (c === k ? 0 : 1);
  if (metric === "interval") return (c, k) => ((domain[c] ?? 0) - (domain[k] ?? 0)) ** 2;
  // Ordinal: prefix sums make each δ² O(1); Σ_{g=lo..hi} n_g = prefix[hi+1] − prefix[lo].
  const prefix = [0];
  for (const m of marginals) prefix.push((prefix[prefix.length - 1] ?? 0) + m);
  return (c, k) => {
    if (c === k) return 0;
    const lo = Math.min(c, k);
    const hi = Math.max(c, k);
    const between = (prefix[hi + 1] ?? 0) - (prefix[lo] ?? 0);
    return (between - ((marginals[c] ?? 0) + (marginals[k] ?? 0)) / 2) ** 2;
  };
}
