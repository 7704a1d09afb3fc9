// Direct Preference Optimization losses (Rafailov et al. 2023, arXiv 2305.18290, Eq. 7), with the
// variants TRL's `dpo_trainer.py` offers under the same names:
//   Δ = (log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))
//   sigmoid: −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ)     (ε = label smoothing: conservative / robust DPO)
//   hinge:   max(0, 1 − βΔ)                     (SLiC, Zhao et al. 2023)
//   ipo:     (Δ − 1/(2β))²                      (Azar et al. 2023; log-probs averaged per token, as TRL)
// Sequence log-probs are sums over completion tokens; the reference ones are precomputed once.
// RPO (Pang et al. 2024, "Iterative Reasoning Preference Optimization", arXiv 2404.19733; TRL
// `rpo_alpha`) adds α·NLL of the chosen completions, per token over the batch, as TRL does:
//   loss = mean_b ℓ_b + α · (−Σ_b log π(c_b)) / Σ_b |c_b|
// Why: when chosen and rejected answers differ in a few tokens (a digit copied wrong), plain DPO can
// push both down ("likelihood displacement", Razin et al. 2024) and lose the right answer with the wrong.
// DPOP (Pal et al. 2024, "Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive",
// arXiv 2402.13228, Eq. 3) targets the same failure differently: λ times how far the chosen answer's
// log-ratio fell below the reference's is taken off Δ, inside the loss:
//   Δ' = Δ − λ·max(0, log π_ref(c) − log π(c))
// so lowering the chosen answer costs as much as raising the rejected one gains once λ ≥ 1, and nothing
// is added while the chosen answer stays at or above the reference (unlike RPO's NLL, which keeps
// pulling the chosen answer up — wrong-but-better-styled ones included). The paper uses λ = 50; the trainer
// defaults to 1 (contract/dpo-config.ts, decision trainer-027).
import * as tf from "@tensorflow/tfjs-core";

export const DPO_LOSS_TYPES = ["sigmoid", "hinge", "ipo"] as const;
export type DpoLossType = (typeof DPO_LOSS_TYPES)[number];

export interface DpoLogps {
  /** (B) summed completion log-probs under the policy / the frozen reference. */
  policyChosen: tf.Tensor1D;
  policyRejected: tf.Tensor1D;
  refChosen: tf.Tensor1D;
  refRejected: tf.Tensor1D;
}

export interface DpoOptions {
  beta: number;
  lossType?: DpoLossType;
  labelSmoothing?: number;
  /** RPO's weight on the chosen completions' per-token NLL; 0 (default) = plain DPO. Needs chosenLengths. */
  rpoAlpha?: number;
  /** DPOP's λ: the penalty on a chosen answer whose log-ratio fell below 0; 0 (default) = plain DPO. */
  dpopLambda?: number;
  /** (B) completion token counts; IPO divides every log-prob by its length, RPO's NLL by their sum. */
  chosenLengths?: tf.Tensor1D;
  rejectedLengths?: tf.Tensor1D;
}

const logSigmoid = (x: tf.Tensor): tf.Tensor => tf.neg(tf.softplus(tf.neg(x))); // stable log σ(x)

/** Mean DPO loss over the batch. */
export function dpoLoss(l: DpoLogps, o: DpoOptions): tf.Scalar {
  return tf.tidy(() => {
    const type = o.lossType ?? "sigmoid";
    const perToken = (x: tf.Tensor1D, n?: tf.Tensor1D): tf.Tensor => (type === "ipo" && n ? tf.div(x, n) : x);
    const chosenRatio = tf.sub(perToken(l.policyChosen, o.chosenLengths), perToken(l.refChosen, o.chosenLengths)); // (B)
    const rejectedRatio = tf.sub(perToken(l.policyRejected, o.rejectedLengths), perToken(l.refRejected, o.rejectedLengths)); // (B)
    let delta = tf.sub(chosenRatio, rejectedRatio); // (B)
    const lambda = o.dpopLambda ?? 0;
    if (lambda > 0) delta = tf.sub(delta, tf.mul(lambda, tf.relu(tf.neg(chosenRatio)))); // DPOP
    let losses: tf.Tensor;
    if (type === "sigmoid") {
      const eps = o.labelSmoothing ?? 0;
      const z = tf.mul(delta, o.beta);
      losses = tf.sub(tf.mul(tf.neg(logSigmoid(z)), 1 - eps), tf.mul(logSigmoid(tf.neg(z)), eps));
    } else if (type === "hinge") losses = tf.relu(tf.sub(1, tf.mul(delta, o.beta)));
    else losses = tf.square(tf.sub(delta, 1 / (2 * o.beta)));
    const alpha = o.rpoAlpha ?? 0;
    if (alpha === 0) return tf.mean(losses) as tf.Scalar;
    if (!o.chosenLengths) throw new Error("rpoAlpha needs chosenLengths (the NLL is per token)");
    return tf.add(tf.mean(losses), tf.mul(alpha, rpoNll(l.policyChosen, o.chosenLengths))) as tf.Scalar;
  });
}

/** RPO's term: the chosen completions' NLL per token over the batch, −Σ log π(c) / Σ |c| (TRL's `nll_loss`). */
export function rpoNll(policyChosen: tf.Tensor1D, chosenLengths: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.div(tf.neg(tf.sum(policyChosen)), tf.maximum(tf.sum(chosenLengths), 1)) as tf.Scalar);
}

/** TRL's DPO metrics from log-probs already read back (implicit rewards β·log π/π_ref). */
export function dpoMetrics(
  logps: { policyChosen: ArrayLike<number>; policyRejected: ArrayLike<number>; refChosen: ArrayLike<number>; refRejected: ArrayLike<number> },
  beta: number,
): Record<string, number> {
  const n = logps.policyChosen.length;
  let rc = 0, rr = 0, acc = 0, lc = 0, lr = 0;
  for (let i = 0; i < n; i++) {
    const chosenReward = beta * ((logps.policyChosen[i] ?? 0) - (logps.refChosen[i] ?? 0));
    const rejectedReward = beta * ((logps.policyRejected[i] ?? 0) - (logps.refRejected[i] ?? 0));
    rc += chosenReward;
    rr += rejectedReward;
    if (chosenReward > rejectedReward) acc += 1;
    else if (chosenReward === rejectedReward) acc += 0.5; // tie = coin flip (see rewardMetrics)
    lc += logps.policyChosen[i] ?? 0;
    lr += logps.policyRejected[i] ?? 0;
  }
  return {
    "rewards/chosen": rc / n,
    "rewards/rejected": rr / n,
    "rewards/accuracies": acc / n,
    "rewards/margins": (rc - rr) / n,
    "logps/chosen": lc / n,
    "logps/rejected": lr / n,
  };
}
