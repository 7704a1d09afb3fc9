// Agreement of each labeler with the others and with gold, and of the project as a whole, on
// overlapping ranking tasks. Every figure comes with the counts behind it so the dashboard
// can show "n = …" and nobody reads 100 % agreement off a single comparison.
import { copeland, rankedPairs } from "./consensus.ts";
import { kendallTauB, pairwiseAgreement } from "./kendall.ts";
import { krippendorffAlpha } from "./krippendorff.ts";
import type { AlphaResult } from "./krippendorff.ts";
import { averageRankPositions } from "./ranking.ts";
import type { Ranking } from "./ranking.ts";

export interface AgreementSubmission {
  itemId: string;
  labelerId: string;
  ranking: Ranking;
}

export interface GoldRanking {
  itemId: string;
  ranking: Ranking;
}

export interface AgreementOptions {
  /**
   * Fewest OTHER labelers an item needs before a labeler is compared with their consensus.
   * Default 2: a "consensus" of one other person is just that person's opinion, and with two
   * or more a pair the others split on is tied in the consensus and so not held against
   * anyone. Set 1 to get a figure on overlap-2 projects.
   */
  minOthers?: number;
  consensus?: "ranked_pairs" | "copeland";
}

export interface PooledRate {
  /** agreed / compared, pooled over all compared id pairs; null when compared = 0. */
  rate: number | null;
  agreed: number;
  /** Id pairs ordered by both sides. */
  compared: number;
  /**
   * Comparisons that contributed at least one compared pair: one per item for a labeler
   * (vs consensus / vs gold), one per item × labeler pair for the project.
   */
  comparisons: number;
}

export interface LabelerAgreement {
  labelerId: string;
  submissions: number;
  vsConsensus: PooledRate;
  vsGold: PooledRate;
}

export interface ProjectAgreement {
  /** Items ranked by at least two labelers. */
  overlappingItems: number;
  pairwise: PooledRate & {
    /** Mean over unordered labeler pairs of each pair's pooled rate (pairs with a defined rate). */
    meanOverLabelerPairs: number | null;
    labelerPairs: number;
  };
  kendall: {
    /** Mean τ-b over (item, labeler pair) comparisons where τ-b is defined. */
    meanTau: number | null;
    comparisons: number;
  };
  /** Ordinal α; units = (item, completion), value = the completion's average rank position. */
  alpha: AlphaResult;
}

export interface AgreementReport {
  labelers: LabelerAgreement[];
  project: ProjectAgreement;
}

/**
 * If a labeler has several submissions for one item, the last one in `submissions` counts
 * (a resubmission replaces the earlier one). Not-rankable submissions order nothing: they
 * add no compared pairs and no α values, but are counted in `submissions`.
 */
export function labelerAgreement(
  submissions: readonly AgreementSubmission[],
  gold: readonly GoldRanking[] = [],
  options: AgreementOptions = {},
): AgreementReport {
  const minOthers = options.minOthers ?? 2;
  const consensusOf = options.consensus === "copeland" ? copeland : rankedPairs;

  // itemId → labelerId → ranking, in first-appearance order for stable output.
  const byItem = new Map<string, Map<string, Ranking>>();
  const labelerIds = new Set<string>();
  for (const submission of submissions) {
    let item = byItem.get(submission.itemId);
    if (!item) {
      item = new Map();
      byItem.set(submission.itemId, item);
    }
    item.set(submission.labelerId, submission.ranking);
    labelerIds.add(submission.labelerId);
  }
  const goldByItem = new Map(gold.map((g) => [g.itemId, g.ranking] as const));

  const perLabeler = new Map<string, { submissions: number; vsConsensus: Pool; vsGold: Pool }>(
    [...labelerIds].map((id) => [id, { submissions: 0, vsConsensus: new Pool(), vsGold: new Pool() }]),
  );
  const project = new Pool();
  const perLabelerPair = new Map<string, Pool>();
  let tauSum = 0;
  let tauCount = 0;
  let overlappingItems = 0;
  const alphaUnits: number[][] = [];

  for (const [itemId, rankings] of byItem) {
    const entries = [...rankings.entries()];
    if (entries.length >= 2) overlappingItems++;
    const goldRanking = goldByItem.get(itemId);

    for (const [labelerId, ranking] of entries) {
      const stats = perLabeler.get(labelerId);
      if (!stats) continue;
      stats.submissions++;
      const others = entries.filter(([other]) => other !== labelerId).map(([, r]) => r);
      if (others.length >= minOthers) stats.vsConsensus.add(pairwiseAgreement(ranking, consensusOf(others)));
      if (goldRanking) stats.vsGold.add(pairwiseAgreement(ranking, goldRanking));
    }

    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) {
        const [idA, a] = entries[i] ?? ["", { tiers: [] }];
        const [idB, b] = entries[j] ?? ["", { tiers: [] }];
        const agreement = pairwiseAgreement(a, b);
        project.add(agreement);
        const key = pairKey(idA, idB);
        const pool = perLabelerPair.get(key) ?? new Pool();
        pool.add(agreement);
        perLabelerPair.set(key, pool);
        const { tau } = kendallTauB(a, b);
        if (tau !== null) {
          tauSum += tau;
          tauCount++;
        }
      }
    }

    // α units: one per completion of the item, one value per labeler who ranked it.
    const positions = entries.map(([, r]) => averageRankPositions(r));
    const completionIds = new Set(positions.flatMap((p) => [...p.keys()]));
    for (const id of completionIds) alphaUnits.push(positions.flatMap((p) => (p.has(id) ? [p.get(id) ?? 0] : [])));
  }

  const pairRates = [...perLabelerPair.values()].map((pool) => pool.result().rate).filter((rate): rate is number => rate !== null);
  return {
    labelers: [...labelerIds].map((labelerId) => {
      const stats = perLabeler.get(labelerId);
      return {
        labelerId,
        submissions: stats?.submissions ?? 0,
        vsConsensus: (stats?.vsConsensus ?? new Pool()).result(),
        vsGold: (stats?.vsGold ?? new Pool()).result(),
      };
    }),
    project: {
      overlappingItems,
      pairwise: {
        ...project.result(),
        meanOverLabelerPairs: pairRates.length === 0 ? null : pairRates.reduce((s, r) => s + r, 0) / pairRates.length,
        labelerPairs: pairRates.length,
      },
      kendall: { meanTau: tauCount === 0 ? null : tauSum / tauCount, comparisons: tauCount },
      alpha: krippendorffAlpha(alphaUnits, "ordinal"),
    },
  };
}

function pairKey(a: string, b: string): string {
  // JSON keeps ids containing any separator unambiguous.
  return JSON.stringify(a < b ? [a, b] : [b, a]);
}

class Pool {
  agreed = 0;
  compared = 0;
  comparisons = 0;

  add(result: { agreed: number; compared: number }): void {
    this.agreed += result.agreed;
    this.compared += result.compared;
    if (result.compared > 0) this.comparisons++;
  }

  result(): PooledRate {
    return { rate: this.compared === 0 ? null : this.agreed / this.compared, agreed: this.agreed, compared: this.compared, comparisons: this.comparisons };
  }
}
