// Group Relative Policy Optimization (Shao et al. 2024, "DeepSeekMath: Pushing the Limits of
// Mathematical Reasoning in Open Language Models", arXiv 2402.03300, §4.1: Eq. 3 and the outcome
// supervision advantages of §4.1.2), with TRL 1.x GRPOTrainer's choices (`_compute_loss`,
// `_generate_and_score_completions`):
//   advantages  A_i = (r_i − mean(r_group)) / (std(r_group) + 1e-4), std Bessel-corrected (TRL nanstd);
//               scale_rewards "batch" uses the batch's std, "none" does not divide (Dr. GRPO)
//   ratio       ρ_t = exp(log π(y_t) − log π_old(y_t)), per token
//   per token   L_t = −min(ρ_t·A, clip(ρ_t, 1 − ε_low, 1 + ε_high)·A) + β·k3_t
//   k3          exp(log π_ref − log π) − (log π_ref − log π) − 1  (Schulman 2020, "Approximating KL
//               divergence"; the paper's Eq. 4 estimator, ≥ 0, unbiased for KL(π‖π_ref) under π)
//   aggregate   "dapo" (TRL default): Σ_t L_t·m_t / Σ m_t over the optimizer step's tokens;
//               "grpo": mean over answers of Σ_t L_t·m_t / Σ_t m_t (the paper's 1/|o_i|);
//               "dr_grpo": Σ L·m / (answers · max completion length)
// m_t marks the tokens the policy sampled: padding, the prompt and inserted tool results are 0.
// Rollout quantities (rewards, advantages) are plain arrays; the loss is a tensor.
import * as tf from "@tensorflow/tfjs-core";

/** TRL's nanmean / nanstd over the finite entries: std is Bessel-corrected and NaN with fewer than 2. */
export function nanMeanStd(xs: ArrayLike<number>): { mean: number; std: number; count: number } {
  let count = 0, sum = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] ?? NaN;
    if (Number.isFinite(x)) { count += 1; sum += x; }
  }
  const mean = count > 0 ? sum / count : NaN;
  let sq = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] ?? NaN;
    if (Number.isFinite(x)) sq += (x - mean) ** 2;
  }
  return { mean, std: count > 1 ? Math.sqrt(sq / (count - 1)) : NaN, count };
}

export type ScaleRewards = "group" | "batch" | "none";
const STD_EPS = 1e-4; // TRL

/**
 * Group-relative advantages. Rows b = g·G + k hold the G answers to prompt g. A NaN reward (an answer
 * no source could score) is left out of the statistics and gets advantage 0 (TRL). `zeroStd` marks,
 * per row, a group (or, with "batch", a batch) whose rewards are all equal: no learning signal.
 */
export function grpoAdvantages(rewards: ArrayLike<number>, groupSize: number, scale: ScaleRewards): { advantages: Float32Array; zeroStd: boolean[] } {
  const B = rewards.length;
  if (B % groupSize !== 0) throw new Error(`${B} rewards do not split into groups of ${groupSize}`);
  const advantages = new Float32Array(B);
  const zeroStd: boolean[] = new Array<boolean>(B).fill(false);
  const batch = nanMeanStd(rewards);
  for (let g = 0; g < B; g += groupSize) {
    const group = Array.from({ length: groupSize }, (_, k) => rewards[g + k] ?? NaN);
    const { mean, std: groupStd } = nanMeanStd(group);
    const std = scale === "batch" ? batch.std : groupStd;
    for (let k = 0; k < groupSize; k++) {
      const a = scale === "none" ? (group[k] ?? NaN) - mean : ((group[k] ?? NaN) - mean) / (std + STD_EPS);
      advantages[g + k] = Number.isFinite(a) ? a : 0;
      zeroStd[g + k] = Math.abs(std) < 1e-8; // NaN std (one scorable answer) is not "zero" (TRL isclose)
    }
  }
  return { advantages, zeroStd };
}

/** k3 estimate of KL(π‖π_ref) per token: exp(ref − logp) − (ref − logp) − 1. Tensors of one shape. */
export function k3Kl(logp: tf.Tensor, refLogp: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = tf.sub(refLogp, logp);
    return tf.sub(tf.sub(tf.exp(d), d), 1);
  });
}

export type GrpoLossType = "dapo" | "grpo" | "dr_grpo";

export interface GrpoLossOptions {
  epsilonLow: number;
  epsilonHigh: number;
  /** β of the k3 term; 0 leaves the reference out. */
  beta: number;
  lossType: GrpoLossType;
  /** dr_grpo's constant. */
  maxCompletionLength: number;
}

/**
 * logp, oldLogp, refLogp (B, W) next-token log-probs; advantages (B); mask (B, W) 1 on policy tokens.
 * refLogp may be null when β = 0.
 */
export function grpoLoss(
  logp: tf.Tensor2D, oldLogp: tf.Tensor2D, refLogp: tf.Tensor2D | null, advantages: tf.Tensor1D, mask: tf.Tensor2D, o: GrpoLossOptions,
): tf.Scalar {
  return tf.tidy(() => {
    const [B] = logp.shape;
    const m = tf.cast(mask, "float32"); // (B, W)
    const a = tf.expandDims(advantages, 1); // (B, 1)
    const ratio = tf.exp(tf.sub(logp, oldLogp)); // (B, W)
    const clipped = tf.clipByValue(ratio, 1 - o.epsilonLow, 1 + o.epsilonHigh);
    let perToken: tf.Tensor = tf.neg(tf.minimum(tf.mul(ratio, a), tf.mul(clipped, a))); // (B, W)
    if (o.beta !== 0) {
      if (!refLogp) throw new Error("grpoLoss: β > 0 needs the reference log-probs");
      perToken = tf.add(perToken, tf.mul(o.beta, k3Kl(logp, refLogp)));
    }
    const masked = tf.mul(perToken, m); // (B, W)
    if (o.lossType === "dapo") return tf.div(tf.sum(masked), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
    if (o.lossType === "grpo") return tf.mean(tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(m, 1), 1))) as tf.Scalar;
    return tf.div(tf.sum(masked), B * o.maxCompletionLength) as tf.Scalar;
  });
}

/**
 * TRL's clip metrics from values read back: a token is low-clipped when ρ < 1 − ε_low with A < 0,
 * high-clipped when ρ > 1 + ε_high with A > 0. Means over policy tokens; min/max over answers of
 * each answer's share.
 */
export function clipStats(
  logp: ArrayLike<number>, oldLogp: ArrayLike<number>, advantages: ArrayLike<number>, mask: ArrayLike<number>, width: number, epsilonLow: number, epsilonHigh: number,
): Record<"clip_ratio/low_mean" | "clip_ratio/high_mean" | "clip_ratio/region_mean" | "clip_ratio/low_min" | "clip_ratio/high_max", number> {
  const B = advantages.length;
  let n = 0, low = 0, high = 0, lowMin = Infinity, highMax = -Infinity;
  for (let b = 0; b < B; b++) {
    const a = advantages[b] ?? 0;
    let rowN = 0, rowLow = 0, rowHigh = 0;
    for (let t = 0; t < width; t++) {
      const i = b * width + t;
      if (!mask[i]) continue;
      const r = Math.exp((logp[i] ?? 0) - (oldLogp[i] ?? 0));
      rowN += 1;
      if (r < 1 - epsilonLow && a < 0) rowLow += 1;
      if (r > 1 + epsilonHigh && a > 0) rowHigh += 1;
    }
    if (rowN === 0) continue;
    n += rowN; low += rowLow; high += rowHigh;
    lowMin = Math.min(lowMin, rowLow / rowN);
    highMax = Math.max(highMax, rowHigh / rowN);
  }
  const k = Math.max(n, 1);
  return {
    "clip_ratio/low_mean": low / k,
    "clip_ratio/high_mean": high / k,
    "clip_ratio/region_mean": (low + high) / k,
    "clip_ratio/low_min": n > 0 ? lowMin : 0,
    "clip_ratio/high_max": n > 0 ? highMax : 0,
  };
}
