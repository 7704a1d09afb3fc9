/**
 * A registered reward model as the project's judge (decision 0053, issue 16 item 1). It is not
 * asked anything: the inference worker scores each of the task's K completions on its own (the
 * same path as POST /models/:id/score and the uncertainty queue's cache), and its ranking is the
 * completions sorted by score. Pure, so the tie rule is unit-tested without a model.
 *
 * Ties: two scores closer than REWARD_TIE_EPSILON are equal. The worker computes in float32, and
 * the same text scored in another batch position can differ in the last digits; 1e-4 is the
 * tolerance the scoring test allows between the worker and the trainer's own forward pass, so
 * anything below it is rounding, not preference. A tier holds the scores within ε of the tier's
 * best (not a chain of ε-steps, so a tier never spans more than ε).
 *
 * Position bias does not apply: nothing is read in an order, so the detail has no answers and the
 * audit reports the judge's position bias as not applicable.
 */
import type { Ranking } from "../quality/ranking.ts";

export const REWARD_TIE_EPSILON = 1e-4;

/** What a reward-model verdict keeps beside its ranking (judge_suggestions.detail, the export). */
export type RewardJudgeDetail = {
  mode: "reward-model";
  /** One score per completion, in the task's completion_ids order. */
  scores: number[];
  tieEpsilon: number;
  /** Kept empty so readers of chat-judge details (position bias, export) need no special case. */
  answers: [];
  consistency: { agreed: 0; compared: 0 };
};

/** Best first; scores within `epsilon` of a tier's best share that tier. */
export function rankByScores(completionIds: readonly string[], scores: readonly number[], epsilon = REWARD_TIE_EPSILON): Ranking {
  if (completionIds.length !== scores.length) throw new Error(`${scores.length} scores for ${completionIds.length} completions`);
  if (!scores.every(Number.isFinite)) throw new Error("a score is not a finite number");
  const order = completionIds.map((id, i) => ({ id, score: scores[i]! })).sort((a, b) => b.score - a.score);
  const tiers: string[][] = [];
  let top = Number.POSITIVE_INFINITY;
  for (const c of order) {
    if (tiers.length > 0 && top - c.score <= epsilon) tiers.at(-1)!.push(c.id);
    else {
      tiers.push([c.id]);
      top = c.score;
    }
  }
  return { tiers };
}

export function rewardJudgeDetail(scores: number[]): RewardJudgeDetail {
  return { mode: "reward-model", scores, tieEpsilon: REWARD_TIE_EPSILON, answers: [], consistency: { agreed: 0, compared: 0 } };
}
