// The project's SIMD kernels (wasm-simd.ts, decision trainer-023) on and off, in one process: whole SFT steps of a
// GPT preset round robin (a fresh trainer each, so both arms see the same heap and the same model), then GELU
// forward + backward, LayerNorm, the attention softmax and the next-token log-probs forward + backward, and clip +
// AdamW alone. Off means what ran before them: GELU and the softmax as tensor ops; AdamW, the gradient norm,
// LayerNorm and the log-probs as the JS loops. CPU seconds (user + system), medians; the machine is shared, so compare the
// arms of one run, not runs.
// --ab norm (a comma-separated list of wasm-simd.ts's groups) turns only those off in the off arm, the others stay on.
// Usage: npx tsx bench/simd-ab.ts [--preset micro] [--steps 6] [--blas-threads 1] [--blas off] [--ab gelu,adamw,norm]
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { ALL_SIMD_GROUPS, setSimdKernels, type SimdGroup } from "../trainer/backend/wasm-simd.ts";
import { type GptPreset } from "../trainer/contract/gpt-config.ts";
import { sftConfigSchema } from "../trainer/contract/sft-config.ts";
import { attentionBias, disposeGpt, geluTanh, layerNorm } from "../trainer/model/gpt.ts";
import { maskedSoftmax } from "../trainer/model/fused-softmax.ts";
import { nextTokenLogProbs } from "../trainer/losses/logprobs.ts";
import { adamwStep, createAdamW, disposeAdamW } from "../trainer/optim/adamw.ts";
import { clipScale } from "../trainer/optim/gradients.ts";
import { normalArray } from "../trainer/random/rng.ts";
import { abPrinter, alternate, arg, sftStepRow } from "./one-process-bench.ts";

const preset = arg("preset", "micro") as GptPreset;
const steps = Number(arg("steps", "6"));
const abGroups = arg("ab", ALL_SIMD_GROUPS.join(",")).split(",") as SimdGroup[];
const offArm = ALL_SIMD_GROUPS.filter((g) => !abGroups.includes(g));
process.env["TANDEM_BLAS_THREADS"] = arg("blas-threads", "1");
const info = await initBackend({ prefer: "wasm", blas: arg("blas", "auto") === "off" ? "off" : "auto" });
console.log(`backend ${info.backend}, BLAS ${info.blas ? `${info.blas.library} ${info.blas.threads} thread(s)` : "off"}; off arm: SIMD groups ${offArm.join(", ") || "none"}, on arm: all`);

const ab = (rounds: number, fn: () => void) => alternate(rounds, (on) => setSimdKernels(on ? true : offArm), fn, true);
const show = abPrinter("off", "SIMD");

const { config, B, T, examples, model, rng } = sftStepRow(preset, steps, ab, show);

const x = tf.randomNormal([B * T, 4 * config.nEmbd], 0, 1, "float32", 1);
const dy = tf.randomNormal([B * T, 4 * config.nEmbd], 0, 1, "float32", 2);
show(`GELU forward + backward (${B * T}, ${4 * config.nEmbd}), CPU ms`, 1000, ab(4 * steps, () => tf.dispose(tf.grads((a: tf.Tensor) => geluTanh(a))([x], dy))), 1);
tf.dispose([x, dy]);

const xn = tf.add(tf.randomNormal([B * T, config.nEmbd], 0, 2, "float32", 3), tf.randomNormal([B * T, 1], 0, 3, "float32", 4));
const dyn = tf.randomNormal([B * T, config.nEmbd], 0, 1, "float32", 5);
const gn = tf.randomNormal([config.nEmbd], 1, 0.3, "float32", 6);
const bn = tf.randomNormal([config.nEmbd], 0, 0.5, "float32", 7);
show(`LayerNorm forward + backward (${B * T}, ${config.nEmbd}), CPU ms`, 1000, ab(4 * steps, () => tf.dispose(tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(a, g, b, 1e-5))([xn, gn, bn], dyn))), 2);
tf.dispose([xn, dyn, gn, bn]);

const H = config.nHead;
const scores = tf.randomNormal([B, H, T, T], 0, 3, "float32", 8);
const dScores = tf.randomNormal([B, H, T, T], 0, 1, "float32", 9);
const bias = attentionBias(B, T, 0, undefined);
show(`attention softmax forward + backward (${B}, ${H}, ${T}, ${T}), CPU ms`, 1000, ab(4 * steps, () => tf.dispose(tf.grads((a: tf.Tensor) => maskedSoftmax(a, bias, 0.125))([scores], dScores))), 2);
tf.dispose([scores, dScores, bias]);

const logits = tf.randomNormal([B, T, config.vocabSize], 0, 2, "float32", 10) as tf.Tensor3D;
const ids = tf.tensor2d(examples.map((e) => e.ids), [B, T], "int32");
show(`next-token log-probs forward + backward (${B}, ${T}, ${config.vocabSize}), CPU ms`, 1000, ab(4 * steps, () => tf.dispose(tf.grads((a: tf.Tensor) => tf.sum(nextTokenLogProbs(a as tf.Tensor3D, ids)))([logits]))), 2);
tf.dispose([logits, ids]);

const grads = new Map([...model.params].map(([name, p]) => [name, tf.tensor(normalArray(rng, p.size, 0.01), p.shape)]));
const h = sftConfigSchema.parse({}).optim;
show("clip + AdamW over every parameter, CPU ms", 1000, ab(2 * steps, () => {
  const state = createAdamW(model.params);
  const { scale } = clipScale(grads, h.gradClip);
  adamwStep(model.params, state, grads, 1e-4, h, scale);
  disposeAdamW(state);
}), 1);
tf.dispose([...grads.values()]);
disposeGpt(model);
