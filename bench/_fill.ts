import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { cpuSeconds, median } from "./one-process-bench.ts";
import { linearBias } from "../trainer/backend/matmul.ts";
import { setStepKernels } from "../trainer/backend/step-kernels.ts";
process.env["TANDEM_BLAS_THREADS"] = "1";
await initBackend({ prefer: "wasm" });
const N = 1024;
for (const [K, M, res] of [[384, 1536, false], [384, 1152, false], [1536, 384, true], [384, 384, true]] as const) {
  const x = tf.randomNormal([N, K]) as tf.Tensor2D, w = tf.randomNormal([K, M]) as tf.Tensor2D, b = tf.randomNormal([M]), r = tf.randomNormal([N, M]);
  for (const on of [true, false, true, false]) {
    setStepKernels(on ? true : ["embedding"]);
    const ts: number[] = [];
    for (let i = 0; i < 20; i++) ts.push(cpuSeconds(() => linearBias(x, w, b, res ? r : undefined).dispose()));
    console.log(K, M, res, on ? "fused" : "ops", (median(ts) * 1e3).toFixed(3), "ms");
  }
}
// raw fill
const c = new Float32Array(N * 1536), bb = new Float32Array(1536), rr = new Float32Array(N * 1536);
const ts: number[] = [];
for (let i = 0; i < 30; i++) ts.push(cpuSeconds(() => { for (let r0 = 0; r0 < N; r0++) c.set(bb, r0 * 1536); }));
console.log("set rows 1024x1536", (median(ts) * 1e3).toFixed(3));
const t2: number[] = [];
for (let i = 0; i < 30; i++) t2.push(cpuSeconds(() => { for (let r0 = 0; r0 < N; r0++) { const o = r0 * 384; for (let j = 0; j < 384; j++) c[o + j] = (rr[o + j] as number) + (bb[j] as number); } }));
console.log("res loop 1024x384", (median(t2) * 1e3).toFixed(3));
