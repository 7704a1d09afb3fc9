// Reading a tensor's values off the device and freeing it, in one call. Awaited reads are the ones that work on
// every backend: webgpu cannot read synchronously under Node (decision trainer-033), and on wasm and cpu an
// awaited read costs one microtask.
import type * as tf from "@tensorflow/tfjs-core";

/** A tensor's values, awaited, and the tensor freed. */
export async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** The same, read synchronously: for callers that are synchronous themselves (wasm and cpu only). */
export function readSyncAndDispose(t: tf.Tensor): Float32Array {
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

/**
 * A 2-D tensor's values transposed, (cols, rows), read synchronously and transposed on the CPU: no new tensor on the
 * device, so on webgpu this works once the tensor was read back (readBackForSave), as a save needs (HF and PEFT
 * layouts store linear weights as (out, in)).
 */
export function readTransposedSync(t: tf.Tensor): { shape: number[]; data: Float32Array } {
  if (t.rank !== 2) throw new Error(`readTransposedSync: a 2-D tensor, not shape [${t.shape.join(", ")}]`);
  const [rows = 0, cols = 0] = t.shape;
  const src = t.dataSync() as Float32Array;
  const data = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * rows + r] = src[r * cols + c] ?? 0;
  return { shape: [cols, rows], data };
}
