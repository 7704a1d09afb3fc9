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
