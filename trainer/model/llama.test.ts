import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveLlamaConfig, type LlamaConfig } from "../contract/llama-config.ts";
import { disposeKvCache } from "./gpt.ts";
import {
  applyRotary, countLlamaParams, disposeLlama, initLlama, llamaForward, llamaParameterShapes, repeatKv, rmsNorm, rotaryCosSin, silu, type LlamaModel,
} from "./llama.ts";
import { generate } from "./generate.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { createRng, normalArray } from "../random/rng.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

// 4 query heads over 2 key/value heads (grouped-query attention), head width 4
const tiny: LlamaConfig = resolveLlamaConfig({
  architecture: "llama", vocabSize: 23, blockSize: 16, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, intermediateSize: 24, ropeTheta: 10000, rmsNormEps: 1e-5,
});
const qwen: LlamaConfig = { ...tiny, modelType: "qwen2", tieWordEmbeddings: false };

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? Infinity);
}

/** Every parameter random at a scale that makes attention and the MLP matter. */
function randomLlama(c: LlamaConfig, seed: number): LlamaModel {
  const model = initLlama(c, seed);
  const rng = createRng(seed + 1);
  for (const [name, v] of model.params) {
    const scale = name.endsWith("norm.weight") ? 0.2 : 0.5;
    tf.tidy(() => v.assign(tf.add(tf.tensor(normalArray(rng, v.size, scale), v.shape, "float32"), name.endsWith("norm.weight") ? 1 : 0)));
  }
  return model;
}

test("parameter counts: closed form equals the created variables; SmolLM2-135M's shape has 134,515,008", () => {
  const withHead: LlamaConfig = { ...tiny, scalarHead: "reward" };
  const biased: LlamaConfig = { ...tiny, attentionBias: true, mlpBias: true };
  for (const config of [tiny, qwen, withHead, biased, resolveLlamaConfig({ preset: "llama-tiny" })]) {
    const fromShapes = llamaParameterShapes(config).reduce((acc, [, s]) => acc + s.reduce((a, b) => a * b, 1), 0);
    assert.equal(countLlamaParams(config), fromShapes);
  }
  const model = initLlama(qwen);
  let created = 0;
  for (const v of model.params.values()) created += v.size;
  assert.equal(created, countLlamaParams(qwen));
  // Qwen2: biases on q/k/v only; an untied head of its own
  assert.ok(model.params.has("model.layers.0.self_attn.q_proj.bias") && model.params.has("model.layers.1.self_attn.v_proj.bias"));
  assert.ok(!model.params.has("model.layers.0.self_attn.o_proj.bias") && !model.params.has("model.layers.0.mlp.up_proj.bias"));
  assert.deepEqual(model.params.get("lm_head.weight")?.shape, [16, 23]);
  assert.deepEqual(model.params.get("model.layers.0.self_attn.k_proj.weight")?.shape, [16, 8]); // (in, out): 2 kv heads × 4
  disposeLlama(model);
  // HuggingFaceTB/SmolLM2-135M: 134,515,008 parameters (V=49152, C=576, L=30, 9 heads over 3, I=1536, tied)
  assert.equal(countLlamaParams(resolveLlamaConfig({ preset: "smollm2-135m" })), 134_515_008);
});

test("config: query heads must be a multiple of key/value heads; the head width must be even", () => {
  assert.throws(() => resolveLlamaConfig({ ...tiny, nKvHead: 3 }), /multiple of nKvHead/);
  assert.throws(() => resolveLlamaConfig({ ...tiny, nHead: 16, nKvHead: 16 }), /even integer/);
  assert.equal(resolveLlamaConfig({ preset: "llama-tiny", vocabSize: 300 }).vocabSize, 300);
});

test("RMSNorm: closed form on a known vector and a finite-difference gradient check", () => {
  tf.tidy(() => {
    // x = [1, 2, 3, 4]: mean of squares 7.5, so y = x / √7.5 · g
    const y = rmsNorm(tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([1, 2, 1, 0.5]), 0).dataSync();
    [1, 4, 3, 2].forEach((e, i) => assert.ok(Math.abs((y[i] ?? NaN) - e / Math.sqrt(7.5)) < 1e-6));
    const x = tf.randomNormal([3, 6], 0, 1, "float32", 4);
    const g = tf.randomNormal([6], 1, 0.3, "float32", 5);
    const w = tf.randomNormal([3, 6], 0, 1, "float32", 7);
    const check = checkGradients(([xx, gg]) => tf.sum(tf.mul(tf.tanh(rmsNorm(xx as tf.Tensor, gg as tf.Tensor, 1e-5)), w)), [x, g]);
    assert.ok(check.maxRelError < 1e-2, `rms norm rel error ${check.maxRelError}`);
  });
});

test("SiLU: x·σ(x) and its derivative in float64, and finite differences", () => {
  const xs = [-8, -2, -0.5, 0, 0.3, 1, 4];
  const sig = (x: number): number => 1 / (1 + Math.exp(-x));
  tf.tidy(() => {
    const x = tf.tensor1d(xs);
    const y = silu(x).dataSync();
    const g = tf.grad((v: tf.Tensor) => tf.sum(silu(v)))(x).dataSync();
    xs.forEach((v, i) => {
      assert.ok(Math.abs((y[i] ?? NaN) - v * sig(v)) < 1e-6);
      assert.ok(Math.abs((g[i] ?? NaN) - (sig(v) + v * sig(v) * (1 - sig(v)))) < 1e-6);
    });
    const w = tf.randomNormal([4, 5], 0, 1, "float32", 8);
    const check = checkGradients(([a]) => tf.sum(tf.mul(silu(a as tf.Tensor), w)), [tf.randomNormal([4, 5], 0, 2, "float32", 9)]);
    assert.ok(check.maxRelError < 1e-2, `silu rel error ${check.maxRelError}`);
  });
});

test("rotary embeddings: HF's rotate-half pairs, position 0 is the identity, scores depend on relative position only", () => {
  tf.tidy(() => {
    const D = 8;
    const theta = 10000;
    // one head, one vector at positions 0 and 3: lane i pairs with lane i + D/2, rotated by 3·θ^(−2i/D)
    const x = [0.5, -1, 2, 0.25, 1.5, 0.75, -0.5, 1];
    const at = (pos: number): Float32Array => {
      const { cos, sin } = rotaryCosSin(tf.tensor2d([[pos]], [1, 1], "int32"), D, theta);
      return applyRotary(tf.tensor4d(x, [1, 1, 1, D]), cos, sin).dataSync() as Float32Array;
    };
    Array.from(at(0)).forEach((v, i) => assert.ok(Math.abs(v - (x[i] ?? 0)) < 1e-7));
    const rotated = at(3);
    for (let i = 0; i < D / 2; i++) {
      const angle = 3 * theta ** (-(2 * i) / D);
      const [a, b] = [x[i] ?? 0, x[i + D / 2] ?? 0];
      assert.ok(Math.abs((rotated[i] ?? NaN) - (a * Math.cos(angle) - b * Math.sin(angle))) < 1e-5, `lane ${i}`);
      assert.ok(Math.abs((rotated[i + D / 2] ?? NaN) - (b * Math.cos(angle) + a * Math.sin(angle))) < 1e-5, `lane ${i + D / 2}`);
    }
    // ⟨R(m)q, R(n)k⟩ depends only on m − n
    const q = tf.randomNormal([1, 1, 1, D], 0, 1, "float32", 1) as tf.Tensor4D;
    const k = tf.randomNormal([1, 1, 1, D], 0, 1, "float32", 2) as tf.Tensor4D;
    const dot = (m: number, n: number): number => {
      const r = (v: tf.Tensor4D, p: number): tf.Tensor => {
        const { cos, sin } = rotaryCosSin(tf.tensor2d([[p]], [1, 1], "int32"), D, theta);
        return applyRotary(v, cos, sin);
      };
      return tf.sum(tf.mul(r(q, m), r(k, n))).dataSync()[0] ?? NaN;
    };
    assert.ok(Math.abs(dot(7, 3) - dot(4, 0)) < 1e-4 && Math.abs(dot(12, 8) - dot(4, 0)) < 1e-4);
    assert.ok(Math.abs(dot(4, 0) - dot(0, 0)) > 1e-3, "rotation must change the score");
  });
});

test("rotary embeddings: finite-difference gradient check through q and k rotations at mixed positions", () => {
  tf.tidy(() => {
    const [B, H, T, D] = [2, 2, 3, 6];
    const { cos, sin } = rotaryCosSin(tf.tensor2d([[0, 1, 2], [5, 9, 14]], [B, T], "int32"), D, 500);
    const probe = tf.randomNormal([B, H, T, D], 0, 1, "float32", 11);
    const check = checkGradients(([x]) => tf.sum(tf.mul(tf.tanh(applyRotary(x as tf.Tensor4D, cos, sin)), probe)), [tf.randomNormal([B, H, T, D], 0, 1, "float32", 12)]);
    assert.ok(check.maxRelError < 1e-2, `rotary rel error ${check.maxRelError}`);
  });
});

test("repeat_kv: query head h reads key/value head ⌊h / nRep⌋", () => {
  tf.tidy(() => {
    const kv = tf.randomNormal([2, 3, 4, 5], 0, 1, "float32", 3) as tf.Tensor4D;
    const rep = repeatKv(kv, 2);
    assert.deepEqual(rep.shape, [2, 6, 4, 5]);
    for (let h = 0; h < 6; h++) {
      const got = tf.slice(rep, [0, h, 0, 0], [2, 1, 4, 5]);
      const want = tf.slice(kv, [0, Math.floor(h / 2), 0, 0], [2, 1, 4, 5]);
      assert.equal(maxAbsDiff(got, want), 0);
    }
    // the gradient of a repeated head is the sum over the query heads it serves
    const w = tf.randomNormal([2, 6, 4, 5], 0, 1, "float32", 4);
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(repeatKv(x as tf.Tensor4D, 2), w)))(kv);
    const want = tf.sum(tf.reshape(w, [2, 3, 2, 4, 5]), 2);
    assert.ok(maxAbsDiff(grad, want) < 1e-6, "repeat_kv gradient");
  });
});

for (const [label, config] of [["llama (tied)", tiny], ["qwen2 (biases, untied)", qwen]] as const) {
  test(`${label}: KV-cache decoding gives the same logits as a full forward pass (GQA cache holds nKvHead heads)`, () => {
    const model = randomLlama(config, 1);
    const before = tf.memory().numTensors;
    const ids = [3, 7, 1, 22, 9, 4, 15];
    const full = tf.tidy(() => llamaForward(model, tf.tensor2d([ids], [1, 7], "int32")).logits as tf.Tensor3D);
    const steps: tf.Tensor3D[] = [];
    let past: ReturnType<typeof llamaForward>["present"];
    for (const [start, end] of [[0, 3], [3, 4], [4, 5], [5, 6], [6, 7]] as const) {
      // the decode step's cache (llama-decode.ts) is (B, Hkv, capacity, D) buffers with its capacity and store
      let layout: { capacity?: number; store?: { written: number } } = {};
      const out = tf.tidy(() => {
        const r = llamaForward(model, tf.tensor2d([ids.slice(start, end)], [1, end - start], "int32"), { ...(past ? { past } : {}), useCache: true });
        layout = { capacity: r.present?.capacity, store: r.present?.store };
        return [r.logits as tf.Tensor3D, ...(r.present?.layers.flatMap((l) => [l.k, l.v]) ?? [])];
      });
      disposeKvCache(past);
      const [logits, ...kv] = out as [tf.Tensor3D, ...tf.Tensor4D[]];
      steps.push(logits);
      past = { layers: Array.from({ length: kv.length / 2 }, (_, i) => ({ k: kv[2 * i] as tf.Tensor4D, v: kv[2 * i + 1] as tf.Tensor4D })), length: end, ...layout };
    }
    const kShape = past?.layers[0]?.k.shape;
    assert.deepEqual([kShape?.[0], kShape?.[1], kShape?.[3]], [1, 2, 4], "the cache holds nKvHead = 2 heads");
    assert.equal(kShape?.[2], past?.capacity ?? 7);
    const incremental = tf.concat(steps, 1);
    assert.ok(maxAbsDiff(full, incremental) < 1e-4, `diff ${maxAbsDiff(full, incremental)}`);
    tf.dispose([full, incremental, ...steps]);
    disposeKvCache(past);
    assert.equal(tf.memory().numTensors, before);
    disposeLlama(model);
  });

  test(`${label}: a left-padded batch gives the same logits and scores as each sequence alone`, () => {
    const model = randomLlama({ ...config, scalarHead: "reward" }, 2);
    tf.tidy(() => {
      const a = [5, 6, 7, 8, 9];
      const b = [11, 12, 13];
      const ids = tf.tensor2d([a, [0, 0, ...b]], [2, 5], "int32");
      const mask = tf.tensor2d([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], [2, 5], "int32");
      const batched = llamaForward(model, ids, { attentionMask: mask });
      const aloneA = llamaForward(model, tf.tensor2d([a], [1, 5], "int32"));
      const aloneB = llamaForward(model, tf.tensor2d([b], [1, 3], "int32"));
      const logits = batched.logits as tf.Tensor3D;
      assert.ok(maxAbsDiff(tf.slice(logits, [0, 0, 0], [1, 5, 23]), aloneA.logits as tf.Tensor) < 1e-4);
      assert.ok(maxAbsDiff(tf.slice(logits, [1, 2, 0], [1, 3, 23]), aloneB.logits as tf.Tensor) < 1e-4);
      assert.ok(maxAbsDiff(tf.slice(batched.scores as tf.Tensor2D, [1, 2], [1, 3]), aloneB.scores as tf.Tensor) < 1e-4);
      assert.ok(tf.all(tf.isFinite(logits)).dataSync()[0] === 1);
    });
    disposeLlama(model);
  });
}

test("the whole model's loss gradient passes a finite-difference check (embedding, q/k with rotary, gate, norms, head)", () => {
  const model = initLlama({ ...qwen, nLayer: 1 }, 3);
  tf.tidy(() => {
    const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4], "int32");
    const targets = tf.oneHot(tf.tensor2d([[2, 3, 4, 5], [6, 7, 8, 9]], [2, 4], "int32"), 23);
    const names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.bias", "model.layers.0.mlp.gate_proj.weight", "model.layers.0.input_layernorm.weight", "lm_head.weight"];
    const loss = (name: string, value: tf.Tensor): tf.Scalar => {
      const swapped = new Map(model.params);
      swapped.set(name, value as tf.Variable);
      const logits = llamaForward({ config: model.config, params: swapped }, ids).logits as tf.Tensor3D;
      return tf.mean(tf.mul(tf.logSoftmax(logits), targets)) as tf.Scalar;
    };
    for (const name of names) {
      const check = checkGradients((xs) => loss(name, xs[0] as tf.Tensor), [model.params.get(name) as tf.Variable], { eps: 1e-3, directions: 2 });
      assert.ok(check.maxRelError < 2e-2, `${name} rel error ${JSON.stringify(check)}`);
    }
  });
  disposeLlama(model);
});

test("generate(): greedy decoding with the KV cache and left padding equals full recomputation for each prompt (Llama, GQA)", () => {
  const model = randomLlama(tiny, 4);
  const greedyWithoutCache = (prompt: number[], n: number): number[] => {
    const seq = [...prompt];
    for (let i = 0; i < n; i++) {
      const next = tf.tidy(() => {
        const logits = llamaForward(model, tf.tensor2d([seq], [1, seq.length], "int32")).logits as tf.Tensor3D;
        return tf.argMax(tf.slice(logits, [0, seq.length - 1, 0], [1, 1, 23]), -1).dataSync()[0] ?? -1;
      });
      seq.push(next);
    }
    return seq.slice(prompt.length);
  };
  const prompts = [[3, 4, 5, 6, 7], [9, 10], [1, 2, 3]];
  const before = tf.memory().numTensors;
  const out = generate(model, prompts, { maxNewTokens: 6, temperature: 0, padId: 0 });
  assert.equal(tf.memory().numTensors, before, "generation must not leak tensors");
  prompts.forEach((p, b) => assert.deepEqual(out.completions[b], greedyWithoutCache(p, 6)));
  assert.ok(new Set(out.completions.flat()).size > 1, "degenerate model: all tokens equal");
  // sampled rows do not depend on the batch
  const o = { maxNewTokens: 5, temperature: 1, padId: 0, seed: 7 };
  assert.deepEqual(generate(model, [prompts[0] as number[]], o).completions[0], generate(model, prompts, o).completions[0]);
  disposeLlama(model);
});
