// wasm `BatchMatMul` on native BLAS (native-blas.ts) when it is switched on; the stock kernel otherwise.
//
// Every tf.matMul of the forward and backward passes goes through this kernel: plain, transposed
// (tfjs's matmul gradient and attention's q·kᵀ) and batched (attention over (B, H)). cblas_sgemm
// reads the operands and writes the product in place on the wasm heap (views, no copies) and
// handles the transposes itself, so none of the explicit transposes or per-head splits that keep
// XNNPACK on its fast path are needed (matmul.ts and gpt.ts skip them while this is on).
// Batch dimensions broadcast as in tfjs when one side has a single matrix; other broadcasts,
// non-float32 operands and empty products go to the stock kernel.
import { backend_util, getKernel, registerKernel, unregisterKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import type { NativeBlas } from "./native-blas.ts";
import type { KernelArgs, WasmBackendLike } from "./wasm-kernel-types.ts";

let active: NativeBlas | null = null;
let registered = false;

/** Routes wasm matmuls to `blas`, or back to the stock kernel with null. */
export function setWasmBlas(blas: NativeBlas | null): void {
  active = blas;
}

export function wasmBlasActive(): NativeBlas | null {
  return active;
}

/** Replaces wasm's BatchMatMul once; the replacement defers to the stock kernel while no BLAS is set. */
export function registerWasmBlasMatMul(): string[] {
  if (registered) return ["BatchMatMul"];
  const stock = getKernel("BatchMatMul", "wasm")?.kernelFunc;
  if (!stock) return [];

  const batchMatMul = (args: KernelArgs): TensorInfo => {
    const blas = active;
    const a = args.inputs["a"] as TensorInfo;
    const b = args.inputs["b"] as TensorInfo;
    const transA = Boolean(args.attrs?.["transposeA"]);
    const transB = Boolean(args.attrs?.["transposeB"]);
    if (!blas || a.dtype !== "float32" || b.dtype !== "float32") return stock(args as never) as TensorInfo;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = (transA ? a.shape[ra - 1] : a.shape[ra - 2]) ?? 0;
    const K = (transA ? a.shape[ra - 2] : a.shape[ra - 1]) ?? 0;
    const N = (transB ? b.shape[rb - 2] : b.shape[rb - 1]) ?? 0;
    const kB = (transB ? b.shape[rb - 1] : b.shape[rb - 2]) ?? 0;
    if (K !== kB) return stock(args as never) as TensorInfo; // the stock kernel raises tfjs's own error
    const batchShape = backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const batch = util.sizeFromShape(batchShape);
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(b.shape.slice(0, -2));
    if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1) || M * N * K === 0) return stock(args as never) as TensorInfo;

    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput([...batchShape, M, N], "float32");
    // views only after makeOutput: an allocation may grow (and detach) the heap buffer
    const va = backend.typedArrayFromHeap(a) as Float32Array;
    const vb = backend.typedArrayFromHeap(b) as Float32Array;
    const vc = backend.typedArrayFromHeap(out) as Float32Array;
    if (batch === 1) {
      blas.sgemm(transA, transB, M, N, K, va, vb, vc);
      return out;
    }
    for (let i = 0; i < batch; i++) {
      const sa = batchA === 1 ? va : va.subarray(i * M * K, (i + 1) * M * K);
      const sb = batchB === 1 ? vb : vb.subarray(i * K * N, (i + 1) * K * N);
      blas.sgemm(transA, transB, M, N, K, sa, sb, vc.subarray(i * M * N, (i + 1) * M * N));
    }
    return out;
  };

  unregisterKernel("BatchMatMul", "wasm");
  registerKernel({ kernelName: "BatchMatMul", backendName: "wasm", kernelFunc: batchMatMul as unknown as KernelFunc } satisfies KernelConfig);
  registered = true;
  return ["BatchMatMul"];
}
