// What the project's wasm kernels use of the wasm backend (tfjs does not export its class type).
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";

export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };
