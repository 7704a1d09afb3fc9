// wasm `Slice` and `SplitV` without the whole-input copy.
//
// Why: tfjs-backend-wasm's Slice reads its input with `backend.readSync`, a copy of the whole
// tensor out of the wasm heap, for every slice; SplitV calls that Slice once per output. Taking
// k slices of an n-element tensor therefore copies k·n elements (tfjs-notes.md, cliff 4). Per-head
// attention slices q, k, v into B·H pieces, so this made it quadratic. Here a slice reads a view of
// the heap instead: one copy for a contiguous slice, else one copy per contiguous run of the input
// (strided: splitting attention's fused qkv (B·T, 3C) along its columns, or dropping the last
// position of (B, T, V) logits). Each piece of a SplitV reads only its own elements. The whole-input
// copies were 11 % of a micro step's CPU profile, and their page faults much of its system time
// (docs/benchmarks.md, 2026-12-05 evening). String tensors still go to the stock kernel.
import {
  backend_util,
  getKernel,
  registerKernel,
  slice_util,
  unregisterKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import type { KernelArgs, WasmBackendLike } from "./wasm-kernel-types.ts";


function contiguousSlice(x: TensorInfo, begin: number[], size: number[], backend: WasmBackendLike): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  // take the views only after makeOutput: an allocation may grow (and detach) the heap buffer
  const source = backend.typedArrayFromHeap(x);
  const offset = slice_util.computeFlatOffset(begin, util.computeStrides(x.shape));
  backend.typedArrayFromHeap(out).set(source.subarray(offset, offset + util.sizeFromShape(size)));
  return out;
}

/**
 * A strided slice from heap views: the trailing axes that the slice takes whole merge with the first one it cuts
 * into one contiguous run, and the axes before that are walked with an odometer, one `set` per run.
 */
export function stridedSlice(x: TensorInfo, begin: number[], size: number[], backend: WasmBackendLike): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = util.sizeFromShape(size);
  if (total === 0) return out;
  const shape = x.shape;
  const rank = shape.length;
  const strides = [...util.computeStrides(shape), 1];
  // the run: axes from `inner` on are copied as one block (every axis after `inner` is taken whole)
  let inner = rank - 1;
  while (inner > 0 && size[inner] === shape[inner]) inner--;
  const run = (size[inner] ?? 1) * (strides[inner] ?? 1);
  // views only after makeOutput: an allocation may grow (and detach) the heap buffer
  const source = backend.typedArrayFromHeap(x);
  const target = backend.typedArrayFromHeap(out);
  const index = new Array<number>(inner).fill(0); // position among the outer axes, relative to begin
  let from = slice_util.computeFlatOffset(begin, strides.slice(0, rank - 1));
  for (let to = 0; to < total; to += run) {
    target.set(source.subarray(from, from + run), to);
    // advance the odometer over axes inner−1 … 0
    for (let a = inner - 1; a >= 0; a--) {
      const stride = strides[a] as number;
      if ((index[a] as number) + 1 < (size[a] as number)) {
        index[a] = (index[a] as number) + 1;
        from += stride;
        break;
      }
      from -= (index[a] as number) * stride;
      index[a] = 0;
    }
  }
  return out;
}

export function registerWasmSliceKernels(): string[] {
  const stockSlice = getKernel("Slice", "wasm")?.kernelFunc;
  const stockSplit = getKernel("SplitV", "wasm")?.kernelFunc;
  if (!stockSlice || !stockSplit) return [];

  const slice = (args: KernelArgs): TensorInfo => {
    const x = args.inputs["x"] as TensorInfo;
    const [begin = [], size = []] = slice_util.parseSliceParams(x as never, args.attrs?.["begin"] as number[], args.attrs?.["size"] as number[]);
    if (x.dtype === "string") return stockSlice(args as never) as TensorInfo;
    if (slice_util.isSliceContinous(x.shape, begin, size)) return contiguousSlice(x, begin, size, args.backend as WasmBackendLike);
    return stridedSlice(x, begin, size, args.backend as WasmBackendLike);
  };

  const splitV = (args: KernelArgs): TensorInfo[] => {
    const x = args.inputs["x"] as TensorInfo;
    const axis = util.parseAxisParam(args.attrs?.["axis"] as number, x.shape)[0] ?? 0;
    const sizes = backend_util.prepareSplitSize(x as never, args.attrs?.["numOrSizeSplits"] as number[] | number, axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    const size = x.shape.slice();
    return sizes.map((s) => {
      size[axis] = s;
      const piece = slice({ inputs: { x }, backend: args.backend, attrs: { begin: begin.slice(), size: size.slice() } });
      begin[axis] = (begin[axis] ?? 0) + s;
      return piece;
    });
  };

  for (const [name, fn] of [["Slice", slice], ["SplitV", splitV]] as const) {
    unregisterKernel(name, "wasm");
    registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: fn as unknown as KernelFunc } satisfies KernelConfig);
  }
  return ["Slice", "SplitV"];
}
