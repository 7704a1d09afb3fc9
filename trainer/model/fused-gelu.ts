// GELU (tanh approximation, as x·σ(z)) as one SIMD pass forward and one backward on the wasm heap (decision
// trainer-023): the fused form of gpt.ts's geluTanh op chain, with the same formula and order of operations.
// Forward writes y only and saves x; the backward pass recomputes σ(z) from x, which costs less than keeping a
// second (B·T, 4C) tensor alive between the passes.
import * as tf from "@tensorflow/tfjs-core";
import type { WasmHeapBackend } from "../backend/wasm-heap.ts";
import type { SimdKernels } from "../backend/wasm-simd.ts";

/** Whether the SIMD kernel takes x: float32 with at least one vector's worth of elements. */
export function fusedGeluApplies(x: tf.Tensor): boolean {
  return x.dtype === "float32" && x.size >= 4;
}

export function fusedGelu(backend: WasmHeapBackend, simd: SimdKernels, x: tf.Tensor): tf.Tensor {
  const shape = [...x.shape];
  const n = x.size;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const y = backend.makeOutput(shape, "float32");
    simd.geluForward(xt, y, n);
    save([xt]);
    return {
      value: tf.engine().makeTensorFromTensorInfo(y),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dx = backend.makeOutput(shape, "float32");
        simd.geluBackward(saved[0] as tf.Tensor, dy, dx, n);
        return [tf.engine().makeTensorFromTensorInfo(dx)];
      },
    };
  }) as (x: tf.Tensor) => tf.Tensor;
  return op(x);
}
