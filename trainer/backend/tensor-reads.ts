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
