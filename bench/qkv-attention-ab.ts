// The in-place qkv attention (trainer/model/qkv-attention.ts, decision trainer-025) against the tensor-op attention
// (split, head transposes, batched matmuls, merge), round robin in one process: CPU seconds of a whole SFT step and
// of one attention layer's forward + backward at the preset's shape. Arms alternate after one warm-up each.
// Usage: npx tsx bench/qkv-attention-ab.ts [--preset micro] [--steps 6] [--blas-threads 1]
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { resolveGptConfig, type GptPreset } from "../trainer/contract/gpt-config.ts";
import { sftConfigSchema } from "../trainer/contract/sft-config.ts";
import { attentionBias, causalSelfAttention, disposeGpt, initGpt } from "../trainer/model/gpt.ts";
import { qkvAttentionBackend, setQkvAttention } from "../trainer/model/qkv-attention.ts";
import { createSftTrainer, type SftExample } from "../trainer/algorithms/sft-trainer.ts";
import { createRng } from "../trainer/random/rng.ts";

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const preset = arg("preset", "micro") as GptPreset;
const steps = Number(arg("steps", "6"));
process.env["TANDEM_BLAS_THREADS"] = arg("blas-threads", "1");
const info = await initBackend({ prefer: "wasm", blas: "auto" });
if (!qkvAttentionBackend()) throw new Error(`the in-place attention needs native BLAS under wasm: ${JSON.stringify(info.skipped)}`);
console.log(`backend ${info.backend}, BLAS ${info.blas?.library} ${info.blas?.threads} thread(s)`);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
function cpuSeconds(fn: () => void): number {
  const c = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1e6;
}
function ab(rounds: number, fn: () => void): { on: number[]; off: number[] } {
  const r = { on: [] as number[], off: [] as number[] };
  for (let i = 0; i < 2 * (rounds + 1); i++) {
    const on = i % 2 === 1;
    setQkvAttention(on);
    const s = cpuSeconds(fn);
    if (i >= 2) (on ? r.on : r.off).push(s);
  }
  setQkvAttention(true);
  return r;
}
const show = (name: string, unit: number, r: { on: number[]; off: number[] }, digits: number): void =>
  console.log(`${name}: ops ${(unit * median(r.off)).toFixed(digits)} [${r.off.map((v) => (unit * v).toFixed(digits)).join(", ")}], in place ${(unit * median(r.on)).toFixed(digits)} [${r.on.map((v) => (unit * v).toFixed(digits)).join(", ")}] (×${(median(r.off) / median(r.on)).toFixed(2)})`);

const config = resolveGptConfig({ preset });
const [B, T] = preset === "nano" ? [16, 128] : [8, 128];
const rng = createRng(1);
const examples: SftExample[] = Array.from({ length: B }, () => {
  const ids = Array.from({ length: T }, () => Math.floor(rng.next() * config.vocabSize));
  return { ids, lossMask: ids.map(() => 1) };
});
const model = initGpt(config, 0);
show(`${preset} SFT step, CPU s`, 1, ab(steps, () => {
  const t = createSftTrainer(model, sftConfigSchema.parse({ batchSize: B }), 0);
  t.trainStep(examples);
  t.dispose();
}), 3);

const C = config.nEmbd;
const x = tf.randomNormal([B, T, C], 0, 1, "float32", 1) as tf.Tensor3D;
const w = {
  cAttnW: tf.randomNormal([C, 3 * C], 0, 0.02, "float32", 2), cAttnB: tf.zeros([3 * C]),
  cProjW: tf.randomNormal([C, C], 0, 0.02, "float32", 3), cProjB: tf.zeros([C]),
};
const bias = attentionBias(B, T, 0, undefined);
const dy = tf.randomNormal([B, T, C], 0, 1, "float32", 4);
show(`attention layer forward + backward (${B}, ${T}, ${C}), ${config.nHead} heads, CPU ms`, 1000, ab(4 * steps, () => {
  tf.dispose(tf.grads((xx: tf.Tensor, wa: tf.Tensor, wp: tf.Tensor) => tf.sum(tf.mul(causalSelfAttention(xx as tf.Tensor3D, { ...w, cAttnW: wa, cProjW: wp }, config.nHead, bias, undefined, false).y, dy)))([x, w.cAttnW, w.cProjW]));
}), 2);
tf.dispose([x, w.cAttnW, w.cAttnB, w.cProjW, w.cProjB, bias, dy]);
disposeGpt(model);
