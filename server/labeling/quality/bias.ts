// Per-labeler position and length bias: does this labeler put the first-shown, or the longest,
// completion in the top tier more often than chance would? OpenAssistant's guidelines say
// "don't rank by length" but nothing measured it; the shown order is stored for this.
import type { Ranking } from "./ranking.ts";

export interface BiasSubmission {
  /** Ids in the (randomised) order the labeler saw them. */
  shownOrder: readonly string[];
  ranking: Ranking;
  /** Length of each completion (characters or tokens, as long as it is consistent). */
  lengths: Readonly<Record<string, number>>;
}

export interface BiasRate {
  /** Submissions that entered this statistic. */
  submissions: number;
  /** How many of them had the probe completion (first-shown / longest) in the top tier. */
  hits: number;
  /** hits / submissions; null when no submission entered. */
  rate: number | null;
  /**
   * Rate expected with no bias: the mean over submissions of |top tier| / K (a completion
   * picked blindly lands in the top tier with that probability). Ties make it exceed 1/K.
   */
  expectedRate: number | null;
  /**
   * (hits − Σp) / √Σp(1−p), the normal approximation of the Poisson-binomial count under no
   * bias; above ~2 the rate is "clearly above" chance. null when the variance is 0.
   */
  z: number | null;
  /** Submissions left out, with why. */
  skipped: { notRankable: number; ambiguous: number };
}

export interface LabelerBias {
  position: BiasRate;
  length: BiasRate;
}

/**
 * Not-rankable submissions have no top tier and are skipped. For length, a submission whose
 * longest length is shared by several completions (or has a missing length) is skipped as
 * ambiguous: there is no single "longest" to probe.
 */
export function labelerBias(submissions: readonly BiasSubmission[]): LabelerBias {
  const position = new Accumulator();
  const length = new Accumulator();
  for (const submission of submissions) {
    const { ranking } = submission;
    const top = ranking.tiers[0];
    const k = ranking.tiers.reduce((sum, tier) => sum + tier.length, 0);
    if (ranking.notRankable === true || top === undefined || k === 0) {
      position.skipped.notRankable++;
      length.skipped.notRankable++;
      continue;
    }
    const p = top.length / k;
    const first = submission.shownOrder[0];
    if (first === undefined) position.skipped.ambiguous++;
    else position.add(top.includes(first), p);

    const longest = uniqueLongest(ranking, submission.lengths);
    if (longest === null) length.skipped.ambiguous++;
    else length.add(top.includes(longest), p);
  }
  return { position: position.result(), length: length.result() };
}

function uniqueLongest(ranking: Ranking, lengths: Readonly<Record<string, number>>): string | null {
  let best: string | null = null;
  let bestLength = -Infinity;
  let shared = false;
  for (const id of ranking.tiers.flat()) {
    const value = lengths[id];
    if (value === undefined || !Number.isFinite(value)) return null;
    if (value > bestLength) {
      best = id;
      bestLength = value;
      shared = false;
    } else if (value === bestLength) {
      shared = true;
    }
  }
  return shared ? null : best;
}

class Accumulator {
  submissions = 0;
  hits = 0;
  sumP = 0;
  sumVariance = 0;
  skipped = { notRankable: 0, ambiguous: 0 };

  add(hit: boolean, p: number): void {
    this.submissions++;
    if (hit) this.hits++;
    this.sumP += p;
    this.sumVariance += p * (1 - p);
  }

  result(): BiasRate {
    const n = this.submissions;
    return {
      submissions: n,
      hits: this.hits,
      rate: n === 0 ? null : this.hits / n,
      expectedRate: n === 0 ? null : this.sumP / n,
      z: this.sumVariance === 0 ? null : (this.hits - this.sumP) / Math.sqrt(this.sumVariance),
      skipped: { ...this.skipped },
    };
  }
}
