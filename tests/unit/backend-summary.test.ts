import assert from "node:assert/strict";
import { test } from "node:test";
import { backendKernels, backendSummary } from "../../app/lib/backend-summary.ts";

test("the round page names the backend, its native BLAS or why there is none, and the project's kernels", () => {
  const wasm = { type: "backend", backend: "wasm", simd: true, threads: 1, customKernels: ["Sum", "Slice"], projectOps: ["matMul2d"], skipped: [] };
  assert.equal(backendSummary(undefined), "–");
  assert.equal(backendSummary({ ...wasm, blas: { library: "libopenblas.so.0", config: "OpenBLAS 0.3.21", threads: 2 } }), "wasm (SIMD, 1 thread) + native BLAS (libopenblas.so.0, 2 threads)");
  assert.equal(
    backendSummary({ ...wasm, blas: null, skipped: [{ package: "OpenBLAS (libopenblas0-pthread) via koffi", reason: "libopenblas.so.0: cannot open shared object file" }] }),
    "wasm (SIMD, 1 thread); no native BLAS: libopenblas.so.0: cannot open shared object file",
  );
  assert.equal(backendSummary({ backend: "cpu" }), "cpu");
  assert.equal(backendKernels(wasm), "Sum, Slice, matMul2d");
});

test("a GPU backend names its adapter; a GPU asked for and not used says why beside the backend that ran", () => {
  const adapter = { vendor: "nvidia", architecture: "hopper", device: "", description: "NVIDIA H200", software: false };
  assert.equal(backendSummary({ backend: "webgpu", adapter, skipped: [] }), "webgpu on nvidia hopper (NVIDIA H200)");
  assert.equal(
    backendSummary({ backend: "webgpu", adapter: { vendor: "mesa", architecture: "", device: "", description: "llvmpipe (LLVM 19.1.7, 256 bits)", software: true }, skipped: [] }),
    "webgpu on mesa (llvmpipe (LLVM 19.1.7, 256 bits)), a software device",
  );
  assert.equal(
    backendSummary({
      backend: "wasm", simd: true, threads: 1, adapter: null, blas: { library: "libopenblas.so.0", threads: 1 },
      skipped: [{ package: "@tensorflow/tfjs-backend-webgpu", reason: "no WebGPU adapter: Dawn found no Vulkan driver" }],
    }),
    "wasm (SIMD, 1 thread) + native BLAS (libopenblas.so.0, 1 thread); webgpu not used: no WebGPU adapter: Dawn found no Vulkan driver",
  );
});
