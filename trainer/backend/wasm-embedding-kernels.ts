// wasm `GatherV2` and `UnsortedSegmentSum` (an embedding lookup and its gradient) as row copies and row adds over
// views of the wasm heap (decision trainer-026, group "embedding" of step-kernels.ts).
//
// Why: tfjs-wasm's Gather computes every element's source through its strides, ~28 ns an element: 11 CPU ms for each
// of a micro step's two lookups (wte and wpe, 1024 rows of 384), 2.1 % of the step's profile. The gradient, the
// project's JS UnsortedSegmentSum (unsorted-segment-sum-kernel.ts), copies its input out of the heap with readSync,
// sums into a fresh JS array and copies that back in: 5–8 ms per lookup, 1.5 % of the profile. A lookup along an
// axis copies whole runs of the trailing axes, so here each index is one `set` of a run; the sum adds each row of
// dy into its segment's row, in row order as the JS kernel does (the results are bit-identical).
// With the group off, or batchDims ≠ 0, or string tensors, the stock Gather and the JS UnsortedSegmentSum run.
import { backend_util, getKernel, registerKernel, unregisterKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import type { KernelArgs, WasmBackendLike } from "./wasm-kernel-types.ts";
import { stepKernelOn } from "./step-kernels.ts";
import { UNSORTED_SEGMENT_SUM, unsortedSegmentSumKernel } from "./unsorted-segment-sum-kernel.ts";

/** Runs shorter than this are copied element by element (a `set` call costs more than a few element copies). */
const SHORT_RUN = 16;

type Heap = Float32Array | Int32Array | Uint8Array;

/** out[o, i, :] = x[o, indices[i], :] for x (outer, dim, inner); throws on an index outside [0, dim) as the stock kernel. */
export function gatherRuns(x: Heap, indices: ArrayLike<number>, outer: number, dim: number, inner: number, out: Heap): void {
  const n = indices.length;
  for (let i = 0; i < n; i++) {
    const index = indices[i] ?? -1;
    if (!(index >= 0 && index <= dim - 1)) throw new Error(`GatherV2: the index value ${index} is not in [0, ${dim - 1}]`);
  }
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < n; i++) {
      const from = (o * dim + (indices[i] as number)) * inner;
      const to = (o * n + i) * inner;
      if (inner >= SHORT_RUN) out.set(x.subarray(from, from + inner), to);
      else for (let j = 0; j < inner; j++) out[to + j] = x[from + j] as number;
    }
}

/** out (numSegments, inner) = Σ of the rows of x (rows, inner) by segment id, in row order; ids outside the range dropped. */
export function segmentSumRows(x: Float32Array | Int32Array, ids: ArrayLike<number>, numSegments: number, inner: number, out: Float32Array | Int32Array): void {
  out.fill(0);
  for (let r = 0; r < ids.length; r++) {
    const s = ids[r] ?? -1;
    if (!(s >= 0 && s < numSegments)) continue;
    const src = r * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] = (out[dst + j] as number) + (x[src + j] as number);
  }
}

let stockGather: KernelFunc | undefined;

/**
 * Registers both on wasm, replacing the stock Gather and the JS UnsortedSegmentSum (which registerUnsortedSegmentSum
 * puts back on every initBackend, so this runs after it each time). The stock Gather is kept from the first call.
 */
export function registerWasmEmbeddingKernels(): string[] {
  stockGather ??= getKernel("GatherV2", "wasm")?.kernelFunc;
  const stock = stockGather;
  if (!stock) return [];

  const gatherV2 = (args: KernelArgs): TensorInfo => {
    const x = args.inputs["x"] as TensorInfo;
    const indices = args.inputs["indices"] as TensorInfo;
    const batchDims = Number(args.attrs?.["batchDims"] ?? 0);
    if (!stepKernelOn("embedding") || batchDims !== 0 || x.dtype === "string" || indices.dtype !== "int32") return stock(args as never) as TensorInfo;
    const axis = util.parseAxisParam(args.attrs?.["axis"] as number, x.shape)[0] ?? 0;
    const info = backend_util.segment_util.collectGatherOpShapeInfo(x as never, indices as never, axis, 0);
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput(info.outputShape, x.dtype);
    if (util.sizeFromShape(info.outputShape) === 0) return out;
    // views only after makeOutput: an allocation may grow (and detach) the heap buffer
    gatherRuns(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(indices), info.outerSize, info.dimSize, info.sliceSize, backend.typedArrayFromHeap(out));
    return out;
  };

  const segmentSum = (args: KernelArgs): TensorInfo => {
    const x = args.inputs["x"] as TensorInfo;
    const ids = args.inputs["segmentIds"] as TensorInfo;
    if (!stepKernelOn("embedding") || (x.dtype !== "float32" && x.dtype !== "int32") || ids.dtype !== "int32") return unsortedSegmentSumKernel(args as never);
    const numSegments = Number(args.attrs?.["numSegments"]);
    const idsSize = util.sizeFromShape(ids.shape);
    const inner = idsSize === 0 ? 0 : util.sizeFromShape(x.shape) / idsSize;
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput([numSegments, ...x.shape.slice(ids.shape.length)], x.dtype);
    const o = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
    segmentSumRows(backend.typedArrayFromHeap(x) as Float32Array | Int32Array, backend.typedArrayFromHeap(ids), numSegments, inner, o);
    return out;
  };

  for (const [name, fn] of [["GatherV2", gatherV2], [UNSORTED_SEGMENT_SUM, segmentSum]] as const) {
    unregisterKernel(name, "wasm");
    registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: fn as unknown as KernelFunc } satisfies KernelConfig);
  }
  return ["GatherV2"];
}
