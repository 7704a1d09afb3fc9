// Kahneman–Tversky Optimization (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic
// Optimization", arXiv 2402.01306, Eq. 7), as TRL 1.x's KTOTrainer computes it (loss_type "kto"):
//   r(x, y)   = log π(y|x) − log π_ref(y|x)                     (sequence log-prob ratio)
//   z₀        = max(0, mean over the batch of r(x_i, y_{i−1}))   (mismatched pairs: each answer under
//               another prompt; detached, no gradient — the reference point)
//   desirable   λ_D · (1 − σ(β·(r − z₀)))
//   undesirable λ_U · (1 − σ(β·(z₀ − r)))
//   loss      = mean over the batch of the weighted terms
import * as tf from "@tensorflow/tfjs-core";

/**
 * The KL reference point z₀ from mismatched pairs (values read back, no gradient):
 * max(0, mean(log π(y'|x) − log π_ref(y'|x))).
 */
export function ktoReferencePoint(mismatchedPolicyLogps: ArrayLike<number>, mismatchedRefLogps: ArrayLike<number>): number {
  const n = mismatchedPolicyLogps.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (mismatchedPolicyLogps[i] ?? 0) - (mismatchedRefLogps[i] ?? 0);
  return Math.max(0, sum / n);
}

/**
 * The answer each row is paired with for z₀: TRL rotates the batch's answers by one,
 * (x₁, y_n), (x₂, y₁), …, (x_n, y_{n−1}), so the mismatched answers are the batch's own.
 */
export function mismatchedIndex(row: number, batchSize: number): number {
  return (row - 1 + batchSize) % batchSize;
}

export interface KtoOptions {
  beta: number;
  desirableWeight: number;
  undesirableWeight: number;
}

/**
 * policyLogps, refLogps (B) summed answer log-probs; desirable (B) 1 / 0 labels; z0 the reference
 * point (a number: it carries no gradient). Mean weighted KTO loss over the batch.
 */
export function ktoLoss(policyLogps: tf.Tensor1D, refLogps: tf.Tensor1D, desirable: tf.Tensor1D, z0: number, o: KtoOptions): tf.Scalar {
  return tf.tidy(() => {
    const ratio = tf.sub(policyLogps, refLogps); // (B)
    const d = tf.cast(desirable, "float32"); // (B)
    const chosen = tf.mul(o.desirableWeight, tf.sub(1, tf.sigmoid(tf.mul(o.beta, tf.sub(ratio, z0))))); // (B)
    const rejected = tf.mul(o.undesirableWeight, tf.sub(1, tf.sigmoid(tf.mul(o.beta, tf.sub(z0, ratio))))); // (B)
    return tf.mean(tf.add(tf.mul(d, chosen), tf.mul(tf.sub(1, d), rejected))) as tf.Scalar;
  });
}

/**
 * TRL's KTO metrics from values read back: `kl` (z₀), implicit rewards β·r and log-probs averaged
 * over desirable (`chosen`) and undesirable (`rejected`) answers; a side absent from the batch is
 * left out (TRL logs nothing for it), and the margin only when both are present.
 */
export function ktoMetrics(
  v: { policyLogps: ArrayLike<number>; refLogps: ArrayLike<number>; desirable: ArrayLike<number>; z0: number },
  beta: number,
): Record<string, number> {
  let nc = 0, nr = 0, rc = 0, rr = 0, lc = 0, lr = 0;
  for (let i = 0; i < v.desirable.length; i++) {
    const logp = v.policyLogps[i] ?? 0;
    const reward = beta * (logp - (v.refLogps[i] ?? 0));
    if (v.desirable[i]) { nc += 1; rc += reward; lc += logp; } else { nr += 1; rr += reward; lr += logp; }
  }
  const out: Record<string, number> = { kl: v.z0 };
  if (nc > 0) Object.assign(out, { "rewards/chosen": rc / nc, "logps/chosen": lc / nc });
  if (nr > 0) Object.assign(out, { "rewards/rejected": rr / nr, "logps/rejected": lr / nr });
  if (nc > 0 && nr > 0) out["rewards/margins"] = rc / nc - rr / nr;
  return out;
}
