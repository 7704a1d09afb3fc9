// wasm `Identity` that shares its input's buffer (a reference count) instead of copying it.
//
// Why: tfjs keeps every input a gradient needs by cloning it (Engine.saveTensorsForBackwardMode →
// clone → Identity), and the stock wasm Identity copies the data. So every weight a forward pass
// multiplies was copied once per training step and kept until the backward pass ended: 0.5 GB for
// SmolLM2-135M, enough to push a LoRA step past the 4 GB wasm heap. The cpu backend already shares
// the buffer (backend.incRef); tensors are immutable (a variable's assign takes a new buffer), so
// sharing is safe. Strings keep the stock kernel.
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import type { KernelArgs } from "./wasm-kernel-types.ts";

export function registerWasmIdentityKernel(): string[] {
  const stock = getKernel("Identity", "wasm")?.kernelFunc;
  if (!stock) return [];
  const identity = (args: KernelArgs): TensorInfo => {
    const x = args.inputs["x"] as TensorInfo;
    if (x.dtype === "string") return stock(args as never) as TensorInfo;
    (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  unregisterKernel("Identity", "wasm");
  registerKernel({ kernelName: "Identity", backendName: "wasm", kernelFunc: identity as unknown as KernelFunc } satisfies KernelConfig);
  return ["Identity"];
}
