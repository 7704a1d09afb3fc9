// Turns one labeler's tiered ranking into chosen/rejected pairs for the reward model and DPO.
import type { PreferencePair, Ranking } from "./ranking.ts";
import type { PAIR_MODES } from "../../../trainer/contract/round.ts";

export type PairMode = (typeof PAIR_MODES)[number];

/** How the launch form and the round page name each mode. */
export const PAIR_MODE_LABELS: Record<PairMode, string> = {
  all: "every pair across tiers",
  adjacent: "adjacent tiers only",
  best_vs_rest: "the best tier against every other tier",
};

export interface BuildPairsOptions {
  /** all: every pair across different tiers; adjacent: tier i vs tier i+1 only; best_vs_rest: top tier vs every other tier. Default "all". */
  mode?: PairMode;
  /**
   * "tier" (default): margin = tier distance. "strength": margin = sum of the labeler's
   * strengths between the two tiers; a ranking without strengths falls back to tier
   * distance, because strength is optional in the UI and a missing answer is not a zero.
   */
  marginFrom?: "tier" | "strength";
  /** Default true: the pairs of one item share a total weight of 1. false: weight 1 each. */
  normalize?: boolean;
  /** Drop pairs whose margin is below this (e.g. 2 keeps only clear preferences, as HH did). */
  minMargin?: number;
}

/**
 * Pairs implied by `ranking`. Ties yield no pair; a not-rankable ranking yields none.
 *
 * Weighting: InstructGPT (Ouyang et al. 2022, §3.5) trains on all C(K,2) comparisons of a
 * prompt as ONE batch element, because treating them as independent samples makes each
 * prompt count C(K,2) times and the reward model overfits. Giving each pair weight
 * 1/(number of pairs of the item) reproduces that in a flat pair export: every ranked item
 * contributes total weight 1 whatever K and however many ties it had. That is for trainers that
 * read the weight; Tandem's own reward model and DPO train on each pair as one example, as TRL
 * does. Grouping each ranking's pairs back into one example was measured and did not help
 * (docs/benchmarks.md, twentieth run).
 */
export function buildPairs(ranking: Ranking, options: BuildPairsOptions = {}): PreferencePair[] {
  if (ranking.notRankable === true) return [];
  const mode = options.mode ?? "all";
  const useStrength = options.marginFrom === "strength" && ranking.strengths !== undefined;
  const tiers = ranking.tiers;
  const raw: { chosen: string; rejected: string; margin: number }[] = [];

  for (let i = 0; i < tiers.length; i++) {
    for (let j = i + 1; j < tiers.length; j++) {
      if (mode === "adjacent" && j !== i + 1) continue;
      if (mode === "best_vs_rest" && i !== 0) continue;
      const margin = useStrength ? sumStrengths(ranking.strengths ?? [], i, j) : j - i;
      if (options.minMargin !== undefined && margin < options.minMargin) continue;
      for (const chosen of tiers[i] ?? []) {
        for (const rejected of tiers[j] ?? []) raw.push({ chosen, rejected, margin });
      }
    }
  }

  const weight = options.normalize === false ? 1 : 1 / raw.length;
  return raw.map((pair) => ({ ...pair, weight }));
}

// Strength between tier i and tier j (i < j) is the sum of the adjacent steps i→i+1 … j−1→j.
function sumStrengths(strengths: readonly number[], i: number, j: number): number {
  let sum = 0;
  for (let step = i; step < j; step++) sum += strengths[step] ?? 0;
  return sum;
}

/**
 * Closed-form number of pairs `buildPairs` yields for tiers of the given sizes (no minMargin):
 * all = Σ_{i<j} |T_i||T_j| = ((Σ|T_i|)² − Σ|T_i|²) / 2, which is K(K−1)/2 when all K tiers are
 * singletons; adjacent = Σ_i |T_i||T_{i+1}|; best_vs_rest = |T_0|·(K − |T_0|).
 */
export function expectedPairCount(tierSizes: readonly number[], mode: PairMode = "all"): number {
  const k = tierSizes.reduce((sum, size) => sum + size, 0);
  if (mode === "all") {
    const squares = tierSizes.reduce((sum, size) => sum + size * size, 0);
    return (k * k - squares) / 2;
  }
  if (mode === "adjacent") {
    let sum = 0;
    for (let i = 0; i + 1 < tierSizes.length; i++) sum += (tierSizes[i] ?? 0) * (tierSizes[i + 1] ?? 0);
    return sum;
  }
  const top = tierSizes[0] ?? 0;
  return top * (k - top);
}
