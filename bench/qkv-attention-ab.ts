// The in-place qkv attention (trainer/model/qkv-attention.ts, decision trainer-025) against the tensor-op attention
// (split, head transposes, batched matmuls, merge), round robin in one process: CPU seconds of a whole SFT step and
// of one attention layer's forward + backward at the preset's shape. Arms alternate after one warm-up each.
// Usage: npx tsx bench/qkv-attention-ab.ts [--preset micro] [--steps 6] [--blas-threads 1]
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { type GptPreset } from "../trainer/contract/gpt-config.ts";
import { attentionBias, causalSelfAttention, disposeGpt } from "../trainer/model/gpt.ts";
import { qkvAttentionBackend, setQkvAttention } from "../trainer/model/qkv-attention.ts";
import { abPrinter, alternate, arg, sftStepRow } from "./one-process-bench.ts";

const preset = arg("preset", "micro") as GptPreset;
const steps = Number(arg("steps", "6"));
process.env["TANDEM_BLAS_THREADS"] = arg("blas-threads", "1");
const info = await initBackend({ prefer: "wasm", blas: "auto" });
if (!qkvAttentionBackend()) throw new Error(`the in-place attention needs native BLAS under wasm: ${JSON.stringify(info.skipped)}`);
console.log(`backend ${info.backend}, BLAS ${info.blas?.library} ${info.blas?.threads} thread(s)`);

const ab = (rounds: number, fn: () => void) => alternate(rounds, setQkvAttention, fn, false);
const show = abPrinter("ops", "in place");

const { config, B, T, model } = sftStepRow(preset, steps, ab, show);

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
