import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig, type GptConfig } from "../contract/gpt-config.ts";
import {
  attentionBatched, attentionBias, attentionPerHead, causalSelfAttention, countParams, disposeGpt, disposeKvCache, gptForward, geluTanh, gptForwardTidy, initGpt, layerNorm, parameterShapes,
} from "./gpt.ts";
import { checkGradients } from "../testing/grad-check.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const tiny: GptConfig = resolveGptConfig({ vocabSize: 23, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 8 });

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? Infinity);
}

test("parameter counts: closed form equals the created variables, and gpt2 is 124,439,808", () => {
  for (const config of [tiny, resolveGptConfig({ preset: "nano" }), resolveGptConfig({ preset: "micro" }), { ...tiny, scalarHead: "reward" as const }]) {
    const fromShapes = parameterShapes(config).reduce((acc, [, s]) => acc + s.reduce((a, b) => a * b, 1), 0);
    assert.equal(countParams(config), fromShapes);
  }
  const model = initGpt(tiny);
  let created = 0;
  for (const v of model.params.values()) created += v.size;
  assert.equal(created, countParams(tiny));
  disposeGpt(model);
  // Hugging Face's gpt2 has 124,439,808 parameters (V=50257, T=1024, C=768, L=12).
  assert.equal(countParams(resolveGptConfig({ preset: "gpt2" })), 124_439_808);
  const nano = countParams(resolveGptConfig({ preset: "nano" }));
  const micro = countParams(resolveGptConfig({ preset: "micro" }));
  assert.equal(nano, 875_264); // the tfjs-notes spike model
  assert.ok(nano > 0.5e6 && nano < 2e6 && micro > 5e6 && micro < 20e6);
});

test("config: preset and explicit dimensions are exclusive; heads must divide the width", () => {
  assert.throws(() => resolveGptConfig({ preset: "nano", nLayer: 2 } as never));
  assert.throws(() => resolveGptConfig({ vocabSize: 10, blockSize: 8, nLayer: 1, nHead: 3, nEmbd: 8 }));
  assert.equal(resolveGptConfig({ preset: "nano", vocabSize: 300 }).vocabSize, 300);
});

test("initialisation: residual projections use std 0.02/sqrt(2·n_layer), others 0.02", () => {
  const config = resolveGptConfig({ vocabSize: 512, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 64 });
  const model = initGpt(config, 7);
  const std = (name: string): number => tf.tidy(() => tf.sqrt(tf.moments(model.params.get(name) as tf.Tensor).variance).dataSync()[0] ?? 0);
  assert.ok(Math.abs(std("h.0.mlp.c_proj.weight") / (0.02 / Math.sqrt(8)) - 1) < 0.05);
  assert.ok(Math.abs(std("wte.weight") / 0.02 - 1) < 0.05);
  disposeGpt(model);
});

test("KV-cache decoding gives the same logits as a full forward pass", () => {
  const model = initGpt(tiny, 1);
  const before = tf.memory().numTensors;
  const ids = [3, 7, 1, 22, 9, 4, 15];
  const full = tf.tidy(() => gptForward(model, tf.tensor2d([ids], [1, 7], "int32")).logits as tf.Tensor3D);
  // prefix of 3, then one token at a time
  const prefix = tf.tensor2d([ids.slice(0, 3)], [1, 3], "int32");
  let step = gptForwardTidy(model, prefix, { useCache: true });
  prefix.dispose();
  const steps: tf.Tensor3D[] = [step.logits as tf.Tensor3D];
  tf.dispose(step.hidden);
  for (let t = 3; t < ids.length; t++) {
    const past = step.present;
    const input = tf.tensor2d([[ids[t] ?? 0]], [1, 1], "int32");
    step = gptForwardTidy(model, input, { past, useCache: true });
    input.dispose();
    disposeKvCache(past);
    tf.dispose(step.hidden);
    steps.push(step.logits as tf.Tensor3D);
  }
  const incremental = tf.concat(steps, 1);
  assert.deepEqual(incremental.shape, [1, 7, 23]);
  assert.ok(maxAbsDiff(full, incremental) < 1e-4, `diff ${maxAbsDiff(full, incremental)}`);
  tf.dispose([full, incremental, ...steps]);
  disposeKvCache(step.present);
  assert.equal(tf.memory().numTensors, before);
  disposeGpt(model);
});

test("a left-padded batch gives the same logits and scores as each sequence alone", () => {
  const model = initGpt({ ...tiny, scalarHead: "reward" }, 2);
  tf.tidy(() => {
    const a = [5, 6, 7, 8, 9];
    const b = [11, 12, 13];
    const pad = 0;
    const ids = tf.tensor2d([a, [pad, pad, ...b]], [2, 5], "int32");
    const mask = tf.tensor2d([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], [2, 5], "int32");
    const batched = gptForward(model, ids, { attentionMask: mask });
    const aloneA = gptForward(model, tf.tensor2d([a], [1, 5], "int32"));
    const aloneB = gptForward(model, tf.tensor2d([b], [1, 3], "int32"));
    const logits = batched.logits as tf.Tensor3D;
    assert.ok(maxAbsDiff(tf.slice(logits, [0, 0, 0], [1, 5, 23]), aloneA.logits as tf.Tensor) < 1e-4);
    assert.ok(maxAbsDiff(tf.slice(logits, [1, 2, 0], [1, 3, 23]), aloneB.logits as tf.Tensor) < 1e-4);
    assert.ok(maxAbsDiff(tf.slice(batched.scores as tf.Tensor2D, [1, 2], [1, 3]), aloneB.scores as tf.Tensor) < 1e-4);
    assert.ok(tf.all(tf.isFinite(logits)).dataSync()[0] === 1);
  });
  disposeGpt(model);
});

test("layer norm: closed form on a known vector and a finite-difference gradient check", () => {
  tf.tidy(() => {
    // x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25
    const y = layerNorm(tf.tensor1d([1, 2, 3, 4]), tf.ones([4]), tf.zeros([4]), 0).dataSync();
    const expected = [-1.5, -0.5, 0.5, 1.5].map((v) => v / Math.sqrt(1.25));
    expected.forEach((e, i) => assert.ok(Math.abs((y[i] ?? NaN) - e) < 1e-5));
    const x = tf.randomNormal([3, 6], 0, 1, "float32", 4);
    const g = tf.randomNormal([6], 1, 0.3, "float32", 5);
    const b = tf.randomNormal([6], 0, 0.3, "float32", 6);
    const w = tf.randomNormal([3, 6], 0, 1, "float32", 7);
    const check = checkGradients(([xx, gg, bb]) => tf.sum(tf.mul(tf.tanh(layerNorm(xx as tf.Tensor, gg as tf.Tensor, bb as tf.Tensor, 1e-5)), w)), [x, g, b]);
    assert.ok(check.maxRelError < 1e-2, `layer norm rel error ${check.maxRelError}`);
  });
});

test("GELU: equals GPT-2's tanh formula and its derivative (float64), and passes finite differences", () => {
  const xs = [-6, -3, -1.5, -0.5, -1e-3, 0, 0.25, 1, 2.5, 7];
  const u = (x: number): number => Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3);
  const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(u(x)));
  // d/dx of 0.5x(1 + tanh u) = 0.5(1 + tanh u) + 0.5x(1 − tanh²u)·u'(x)
  const dgelu = (x: number): number => 0.5 * (1 + Math.tanh(u(x))) + 0.5 * x * (1 - Math.tanh(u(x)) ** 2) * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * x * x);
  tf.tidy(() => {
    const x = tf.tensor1d(xs);
    const y = geluTanh(x).dataSync();
    const g = tf.grad((v: tf.Tensor) => tf.sum(geluTanh(v)))(x).dataSync();
    xs.forEach((v, i) => {
      assert.ok(Math.abs((y[i] ?? NaN) - gelu(v)) < 1e-6, `gelu(${v}) = ${y[i]} vs ${gelu(v)}`);
      assert.ok(Math.abs((g[i] ?? NaN) - dgelu(v)) < 1e-5, `gelu'(${v}) = ${g[i]} vs ${dgelu(v)}`);
    });
    const w = tf.randomNormal([4, 5], 0, 1, "float32", 8);
    const check = checkGradients(([a]) => tf.sum(tf.mul(geluTanh(a as tf.Tensor), w)), [tf.randomNormal([4, 5], 0, 2, "float32", 9)]);
    assert.ok(check.maxRelError < 1e-2, `gelu rel error ${check.maxRelError}`);
  });
});

test("causal attention: future tokens do not change the past, and gradients pass finite differences", () => {
  tf.tidy(() => {
    const B = 2, T = 4, C = 6, H = 2;
    const x = tf.randomNormal([B, T, C], 0, 1, "float32", 8) as tf.Tensor3D;
    const weights = {
      cAttnW: tf.randomNormal([C, 3 * C], 0, 0.5, "float32", 9), cAttnB: tf.randomNormal([3 * C], 0, 0.1, "float32", 10),
      cProjW: tf.randomNormal([C, C], 0, 0.5, "float32", 11), cProjB: tf.randomNormal([C], 0, 0.1, "float32", 12),
    };
    const bias = attentionBias(B, T, 0, undefined);
    const y1 = causalSelfAttention(x, weights, H, bias).y;
    const changedLast = tf.concat([tf.slice(x, [0, 0, 0], [B, T - 1, C]), tf.randomNormal([B, 1, C], 0, 1, "float32", 13)], 1) as tf.Tensor3D;
    const y2 = causalSelfAttention(changedLast, weights, H, bias).y;
    assert.ok(maxAbsDiff(tf.slice(y1, [0, 0, 0], [B, T - 1, C]), tf.slice(y2, [0, 0, 0], [B, T - 1, C])) < 1e-6);
    const probe = tf.randomNormal([B, T, C], 0, 1, "float32", 14);
    const check = checkGradients(
      ([xx, wa, wp]) => tf.sum(tf.mul(causalSelfAttention(xx as tf.Tensor3D, { ...weights, cAttnW: wa as tf.Tensor, cProjW: wp as tf.Tensor }, H, bias).y, probe)),
      [x, weights.cAttnW, weights.cProjW],
    );
    assert.ok(check.maxRelError < 1e-2, `attention rel error ${check.maxRelError}`);
  });
});

test("the whole model's loss gradient passes a finite-difference check (embeddings included)", () => {
  const model = initGpt({ ...tiny, nLayer: 1 }, 3);
  tf.tidy(() => {
    const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4], "int32");
    const names = ["wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.0.mlp.c_fc.weight", "ln_f.weight"];
    const originals = names.map((n) => model.params.get(n) as tf.Variable);
    const loss = (xs: tf.Tensor[]): tf.Scalar => {
      // evaluate the model with the probed parameters swapped in
      const swapped = new Map(model.params);
      names.forEach((n, i) => swapped.set(n, xs[i] as tf.Variable));
      const logits = gptForward({ config: model.config, params: swapped }, ids).logits as tf.Tensor3D;
      return tf.mean(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.tensor2d([[2, 3, 4, 5], [6, 7, 8, 9]], [2, 4], "int32"), 23))) as tf.Scalar;
    };
    // one parameter at a time, with a step small against the 0.02 init scale (LayerNorm of small
    // embeddings is strongly curved, so a large step measures curvature, not the gradient)
    originals.forEach((v, i) => {
      const check = checkGradients((xs) => loss(originals.map((o, j) => (j === i ? (xs[0] as tf.Tensor) : o))), [v], { eps: 1e-3, directions: 2 });
      assert.ok(check.maxRelError < 2e-2, `${names[i]} rel error ${JSON.stringify(check)}`);
    });
  });
  disposeGpt(model);
});

test("per-head 2-D attention equals batched attention, values and gradients (masked, padded)", () => {
  tf.tidy(() => {
    const [B, H, T, D] = [2, 3, 5, 4];
    const q = tf.randomNormal([B, H, T, D], 0, 1, "float32", 21) as tf.Tensor4D;
    const k = tf.randomNormal([B, H, T, D], 0, 1, "float32", 22) as tf.Tensor4D;
    const v = tf.randomNormal([B, H, T, D], 0, 1, "float32", 23) as tf.Tensor4D;
    const bias = attentionBias(B, T, 0, tf.tensor2d([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], [B, T], "int32"));
    const probe = tf.randomNormal([B, H, T, D], 0, 1, "float32", 24);
    assert.ok(maxAbsDiff(attentionPerHead(q, k, v, bias), attentionBatched(q, k, v, bias)) < 1e-5);
    const loss = (f: typeof attentionBatched) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, bias), probe));
    const g1 = tf.grads(loss(attentionPerHead))([q, k, v]);
    const g2 = tf.grads(loss(attentionBatched))([q, k, v]);
    g1.forEach((g, i) => assert.ok(maxAbsDiff(g, g2[i] as tf.Tensor) < 1e-4));
  });
});
