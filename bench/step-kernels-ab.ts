// The step-time changes of decision trainer-026 (trainer/backend/step-kernels.ts) on and off, in one process: whole
// SFT steps of a GPT preset round robin (a fresh trainer each), then the pieces alone at the preset's shapes: the
// two embedding lookups forward + backward, the tied LM head forward + backward, a layer's bias-gradient sums, the in-place attention core (with BLAS)
// and a layer's four linear layers with their biases and the two residual adds (group "linear", decision trainer-031).
// CPU seconds (user + system), medians; the machine is shared, so compare the arms of one run, not runs.
// --ab embedding (a comma-separated list of step-kernels.ts's groups) turns only those off in the off arm.
// Usage: npx tsx bench/step-kernels-ab.ts [--preset micro] [--steps 6] [--blas-threads 1] [--blas off] [--ab embedding,lm-head,bias-sum,causal,linear]
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { ALL_STEP_GROUPS, setStepKernels, type StepGroup } from "../trainer/backend/step-kernels.ts";
import { linearBias, tiedLmHead } from "../trainer/backend/matmul.ts";
import { type GptPreset } from "../trainer/contract/gpt-config.ts";
import { attentionBias, disposeGpt } from "../trainer/model/gpt.ts";
import { qkvAttention, qkvAttentionBackend } from "../trainer/model/qkv-attention.ts";
import { abPrinter, alternate, arg, sftStepRow } from "./one-process-bench.ts";

const preset = arg("preset", "micro") as GptPreset;
const steps = Number(arg("steps", "6"));
const abGroups = arg("ab", ALL_STEP_GROUPS.join(",")).split(",") as StepGroup[];
const offArm = ALL_STEP_GROUPS.filter((g) => !abGroups.includes(g));
process.env["TANDEM_BLAS_THREADS"] = arg("blas-threads", "1");
const info = await initBackend({ prefer: "wasm", blas: arg("blas", "auto") === "off" ? "off" : "auto" });
console.log(`backend ${info.backend}, BLAS ${info.blas ? `${info.blas.library} ${info.blas.threads} thread(s)` : "off"}; off arm: groups ${offArm.join(", ") || "none"}, on arm: all`);

const ab = (rounds: number, fn: () => void) => alternate(rounds, (on) => setStepKernels(on ? true : offArm), fn, true);
const show = abPrinter("off", "on");

const { config, B, T, examples, model } = sftStepRow(preset, steps, ab, show);

const C = config.nEmbd;
const wte = model.params.get("wte.weight") as tf.Variable;
const wpe = model.params.get("wpe.weight") as tf.Variable;
const ids = tf.tensor2d(examples.map((e) => e.ids), [B, T], "int32");
const positions = tf.tile(tf.reshape(tf.range(0, T, 1, "int32"), [1, T]), [B, 1]);
const dEmb = tf.randomNormal([B, T, C], 0, 1, "float32", 1);
show(`embedding lookups forward + backward (${B}, ${T}) from (${config.vocabSize}, ${C}) and (${config.blockSize}, ${C}), CPU ms`, 1000, ab(4 * steps, () =>
  tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.add(tf.gather(a, ids), tf.gather(b, positions)))([wte, wpe], dEmb))), 2);

const x = tf.randomNormal([B * T, C], 0, 1, "float32", 2) as tf.Tensor2D;
const dLogits = tf.randomNormal([B * T, config.vocabSize], 0, 1, "float32", 3);
show(`tied LM head forward + backward (${B * T}, ${C}) · (${config.vocabSize}, ${C})ᵀ, CPU ms`, 1000, ab(4 * steps, () =>
  tf.dispose(tf.grads((a: tf.Tensor, w: tf.Tensor) => tiedLmHead(a as tf.Tensor2D, w as tf.Tensor2D))([x, wte], dLogits))), 2);

const biasGrads = [3 * C, C, 4 * C, C].map((n, i) => tf.randomNormal([B * T, n], 0, 1, "float32", 4 + i));
show(`bias-gradient sums of one layer, (${B * T}, {${3 * C}, ${C}, ${4 * C}, ${C}}) over rows, CPU ms`, 1000, ab(4 * steps, () =>
  tf.dispose(biasGrads.map((g) => tf.sum(g, 0)))), 3);

const H = config.nHead;
const bias = attentionBias(B, T, 0, undefined);
const qkv = tf.randomNormal([B * T, 3 * C], 0, 1, "float32", 9) as tf.Tensor2D;
const dCtx = tf.randomNormal([B * T, C], 0, 1, "float32", 10);
if (qkvAttentionBackend())
  show(`in-place attention core forward + backward (${B}, ${T}, ${C}), ${H} heads, CPU ms`, 1000, ab(4 * steps, () =>
    tf.dispose(tf.grads((a: tf.Tensor) => qkvAttention(a as tf.Tensor2D, B, T, H, bias) as tf.Tensor2D)([qkv], dCtx))), 2);

// one layer's linears as gpt.ts runs them: qkv (C → 3C), attention out (C → C) + residual, MLP up (C → 4C), MLP down (4C → C) + residual
const layer = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"].map((n) => [model.params.get(`h.0.${n}.weight`), model.params.get(`h.0.${n}.bias`)] as [tf.Variable, tf.Variable]);
const up = tf.randomNormal([B * T, 4 * C], 0, 1, "float32", 11) as tf.Tensor2D;
const dUp = [3 * C, C, 4 * C, C].map((n, i) => tf.randomNormal([B * T, n], 0, 1, "float32", 12 + i));
const layerLinears = (): void => {
  const ins = [x, x, x, up];
  tf.dispose(layer.map(([w, b], i) => {
    const withResidual = i === 1 || i === 3;
    return tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => linearBias(a as tf.Tensor2D, ww as tf.Tensor2D, bb, withResidual ? x : undefined))([ins[i] as tf.Tensor, w, b], dUp[i]);
  }).flat());
};
show(`one layer's linears forward + backward, (${B * T}, ${C}) → ${3 * C}, ${C} (+ residual), ${4 * C}; (${B * T}, ${4 * C}) → ${C} (+ residual), CPU ms`, 1000, ab(4 * steps, layerLinears), 2);
tf.dispose([ids, positions, dEmb, x, dLogits, ...biasGrads, bias, qkv, dCtx, up, ...dUp]);
disposeGpt(model);
