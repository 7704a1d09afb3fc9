// Supervised fine-tuning loss: mean negative log-likelihood of the target tokens only
// (assistant tokens and their end-of-turn token; Ouyang et al. 2022 §3.5 SFT; TRL
// `assistant_only_loss`). Prompt, system/user turns and padding contribute nothing.
import * as tf from "@tensorflow/tfjs-core";
import { maskedMean, nextTokenLogProbs } from "./logprobs.ts";

/**
 * logits (B, T, V), inputIds (B, T), lossMask (B, T) with 1 on tokens that are targets.
 * Returns the scalar mean NLL over target tokens.
 */
export function sftLoss(logits: tf.Tensor3D, inputIds: tf.Tensor2D, lossMask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [B, T] = inputIds.shape;
    const logp = nextTokenLogProbs(logits, inputIds, lossMask); // (B, T−1)
    const targets = tf.slice(lossMask, [0, 1], [B, T - 1]); // (B, T−1)
    return tf.neg(maskedMean(logp, targets)) as tf.Scalar;
  });
}
