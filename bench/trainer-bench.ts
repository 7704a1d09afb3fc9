// Trainer throughput bench: training tokens/s (forward + backward + AdamW) for the nano and micro
// presets, and KV-cache generation tokens/s, on whatever backend initBackend() picks.
// Usage: npx tsx bench/trainer-bench.ts [--presets nano,micro] [--steps 3] [--warmup 1] [--attention auto|batched|per-head]
// Each figure is the median of the timed steps after warm-up. Tests never assert on time; this does not either.
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
setAttentionImpl(attention);
const shapes: Record<string, { B: number; T: number }> = { nano: { B: 16, T: 128 }, micro: { B: 8, T: 128 } };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function trainBench(preset: GptPreset): { stepS: number; tokensPerS: number; params: number; B: number; T: number } {
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
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    trainer.trainStep(examples);
    if (i >= warmup) times.push((performance.now() - t0) / 1000);
  }
  trainer.dispose();
  disposeGpt(model);
  const stepS = median(times);
  return { stepS, tokensPerS: (B * T) / stepS, params: countParams(config), B, T };
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

const info = await initBackend();
console.log(`backend: ${info.backend} (${info.package}), threads ${info.threads}, simd ${String(info.simd)}, kernels ${info.customKernels.join(",") || "none"}, ops ${info.projectOps.join(",")}`);
console.log(`node ${process.version}, attention ${attention}, ${steps} timed steps after ${warmup} warm-up, median`);
console.log("| preset | params | batch | s/step | train tok/s | gen tok/s (KV cache, 8×16 prompt +64) |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const preset of presets) {
  const r = trainBench(preset);
  const model = initGpt(resolveGptConfig({ preset }), 0);
  generateBench(model, 8, 16, 4); // warm-up
  const gen = generateBench(model, 8, 16, 64);
  disposeGpt(model);
  console.log(`| ${preset} | ${r.params.toLocaleString("en")} | ${r.B}×${r.T} | ${r.stepS.toFixed(3)} | ${Math.round(r.tokensPerS)} | ${Math.round(gen)} |`);
}
console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; tensors alive: ${tf.memory().numTensors}`);
