// Step 2 of GRPO and RLOO, which share it word for word: once per rollout, the log-probs of its tokens under the
// policy that sampled them (with their entropy) and under the reference, with no gradient. It reads the device
// awaited, so it runs on webgpu as well (trainer-035).
import * as tf from "@tensorflow/tfjs-core";
import { type CompletionBatch } from "../data/collate.ts";
import { type LanguageModel } from "../model/lm.ts";
import { readAndDispose } from "../backend/tensor-reads.ts";
import { policyLogps, type ReferencePolicy } from "./kl-guard.ts";
import { byRowChunks } from "./rollout.ts";

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
