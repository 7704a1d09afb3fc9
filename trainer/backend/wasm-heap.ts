// Direct access to tensors on the wasm heap for the project's fused loops (optim/fused-adamw.ts,
// losses/fused-logprobs.ts, model/fused-norms.ts, model/fused-softmax.ts). The loops read their inputs through views and write only into buffers
// they allocate: tensors stay immutable, which tfjs relies on (clones share buffers) and so does
// tfjs-wasm's XNNPACK matmul (it caches each weight's packed copy by tensor id).
import * as tf from "@tensorflow/tfjs-core";
import type { WasmBackendLike } from "./wasm-kernel-types.ts";

export type WasmHeapBackend = WasmBackendLike;

/** The groups of fused loops: the bench switches them one group at a time to measure each. */
export type FusedKernel = "optimizer" | "logprobs" | "norm" | "softmax" | "activation";
export const ALL_FUSED_KERNELS: readonly FusedKernel[] = ["optimizer", "logprobs", "norm", "softmax", "activation"];
/**
 * "activation" is GELU as a SIMD kernel (wasm-simd.ts, decision trainer-023; it needs the SIMD module, else the op
 * chain runs). All are on by default. "softmax" by default is the attention softmax's SIMD kernel (decision
 * trainer-024), else the tensor ops: its scalar JS loop costs 3× tfjs-wasm's XNNPACK Softmax (SIMD) plus the
 * gradient ops it replaces (decision trainer-019), so the loop runs only when the group is named in a list.
 */
const DEFAULT_FUSED: readonly FusedKernel[] = ["optimizer", "logprobs", "norm", "softmax", "activation"];
let enabled: ReadonlySet<FusedKernel> = new Set(DEFAULT_FUSED);
let softmaxNamed = false;

/**
 * false: the project's fused loops (AdamW and clipping, token log-probs, LayerNorm / RMSNorm, attention
 * softmax) give way to plain tensor ops on every backend. The parity tests use it as their reference, and
 * the bench uses it for its A/B. true: the default set. A list: exactly those groups.
 */
export function setFusedKernels(on: boolean | readonly FusedKernel[]): void {
  enabled = new Set(on === true ? DEFAULT_FUSED : on === false ? [] : on);
  softmaxNamed = Array.isArray(on) && on.includes("softmax");
}

/**
 * The attention softmax's JS loop runs only when "softmax" was named in a list to setFusedKernels; by default the
 * group means its SIMD kernel (wasm-simd.ts, decision trainer-024), and without that the tensor ops.
 */
export function fusedSoftmaxLoopNamed(): boolean {
  return softmaxNamed && enabled.has("softmax");
}

/** The wasm backend when it is the active one and `kernel`'s fused loop is on, else null (callers then use tensor ops). */
export function fusedBackend(kernel: FusedKernel): WasmHeapBackend | null {
  return enabled.has(kernel) ? activeHeapBackend() : null;
}

/** The wasm backend when it is the active one and lends its heap (typedArrayFromHeap, makeOutput), else null. */
export function activeHeapBackend(): WasmHeapBackend | null {
  if (tf.getBackend() !== "wasm") return null;
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
