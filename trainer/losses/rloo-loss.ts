// REINFORCE Leave-One-Out (Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style
// Optimization for Learning from Human Feedback in LLMs", arXiv 2402.14740: the RLOO estimator, with
// Kool et al. 2019's leave-one-out baseline), with TRL 1.x RLOOTrainer's choices:
//   reward      r_i = Σ_s w_s·r_{s,i} − β·Σ_t (log π_old − log π_ref)   (k1 KL penalty per answer, in the reward)
//   advantage   A_i = r_i − mean_{j≠i} r_j   (scorable siblings only; optionally whitened over the batch)
//   ratio       ρ_i = exp(Σ_t log π − Σ_t log π_old), one per answer (the whole sequence is the action)
//   loss        mean over answers of −min(ρ_i·A_i, clip(ρ_i, 1 − ε_low, 1 + ε_high)·A_i)
// Sums run over the tokens the policy sampled (tool results and padding excluded).
import * as tf from "@tensorflow/tfjs-core";
import { nanMeanStd } from "./grpo-loss.ts";

const STD_EPS = 1e-4; // TRL

/**
 * Leave-one-out advantages; rows b = g·G + k hold the G answers to prompt g. NaN rewards (unscored)
 * are left out of their siblings' baselines and get advantage 0; so does an answer without a scorable
 * sibling. With `normalize`, (A − mean) / (std + 1e-4) over the batch (TRL normalize_advantages).
 */
export function rlooAdvantages(rewards: ArrayLike<number>, groupSize: number, normalize: boolean): Float32Array {
  const B = rewards.length;
  if (B % groupSize !== 0) throw new Error(`${B} rewards do not split into groups of ${groupSize}`);
  const raw = new Float64Array(B).fill(NaN);
  for (let g = 0; g < B; g += groupSize) {
    let sum = 0, count = 0;
    for (let k = 0; k < groupSize; k++) {
      const r = rewards[g + k] ?? NaN;
      if (Number.isFinite(r)) { sum += r; count += 1; }
    }
    for (let k = 0; k < groupSize; k++) {
      const r = rewards[g + k] ?? NaN;
      if (Number.isFinite(r) && count > 1) raw[g + k] = r - (sum - r) / (count - 1);
    }
  }
  const { mean, std } = normalize ? nanMeanStd(raw) : { mean: 0, std: 1 - STD_EPS };
  return Float32Array.from(raw, (a) => {
    const x = (a - mean) / (std + STD_EPS);
    return Number.isFinite(x) ? x : 0;
  });
}

/** seqLogp, oldSeqLogp, advantages: (B) per answer. Mean clipped surrogate over answers. */
export function rlooLoss(seqLogp: tf.Tensor1D, oldSeqLogp: tf.Tensor1D, advantages: tf.Tensor1D, epsilonLow: number, epsilonHigh: number): tf.Scalar {
  return tf.tidy(() => {
    const ratio = tf.exp(tf.sub(seqLogp, oldSeqLogp)); // (B)
    const clipped = tf.clipByValue(ratio, 1 - epsilonLow, 1 + epsilonHigh);
    return tf.mean(tf.neg(tf.minimum(tf.mul(ratio, advantages), tf.mul(clipped, advantages)))) as tf.Scalar;
  });
}

/** TRL's RLOO clip metrics, one ratio per answer: shares of answers low-/high-/either-clipped. */
export function rlooClipStats(seqLogp: ArrayLike<number>, oldSeqLogp: ArrayLike<number>, advantages: ArrayLike<number>, epsilonLow: number, epsilonHigh: number): Record<string, number> {
  const B = advantages.length;
  let low = 0, high = 0;
  for (let b = 0; b < B; b++) {
    const r = Math.exp((seqLogp[b] ?? 0) - (oldSeqLogp[b] ?? 0));
    const a = advantages[b] ?? 0;
    if (r < 1 - epsilonLow && a < 0) low += 1;
    if (r > 1 + epsilonHigh && a > 0) high += 1;
  }
  const k = Math.max(B, 1);
  return {
    "clip_ratio/low_mean": low / k,
    "clip_ratio/low_min": low > 0 && low === B ? 1 : 0,
    "clip_ratio/high_mean": high / k,
    "clip_ratio/high_max": high > 0 ? 1 : 0,
    "clip_ratio/region_mean": (low + high) / k,
  };
}
