// Direct access to tensors on the wasm heap for the project's fused loops (optim/fused-adamw.ts,
// losses/fused-logprobs.ts). The loops read their inputs through views and write only into buffers
// they allocate: tensors stay immutable, which tfjs relies on (clones share buffers) and so does
// tfjs-wasm's XNNPACK matmul (it caches each weight's packed copy by tensor id).
import * as tf from "@tensorflow/tfjs-core";
import type { WasmBackendLike } from "./wasm-kernel-types.ts";

export type WasmHeapBackend = WasmBackendLike;

let fused = true;

/**
 * false: the project's fused loops (AdamW, clipping, token log-probs) give way to plain tensor ops on
 * every backend. The parity tests use it as their reference, and the bench uses it for its A/B.
 */
export function setFusedKernels(on: boolean): void {
  fused = on;
}

/** The wasm backend when it is the active one and fused loops are on, else null (callers then use tensor ops). */
export function fusedBackend(): WasmHeapBackend | null {
  if (!fused || tf.getBackend() !== "wasm") return null;
  const backend = tf.backend() as unknown as Partial<WasmHeapBackend>;
  return typeof backend.typedArrayFromHeap === "function" && typeof backend.makeOutput === "function"
    ? (backend as WasmHeapBackend)
    : null;
}

/** A float32 view of a tensor's data on the heap; valid until the next allocation (which may grow the heap). */
export function heapView(backend: WasmHeapBackend, t: tf.Tensor): Float32Array {
  if (t.dtype !== "float32") throw new Error(`heapView: ${t.dtype} tensor, float32 expected`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}
