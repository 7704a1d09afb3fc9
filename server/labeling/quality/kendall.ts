// Agreement between two rankings of the same completions.
// Undefined statistics are `null`, not NaN: the type makes callers handle "not enough
// data", and JSON would turn NaN into null anyway.
import { tierIndex } from "./ranking.ts";
import type { Ranking } from "./ranking.ts";

export interface KendallResult {
  /** τ-b in [−1, 1]; null when either ranking ties every compared pair (no variation) or fewer than 2 shared ids. */
  tau: number | null;
  /** Ids present in both rankings (the statistic is computed over these). */
  n: number;
  concordant: number;
  discordant: number;
  /** Pairs tied in a (including those tied in both), resp. in b. */
  tiedA: number;
  tiedB: number;
}

/**
 * Kendall's τ-b (Kendall 1945), which corrects τ for ties in either ranking:
 * τ_b = (C − D) / √((n₀ − n₁)(n₀ − n₂)), n₀ = n(n−1)/2, n₁ / n₂ = pairs tied in a / b.
 * Only ids present in both rankings are used. A not-rankable ranking ties everything.
 */
export function kendallTauB(a: Ranking, b: Ranking): KendallResult {
  const ta = tierIndex(a);
  const tb = tierIndex(b);
  // [tier in a, tier in b] for every id both rankings contain.
  const shared = [...ta].flatMap(([id, tierA]) => {
    const tierB = tb.get(id);
    return tierB === undefined ? [] : [[tierA, tierB] as const];
  });
  let concordant = 0;
  let discordant = 0;
  let tiedA = 0;
  let tiedB = 0;
  shared.forEach(([a1, b1], i) => {
    for (const [a2, b2] of shared.slice(i + 1)) {
      const da = Math.sign(a1 - a2);
      const db = Math.sign(b1 - b2);
      if (da === 0) tiedA++;
      if (db === 0) tiedB++;
      if (da !== 0 && db !== 0) {
        if (da === db) concordant++;
        else discordant++;
      }
    }
  });
  const n0 = (shared.length * (shared.length - 1)) / 2;
  const denominator = Math.sqrt((n0 - tiedA) * (n0 - tiedB));
  const tau = denominator === 0 ? null : (concordant - discordant) / denominator;
  return { tau, n: shared.length, concordant, discordant, tiedA, tiedB };
}

export interface PairwiseAgreementResult {
  /** agreed / compared; null when no pair is ordered by both. */
  rate: number | null;
  agreed: number;
  /** Id pairs strictly ordered by both rankings (pairs tied by either are excluded). */
  compared: number;
}

/**
 * The agreement InstructGPT reports (72.6 % between its labelers): over the pairs of ids both
 * rankings order, the fraction ordered the same way. Only ids present in both are used.
 */
export function pairwiseAgreement(a: Ranking, b: Ranking): PairwiseAgreementResult {
  const result = kendallTauB(a, b);
  const compared = result.concordant + result.discordant;
  return { rate: compared === 0 ? null : result.concordant / compared, agreed: result.concordant, compared };
}
