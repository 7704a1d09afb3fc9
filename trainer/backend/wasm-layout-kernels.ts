// wasm `Sum` over leading axes and 2-D `Transpose`, as loops over views of the wasm heap.
//
// Why: both sit in every backward pass. A bias or LayerNorm-gain gradient sums dy (N, C) over its
// rows. tfjs-wasm's Sum can only reduce innermost axes, so it first transposes the whole input
// (tfjs-notes.md, cliff 5). `matMul2d`'s backward pass transposes activations and weights explicitly
// to keep XNNPACK on its fast path. The stock 2-D Transpose, and so the Sum, costs ~15 ms of CPU
// for a micro MLP activation (1024 × 1536). These loops take ~3 ms (bench/, docs/benchmarks.md).
// Other ranks, permutations, axes and dtypes go to the stock kernels.
// With native BLAS on (wasm-blas-matmul.ts), a Sum over 64 rows or more is one cblas_sgemm of a row of
// ones by the (rows, inner) input, which runs at memory speed where the scalar loop does not (the
// loop was 3 % of a micro step's CPU profile; decision trainer-021). Since trainer-026 that is cblas_sgemv of the
// transposed input by a column of ones (step-kernels.ts group "bias-sum"): a GEMM with M = 1 packs its B operand.
import {
  getKernel,
  registerKernel,
  unregisterKernel,
  util,
  backend_util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import type { KernelArgs, WasmBackendLike } from "./wasm-kernel-types.ts";
import { wasmBlasActive } from "./wasm-blas-matmul.ts";
import { stepKernelOn } from "./step-kernels.ts";

/** Below this many rows the loop is as quick as a BLAS call. */
const BLAS_SUM_MIN_ROWS = 64;
let ones = new Float32Array(0);

/** A row of `n` ones, reused between calls (never written by sgemm: it is the A operand). */
function onesRow(n: number): Float32Array {
  if (ones.length < n) ones = new Float32Array(Math.max(n, 2 * ones.length)).fill(1);
  return ones.subarray(0, n);
}


/** x (outer, inner) flat → out (inner): Σ over the rows, in row order (as the stock kernel adds). */
export function sumRows(x: Float32Array, outer: number, inner: number, out: Float32Array): void {
  out.fill(0);
  for (let r = 0; r < outer; r++) {
    const row = r * inner;
    for (let c = 0; c < inner; c++) out[c] = (out[c] ?? 0) + (x[row + c] ?? 0);
  }
}

/** x (R, C) flat → out (C, R), in 64 × 64 tiles so reads and writes both stay in cache. */
export function transpose2d(x: Float32Array, R: number, C: number, out: Float32Array): void {
  const TILE = 64;
  for (let r0 = 0; r0 < R; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, R);
    for (let c0 = 0; c0 < C; c0 += TILE) {
      const c1 = Math.min(c0 + TILE, C);
      for (let c = c0; c < c1; c++) {
        const o = c * R;
        for (let r = r0; r < r1; r++) out[o + r] = x[r * C + c] ?? 0;
      }
    }
  }
}

export function registerWasmLayoutKernels(): string[] {
  const stockSum = getKernel("Sum", "wasm")?.kernelFunc;
  const stockTranspose = getKernel("Transpose", "wasm")?.kernelFunc;
  if (!stockSum || !stockTranspose) return [];

  const sum = (args: KernelArgs): TensorInfo => {
    const x = args.inputs["x"] as TensorInfo;
    const axes = util.parseAxisParam(args.attrs?.["axis"] as number | number[], x.shape).sort((a, b) => a - b);
    const k = axes.length;
    // only "the first k axes" (k < rank) of a float32 tensor: the bias/gain-gradient case
    if (x.dtype !== "float32" || k === 0 || k >= x.shape.length || axes.some((a, i) => a !== i)) return stockSum(args as never) as TensorInfo;
    const outer = util.sizeFromShape(x.shape.slice(0, k));
    const innerShape = x.shape.slice(k);
    const keepDims = Boolean(args.attrs?.["keepDims"]);
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput(keepDims ? backend_util.expandShapeToKeepDim(innerShape, axes) : innerShape, "float32");
    // views only after makeOutput: an allocation may grow (and detach) the heap buffer
    const xs = backend.typedArrayFromHeap(x) as Float32Array;
    const os = backend.typedArrayFromHeap(out) as Float32Array;
    const inner = util.sizeFromShape(innerShape);
    const blas = wasmBlasActive();
    if (blas && outer >= BLAS_SUM_MIN_ROWS && inner > 0) {
      if (stepKernelOn("bias-sum")) blas.sgemv(true, outer, inner, xs, onesRow(outer), os); // (outer, inner)ᵀ·1 (trainer-026)
      else blas.sgemm(false, false, 1, inner, outer, onesRow(outer), xs, os); // (1, outer)·(outer, inner)
    }
    else sumRows(xs, outer, inner, os);
    return out;
  };

  const transpose = (args: KernelArgs): TensorInfo => {
    const x = args.inputs["x"] as TensorInfo;
    const perm = args.attrs?.["perm"] as number[];
    if (x.dtype !== "float32" || x.shape.length !== 2 || perm[0] !== 1 || perm[1] !== 0) return stockTranspose(args as never) as TensorInfo;
    const [R = 0, C = 0] = x.shape;
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput([C, R], "float32");
    transpose2d(backend.typedArrayFromHeap(x) as Float32Array, R, C, backend.typedArrayFromHeap(out) as Float32Array);
    return out;
  };

  for (const [name, fn] of [["Sum", sum], ["Transpose", transpose]] as const) {
    unregisterKernel(name, "wasm");
    registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: fn as unknown as KernelFunc } satisfies KernelConfig);
  }
  return ["Sum", "Transpose"];
}
