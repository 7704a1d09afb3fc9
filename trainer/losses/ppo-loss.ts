// PPO pieces for language models (Schulman et al. 2017, arXiv 1707.06347, Eq. 7; GAE from
// Schulman et al. 2016, arXiv 1506.02438, Eq. 16), following TRL's PPOTrainer and the
// N-implementation-details blog: GAE over response tokens, whitening over valid tokens only,
// clipped surrogate policy loss, clipped value loss.
//
// Rollout quantities (rewards, values, advantages) are plain Float32Arrays laid out (B, T) row-major:
// they are computed once per rollout with no gradient. The losses are tensors.
import * as tf from "@tensorflow/tfjs-core";
import { maskedMean } from "./logprobs.ts";

/**
 * Generalised advantage estimation, backwards over each row:
 *   δ_t = r_t + γ·V_{t+1} − V_t,   A_t = δ_t + γλ·A_{t+1},   returns = A + V.
 * mask (B, T) marks the tokens the policy chose (its actions). A masked slot between two valid ones
 * (a tool result the sampler spliced in) is not a time step: it is skipped, so V_{t+1} and A_{t+1} are
 * those of the next valid token, as if the inserted tokens were part of the state the next action
 * sees. After the last valid token the episode ends: V_{t+1} = 0. Masked slots get 0.
 */
export function gae(
  rewards: Float32Array,
  values: Float32Array,
  mask: ArrayLike<number>,
  shape: [number, number],
  gamma: number,
  lambda: number,
): { advantages: Float32Array; returns: Float32Array } {
  const [B, T] = shape;
  const advantages = new Float32Array(B * T);
  const returns = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    let nextValue = 0;
    let lastGae = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      if (!mask[i]) continue; // padding after the end (nothing follows yet) or an inserted token (skipped)
      const v = values[i] ?? 0;
      const delta = (rewards[i] ?? 0) + gamma * nextValue - v;
      lastGae = delta + gamma * lambda * lastGae;
      advantages[i] = lastGae;
      returns[i] = lastGae + v;
      nextValue = v;
    }
  }
  return { advantages, returns };
}

/**
 * Whitening over valid tokens (TRL `masked_whiten`): (x − mean) / √(var + 1e-8) with the unbiased
 * (Bessel-corrected) masked variance. With shiftMean = false the mean is added back (used for rewards).
 * Masked slots are 0.
 */
export function maskedWhiten(x: Float32Array, mask: ArrayLike<number>, shiftMean = true): Float32Array {
  let n = 0, sum = 0;
  for (let i = 0; i < x.length; i++) if (mask[i]) { n += 1; sum += x[i] ?? 0; }
  const mean = n > 0 ? sum / n : 0;
  let sq = 0;
  for (let i = 0; i < x.length; i++) if (mask[i]) sq += ((x[i] ?? 0) - mean) ** 2;
  const variance = n > 1 ? sq / (n - 1) : 0;
  const scale = 1 / Math.sqrt(variance + 1e-8);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) if (mask[i]) out[i] = ((x[i] ?? 0) - mean) * scale + (shiftMean ? 0 : mean);
  return out;
}

/**
 * Clipped surrogate: mean over valid tokens of max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)), ρ = exp(logp − logp_old).
 * All inputs (B, T).
 */
export function ppoPolicyLoss(logp: tf.Tensor2D, oldLogp: tf.Tensor2D, advantages: tf.Tensor2D, mask: tf.Tensor2D, clip: number): tf.Scalar {
  return tf.tidy(() => {
    const ratio = tf.exp(tf.sub(logp, oldLogp)); // (B, T)
    const unclipped = tf.mul(tf.neg(advantages), ratio);
    const clipped = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clip, 1 + clip));
    return maskedMean(tf.maximum(unclipped, clipped), mask) as tf.Scalar;
  });
}

/**
 * Clipped value loss: 0.5 · mean over valid tokens of max((V − R)², (clip(V, V_old ± c) − R)²).
 * All inputs (B, T).
 */
export function ppoValueLoss(values: tf.Tensor2D, oldValues: tf.Tensor2D, returns: tf.Tensor2D, mask: tf.Tensor2D, clip: number): tf.Scalar {
  return tf.tidy(() => {
    const clippedValues = tf.minimum(tf.maximum(values, tf.sub(oldValues, clip)), tf.add(oldValues, clip)); // (B, T)
    const unclippedLoss = tf.square(tf.sub(values, returns));
    const clippedLoss = tf.square(tf.sub(clippedValues, returns));
    return tf.mul(0.5, maskedMean(tf.maximum(unclippedLoss, clippedLoss), mask)) as tf.Scalar;
  });
}

/** TRL's PPO statistics over valid tokens, from values already read back. */
export function ppoPolicyStats(
  logp: ArrayLike<number>,
  oldLogp: ArrayLike<number>,
  advantages: ArrayLike<number>,
  mask: ArrayLike<number>,
  clip: number,
): { "policy/approxkl": number; "policy/clipfrac": number; "val/ratio": number } {
  let n = 0, kl = 0, clipped = 0, ratio = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const d = (logp[i] ?? 0) - (oldLogp[i] ?? 0);
    const r = Math.exp(d);
    const a = advantages[i] ?? 0;
    n += 1;
    kl += 0.5 * d * d;
    ratio += r;
    // the clipped branch is the active one (TRL: pg_losses2 > pg_losses)
    if (-a * Math.min(Math.max(r, 1 - clip), 1 + clip) > -a * r) clipped += 1;
  }
  const k = Math.max(n, 1);
  return { "policy/approxkl": kl / k, "policy/clipfrac": clipped / k, "val/ratio": ratio / k };
}
