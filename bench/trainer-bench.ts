// Trainer throughput bench: training tokens/s (forward + backward + AdamW) for the nano and micro
// presets, and KV-cache generation tokens/s, on whatever backend initBackend() picks; next to the
// same model, batch and optimizer in PyTorch on CPU (bench/torch_gpt_bench.py, run with Debian's
// /usr/bin/python3 + python3-torch, BLAS = libblas.so.3, which should be OpenBLAS), and the ratio.
// As root, missing python3-torch / libopenblas0-pthread are installed with apt-get; otherwise the
// PyTorch column is skipped with what to install.
// The Llama-family preset smollm2-135m (SmolLM2-135M's shape, random init) is measured in child
// processes, one per mode, so each reports its own peak RSS: full fine-tuning and LoRA (PEFT's
// defaults) train tokens/s, KV-cache generation tokens/s, and DPO with LoRA (reference log-probs and
// training steps, extrapolated to a round of 200 pairs).
// Activation recomputation and memory: each --recompute-preset (default micro; a list such as nano,micro; "none"
// skips it) trains in two child processes, without and with recomputation. Each child prints its peak RSS, the wasm
// heap's size, and its RSS after every tensor is disposed (the heap keeps its size: decision trainer-016).
// Usage: npx tsx bench/trainer-bench.ts [--presets nano,micro,smollm2-135m] [--steps 3] [--warmup 1] [--attention auto|batched|per-head]
//        [--recompute-preset micro|nano|none] [--blas auto|off] [--blas-threads N] [--recompute] [--llama-modes full,lora,generate,dpo-lora]
// Native BLAS (OpenBLAS through koffi) does the wasm matmuls when libopenblas0-pthread is installed, unless
// --blas off (or TANDEM_BLAS=off); --blas-threads (TANDEM_BLAS_THREADS) sets its threads, default one per core.
//        [--torch-steps 5] [--torch-warmup 2] [--gen-runs 5] [--no-torch] [--llama-batch 1] [--llama-seq 128] [--llama-steps 2] [--llama-warmup 1]
// --profile: instead of the tables, where one training step of each preset spends its time (kernel time by
// kernel, from tf.profile), then the optimizer (clipping + AdamW) alone, LayerNorm, RMSNorm and the attention
// softmax alone (fused loop against tensor ops), and whole steps round robin over sets of the project's fused
// loops (none, AdamW + clipping + token log-probs, + LayerNorm, + softmax), interleaved in this process
// (decisions trainer-015, trainer-019).
// PyTorch runs twice per GPT preset: on one thread (torch.set_num_threads(1) and OPENBLAS_NUM_THREADS=1, since the
// first does not limit OpenBLAS's own pool) and at its defaults (torch's intra-op threads, OpenBLAS one per core).
// The "… ratio vs PyTorch" lines compare with the one-thread run, "… ratio vs PyTorch at its defaults" with the other.
// Then the matmul table (bench/matmul-bench.ts in a child process: GFLOP/s per shape of micro on wasm, OpenBLAS and
// PyTorch); --no-matmul skips it.
// Each figure is the median of the timed steps after warm-up. Generation (GPT presets) is the median of --gen-runs runs
// of 8 prompts × 64 new tokens on both sides (PyTorch's through torch_gpt_bench.py --generate-only): one run was
// load-sensitive, and the first run in a process is the slowest (V8 compiles). Tests never assert on time; this does
// not either.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { pinOpenblasCoreType } from "../trainer/backend/native-blas.ts";
import { resolveGptConfig, type GptPreset } from "../trainer/contract/gpt-config.ts";
import { sftConfigSchema } from "../trainer/contract/sft-config.ts";
import { attentionBias, countParams, disposeGpt, initGpt, layerNorm, setAttentionImpl, type AttentionImpl, type GptModel } from "../trainer/model/gpt.ts";
import { createSftTrainer, type SftExample } from "../trainer/algorithms/sft-trainer.ts";
import { createDpoTrainer, type PreferencePair } from "../trainer/algorithms/dpo-trainer.ts";
import { dpoConfigSchema } from "../trainer/contract/dpo-config.ts";
import { LLAMA_PRESETS, resolveLlamaConfig, type LlamaPreset } from "../trainer/contract/llama-config.ts";
import { loraConfigSchema } from "../trainer/contract/lora-config.ts";
import { countLlamaParams, initLlama, rmsNorm } from "../trainer/model/llama.ts";
import { attachLora, trainableParams } from "../trainer/model/lora.ts";
import { disposeModel, lmForward, type LanguageModel } from "../trainer/model/lm.ts";
import { createRng } from "../trainer/random/rng.ts";
import { setRecompute } from "../trainer/model/recompute.ts";
import { adamwStep, createAdamW, disposeAdamW } from "../trainer/optim/adamw.ts";
import { setFusedKernels, type FusedKernel } from "../trainer/backend/wasm-heap.ts";
import { maskedSoftmax } from "../trainer/model/fused-softmax.ts";
import { clipScale } from "../trainer/optim/gradients.ts";
import { normalArray } from "../trainer/random/rng.ts";
import { arg } from "./cli-arg.ts";
import { greedyGeneration } from "./greedy-generation.ts";

const allPresets = arg("presets", "nano,micro,smollm2-135m").split(",").filter(Boolean); // --presets "" for the recomputation rows alone
const isLlamaPreset = (p: string): p is LlamaPreset => Object.hasOwn(LLAMA_PRESETS, p);
const presets = allPresets.filter((p) => !isLlamaPreset(p)) as GptPreset[];
const llamaPresets = allPresets.filter(isLlamaPreset);
const llamaBatch = Number(arg("llama-batch", "1"));
const llamaSeq = Number(arg("llama-seq", "128"));
const llamaSteps = Number(arg("llama-steps", "2"));
const llamaWarmup = Number(arg("llama-warmup", "1"));
const steps = Number(arg("steps", "3"));
const warmup = Number(arg("warmup", "1"));
const attention = arg("attention", "auto") as AttentionImpl;
// one or more presets ("nano,micro"), each measured without and with recomputation in its own processes
const recomputePresets = arg("recompute-preset", "micro").split(",").filter((p) => p && p !== "none") as GptPreset[];
// --recompute: the Llama-family modes train with activation recomputation; --llama-modes picks modes
const recomputeAll = process.argv.includes("--recompute");
const llamaModes = arg("llama-modes", "full,lora,generate,dpo-lora").split(",");
// native BLAS for wasm matmuls (trainer/backend/native-blas.ts): through the environment, so the
// child processes below get the same setting
if (process.argv.includes("--blas")) process.env["TANDEM_BLAS"] = arg("blas", "auto");
if (process.argv.includes("--blas-threads")) process.env["TANDEM_BLAS_THREADS"] = arg("blas-threads", "1");
// the same OpenBLAS kernels for tfjs and PyTorch, whether or not tfjs loads the library (native-blas.ts)
pinOpenblasCoreType();
const torchSteps = arg("torch-steps", "5");
const genRuns = Number(arg("gen-runs", "5"));
if (!Number.isInteger(genRuns) || genRuns < 1) throw new Error(`--gen-runs: a whole number ≥ 1, not ${arg("gen-runs", "5")}`);
const torchWarmup = arg("torch-warmup", "2");
const PYTHON = "/usr/bin/python3"; // Debian's: python3-torch comes from apt, a pyenv python3 on PATH lacks it
setAttentionImpl(attention);
const shapes: Record<string, { B: number; T: number }> = { nano: { B: 16, T: 128 }, micro: { B: 8, T: 128 } };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** CPU seconds (user + system, every thread of the process) that `fn` takes. */
function cpuSeconds(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** --profile: where a training step's time goes, and the fused loops against plain tensor ops. */
async function profileBench(preset: GptPreset): Promise<void> {
  const config = resolveGptConfig({ preset });
  const { B, T } = shapes[preset] ?? { B: 8, T: 128 };
  const rng = createRng(1);
  const examples: SftExample[] = Array.from({ length: B }, () => {
    const ids = Array.from({ length: T }, () => Math.floor(rng.next() * config.vocabSize));
    return { ids, lossMask: ids.map(() => 1) };
  });
  const model = initGpt(config, 0);
  const trainer = createSftTrainer(model, sftConfigSchema.parse({ batchSize: B }), 0);
  trainer.trainStep(examples); // warm-up
  // 1. kernel time by kernel over one step (tf.profile times each kernel; JS between kernels is the rest)
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const info = await tf.profile(() => {
    trainer.trainStep(examples);
  });
  const wallMs = performance.now() - t0;
  const stepCpuS = (process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6;
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    // custom ops ("forward" of tf.customGrad, "…__op") are listed with the kernels they run: count those once
    if (!tf.getKernel(k.name, tf.getBackend())) continue;
    const row = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    row.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    row.calls += 1;
    byKernel.set(k.name, row);
  }
  const kernelMs = [...byKernel.values()].reduce((a, r) => a + r.ms, 0);
  const calls = [...byKernel.values()].reduce((a, r) => a + r.calls, 0);
  console.log(`\nprofile, ${preset} ${B}×${T} SFT step (profiled, so slower than the timed figures): ${wallMs.toFixed(0)} ms wall, ${stepCpuS.toFixed(3)} CPU s, kernels ${kernelMs.toFixed(0)} ms in ${calls} calls`);
  console.log("| kernel | ms | share of kernel time | calls |");
  console.log("|---|---:|---:|---:|");
  for (const [name, r] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 16))
    console.log(`| ${name} | ${r.ms.toFixed(1)} | ${((100 * r.ms) / kernelMs).toFixed(1)} % | ${r.calls} |`);
  trainer.dispose();

  // 2. the optimizer alone: clip scale + AdamW over every parameter, gradients big enough to clip
  const params = model.params;
  const grads = new Map([...params].map(([name, p]) => [name, tf.tensor(normalArray(rng, p.size, 0.01), p.shape)]));
  const h = sftConfigSchema.parse({}).optim;
  const optimizerCpu = { fused: [] as number[], ops: [] as number[] };
  for (let i = 0; i < 2 * (steps + 1); i++) {
    const fused = i % 2 === 0;
    setFusedKernels(fused);
    const state = createAdamW(params);
    const s = cpuSeconds(() => {
      const { scale } = clipScale(grads, h.gradClip);
      adamwStep(params, state, grads, 1e-4, h, scale);
    });
    disposeAdamW(state);
    if (i >= 2) (fused ? optimizerCpu.fused : optimizerCpu.ops).push(s);
  }
  tf.dispose([...grads.values()]);
  const nParams = [...params.values()].reduce((a, p) => a + p.size, 0);
  console.log(`optimizer alone (global-norm clip + AdamW over ${nParams.toLocaleString("en")} parameters), CPU ms per step, median of ${steps}:`);
  console.log(`  tensor ops ${(1000 * median(optimizerCpu.ops)).toFixed(1)}, fused ${(1000 * median(optimizerCpu.fused)).toFixed(1)} (×${(median(optimizerCpu.ops) / median(optimizerCpu.fused)).toFixed(1)})`);

  // 3. LayerNorm, RMSNorm and the attention softmax alone, forward + backward at this preset's shapes (the
  // upstream gradient is given, so nothing else runs), fused (the SIMD kernel, or the JS loop under TANDEM_SIMD=off)
  // and tensor ops alternating
  const { nHead: H, nEmbd: C } = config;
  const x = tf.randomNormal([B, T, C], 0, 1, "float32", 1);
  const g = tf.randomNormal([C], 1, 0.2, "float32", 2);
  const b = tf.randomNormal([C], 0, 0.2, "float32", 3);
  const dy = tf.randomNormal([B, T, C], 0, 1, "float32", 4);
  const scores = tf.randomNormal([B, H, T, T], 0, 4, "float32", 5);
  const dScores = tf.randomNormal([B, H, T, T], 0, 1, "float32", 6);
  const bias = attentionBias(B, T, 0, undefined);
  const pieces: [string, FusedKernel, () => void][] = [
    [`LayerNorm (${B}·${T}, ${C})`, "norm", () => tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => layerNorm(a, c, d, 1e-5))([x, g, b], dy))],
    [`RMSNorm (${B}·${T}, ${C})`, "norm", () => tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor) => rmsNorm(a, c, 1e-5))([x, g], dy))],
    [`masked softmax (${B}, ${H}, ${T}, ${T})`, "softmax", () => tf.dispose(tf.grads((a: tf.Tensor) => maskedSoftmax(a, bias, 0.125))([scores], dScores))],
  ];
  console.log(`forward + backward alone, CPU ms per call, median of ${4 * steps}:`);
  for (const [name, group, fn] of pieces) {
    const cpu = { fused: [] as number[], ops: [] as number[] };
    for (let i = 0; i < 2 * (4 * steps + 2); i++) {
      const fused = i % 2 === 0;
      setFusedKernels(fused ? [group] : false);
      const s = cpuSeconds(fn);
      if (i >= 4) (fused ? cpu.fused : cpu.ops).push(s);
    }
    console.log(`  ${name}: tensor ops ${(1000 * median(cpu.ops)).toFixed(1)}, fused ${(1000 * median(cpu.fused)).toFixed(1)} (×${(median(cpu.ops) / median(cpu.fused)).toFixed(2)})`);
  }
  setFusedKernels(true);
  tf.dispose([x, g, b, dy, scores, dScores, bias]);

  // 4. whole steps, round robin over sets of fused loops, one fresh trainer each: none (tensor ops), trainer-015's
  // (optimizer, log-probs), + LayerNorm, + the SIMD GELU (trainer-023), the default (+ the softmax: its SIMD kernel,
  // trainer-024; its JS loop under TANDEM_SIMD=off). LayerNorm, log-probs and AdamW are SIMD kernels unless TANDEM_SIMD=off.
  const sets: [string, FusedKernel[]][] = [
    ["tensor ops", []],
    ["optimizer+logprobs", ["optimizer", "logprobs"]],
    ["+norm", ["optimizer", "logprobs", "norm"]],
    ["+activation (SIMD GELU)", ["optimizer", "logprobs", "norm", "activation"]],
    ["default (+softmax)", ["optimizer", "logprobs", "norm", "activation", "softmax"]],
  ];
  const stepCpu = sets.map(() => [] as number[]);
  for (let i = 0; i < sets.length * (steps + warmup); i++) {
    const k = i % sets.length;
    setFusedKernels((sets[k] as [string, FusedKernel[]])[1]);
    const t = createSftTrainer(model, sftConfigSchema.parse({ batchSize: B }), 0);
    const s = cpuSeconds(() => t.trainStep(examples));
    t.dispose();
    if (i >= sets.length * warmup) stepCpu[k]?.push(s);
  }
  setFusedKernels(true);
  disposeGpt(model);
  const base = median(stepCpu[0] ?? []);
  console.log(`${preset} training step, CPU s/step, ${steps} each, round robin:`);
  sets.forEach(([name], k) => {
    const xs = stepCpu[k] ?? [];
    console.log(`  ${name}: ${median(xs).toFixed(3)} [${xs.map((v) => v.toFixed(3)).join(", ")}] (×${(base / median(xs)).toFixed(2)} vs tensor ops)`);
  });
}

function trainBench(preset: GptPreset, recompute = false): { stepS: number; cpuS: number; tokensPerS: number; params: number; B: number; T: number } {
  const config = resolveGptConfig({ preset });
  const { B, T } = shapes[preset] ?? { B: 8, T: 128 };
  const rng = createRng(1);
  // pretraining-style: every token is a target
  const examples: SftExample[] = Array.from({ length: B }, () => {
    const ids = Array.from({ length: T }, () => Math.floor(rng.next() * config.vocabSize));
    return { ids, lossMask: ids.map(() => 1) };
  });
  const model = initGpt(config, 0);
  setRecompute(recompute);
  const trainer = createSftTrainer(model, sftConfigSchema.parse({ batchSize: B }), 0);
  const times: number[] = [];
  // CPU time of this process too: on a shared VM the wall time includes waiting for a core, the CPU
  // time mostly does not, so it compares two versions of the code more steadily
  const cpu: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    trainer.trainStep(examples);
    const c = process.cpuUsage(c0);
    if (i >= warmup) {
      times.push((performance.now() - t0) / 1000);
      cpu.push((c.user + c.system) / 1e6);
    }
  }
  trainer.dispose();
  disposeGpt(model);
  setRecompute(false);
  const stepS = median(times);
  return { stepS, cpuS: median(cpu), tokensPerS: (B * T) / stepS, params: countParams(config), B, T };
}

/** Tokens per CPU-second of this process in the last generateBench (the wall figure waits for cores on a shared machine). */
let lastGenTokensPerCpuS = NaN;

function generateBench(model: GptModel | LanguageModel, prompts: number, promptLength: number, newTokens: number): number {
  const { cpuS, wallS } = greedyGeneration(model, prompts, promptLength, newTokens);
  lastGenTokensPerCpuS = (prompts * newTokens) / cpuS;
  return (prompts * newTokens) / wallS;
}

interface TorchResult {
  step_s: number;
  /** CPU seconds of the PyTorch process per step (median). */
  cpu_s: number;
  train_tokens_per_s: number;
  gen_tokens_per_s: number;
  peak_rss_mb: number;
  torch: string;
  threads: number;
  blas: string;
}

const sh = (cmd: string, args: string[]): { ok: boolean; out: string } => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
};
const installed = (pkg: string): boolean => sh("dpkg-query", ["-W", "-f=${Status}", pkg]).out.includes("install ok installed");

/** Makes Debian's python3-torch and OpenBLAS available; returns why not when they cannot be. */
function ensureTorch(): string | null {
  if (process.argv.includes("--no-torch")) return "--no-torch given";
  const missing = ["python3-torch", "libopenblas0-pthread"].filter((p) => !installed(p));
  const torchImports = (): boolean => sh(PYTHON, ["-c", "import torch"]).ok;
  if (missing.length === 0 && torchImports()) return null;
  const need = missing.length > 0 ? missing : ["python3-torch"];
  if (process.getuid?.() !== 0)
    return `PyTorch column skipped: run as root, or install them: sudo apt-get update && sudo apt-get install -y ${need.join(" ")}`;
  console.log(`installing ${need.join(" ")} with apt-get (once) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = spawnSync("apt-get", ["update"], { stdio: "ignore", env });
  const install = spawnSync("apt-get", ["install", "-y", ...need], { stdio: "ignore", env });
  if (update.status !== 0 || install.status !== 0 || !torchImports())
    return `PyTorch column skipped: apt-get install -y ${need.join(" ")} failed (exit ${install.status ?? "?"})`;
  return null;
}

/** PyTorch on one thread (torch's and OpenBLAS's), or at its defaults. */
function torchBench(preset: GptPreset, B: number, T: number, threads: "one" | "default"): TorchResult {
  // its one generation stays in this process, so that its peak RSS covers training and generation as ours does; the
  // generate figures come from torchGenerate (a median)
  return torchRun(["--preset", preset, "--batch", String(B), "--seq", String(T), "--steps", torchSteps, "--warmup", torchWarmup], threads) as TorchResult;
}

/** PyTorch's generation alone, the median of --gen-runs runs (its training run's one generation is replaced). */
function torchGenerate(preset: GptPreset, threads: "one" | "default"): { gen_tokens_per_s: number; gen_tokens_per_cpu_s: number } {
  const r = torchRun(["--preset", preset, "--generate-only", "--steps", String(genRuns)], threads) as { gen_tokens_per_s: number[]; gen_tokens_per_cpu_s: number[] };
  return { gen_tokens_per_s: median(r.gen_tokens_per_s), gen_tokens_per_cpu_s: median(r.gen_tokens_per_cpu_s) };
}

function torchRun(args: string[], threads: "one" | "default"): unknown {
  const script = fileURLToPath(new URL("./torch_gpt_bench.py", import.meta.url));
  const env = threads === "one" ? { ...process.env, OPENBLAS_NUM_THREADS: "1" } : process.env;
  const r = spawnSync(PYTHON, threads === "one" ? [script, ...args, "--threads", "1"] : [script, ...args], { encoding: "utf8", env });
  if (r.status !== 0) throw new Error(`torch_gpt_bench.py failed:\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "");
}

// ---- Llama-family presets: one child process per mode, each with its own peak RSS ----

type LlamaMode = "full" | "lora" | "generate" | "dpo-lora";

/** In the child: one measurement, printed as a JSON line. */
function llamaChild(preset: LlamaPreset, mode: LlamaMode): Record<string, number | string> {
  const config = resolveLlamaConfig({ preset });
  const model = initLlama(config, 0);
  const rng = createRng(1);
  const token = (): number => Math.floor(rng.next() * config.vocabSize);
  const out: Record<string, number | string> = { preset, mode, params: countLlamaParams(config) };
  const timed = (n: number, w: number, fn: () => void): { stepS: number; cpuS: number } => {
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < w + n; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      fn();
      const c = process.cpuUsage(c0);
      if (i >= w) {
        times.push((performance.now() - t0) / 1000);
        cpu.push((c.user + c.system) / 1e6);
      }
    }
    return { stepS: median(times), cpuS: median(cpu) };
  };
  if (mode === "generate") {
    generateBench(model, 8, 16, 2); // warm-up
    out["genTokensPerS"] = generateBench(model, 8, 16, 64);
  } else if (mode === "full" || mode === "lora") {
    if (mode === "lora") attachLora(model, loraConfigSchema.parse({}));
    out["trainable"] = [...trainableParams(model).values()].reduce((a, v) => a + v.size, 0);
    const examples: SftExample[] = Array.from({ length: llamaBatch }, () => {
      const ids = Array.from({ length: llamaSeq }, token);
      return { ids, lossMask: ids.map(() => 1) };
    });
    const trainer = createSftTrainer(model, sftConfigSchema.parse({ batchSize: llamaBatch }), 0);
    const { stepS, cpuS } = timed(llamaSteps, llamaWarmup, () => trainer.trainStep(examples));
    Object.assign(out, { batch: llamaBatch, seq: llamaSeq, stepS, cpuS, tokensPerS: (llamaBatch * llamaSeq) / stepS });
    trainer.dispose();
  } else {
    // DPO with LoRA, measured small (prompts of 32 tokens, completions of 32, 2 pairs a step) and
    // scaled linearly in tokens to a round of 200 pairs of 64 + 64 tokens, one epoch at batch 8
    // (TRL's per-device default): the reference pass once, then 25 steps
    attachLora(model, loraConfigSchema.parse({}));
    const pairOf = (): PreferencePair => ({ prompt: Array.from({ length: 32 }, token), chosen: Array.from({ length: 32 }, token), rejected: Array.from({ length: 32 }, token) });
    const pairs = Array.from({ length: 4 }, pairOf);
    // one forward first: the first product with each weight packs it for XNNPACK, a one-time cost
    tf.tidy(() => {
      lmForward(model, tf.tensor2d([pairs[0]?.prompt ?? []], [1, 32], "int32"));
    });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const trainer = createDpoTrainer(model, pairs, dpoConfigSchema.parse({ batchSize: 2 }), 0);
    const referencePerPairS = (performance.now() - t0) / 1000 / pairs.length;
    const referenceCpuPerPairS = ((process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6) / pairs.length;
    let at = 0;
    const { stepS, cpuS } = timed(llamaSteps, llamaWarmup, () => {
      trainer.trainStep([0, 1].map((i) => (i + at) % pairs.length));
      at += 2;
    });
    trainer.dispose();
    const scale = 128 / 64; // tokens per sequence, round vs measured
    Object.assign(out, {
      referencePerPairS, referenceCpuPerPairS, dpoStepS: stepS, dpoCpuS: cpuS,
      round200S: 200 * referencePerPairS * scale + 25 * (8 / 2) * stepS * scale,
      round200CpuS: 200 * referenceCpuPerPairS * scale + 25 * (8 / 2) * cpuS * scale,
    });
  }
  out["peakRssMb"] = process.resourceUsage().maxRSS / 1024;
  disposeModel(model);
  return out;
}

// in a child: one GPT preset's training step, with or without activation recomputation, and the
// process's peak RSS (the wasm heap keeps its high-water mark, so each setting needs its own process)
if (process.argv.includes("--recompute-child")) {
  await initBackend();
  setAttentionImpl(attention);
  const on = arg("recompute-child", "off") === "on";
  const r = trainBench(arg("preset", "micro") as GptPreset, on);
  // after the model, optimizer and every tensor are gone: what the process still holds
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength ?? 0;
  const vmRss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN) / 1024;
  console.log(JSON.stringify({ ...r, recompute: on, peakRssMb: process.resourceUsage().maxRSS / 1024, wasmHeapMb: heap / 2 ** 20, rssAfterMb: vmRss, tensorsAfter: tf.memory().numTensors }));
  process.exit(0);
}

if (process.argv.includes("--llama-child")) {
  await initBackend();
  setAttentionImpl(attention);
  setRecompute(recomputeAll);
  const result = llamaChild(arg("preset", "smollm2-135m") as LlamaPreset, arg("llama-child", "full") as LlamaMode);
  console.log(JSON.stringify(result));
  process.exit(0);
}

if (process.argv.includes("--profile")) {
  const backend = await initBackend();
  console.log(`backend: ${backend.backend}; native BLAS: ${backend.blas ? `${backend.blas.library} (${backend.blas.config}), ${backend.blas.threads} thread(s)` : "off"}; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  for (const preset of presets) await profileBench(preset);
  console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  process.exit(0);
}

const info = await initBackend();
const torchSkip = ensureTorch();
console.log(`backend: ${info.backend} (${info.package}), threads ${info.threads}, simd ${String(info.simd)}, kernels ${info.customKernels.join(",") || "none"}, ops ${info.projectOps.join(",")}`);
console.log(info.blas ? `native BLAS: ${info.blas.library} (${info.blas.config}), ${info.blas.threads} thread(s)` : "native BLAS: off");
for (const s of info.skipped) console.log(`skipped ${s.package}: ${s.reason}`);
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}; load average at start ${load()} (other processes skew timings)`);
console.log(`node ${process.version}, attention ${attention}, ${steps} timed steps after ${warmup} warm-up, median; PyTorch ${torchSteps} after ${torchWarmup}; OPENBLAS_CORETYPE ${process.env["OPENBLAS_CORETYPE"] ?? "(OpenBLAS's own detection)"}`);
if (torchSkip) console.log(torchSkip);
if (presets.length > 0) {
  console.log("| preset | params | batch | tfjs s/step | tfjs CPU s/step | tfjs train tok/s | PyTorch s/step | PyTorch train tok/s | tfjs gen tok/s | PyTorch gen tok/s | PyTorch defaults: s/step | CPU s/step | train tok/s | gen tok/s |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}
const ratios: string[] = [];
const perCpu: string[] = []; // printed after the table: tokens per CPU-second, steadier than wall time on a shared machine
let torchInfo = "";
let torchRss = 0;
for (const preset of presets) {
  const r = trainBench(preset);
  const model = initGpt(resolveGptConfig({ preset }), 0);
  generateBench(model, 8, 16, 4); // warm-up
  const genTimed = Array.from({ length: genRuns }, () => ({ wall: generateBench(model, 8, 16, 64), cpu: lastGenTokensPerCpuS }));
  const gen = median(genTimed.map((g) => g.wall));
  const genPerCpuS = median(genTimed.map((g) => g.cpu));
  disposeGpt(model);
  const t = torchSkip ? null : { ...torchBench(preset, r.B, r.T, "one"), ...torchGenerate(preset, "one") };
  const td = torchSkip ? null : { ...torchBench(preset, r.B, r.T, "default"), ...torchGenerate(preset, "default") };
  const cell = (x: number | undefined, digits = 0): string => (x === undefined ? "–" : digits ? x.toFixed(digits) : String(Math.round(x)));
  console.log(
    `| ${preset} | ${r.params.toLocaleString("en")} | ${r.B}×${r.T} | ${r.stepS.toFixed(3)} | ${r.cpuS.toFixed(3)} | ${Math.round(r.tokensPerS)} | ${cell(t?.step_s, 3)} | ${cell(t?.train_tokens_per_s)} | ${Math.round(gen)} | ${cell(t?.gen_tokens_per_s)} | ${cell(td?.step_s, 3)} | ${cell(td?.cpu_s, 3)} | ${cell(td?.train_tokens_per_s)} | ${cell(td?.gen_tokens_per_s)} |`,
  );
  perCpu.push(`${preset}: train tokens per CPU-second ${Math.round((r.B * r.T) / r.cpuS)}, generate tokens per CPU-second ${Math.round(genPerCpuS)}`);
  if (t) {
    ratios.push(`${preset} train ratio vs PyTorch: ${(r.tokensPerS / t.train_tokens_per_s).toFixed(2)}`);
    ratios.push(`${preset} generate ratio vs PyTorch: ${(gen / t.gen_tokens_per_s).toFixed(2)} (median of ${genRuns} runs each)`);
    ratios.push(`${preset} generate CPU-seconds ratio vs PyTorch: ${(genPerCpuS / t.gen_tokens_per_cpu_s).toFixed(2)} (tokens per CPU-second: tfjs ${Math.round(genPerCpuS)}, PyTorch ${Math.round(t.gen_tokens_per_cpu_s)})`);
    // CPU seconds per step, PyTorch's over ours: steadier than the wall-clock ratios on a shared machine
    ratios.push(`${preset} train CPU-seconds ratio vs PyTorch: ${(t.cpu_s / r.cpuS).toFixed(2)} (PyTorch ${t.cpu_s.toFixed(3)} CPU s/step, tfjs ${r.cpuS.toFixed(3)})`);
    torchRss = Math.max(torchRss, t.peak_rss_mb);
    torchInfo = `PyTorch ${t.torch}, ${t.threads} thread(s), ${t.blas}`;
  }
  if (td) {
    const blasThreads = process.env["OPENBLAS_NUM_THREADS"] ?? String(cpus().length);
    ratios.push(`${preset} train ratio vs PyTorch at its defaults (${td.threads} torch thread(s), OpenBLAS ${blasThreads}): ${(r.tokensPerS / td.train_tokens_per_s).toFixed(2)} (CPU-seconds ratio ${(td.cpu_s / r.cpuS).toFixed(2)})`);
    ratios.push(`${preset} generate ratio vs PyTorch at its defaults: ${(gen / td.gen_tokens_per_s).toFixed(2)}`);
    torchRss = Math.max(torchRss, td.peak_rss_mb);
  }
}
for (const line of perCpu) console.log(line);
// activation recomputation (model/recompute.ts): the same training step in two child processes,
// off and on, each with its own peak RSS
for (const recomputePreset of recomputePresets) {
  const self = fileURLToPath(import.meta.url);
  const rows = (["off", "on"] as const).map((mode) => {
    const r = spawnSync(process.execPath, [...process.execArgv, self, "--recompute-child", mode, "--preset", recomputePreset, "--steps", String(steps), "--warmup", String(warmup), "--attention", attention], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`recompute ${mode} bench failed:\n${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as { stepS: number; cpuS: number; peakRssMb: number; wasmHeapMb: number; rssAfterMb: number; tensorsAfter: number; B: number; T: number };
  });
  const [off, on] = rows as [(typeof rows)[number], (typeof rows)[number]];
  console.log(`\nactivation recomputation, ${recomputePreset} ${off.B}×${off.T} training step, one child process each:`);
  console.log("| recompute | tfjs s/step | tfjs CPU s/step | peak RSS MB | wasm heap MB | RSS MB with every tensor disposed (tensors) |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [label, r] of [["off", off], ["on", on]] as const)
    console.log(`| ${label} | ${r.stepS.toFixed(3)} | ${r.cpuS.toFixed(3)} | ${r.peakRssMb.toFixed(0)} | ${r.wasmHeapMb.toFixed(0)} | ${r.rssAfterMb.toFixed(0)} (${r.tensorsAfter}) |`);
  console.log(`${recomputePreset} peak RSS with recomputation: ${on.peakRssMb.toFixed(0)} MB (without: ${off.peakRssMb.toFixed(0)} MB); CPU s/step ×${(on.cpuS / off.cpuS).toFixed(2)}`);
}

// the Llama-family presets: tfjs modes in child processes, PyTorch full and LoRA beside them
for (const preset of llamaPresets) {
  const self = fileURLToPath(import.meta.url);
  const child = (mode: LlamaMode): Record<string, number> => {
    const r = spawnSync(process.execPath, [...process.execArgv, self, "--llama-child", mode, "--preset", preset, "--llama-steps", String(llamaSteps), "--llama-warmup", String(llamaWarmup),
      "--llama-batch", String(llamaBatch), "--llama-seq", String(llamaSeq), "--attention", attention, ...(recomputeAll ? ["--recompute"] : [])], { encoding: "utf8" });
    if (r.status !== 0 && /XNN status .* Got status 6|memory access out of bounds|Aborted\(\)/.test(r.stdout + r.stderr)) return { outOfMemory: 1 };
    if (r.status !== 0) throw new Error(`llama ${mode} bench failed:\n${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as Record<string, number>;
  };
  const torch = (lora: boolean): (TorchResult & { cpu_s: number; trainable: number }) | null => {
    if (torchSkip) return null;
    const script = fileURLToPath(new URL("./torch_gpt_bench.py", import.meta.url));
    const r = sh(PYTHON, [script, "--preset", preset, "--batch", String(llamaBatch), "--seq", String(llamaSeq), "--steps", String(llamaSteps + 1), "--warmup", String(llamaWarmup), ...(lora ? ["--lora", "--no-generate"] : [])]);
    if (!r.ok) throw new Error(`torch_gpt_bench.py failed:\n${r.out}`);
    return JSON.parse(r.out.trim().split("\n").at(-1) ?? "") as TorchResult & { cpu_s: number; trainable: number };
  };
  const [full, lora, gen, dpo] = (["full", "lora", "generate", "dpo-lora"] as const).map((mode) => (llamaModes.includes(mode) ? child(mode) : undefined));
  const [tFull, tLora] = [torch(false), torch(true)];
  const f = (x: number | undefined, d = 1): string => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d));
  console.log(`\n${preset} (${(lora?.["params"] ?? 0).toLocaleString("en")} parameters, random init), batch ${llamaBatch}×${llamaSeq}, ${llamaSteps} timed steps after ${llamaWarmup} warm-up (PyTorch ${llamaSteps + 1})`);
  console.log("| mode | trainable | tfjs s/step | tfjs CPU s/step | tfjs train tok/s | tfjs peak RSS MB | PyTorch s/step | PyTorch CPU s/step | PyTorch train tok/s | PyTorch peak RSS MB |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const [label, m, t] of [["full fine-tuning", full, tFull], ["LoRA (r 8, q/v)", lora, tLora]] as const) {
    if (m?.["outOfMemory"]) {
      console.log(`| ${label} | – | out of memory (the 4 GB wasm heap) | – | – | – | ${f(t?.step_s, 2)} | ${f(t?.cpu_s, 2)} | ${f(t?.train_tokens_per_s)} | ${f(t?.peak_rss_mb, 0)} |`);
      continue;
    }
    console.log(`| ${label} | ${(m?.["trainable"] ?? 0).toLocaleString("en")} | ${f(m?.["stepS"], 2)} | ${f(m?.["cpuS"], 2)} | ${f(m?.["tokensPerS"])} | ${f(m?.["peakRssMb"], 0)} | ${f(t?.step_s, 2)} | ${f(t?.cpu_s, 2)} | ${f(t?.train_tokens_per_s)} | ${f(t?.peak_rss_mb, 0)} |`);
    if (m && t) ratios.push(`${preset} ${label} train ratio vs PyTorch: ${(m["tokensPerS"]! / t.train_tokens_per_s).toFixed(2)} (CPU-seconds ratio ${(t.cpu_s / m["cpuS"]!).toFixed(2)})`);
  }
  console.log(`generation (8 prompts × 16 + 64 new, greedy, KV cache): tfjs ${f(gen?.["genTokensPerS"])} tok/s (peak RSS ${f(gen?.["peakRssMb"], 0)} MB), PyTorch ${f(tFull?.gen_tokens_per_s ?? undefined)} tok/s`);
  if (gen && tFull?.gen_tokens_per_s) ratios.push(`${preset} generate ratio vs PyTorch: ${(gen["genTokensPerS"]! / tFull.gen_tokens_per_s).toFixed(2)}`);
  console.log(`DPO with LoRA (sequences 32 + 32, 2 pairs a step): reference ${f(dpo?.["referencePerPairS"], 2)} s/pair (CPU ${f(dpo?.["referenceCpuPerPairS"], 2)}), step ${f(dpo?.["dpoStepS"], 2)} s (CPU ${f(dpo?.["dpoCpuS"], 2)}), peak RSS ${f(dpo?.["peakRssMb"], 0)} MB`);
  console.log(`→ a DPO round of 200 pairs of 64 + 64 tokens (1 epoch, batch 8), scaled linearly in tokens: ≈ ${f((dpo?.["round200S"] ?? NaN) / 60)} min wall here (${f((dpo?.["round200CpuS"] ?? NaN) / 60)} CPU-minutes)`);
}
// matmul GFLOP/s per shape of micro: wasm, OpenBLAS, PyTorch (a child process, so it can switch BLAS on and off)
if (!process.argv.includes("--no-matmul")) {
  const script = fileURLToPath(new URL("./matmul-bench.ts", import.meta.url));
  const r = spawnSync(process.execPath, [...process.execArgv, script, "--min-cpu-s", "0.2", ...(torchSkip ? ["--no-torch"] : [])], { encoding: "utf8" });
  console.log(`\nmatmul, ${r.status === 0 ? r.stdout.trim() : `bench failed:\n${r.stdout}${r.stderr}`}`);
}
for (const line of ratios) console.log(line);
console.log(`load average at end: ${load()}`);
console.log(`tfjs peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; tensors alive: ${tf.memory().numTensors}`);
if (torchInfo) {
  console.log(`PyTorch peak RSS (largest preset process): ${torchRss.toFixed(0)} MB`);
  console.log(torchInfo);
  if (!/openblas/i.test(torchInfo)) console.log("warning: PyTorch is not using OpenBLAS (see update-alternatives --display libblas.so.3-x86_64-linux-gnu)");
}
