// Bradley–Terry reward-model loss (Bradley & Terry 1952; as used by Ouyang et al. 2022 §3.5, Eq. 1):
//   loss = −log σ(r_chosen − r_rejected − margin)  [+ c · mean((r_chosen + r_rejected)²)]
// The optional centering term (Eisenstein et al. 2023, arXiv 2312.09244 Eq. 2; TRL
// `center_rewards_coefficient`) pins the otherwise shift-invariant scores near zero.
// K-way rankings become all C(K,2) pairs of one prompt, weighted 1/C(K,2) so each prompt counts once
// (InstructGPT), with every completion scored by a single forward pass.
import * as tf from "@tensorflow/tfjs-core";

export interface BradleyTerryOptions {
  /** (P) per-pair margin the chosen score must exceed the rejected one by. */
  margin?: tf.Tensor1D;
  /** Per-pair weights (P); default uniform 1/P. */
  weights?: tf.Tensor1D;
  centerCoefficient?: number;
}

/** chosen (P), rejected (P) → scalar loss. */
export function bradleyTerryLoss(chosen: tf.Tensor1D, rejected: tf.Tensor1D, options: BradleyTerryOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    let diff: tf.Tensor = tf.sub(chosen, rejected); // (P)
    if (options.margin) diff = tf.sub(diff, options.margin);
    const perPair = tf.softplus(tf.neg(diff)); // −log σ(d) = softplus(−d), stable for large |d|
    let loss = options.weights ? tf.sum(tf.mul(perPair, options.weights)) : tf.mean(perPair);
    if (options.centerCoefficient) loss = tf.add(loss, tf.mul(options.centerCoefficient, tf.mean(tf.square(tf.add(chosen, rejected)))));
    return loss as tf.Scalar;
  });
}

export interface RankingPairs {
  /** Flat indices (into a (G·K) score vector) of the better completion of each pair. */
  chosen: number[];
  rejected: number[];
  /** 1/(number of pairs of its prompt) / number of prompts: each prompt weighs the same. */
  weights: number[];
}

/**
 * All ordered pairs from rankings. ranks[g][k] is the rank of completion k of prompt g (0 = best);
 * equal ranks are ties and produce no pair. Completions are laid out g·K + k.
 */
export function rankingPairs(ranks: number[][]): RankingPairs {
  const out: RankingPairs = { chosen: [], rejected: [], weights: [] };
  const groups = ranks.filter((r) => pairCount(r) > 0).length;
  let offset = 0;
  for (const r of ranks) {
    const n = pairCount(r);
    for (let i = 0; i < r.length; i++)
      for (let j = 0; j < r.length; j++) {
        const ri = r[i] ?? 0;
        const rj = r[j] ?? 0;
        if (ri < rj) {
          out.chosen.push(offset + i);
          out.rejected.push(offset + j);
          out.weights.push(1 / n / groups);
        }
      }
    offset += r.length;
  }
  return out;
}

function pairCount(r: number[]): number {
  let n = 0;
  for (const a of r) for (const b of r) if (a < b) n++;
  return n;
}

/** scores (G·K) flat, pairs from `rankingPairs` → scalar loss weighting each prompt equally. */
export function rankingLoss(scores: tf.Tensor1D, pairs: RankingPairs, centerCoefficient = 0): tf.Scalar {
  return tf.tidy(() => {
    const chosen = tf.gather(scores, tf.tensor1d(pairs.chosen, "int32")) as tf.Tensor1D; // (P)
    const rejected = tf.gather(scores, tf.tensor1d(pairs.rejected, "int32")) as tf.Tensor1D; // (P)
    return bradleyTerryLoss(chosen, rejected, { weights: tf.tensor1d(pairs.weights), centerCoefficient });
  });
}

/** TRL RewardTrainer metrics from scores already read back. */
export function rewardMetrics(chosen: ArrayLike<number>, rejected: ArrayLike<number>): Record<string, number> {
  const n = chosen.length;
  let correct = 0, margin = 0, min = Infinity, max = -Infinity, sum = 0;
  for (let i = 0; i < n; i++) {
    const c = chosen[i] ?? 0;
    const r = rejected[i] ?? 0;
    // A tie scores ½ (a coin flip), where TRL's strict `>` scores 0: with it, policy = reference
    // would log accuracy 0 instead of the 0.5 that "no preference learned yet" means.
    // See docs/decisions/trainer-002-losses-and-metrics.md.
    if (c > r) correct += 1;
    else if (c === r) correct += 0.5;
    margin += c - r;
    min = Math.min(min, c, r);
    max = Math.max(max, c, r);
    sum += c + r;
  }
  return { accuracy: correct / n, margin: margin / n, min_reward: min, mean_reward: sum / (2 * n), max_reward: max };
}
