// What GRPO and RLOO compute from a rollout's tokens: the policy's next-token log-probs at the sampling
// temperature (with each position's entropy when asked), and, once per rollout, the log-probs under the
// policy that sampled and under the reference, with no gradient. Both trainers share this word for word.
// The rollout's pass reads the device awaited, so it runs on webgpu as well (trainer-035).
import * as tf from "@tensorflow/tfjs-core";
import { type CompletionBatch } from "../data/collate.ts";
import { nextTokenLogProbs } from "../losses/logprobs.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { readAndDispose } from "../backend/tensor-reads.ts";
import { type ReferencePolicy } from "./kl-guard.ts";
import { byRowChunks } from "./rollout.ts";

/** Next-token log-probs (B, T−1) at temperature T, and each position's entropy when asked. Inside tf.tidy / variableGrads. */
export function policyLogps(model: LanguageModel, batch: CompletionBatch, temperature: number, withEntropy = false): { logp: tf.Tensor2D; entropy: tf.Tensor2D | null } {
  const [B, T] = batch.shape;
  const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const attentionMask = tf.tensor2d(batch.attentionMask, [B, T], "int32");
  const logits = lmForward(model, ids, { attentionMask }).logits as tf.Tensor3D; // (B, T, V)
  const logp = nextTokenLogProbs(logits, ids, undefined, temperature); // (B, T−1)
  if (!withEntropy) return { logp, entropy: null };
  const V = logits.shape[2];
  const lsm = tf.logSoftmax(tf.div(tf.slice(logits, [0, 0, 0], [B, T - 1, V]), temperature), -1); // (B, T−1, V)
  return { logp, entropy: tf.neg(tf.sum(tf.mul(tf.exp(lsm), lsm), -1)) as tf.Tensor2D }; // (B, T−1)
}

/**
 * The rollout's old log-probs, their entropy and the reference's log-probs, each (B, T−1) row-major, `chunkRows`
 * rows at a time (byRowChunks: dynamic sampling can make a rollout several planned batches long).
 */
export async function rolloutLogps(
  policy: LanguageModel, reference: ReferencePolicy, batch: CompletionBatch, chunkRows: number, temperature: number,
): Promise<{ oldLogp: Float32Array; entropy: Float32Array; refLogp: Float32Array }> {
  const [oldLogp = new Float32Array(0), entropy = new Float32Array(0), refLogp = new Float32Array(0)] = await byRowChunks(batch, chunkRows, async (part) => {
    const [logp, ent] = tf.tidy(() => {
      const cur = policyLogps(policy, part, temperature, true);
      return [cur.logp, cur.entropy as tf.Tensor2D];
    });
    return [await readAndDispose(logp), await readAndDispose(ent), await reference.nextTokenLogpsAsync(part, temperature)];
  });
  return { oldLogp, entropy, refLogp };
}
