// wasm `Slice` and `SplitV` without the whole-input copy.
//
// Why: tfjs-backend-wasm's Slice reads its input with `backend.readSync`, a copy of the whole
// tensor out of the wasm heap, for every slice; SplitV calls that Slice once per output. Taking
// k slices of an n-element tensor therefore copies k·n elements (tfjs-notes.md, cliff 4). Per-head
// attention slices q, k, v into B·H pieces, so this made it quadratic. Here a contiguous slice reads
// a view of the heap instead; other slices fall back to the stock kernel.
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

export function registerWasmSliceKernels(): string[] {
  const stockSlice = getKernel("Slice", "wasm")?.kernelFunc;
  const stockSplit = getKernel("SplitV", "wasm")?.kernelFunc;
  if (!stockSlice || !stockSplit) return [];

  const slice = (args: KernelArgs): TensorInfo => {
    const x = args.inputs["x"] as TensorInfo;
    const [begin = [], size = []] = slice_util.parseSliceParams(x as never, args.attrs?.["begin"] as number[], args.attrs?.["size"] as number[]);
    if (x.dtype === "string" || !slice_util.isSliceContinous(x.shape, begin, size)) return stockSlice(args as never) as TensorInfo;
    return contiguousSlice(x, begin, size, args.backend as WasmBackendLike);
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
