// Direct access to tensors on the wasm heap for the project's fused loops (optim/fused-adamw.ts).
//
// Why: a loop that updates weights in place must know that no other tensor shares the buffer.
// tfjs shares buffers more than one would think: `tf.variable(t)` keeps t's buffer, and our wasm
// Identity (wasm-identity-kernel.ts) makes every clone share it. The wasm backend counts the tensors
// that hold each buffer, and a buffer held by one variable alone can be written in place. Any other
// buffer is copied first, so a tensor that still holds the old values keeps them.
import * as tf from "@tensorflow/tfjs-core";
import type { WasmBackendLike } from "./wasm-kernel-types.ts";

export interface WasmHeapBackend extends WasmBackendLike {
  refCount(dataId: object): number;
}

/** The wasm backend when it is the active one, else null (callers then use tensor ops). */
export function activeWasmBackend(): WasmHeapBackend | null {
  if (tf.getBackend() !== "wasm") return null;
  const backend = tf.backend() as unknown as Partial<WasmHeapBackend>;
  return typeof backend.typedArrayFromHeap === "function" && typeof backend.refCount === "function" && typeof backend.makeOutput === "function"
    ? (backend as WasmHeapBackend)
    : null;
}

/** A float32 view of a tensor's data on the heap; valid until the next allocation (which may grow the heap). */
export function heapView(backend: WasmHeapBackend, t: tf.Tensor): Float32Array {
  if (t.dtype !== "float32") throw new Error(`heapView: ${t.dtype} tensor, float32 expected`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Gives `v` a buffer no other tensor holds (a copy when one is shared), so it may be written in place. */
export function ownBuffer(backend: WasmHeapBackend, v: tf.Variable): void {
  if (backend.refCount(v.dataId) <= 1) return;
  const info = backend.makeOutput([...v.shape], v.dtype);
  // both views after the allocation
  (backend.typedArrayFromHeap(info) as Float32Array).set(backend.typedArrayFromHeap(v) as Float32Array);
  const copy = tf.engine().makeTensorFromTensorInfo(info);
  v.assign(copy); // the variable now holds the copy too (count 2) …
  copy.dispose(); // … and alone (count 1)
}
