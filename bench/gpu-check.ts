// The GPU check (issue 15 item 4; bench/gpu-check.sh prepares a bare machine and runs it): the webgpu
// backend (trainer/backend/webgpu.ts) on whatever adapter Dawn offers.
// 1. the adapter, or why there is none (exit 2);
// 2. one SFT step of a small GPT on the GPU against wasm on the CPU: logits, loss, gradients, weights after
//    AdamW (trainer/testing/backend-parity.ts; exit 1 past its PARITY_BOUNDS, the webgpu tests' too);
// 3. matmul GFLOP/s at the shapes micro and gpt2 train with, and a square 4096, as a share of --peak-tflops;
// 4. training tokens/s (forward + backward + global-norm clip + AdamW) of --presets on the GPU, beside
//    bench/torch_gpt_bench.py --device cuda when PyTorch sees a CUDA device (the same model, fp32, no TF32).
// Results are read with `await data()`: tfjs-backend-webgpu cannot read synchronously under Node, which
// is also why only SFT jobs run on it so far (decision trainer-033). Tests never run this.
// Usage: npx tsx bench/gpu-check.ts [--presets micro,gpt2] [--steps 5] [--warmup 2] [--peak-tflops 67]
//        [--matmuls micro|all|none] [--no-torch]
// On a software device (Mesa's lavapipe) it runs too, for checking the script: its figures are a CPU's.
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { adapterLabel } from "../trainer/contract/webgpu-adapter.ts";
import { GPT_PRESETS, resolveGptConfig, type GptPreset } from "../trainer/contract/gpt-config.ts";
import { sftConfigSchema } from "../trainer/contract/sft-config.ts";
import { disposeGpt, initGpt } from "../trainer/model/gpt.ts";
import { createSftTrainer } from "../trainer/algorithms/sft-trainer.ts";
import { compareReadouts, parityBatch, parityFailures, sftStepReadout } from "../trainer/testing/backend-parity.ts";
import { arg } from "./cli-arg.ts";

const presets = arg("presets", "micro,gpt2").split(",").filter(Boolean) as GptPreset[];
for (const p of presets) if (!Object.hasOwn(GPT_PRESETS, p)) throw new Error(`--presets: ${p} is not a GPT preset (${Object.keys(GPT_PRESETS).join(", ")})`);
const steps = Number(arg("steps", "5"));
const warmup = Number(arg("warmup", "2"));
const peakTflops = Number(arg("peak-tflops", "0")); // the card's fp32 peak, e.g. 67 for an H100 or H200 (SXM)
const shapes: Record<string, { B: number; T: number }> = { nano: { B: 16, T: 128 }, micro: { B: 8, T: 128 }, gpt2: { B: 8, T: 1024 } };
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

// 1. the adapter
const gpu = await initBackend({ prefer: "webgpu", readsSynchronously: false });
if (gpu.backend !== "webgpu" || !gpu.adapter) {
  console.log(`no webgpu: ${gpu.skipped.map((s) => `${s.package}: ${s.reason}`).join("; ")}`);
  process.exit(2);
}
const software = gpu.adapter.software;
console.log(`adapter: ${adapterLabel(gpu.adapter)}${software ? ": the timings below are a CPU's" : ""}`);

// 2. one step against wasm
{
  const config = resolveGptConfig({ vocabSize: 512, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 128 });
  const batch = parityBatch(512, 4, 64);
  const onGpu = await sftStepReadout(config, 7, batch);
  await initBackend({ prefer: "wasm" });
  const onCpu = await sftStepReadout(config, 7, batch);
  await initBackend({ prefer: "webgpu", readsSynchronously: false });
  const r = compareReadouts(onCpu, onGpu);
  const ok = parityFailures(r).length === 0;
  console.log(`parity with wasm (2x128 GPT, 4x64 tokens, one SFT step): logits ${r.logits.toExponential(1)}, loss ${r.loss.toExponential(1)}, gradients ${r.grads.toExponential(1)} (relative to the largest); weights after AdamW ${r.update.toExponential(1)} learning rates (${r.ambiguous} with |g| near 0 left out) — ${ok ? "pass" : "FAIL"}`);
  if (!ok) process.exit(1);
}

// 3. matmul throughput
const matmulSet = arg("matmuls", software ? "micro" : "all");
if (matmulSet !== "none") {
  const micro: Array<[number, number, number]> = [[1024, 384, 1152], [1024, 384, 384], [1024, 384, 1536], [1024, 1536, 384], [1024, 384, 2048]];
  const large: Array<[number, number, number]> = [[8192, 768, 2304], [8192, 768, 3072], [8192, 3072, 768], [8192, 768, 50257], [4096, 4096, 4096]];
  console.log(`\nmatmul on webgpu, (M×K)·(K×N) float32${peakTflops > 0 ? `, share of the ${peakTflops} TFLOP/s fp32 peak` : ""}:`);
  for (const [M, K, N] of matmulSet === "all" ? [...micro, ...large] : micro) {
    const a = tf.randomNormal([M, K]), b = tf.randomNormal([K, N]);
    const run = async (n: number): Promise<number> => {
      const t0 = performance.now();
      let last: tf.Tensor | undefined;
      for (let i = 0; i < n; i++) { last?.dispose(); last = tf.matMul(a, b); }
      await last!.data(); // the queue runs in order: the last product done means all are
      last!.dispose();
      return (performance.now() - t0) / 1000;
    };
    await run(2);
    const reps = Math.max(3, Math.min(50, Math.round(2e11 / (2 * M * K * N))));
    const gflops = (2 * M * K * N * reps) / (await run(reps)) / 1e9;
    console.log(`  ${M}×${K}·${K}×${N}: ${gflops.toFixed(1)} GFLOP/s${peakTflops > 0 ? ` (${((gflops / (peakTflops * 1000)) * 100).toFixed(1)} % of peak)` : ""}`);
    tf.dispose([a, b]);
  }
}

// 4. training steps: the SFT trainer's own step (trainStepAsync), every token a target
for (const preset of presets) {
  const config = resolveGptConfig({ preset });
  const { B, T } = shapes[preset] ?? { B: 8, T: 128 };
  const model = initGpt(config, 0);
  const trainer = createSftTrainer(model, sftConfigSchema.parse({ batchSize: B }), 0);
  const examples = Array.from({ length: B }, (_, b) => {
    const ids = Array.from({ length: T }, (_, i) => ((b * T + i) * 7919) % config.vocabSize);
    return { ids, lossMask: ids.map(() => 1) };
  });
  const times: number[] = [];
  const losses: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = performance.now();
    const { loss } = await trainer.trainStepAsync(examples); // it waits for the loss and the norm, as PyTorch's float(loss) and clip_grad_norm_
    await (model.params.get("ln_f.bias") as tf.Tensor).data(); // and here for the update
    if (s >= warmup) times.push((performance.now() - t0) / 1000);
    losses.push(loss);
  }
  const stepS = median(times);
  console.log(`\n${preset} train on webgpu (B ${B}, T ${T}): ${(stepS * 1000).toFixed(0)} ms/step, ${(B * T / stepS).toFixed(0)} tokens/s; losses ${losses.map((l) => l.toFixed(3)).join(" ")}`);
  trainer.dispose();
  disposeGpt(model);
  if (process.argv.includes("--no-torch")) continue;
  const python = process.env["TANDEM_PYTHON"] ?? "python3";
  const torch = spawnSync(python, ["bench/torch_gpt_bench.py", "--preset", preset, "--batch", String(B), "--seq", String(T), "--steps", String(steps), "--warmup", String(warmup), "--device", "cuda", "--no-generate"], { encoding: "utf8", timeout: 300_000 });
  const line = torch.stdout?.trim().split("\n").at(-1) ?? "";
  if (torch.status !== 0 || !line.startsWith("{")) {
    console.log(`${preset} PyTorch on CUDA: not measured (${(torch.stderr ?? torch.error?.message ?? "").trim().split("\n").at(-1)})`);
    continue;
  }
  const r = JSON.parse(line) as { train_tokens_per_s: number; step_s: number; device: string; torch: string };
  console.log(`${preset} PyTorch ${r.torch} on ${r.device}: ${(r.step_s * 1000).toFixed(0)} ms/step, ${r.train_tokens_per_s.toFixed(0)} tokens/s`);
  console.log(`${preset} train ratio webgpu vs PyTorch CUDA: ${((B * T / stepS) / r.train_tokens_per_s).toFixed(2)}`);
}
