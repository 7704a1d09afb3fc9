// A JS `UnsortedSegmentSum` kernel. It is the gradient of `tf.gather` (embedding lookups), and the
// wasm backend has none: without it an embedding cannot be trained on wasm (tfjs-notes.md, cliff 2).
// The cpu backend's own kernel is O(segments × rows) (20 s of a 42 s step in the spike); this one is
// O(rows × inner), so it is registered there too.
import {
  registerKernel,
  unregisterKernel,
  getKernel,
  util,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
  type NamedAttrMap,
  type NamedTensorInfoMap,
} from "@tensorflow/tfjs-core";

export const UNSORTED_SEGMENT_SUM = "UnsortedSegmentSum";

interface OutputMaker {
  makeOutput?: (shape: number[], dtype: "float32" | "int32", memoryOffset?: number, values?: Float32Array | Int32Array) => TensorInfo;
  makeTensorInfo?: (shape: number[], dtype: "float32" | "int32", values: Float32Array | Int32Array) => TensorInfo;
}

/** out[segmentIds[i], j] += x[i, j]; ids outside [0, numSegments) are dropped, as in TensorFlow. */
export function unsortedSegmentSumValues(
  x: ArrayLike<number>,
  segmentIds: ArrayLike<number>,
  numSegments: number,
  inner: number,
  out: Float32Array | Int32Array,
): void {
  for (let i = 0; i < segmentIds.length; i++) {
    const s = segmentIds[i] ?? -1;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] = (out[dst + j] ?? 0) + (x[src + j] ?? 0);
  }
}

/** The kernel itself (exported for wasm-embedding-kernels.ts, which falls back to it). */
export function unsortedSegmentSumKernel({ inputs, backend, attrs }: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const x = inputs["x"];
  const segmentIds = inputs["segmentIds"];
  if (x === undefined || segmentIds === undefined) throw new Error("UnsortedSegmentSum needs x and segmentIds");
  const numSegments = Number(attrs?.["numSegments"]);
  const b = backend as KernelBackend & OutputMaker;
  const xValues = b.readSync(x.dataId) as Float32Array | Int32Array;
  const ids = b.readSync(segmentIds.dataId) as Int32Array | Float32Array;
  // segmentIds covers the leading dims of x; everything after them is one contiguous row.
  const idsSize = util.sizeFromShape(segmentIds.shape);
  const inner = idsSize === 0 ? 0 : util.sizeFromShape(x.shape) / idsSize;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const dtype = x.dtype === "int32" ? "int32" : "float32";
  const out = dtype === "int32" ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  unsortedSegmentSumValues(xValues, ids, numSegments, inner, out);
  if (b.makeOutput) return b.makeOutput(outShape, dtype, undefined, out);
  if (b.makeTensorInfo) return b.makeTensorInfo(outShape, dtype, out);
  throw new Error("backend can neither makeOutput nor makeTensorInfo");
}

/** Registers the kernel for `backendName`, replacing a stock one. Returns true when it is in place. */
export function registerUnsortedSegmentSum(backendName: string): boolean {
  if (getKernel(UNSORTED_SEGMENT_SUM, backendName)) unregisterKernel(UNSORTED_SEGMENT_SUM, backendName);
  const config: KernelConfig = { kernelName: UNSORTED_SEGMENT_SUM, backendName, kernelFunc: unsortedSegmentSumKernel as KernelConfig["kernelFunc"] };
  registerKernel(config);
  return true;
}
