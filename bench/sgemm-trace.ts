// Every cblas_sgemm (and cblas_sgemv: the bias sums since trainer-026) of micro training steps, by shape and transpose flags (decision trainer-025).
//
// Wraps the active native BLAS (wasm-blas-matmul.ts's setWasmBlas) so each call is counted and timed (CPU time of
// the process, which at one BLAS thread is the call's), over --steps SFT steps after --warmup. Prints, per
// (M, N, K, transA, transB), the calls per step, GFLOP per step, CPU ms per step and GFLOP/s, then the total GEMM
// FLOPs against the model's own count: 6·(matmul params)·tokens + 12·L·B·T²·C (scores and context, forward and
// backward, over the full T×T block that a causal mask still computes).
// Also counts the tfjs kernels (Transpose, Concat, …) run per step, from the engine's kernel hook.
// Usage: npx tsx bench/sgemm-trace.ts [--preset micro] [--steps 3] [--warmup 1] [--blas-threads 1]
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { pinOpenblasCoreType, type NativeBlas } from "../trainer/backend/native-blas.ts";
import { setWasmBlas, wasmBlasActive } from "../trainer/backend/wasm-blas-matmul.ts";
import { sftConfigSchema } from "../trainer/contract/sft-config.ts";
import { disposeGpt } from "../trainer/model/gpt.ts";
import { createSftTrainer } from "../trainer/algorithms/sft-trainer.ts";
import { arg, randomSftStep } from "./one-process-bench.ts";

const preset = arg("preset", "micro") as "micro";
const steps = Number(arg("steps", "3"));
const warmup = Number(arg("warmup", "1"));
process.env["TANDEM_BLAS_THREADS"] = arg("blas-threads", "1");
pinOpenblasCoreType();
const info = await initBackend();
const blas = wasmBlasActive();
if (!blas) throw new Error(`no native BLAS: ${JSON.stringify(info.skipped)}`);

type Row = { calls: number; flop: number; cpuUs: number };
const rows = new Map<string, Row>();
let recording = false;
const cpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
function timed(key: string, flop: number, call: () => void): void {
  if (!recording) return call();
  const t0 = cpuUs();
  call();
  const dt = cpuUs() - t0;
  const row = rows.get(key) ?? { calls: 0, flop: 0, cpuUs: 0 };
  row.calls++;
  row.flop += flop;
  row.cpuUs += dt;
  rows.set(key, row);
}
const op = (transA: boolean, transB: boolean): string => `${transA ? "T" : "N"}${transB ? "T" : "N"}`;
const traced: NativeBlas = {
  ...blas,
  sgemm: (transA, transB, M, N, K, a, b, c) =>
    timed(`${M}×${N}×${K} ${op(transA, transB)}`, 2 * M * N * K, () => blas.sgemm(transA, transB, M, N, K, a, b, c)),
  sgemmLd: (transA, transB, M, N, K, a, lda, b, ldb, c, ldc, beta) =>
    timed(`${M}×${N}×${K} ${op(transA, transB)} ld ${lda}/${ldb}/${ldc}`, 2 * M * N * K, () => blas.sgemmLd(transA, transB, M, N, K, a, lda, b, ldb, c, ldc, beta)),
  sgemv: (trans, M, N, a, x, y) => timed(`sgemv ${M}×${N} ${trans ? "T" : "N"}`, 2 * M * N, () => blas.sgemv(trans, M, N, a, x, y)),
};
setWasmBlas(traced);

const kernels = new Map<string, number>();
// tfjs's engine: every kernel run goes through runKernelFunc; count names while recording
const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
const runKernel = engine.runKernel.bind(engine);
engine.runKernel = (name: string, ...rest: unknown[]) => {
  if (recording) kernels.set(name, (kernels.get(name) ?? 0) + 1);
  return runKernel(name, ...rest);
};

const { config, B, T, examples, model } = randomSftStep(preset);
const trainer = createSftTrainer(model, sftConfigSchema.parse({ batchSize: B }), 0);
for (let i = 0; i < warmup; i++) trainer.trainStep(examples);
recording = true;
const c0 = cpuUs();
for (let i = 0; i < steps; i++) trainer.trainStep(examples);
const stepCpuS = (cpuUs() - c0) / 1e6 / steps;
recording = false;

const { nLayer: L, nEmbd: C, vocabSize: V } = config;
const matmulParams = L * 12 * C * C + V * C; // qkv 3C², proj C², mlp 8C²; tied LM head V·C
const theory = 6 * matmulParams * B * T + L * 12 * B * T * T * C;
let totalFlop = 0;
let totalUs = 0;
let totalCalls = 0;
console.log(`${info.backend}, OpenBLAS ${blas.threads} thread(s); ${preset} ${B}×${T}; ${steps} steps after ${warmup} warm-up; ${stepCpuS.toFixed(3)} CPU s/step`);
console.log("shape M×N×K op | calls/step | GFLOP/step | CPU ms/step | GFLOP/s");
for (const [key, r] of [...rows].sort((x, y) => y[1].cpuUs - x[1].cpuUs)) {
  totalFlop += r.flop / steps;
  totalUs += r.cpuUs / steps;
  totalCalls += r.calls / steps;
  console.log(`${key} | ${r.calls / steps} | ${(r.flop / steps / 1e9).toFixed(3)} | ${(r.cpuUs / steps / 1e3).toFixed(1)} | ${(r.flop / (r.cpuUs / 1e6) / 1e9).toFixed(1)}`);
}
console.log(`total | ${totalCalls} | ${(totalFlop / 1e9).toFixed(3)} | ${(totalUs / 1e3).toFixed(1)} | ${(totalFlop / (totalUs / 1e6) / 1e9).toFixed(1)}`);
console.log(`model FLOPs 6·${matmulParams}·${B * T} + attention ${L}·12·${B}·${T}²·${C} = ${(theory / 1e9).toFixed(3)} GFLOP; GEMM/model ${(totalFlop / theory).toFixed(3)}; sgemm ${((totalUs / 1e6 / stepCpuS) * 100).toFixed(1)} % of the step's CPU`);
console.log("kernels/step: " + [...kernels].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n / steps}`).join(", "));
trainer.dispose();
disposeGpt(model);
tf.disposeVariables();
