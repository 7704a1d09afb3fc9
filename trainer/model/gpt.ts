// GPT-2 in TensorFlow.js, nanoGPT style: one file, plain functions over a map of named variables.
//
// Architecture (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"; the
// pre-LayerNorm block is GPT-2's change over GPT-1): learned token and position embeddings,
// n_layer × [x + attn(ln_1(x)); x + mlp(ln_2(x))], final ln_f, LM head tied to the token embedding.
// Parameter names and layouts follow Hugging Face's GPT2Model (Conv1D weights are (in, out)), so
// safetensors files map one to one.
//
// Batches may be left-padded: `attentionMask` (1 = real token) hides pad keys and position ids are
// the exclusive cumulative sum of the mask, so a padded row gives the same logits as the unpadded
// sequence (N-implementation-details, General #2-3).
import * as tf from "@tensorflow/tfjs-core";
import { type GptConfig } from "../contract/gpt-config.ts";
import { linearBias, matMul2d, tiedLmHead, transposedMatMulIsFast } from "../backend/matmul.ts";
import { fusedBackend } from "../backend/wasm-heap.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { simdKernels, GELU_C, GELU_K } from "../backend/wasm-simd.ts";
import { fusedGelu, fusedGeluApplies } from "./fused-gelu.ts";
import { fusedLayerNorm, fusedNormApplies } from "./fused-norms.ts";
import { maskedSoftmax } from "./fused-softmax.ts";
import { qkvAttention } from "./qkv-attention.ts";
import { contiguousCache, gptDecodeStep } from "./gpt-decode.ts";
import { recomputed, recomputeWanted, trainableOf } from "./recompute.ts";

export interface GptModel {
  config: GptConfig;
  /** Hugging Face GPT-2 names → variables, in a stable order. */
  params: Map<string, tf.Variable>;
}

/**
 * Per layer keys and values of everything seen so far: (B, H, T_past, D) each, or with `capacity` set (the decode
 * step of gpt-decode.ts, decision trainer-028) (B, H, capacity, D) buffers whose first `length` positions are the
 * keys and values: the next step from this cache writes its token in place, so a cache continued twice (a branch) is
 * copied on the second continuation, found by `store` (shared by the caches over one set of buffers).
 */
export interface KvCache {
  layers: { k: tf.Tensor4D; v: tf.Tensor4D }[];
  length: number;
  capacity?: number;
  store?: { written: number };
}

export interface ForwardOptions {
  /** (B, T_past + T) 1 for real tokens, 0 for padding; covers cached positions too. */
  attentionMask?: tf.Tensor2D;
  /** (B, T) position of each new token; default: from the mask, else past length + arange(T). */
  positionIds?: tf.Tensor2D;
  past?: KvCache;
  /** Return the keys/values so decoding can continue. */
  useCache?: boolean;
  /** Skip the LM head (reward and value models need only hidden states). */
  logits?: boolean;
  /**
   * Recompute each block's forward in the backward pass instead of keeping its intermediates
   * (model/recompute.ts). Default: the process setting (setRecompute), off unless a job asks.
   * Ignored with a cache (past or useCache): decoding has no backward pass.
   */
  recompute?: boolean;
}

export interface ForwardResult {
  /** (B, T, V) */
  logits?: tf.Tensor3D;
  /** (B, T, C) output of ln_f */
  hidden: tf.Tensor3D;
  /** (B, T) scalar head on every position, when the config has one. */
  scores?: tf.Tensor2D;
  present?: KvCache;
}

/** Closed-form parameter count: embeddings + L·(12C² + 13C) + final LayerNorm (+ scalar head). */
export function countParams(c: Pick<GptConfig, "vocabSize" | "blockSize" | "nLayer" | "nEmbd" | "scalarHead">): number {
  const C = c.nEmbd;
  const perLayer = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (4 * C * C + C);
  return c.vocabSize * C + c.blockSize * C + c.nLayer * perLayer + 2 * C + (c.scalarHead === "none" ? 0 : C);
}

/** Parameter shapes by name, in the order they are created and saved. */
export function parameterShapes(c: GptConfig): [string, number[]][] {
  const C = c.nEmbd;
  const shapes: [string, number[]][] = [
    ["wte.weight", [c.vocabSize, C]],
    ["wpe.weight", [c.blockSize, C]],
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `h.${i}.`;
    shapes.push(
      [`${p}ln_1.weight`, [C]], [`${p}ln_1.bias`, [C]],
      [`${p}attn.c_attn.weight`, [C, 3 * C]], [`${p}attn.c_attn.bias`, [3 * C]],
      [`${p}attn.c_proj.weight`, [C, C]], [`${p}attn.c_proj.bias`, [C]],
      [`${p}ln_2.weight`, [C]], [`${p}ln_2.bias`, [C]],
      [`${p}mlp.c_fc.weight`, [C, 4 * C]], [`${p}mlp.c_fc.bias`, [4 * C]],
      [`${p}mlp.c_proj.weight`, [4 * C, C]], [`${p}mlp.c_proj.bias`, [C]],
    );
  }
  shapes.push(["ln_f.weight", [C]], ["ln_f.bias", [C]]);
  if (c.scalarHead !== "none") shapes.push(["score.weight", [C, 1]]);
  return shapes;
}

/**
 * Initialisation as in GPT-2 / nanoGPT: N(0, 0.02) for matrices and embeddings, zero biases, unit
 * LayerNorm gains, and N(0, 0.02/√(2·n_layer)) for the two residual projections (c_proj), since
 * each layer adds two residual branches. The reward head is N(0, 1/√(C+1)) (N-details RM #2);
 * a value head starts at zero (N-details Policy #2).
 */
export function initGpt(config: GptConfig, seed = 0): GptModel {
  const rng = createRng(seed);
  const params = new Map<string, tf.Variable>();
  const residualStd = 0.02 / Math.sqrt(2 * config.nLayer);
  for (const [name, shape] of parameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    let values: Float32Array;
    if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight") values = new Float32Array(size).fill(1);
    else if (name.endsWith(".bias")) values = new Float32Array(size);
    else if (name === "score.weight")
      values = config.scalarHead === "value" ? new Float32Array(size) : normalArray(rng, size, 1 / Math.sqrt(config.nEmbd + 1));
    else values = normalArray(rng, size, name.endsWith("c_proj.weight") ? residualStd : 0.02);
    const initial = tf.tensor(values, shape, "float32");
    params.set(name, tf.variable(initial, true)); // unnamed: tfjs variable names are process-global, and policy, reference and reward models coexist
    initial.dispose(); // the variable holds its own reference to the buffer
  }
  return { config, params };
}

/**
 * A copy with its own variables: the frozen reference policy (trainable false), or a value/reward
 * model started from the policy (a head the source lacks starts as initGpt would make it).
 */
export function cloneGpt(model: GptModel, options: { scalarHead?: GptConfig["scalarHead"]; trainable?: boolean; seed?: number } = {}): GptModel {
  const config = { ...model.config, scalarHead: options.scalarHead ?? model.config.scalarHead };
  const fresh = initGpt(config, options.seed ?? 0);
  for (const [name, v] of fresh.params) {
    const source = model.params.get(name);
    const value = source ? tf.clone(source) : tf.clone(v);
    v.dispose();
    fresh.params.set(name, tf.variable(value, options.trainable ?? true));
    value.dispose();
  }
  return fresh;
}

export function disposeGpt(model: GptModel): void {
  for (const v of model.params.values()) v.dispose();
  model.params.clear();
}

export function disposeKvCache(cache: KvCache | undefined): void {
  if (!cache) return;
  for (const { k, v } of cache.layers) tf.dispose([k, v]);
}

function param(model: GptModel, name: string): tf.Variable {
  const p = model.params.get(name);
  if (!p) throw new Error(`missing parameter ${name}`);
  return p;
}

/**
 * LayerNorm over the last axis: (x − mean) / √(var + eps) · g + b, biased variance as in PyTorch. On wasm
 * one fused loop per row, forward and backward (fused-norms.ts); the ops below are the reference.
 */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const backend = fusedBackend("norm");
  if (backend && fusedNormApplies(x, g, b)) return fusedLayerNorm(backend, x, g, b, eps);
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), g), b);
}

/**
 * GELU, tanh approximation (GPT-2's `gelu_new`): 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
 * Computed as the identical x·σ(z), z = 2√(2/π)(x + 0.044715x³), because 0.5(1 + tanh(u)) = σ(2u).
 * wasm's Tanh is a scalar loop (~20× slower than its XNNPACK Sigmoid on a micro MLP activation).
 * The gradient is written out, σ(z) + x·σ(z)(1 − σ(z))·k(1 + 3cx²), so the backward pass is a few
 * elementwise ops on saved x and σ(z) instead of autodiff through each op (x³ via x·x·x: tf.pow
 * and its gradient were 12% of a wasm step). On wasm with the SIMD kernels, one pass each way (fused-gelu.ts,
 * decision trainer-023).
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const backend = fusedBackend("activation");
  const simd = backend && fusedGeluApplies(x) ? simdKernels(backend, "gelu") : null;
  return backend && simd ? fusedGelu(backend, simd, x) : geluTanhOps(x);
}

/** geluTanh as tensor ops: every backend but wasm, and the reference the fused kernel is tested against. */
export const geluTanhOps = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const s = tf.sigmoid(tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), GELU_C)), GELU_K)); // σ(z)
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, ss] = saved as [tf.Tensor, tf.Tensor];
      const dzdx = tf.mul(tf.add(tf.mul(tf.mul(sx, sx), 3 * GELU_C), 1), GELU_K); // k(1 + 3cx²)
      const dsdx = tf.mul(tf.mul(ss, tf.sub(1, ss)), dzdx); // σ'(z)·dz/dx
      return [tf.mul(dy, tf.add(ss, tf.mul(sx, dsdx)))];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * x (N, in) · W (in, out) + b, plus `residual` (N·out elements) when given: one op with the bias (and residual) in
 * sgemm's output under native BLAS (matmul.ts linearBias, decision trainer-031), else matMul2d and tf.add.
 */
function linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, residual?: tf.Tensor): tf.Tensor2D {
  return linearBias(x, w as tf.Tensor2D, b, residual);
}

/** Position ids from a padding mask: exclusive cumulative sum, so the first real token is 0. */
export function positionIdsFromMask(mask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const m = tf.cast(mask, "int32"); // (B, T)
    return tf.cast(tf.maximum(tf.sub(tf.cumsum(m, 1), m), 0), "int32") as tf.Tensor2D; // cumsum may return float32
  });
}

/**
 * Additive attention bias (B, 1, T, T_past + T): 0 where query i may see key j (j ≤ past + i and
 * key j is real), −1e9 elsewhere. Finite on purpose: a pad query sees only pad keys, and −∞ would
 * give NaN rows whose values then poison real rows through 0·NaN in the next matmul.
 */
export function attentionBias(batch: number, t: number, past: number, mask: tf.Tensor2D | undefined): tf.Tensor4D {
  return tf.tidy(() => {
    const tk = past + t;
    const causal = new Float32Array(t * tk);
    for (let i = 0; i < t; i++) for (let j = past + i + 1; j < tk; j++) causal[i * tk + j] = -1e9;
    const causalBias = tf.tensor4d(causal, [1, 1, t, tk]);
    if (!mask) return tf.tile(causalBias, [batch, 1, 1, 1]) as tf.Tensor4D;
    const padBias = tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, "float32")), -1e9), [batch, 1, 1, tk]);
    return tf.add(causalBias, padBias) as tf.Tensor4D;
  });
}

/**
 * Causal multi-head self-attention (Vaswani et al. 2017, §3.2) on pre-normalised input.
 * x (B, T, C) → (B, T, C); also returns this layer's full keys/values for the cache (not when `needKv` is false and
 * there is no `past`: then the in-place path of qkv-attention.ts may run, which makes no per-head keys/values).
 * With `residual` (B, T, C), y is residual + attention: the output projection adds it in its own op (linearBias).
 */
export function causalSelfAttention(
  x: tf.Tensor3D,
  w: { cAttnW: tf.Tensor; cAttnB: tf.Tensor; cProjW: tf.Tensor; cProjB: tf.Tensor },
  nHead: number,
  bias: tf.Tensor4D,
  past?: { k: tf.Tensor4D; v: tf.Tensor4D },
  needKv = true,
  residual?: tf.Tensor3D,
): { y: tf.Tensor3D; k?: tf.Tensor4D; v?: tf.Tensor4D } {
  const [B, T, C] = x.shape;
  const D = C / nHead;
  const qkv = linear(tf.reshape(x, [B * T, C]), w.cAttnW, w.cAttnB); // (B·T, 3C)
  if (!past && !needKv && attentionImpl !== "per-head") {
    // native BLAS under wasm: q, k and v read from qkv in place, heads written merged (qkv-attention.ts, trainer-025)
    const merged = qkvAttention(qkv, B, T, nHead, bias);
    if (merged) return { y: tf.reshape(linear(merged, w.cProjW, w.cProjB, residual), [B, T, C]) };
  }
  const heads = (t: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(t, [B, T, nHead, D]), [0, 2, 1, 3]); // (B, H, T, D)
  const [q0, k0, v0] = tf.split(qkv, 3, 1) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const q = heads(q0);
  let k = heads(k0);
  let v = heads(v0);
  if (past) {
    k = tf.concat([past.k, k], 2); // (B, H, T_past + T, D)
    v = tf.concat([past.v, v], 2);
  }
  const y = scaledDotProductAttention(q, k, v, bias, past !== undefined);
  const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, C]) as tf.Tensor2D; // (B·T, C)
  return { y: tf.reshape(linear(merged, w.cProjW, w.cProjB, residual), [B, T, C]), k, v };
}

export type AttentionImpl = "auto" | "batched" | "per-head";
let attentionImpl: AttentionImpl = "auto";

/** Process-wide choice of attention implementation ("auto": per-head on wasm without a cache). */
export function setAttentionImpl(impl: AttentionImpl): void {
  attentionImpl = impl;
}

/**
 * softmax(q·kᵀ/√D + bias)·v with the implementation that suits the backend. Without a cache on
 * wasm, one 2-D matmul per (batch, head): wasm runs batched or transposed matmuls ~10× slower than
 * plain 2-D ones (tfjs-notes.md). Decoding (`cached`) keeps the batched form, where one query row
 * makes per-slice overhead dominate. q (B, H, T, D), k/v (B, H, T_k, D) → (B, H, T, D).
 */
export function scaledDotProductAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D, cached: boolean): tf.Tensor4D {
  // with native BLAS under wasm, batched and transposed matmuls are as fast as 2-D ones (matmul.ts)
  const perHead = attentionImpl === "per-head" || (attentionImpl === "auto" && !cached && tf.getBackend() === "wasm" && !transposedMatMulIsFast());
  return perHead ? attentionPerHead(q, k, v, bias) : attentionBatched(q, k, v, bias);
}

/** softmax(q·kᵀ/√D + bias)·v with batched matmuls. q (B, H, T, D), k/v (B, H, T_k, D) → (B, H, T, D). */
export function attentionBatched(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D): tf.Tensor4D {
  const D = q.shape[3];
  const att = maskedSoftmax(tf.matMul(q, k, false, true), bias, 1 / Math.sqrt(D)); // (B, H, T, T_k)
  return tf.matMul(att, v); // (B, H, T, D)
}

/**
 * The same attention as B·H untransposed 2-D matmul pairs (fast path on wasm). Heads are cut with
 * one tf.split per tensor, not one tf.slice per head: a slice's gradient is a zero-padded copy of
 * the whole input, so B·H slices cost O((B·H)²) in the backward pass; split's gradient is one concat.
 */
export function attentionPerHead(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D): tf.Tensor4D {
  const [B, H, T, D] = q.shape;
  const Tk = k.shape[2];
  const heads = (t: tf.Tensor, rows: number): tf.Tensor2D[] =>
    tf.split(tf.reshape(t, [B * H * rows, D]), B * H, 0) as tf.Tensor2D[]; // B·H × (rows, D)
  const qs = heads(q, T);
  const ks = heads(k, Tk);
  const vs = heads(v, Tk);
  const biases = tf.split(tf.reshape(bias, [B * T, Tk]), B, 0); // B × (T, T_k)
  const outs: tf.Tensor2D[] = [];
  for (let i = 0; i < B * H; i++) {
    const biasB = biases[Math.floor(i / H)] as tf.Tensor;
    const att = maskedSoftmax(matMul2d(qs[i] as tf.Tensor2D, tf.transpose(ks[i] as tf.Tensor2D)), biasB, 1 / Math.sqrt(D)); // (T, T_k)
    outs.push(matMul2d(att as tf.Tensor2D, vs[i] as tf.Tensor2D)); // (T, D)
  }
  return tf.reshape(tf.concat(outs, 0), [B, H, T, D]);
}

/**
 * One pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(·)). x (B, T, C) → (B, T, C), with
 * this layer's keys/values (B, H, T_past + T, D) for the cache.
 */
function gptBlock(model: GptModel, i: number, x: tf.Tensor3D, bias: tf.Tensor4D, past?: { k: tf.Tensor4D; v: tf.Tensor4D }, needKv = true): { x: tf.Tensor3D; k?: tf.Tensor4D; v?: tf.Tensor4D } {
  const c = model.config;
  const [B, T, C] = x.shape;
  const p = `h.${i}.`;
  const h1 = layerNorm(x, param(model, `${p}ln_1.weight`), param(model, `${p}ln_1.bias`), c.layerNormEps) as tf.Tensor3D;
  const attn = causalSelfAttention(
    h1,
    {
      cAttnW: param(model, `${p}attn.c_attn.weight`), cAttnB: param(model, `${p}attn.c_attn.bias`),
      cProjW: param(model, `${p}attn.c_proj.weight`), cProjB: param(model, `${p}attn.c_proj.bias`),
    },
    c.nHead,
    bias,
    past,
    needKv,
    x, // the residual: attn.y is x + attention(ln_1(x))
  );
  const mid = attn.y;
  const h2 = tf.reshape(layerNorm(mid, param(model, `${p}ln_2.weight`), param(model, `${p}ln_2.bias`), c.layerNormEps), [B * T, C]) as tf.Tensor2D;
  const up = geluTanh(linear(h2, param(model, `${p}mlp.c_fc.weight`), param(model, `${p}mlp.c_fc.bias`))) as tf.Tensor2D; // (B·T, 4C)
  const out = tf.reshape(linear(up, param(model, `${p}mlp.c_proj.weight`), param(model, `${p}mlp.c_proj.bias`), mid), [B, T, C]) as tf.Tensor3D;
  return { x: out, k: attn.k, v: attn.v };
}

/** Forward pass. inputIds (B, T) int32 → logits (B, T, V), hidden (B, T, C), optional scores/cache. */
export function gptForward(model: GptModel, inputIds: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
  const c = model.config;
  const [B, T] = inputIds.shape;
  const pastLength = options.past?.length ?? 0;
  if (pastLength + T > c.blockSize) throw new Error(`sequence of ${pastLength + T} exceeds blockSize ${c.blockSize}`);
  const C = c.nEmbd;

  // one token per row after a cache: the decode step's single pass over the heap when it applies (gpt-decode.ts)
  const decoded = gptDecodeStep(model, inputIds, options);
  let hidden: tf.Tensor3D;
  let logits: tf.Tensor3D | undefined;
  let present: KvCache;
  if (decoded) ({ hidden, logits, present } = decoded);
  else {
    const blocks = gptBlocks(model, inputIds, options, options.past && contiguousCache(options.past));
    present = blocks.present;
    // 4. final LayerNorm, tied LM head (B·T, C) @ (C, V)
    hidden = layerNorm(blocks.x, param(model, "ln_f.weight"), param(model, "ln_f.bias"), c.layerNormEps) as tf.Tensor3D;
    if (options.logits !== false)
      logits = tf.reshape(tiedLmHead(tf.reshape(hidden, [B * T, C]) as tf.Tensor2D, param(model, "wte.weight") as tf.Tensor as tf.Tensor2D), [B, T, c.vocabSize]);
  }
  const result: ForwardResult = { hidden };
  if (logits) result.logits = logits;
  // optional scalar head (B·T, C) @ (C, 1)
  if (c.scalarHead !== "none") result.scores = tf.reshape(matMul2d(tf.reshape(hidden, [B * T, C]) as tf.Tensor2D, param(model, "score.weight") as tf.Tensor as tf.Tensor2D), [B, T]);
  if (options.useCache) result.present = present;
  return result;
}

/** Embeddings and the transformer blocks as tensor ops: x (B, T, C) before ln_f, and the cache when asked for. */
function gptBlocks(model: GptModel, inputIds: tf.Tensor2D, options: ForwardOptions, past: KvCache | undefined): { x: tf.Tensor3D; present: KvCache } {
  const c = model.config;
  const [B, T] = inputIds.shape;
  const pastLength = past?.length ?? 0;
  // 1. positions: explicit, else from the padding mask, else past + arange(T)
  let positions: tf.Tensor2D;
  if (options.positionIds) positions = options.positionIds;
  else if (options.attentionMask) positions = tf.slice(positionIdsFromMask(options.attentionMask), [0, pastLength], [B, T]);
  else positions = tf.tile(tf.reshape(tf.range(pastLength, pastLength + T, 1, "int32"), [1, T]), [B, 1]) as tf.Tensor2D;

  // 2. embeddings: token + position (B, T, C)
  let x = tf.add(tf.gather(param(model, "wte.weight"), inputIds), tf.gather(param(model, "wpe.weight"), positions)) as tf.Tensor3D;

  // 3. transformer blocks, pre-LayerNorm with residual connections
  const bias = attentionBias(B, T, pastLength, options.attentionMask); // (B, 1, T, T_k)
  // the decode step's caches have the same properties, in the same order: one hidden class for both (gpt-decode.ts)
  const present: KvCache = { layers: [], length: pastLength + T, capacity: undefined, store: undefined };
  const recompute = recomputeWanted(options.recompute) && !past && !options.useCache;
  for (let i = 0; i < c.nLayer; i++) {
    if (recompute) {
      const p = `h.${i}.`;
      const weights = trainableOf([...model.params].filter(([name]) => name.startsWith(p)).map(([, v]) => v));
      x = recomputed(x, { fn: (xIn, [b]) => gptBlock(model, i, xIn, b as tf.Tensor4D, undefined, false).x, consts: [bias], weights });
      continue;
    }
    const block = gptBlock(model, i, x, bias, past?.layers[i], options.useCache === true);
    if (options.useCache) {
      if (!block.k || !block.v) throw new Error("attention returned no keys/values for the cache");
      present.layers.push({ k: block.k, v: block.v });
    }
    x = block.x;
  }

  return { x, present };
}

/**
 * gptForward inside its own tf.tidy: only the returned tensors (logits, hidden, scores, cache)
 * survive. The caller disposes them (disposeForward / disposeKvCache).
 */
export function gptForwardTidy(model: GptModel, inputIds: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
  let result: ForwardResult | undefined;
  tf.tidy(() => {
    result = gptForward(model, inputIds, options);
    return forwardTensors(result);
  });
  if (!result) throw new Error("forward produced no result");
  return result;
}

function forwardTensors(r: ForwardResult): tf.Tensor[] {
  const out: tf.Tensor[] = [r.hidden];
  if (r.logits) out.push(r.logits);
  if (r.scores) out.push(r.scores);
  for (const { k, v } of r.present?.layers ?? []) out.push(k, v);
  return out;
}

export function disposeForward(r: ForwardResult): void {
  tf.dispose(forwardTensors(r));
}
