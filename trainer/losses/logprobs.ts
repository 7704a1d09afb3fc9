// Token log-probabilities and masked reductions shared by every trainer.
//
// log p(label) is read from tf.logSoftmax (not log(softmax)) in float32. The gather runs on the
// flattened (B·T·V) tensor with one index per token, so its gradient is a single UnsortedSegmentSum
// instead of a one-hot (B, T, V) product. On the wasm backend the whole thing is one fused loop per
// row with a hand-written gradient (fused-logprobs.ts); the ops below are the reference and the path
// on other backends.
import * as tf from "@tensorflow/tfjs-core";
import { fusedBackend } from "../backend/wasm-heap.ts";
import { fusedTokenLogProbs } from "./fused-logprobs.ts";

/** Label value that marks "no target here" (PyTorch / TRL convention). */
export const IGNORE_INDEX = -100;

/**
 * logits (B, T, V), labels (B, T) int32 → log p(labels) (B, T); 0 where the label is IGNORE_INDEX.
 * `temperature` divides the logits first: PPO must recompute log-probs at the sampling temperature.
 */
export function tokenLogProbs(logits: tf.Tensor3D, labels: tf.Tensor2D, temperature = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T, V] = logits.shape;
    const backend = fusedBackend("logprobs");
    if (backend && logits.dtype === "float32") {
      const ids = Int32Array.from(labels.dataSync()); // (B·T), small: one number per token
      const bad = ids.find((y) => y >= V || (y < 0 && y !== IGNORE_INDEX));
      if (bad !== undefined) throw new Error(`label ${bad} is outside the vocabulary of ${V} (and not IGNORE_INDEX)`);
      return tf.reshape(fusedTokenLogProbs(backend, tf.reshape(logits, [B * T, V]) as tf.Tensor2D, ids, temperature), [B, T]) as tf.Tensor2D;
    }
    const scaled = temperature === 1 ? logits : tf.div(logits, temperature);
    const logp = tf.reshape(tf.logSoftmax(scaled, -1), [B * T * V]); // (B·T·V)
    const valid = tf.notEqual(labels, IGNORE_INDEX); // (B, T)
    const safe = tf.reshape(tf.where(valid, labels, tf.zerosLike(labels)), [B * T]); // (B·T)
    const rowStart = tf.mul(tf.range(0, B * T, 1, "int32"), tf.scalar(V, "int32")); // int32 scalar: a JS number would upcast to float32
    const flatIndex = tf.add(rowStart, tf.cast(safe, "int32")); // (B·T)
    const picked = tf.reshape(tf.gather(logp, flatIndex), [B, T]); // (B, T)
    return tf.mul(picked, tf.cast(valid, "float32")) as tf.Tensor2D;
  });
}

/**
 * Next-token log-probs: position t of the logits predicts token t+1.
 * logits (B, T, V), inputIds (B, T) → (B, T−1), aligned with inputIds[:, 1:].
 * `targetMask` (B, T) marks which tokens of inputIds are targets (its first column is ignored).
 */
export function nextTokenLogProbs(logits: tf.Tensor3D, inputIds: tf.Tensor2D, targetMask?: tf.Tensor2D, temperature = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T, V] = logits.shape;
    let labels = tf.cast(tf.slice(inputIds, [0, 1], [B, T - 1]), "int32") as tf.Tensor2D; // (B, T−1)
    if (targetMask) {
      const m = tf.cast(tf.slice(targetMask, [0, 1], [B, T - 1]), "bool");
      labels = tf.where(m, labels, tf.fill([B, T - 1], IGNORE_INDEX, "int32")) as tf.Tensor2D;
    }
    if (fusedBackend("logprobs") && logits.dtype === "float32" && T > 1) {
      // The fused loop reads the logits where they lie: the last position gets no label (so no work and a zero
      // gradient row), and the (B, T) result is cut instead of the (B, T, V) logits. That saves a copy of the
      // logits forward and a zero-padded one (PadV2) backward.
      const shifted = tf.concat([labels, tf.fill([B, 1], IGNORE_INDEX, "int32")], 1) as tf.Tensor2D; // (B, T)
      return tf.slice(tokenLogProbs(logits, shifted, temperature), [0, 0], [B, T - 1]) as tf.Tensor2D;
    }
    const head = tf.slice(logits, [0, 0, 0], [B, T - 1, V]) as tf.Tensor3D; // (B, T−1, V)
    return tokenLogProbs(head, labels, temperature);
  });
}

/** Σ x·mask / Σ mask (0 when the mask is empty). */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor, axis?: number): tf.Tensor {
  return tf.tidy(() => {
    const m = tf.cast(mask, "float32");
    return tf.div(tf.sum(tf.mul(x, m), axis), tf.maximum(tf.sum(m, axis), 1e-8));
  });
}

/** Σ_t x·mask over the time axis: sequence log-prob (B, T) → (B). */
export function maskedSum(x: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(x, tf.cast(mask, "float32")), 1) as tf.Tensor1D);
}
