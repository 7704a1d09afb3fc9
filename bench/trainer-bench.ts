// Trainer throughput bench: training tokens/s (forward + backward + AdamW) for the nano and micro
// presets, and KV-cache generation tokens/s, on whatever backend initBackend() picks; next to the
// same model, batch and optimizer in PyTorch on CPU (bench/torch_gpt_bench.py, run with Debian's
// /usr/bin/python3 + python3-torch, BLAS = libblas.so.3, which should be OpenBLAS), and the ratio.
// As root, missing python3-torch / libopenblas0-pthread are installed with apt-get; otherwise the
// PyTorch column is skipped with what to install.
// Usage: npx tsx bench/trainer-bench.ts [--presets nano,micro] [--steps 3] [--warmup 1] [--attention auto|batched|per-head]
//        [--torch-steps 5] [--torch-warmup 2] [--no-torch]
// Each figure is the median of the timed steps after warm-up. Tests never assert on time; this does not either.
import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { resolveGptConfig, type GptPreset } from "../trainer/contract/gpt-config.ts";
import { sftConfigSchema } from "../trainer/contract/sft-config.ts";
import { countParams, disposeGpt, disposeKvCache, gptForwardTidy, initGpt, setAttentionImpl, type AttentionImpl, type GptModel } from "../trainer/model/gpt.ts";
import { createSftTrainer, type SftExample } from "../trainer/algorithms/sft-trainer.ts";
import { createRng } from "../trainer/random/rng.ts";

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const presets = arg("presets", "nano,micro").split(",") as GptPreset[];
const steps = Number(arg("steps", "3"));
const warmup = Number(arg("warmup", "1"));
const attention = arg("attention", "auto") as AttentionImpl;
const torchSteps = arg("torch-steps", "5");
const torchWarmup = arg("torch-warmup", "2");
const PYTHON = "/usr/bin/python3"; // Debian's: python3-torch comes from apt, a pyenv python3 on PATH lacks it
setAttentionImpl(attention);
const shapes: Record<string, { B: number; T: number }> = { nano: { B: 16, T: 128 }, micro: { B: 8, T: 128 } };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function trainBench(preset: GptPreset): { stepS: number; cpuS: number; tokensPerS: number; params: number; B: number; T: number } {
  const config = resolveGptConfig({ preset });
  const { B, T } = shapes[preset] ?? { B: 8, T: 128 };
  const rng = createRng(1);
  // pretraining-style: every token is a target
  const examples: SftExample[] = Array.from({ length: B }, () => {
    const ids = Array.from({ length: T }, () => Math.floor(rng.next() * config.vocabSize));
    return { ids, lossMask: ids.map(() => 1) };
  });
  const model = initGpt(config, 0);
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
  const stepS = median(times);
  return { stepS, cpuS: median(cpu), tokensPerS: (B * T) / stepS, params: countParams(config), B, T };
}

function generateBench(model: GptModel, prompts: number, promptLength: number, newTokens: number): number {
  const rng = createRng(2);
  const ids = Array.from({ length: prompts }, () => Array.from({ length: promptLength }, () => Math.floor(rng.next() * model.config.vocabSize)));
  const t0 = performance.now();
  const input = tf.tensor2d(ids, [prompts, promptLength], "int32");
  let step = gptForwardTidy(model, input, { useCache: true });
  input.dispose();
  for (let i = 0; i < newTokens; i++) {
    const next = tf.tidy(() => {
      const logits = step.logits as tf.Tensor3D; // (B, t, V): greedy on the last position
      const [b, t, v] = logits.shape;
      return tf.cast(tf.reshape(tf.argMax(tf.slice(logits, [0, t - 1, 0], [b, 1, v]), -1), [b, 1]), "int32") as tf.Tensor2D;
    });
    const past = step.present;
    tf.dispose([step.hidden, step.logits as tf.Tensor]);
    step = gptForwardTidy(model, next, { past, useCache: true });
    next.dispose();
    disposeKvCache(past);
  }
  tf.dispose([step.hidden, step.logits as tf.Tensor]);
  disposeKvCache(step.present);
  return (prompts * newTokens) / ((performance.now() - t0) / 1000);
}

interface TorchResult {
  step_s: number;
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

function torchBench(preset: GptPreset, B: number, T: number): TorchResult {
  const script = fileURLToPath(new URL("./torch_gpt_bench.py", import.meta.url));
  const r = sh(PYTHON, [script, "--preset", preset, "--batch", String(B), "--seq", String(T), "--steps", torchSteps, "--warmup", torchWarmup]);
  if (!r.ok) throw new Error(`torch_gpt_bench.py failed:\n${r.out}`);
  return JSON.parse(r.out.trim().split("\n").at(-1) ?? "") as TorchResult;
}

const info = await initBackend();
const torchSkip = ensureTorch();
console.log(`backend: ${info.backend} (${info.package}), threads ${info.threads}, simd ${String(info.simd)}, kernels ${info.customKernels.join(",") || "none"}, ops ${info.projectOps.join(",")}`);
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}; load average at start ${load()} (other processes skew timings)`);
console.log(`node ${process.version}, attention ${attention}, ${steps} timed steps after ${warmup} warm-up, median; PyTorch ${torchSteps} after ${torchWarmup}`);
if (torchSkip) console.log(torchSkip);
console.log("| preset | params | batch | tfjs s/step | tfjs CPU s/step | tfjs train tok/s | PyTorch s/step | PyTorch train tok/s | tfjs gen tok/s | PyTorch gen tok/s |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
const ratios: string[] = [];
let torchInfo = "";
let torchRss = 0;
for (const preset of presets) {
  const r = trainBench(preset);
  const model = initGpt(resolveGptConfig({ preset }), 0);
  generateBench(model, 8, 16, 4); // warm-up
  const gen = generateBench(model, 8, 16, 64);
  disposeGpt(model);
  const t = torchSkip ? null : torchBench(preset, r.B, r.T);
  const cell = (x: number | undefined, digits = 0): string => (x === undefined ? "–" : digits ? x.toFixed(digits) : String(Math.round(x)));
  console.log(
    `| ${preset} | ${r.params.toLocaleString("en")} | ${r.B}×${r.T} | ${r.stepS.toFixed(3)} | ${r.cpuS.toFixed(3)} | ${Math.round(r.tokensPerS)} | ${cell(t?.step_s, 3)} | ${cell(t?.train_tokens_per_s)} | ${Math.round(gen)} | ${cell(t?.gen_tokens_per_s)} |`,
  );
  if (t) {
    ratios.push(`${preset} train ratio vs PyTorch: ${(r.tokensPerS / t.train_tokens_per_s).toFixed(2)}`);
    ratios.push(`${preset} generate ratio vs PyTorch: ${(gen / t.gen_tokens_per_s).toFixed(2)}`);
    torchRss = Math.max(torchRss, t.peak_rss_mb);
    torchInfo = `PyTorch ${t.torch}, ${t.threads} thread(s), ${t.blas}`;
  }
}
for (const line of ratios) console.log(line);
console.log(`load average at end: ${load()}`);
console.log(`tfjs peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; tensors alive: ${tf.memory().numTensors}`);
if (torchInfo) {
  console.log(`PyTorch peak RSS (largest preset process): ${torchRss.toFixed(0)} MB`);
  console.log(torchInfo);
  if (!/openblas/i.test(torchInfo)) console.log("warning: PyTorch is not using OpenBLAS (see update-alternatives --display libblas.so.3-x86_64-linux-gnu)");
}
