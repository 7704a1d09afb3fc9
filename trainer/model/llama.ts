// Llama-family decoder in TensorFlow.js (Llama, SmolLM2, TinyLlama; Qwen2 with q/k/v biases), in
// the same style as gpt.ts: one file, plain functions over a map of named variables.
//
// Architecture (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models" §2.2):
// token embedding, n_layer × [x + attn(rmsnorm(x)); x + mlp(rmsnorm(x))], final RMSNorm, LM head
// (tied to the embedding or its own). The pieces:
//  - RMSNorm (Zhang & Sennrich 2019): x / √(mean(x²) + ε) · g, no centring, no bias;
//  - rotary position embeddings (Su et al. 2021, "RoFormer") on q and k, in Hugging Face's
//    rotate-half layout (the two halves of each head are the pairs, not even/odd lanes), base rope_theta;
//  - grouped-query attention (Ainslie et al. 2023, "GQA"): nKvHead key/value heads, each shared by
//    nHead / nKvHead query heads; the KV cache keeps only the nKvHead heads;
//  - SwiGLU MLP (Shazeer 2020, "GLU Variants Improve Transformer"): down(silu(gate(x)) ⊙ up(x)).
// Behaviour follows transformers' modeling_llama.py / modeling_qwen2.py (bench/llama_parity.py is a
// PyTorch transcription of it that checks these logits to 1e-4).
//
// Parameter names are Hugging Face's LlamaForCausalLM names ("model.layers.0.self_attn.q_proj.weight",
// "lm_head.weight"; "score.weight" as LlamaForSequenceClassification). Linear weights are held
// transposed, (in, out), so every product is an untransposed 2-D matmul (the fast wasm path, see
// backend/matmul.ts); `toHfTensors` / `assignHfTensors` convert to and from HF's (out, in).
//
// Padding, positions and the cache work as in gpt.ts: a left-padded row gives the same logits as
// the row alone because position ids are the exclusive cumulative sum of the mask. One new token per
// row after a cache runs as llama-decode.ts's single pass over the wasm heap where it applies
// (decision trainer-029), its cache preallocated and written in place; else the ops below.
import * as tf from "@tensorflow/tfjs-core";
import { headDimOf, type LlamaConfig } from "../contract/llama-config.ts";
import { matMul2d, matMul2dFrozenB, matMulTransposedFrozen, tiedLmHead } from "../backend/matmul.ts";
import { fusedBackend } from "../backend/wasm-heap.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { fusedNormApplies, fusedRmsNorm } from "./fused-norms.ts";
import { attentionBias, positionIdsFromMask, scaledDotProductAttention, type ForwardOptions, type ForwardResult, type KvCache } from "./gpt.ts";
import { contiguousCache } from "./gpt-decode.ts";
import { llamaDecodeStep, rotaryInverseFrequencies } from "./llama-decode.ts";
import { loraDelta, type LoraState } from "./lora.ts";
import { recomputed, recomputeWanted, trainableOf } from "./recompute.ts";

export interface LlamaModel {
  config: LlamaConfig;
  /** Hugging Face names → variables (linear weights transposed to (in, out)), in a stable order. */
  params: Map<string, tf.Variable>;
  /** Low-rank adapters on some projections (lora.ts); absent for a plain model. */
  lora?: LoraState;
}

/** Which biases the projections carry: Qwen2 always on q/k/v; Llama on all four with attention_bias. */
export function biasesOf(c: LlamaConfig): { qkv: boolean; o: boolean; mlp: boolean } {
  const llamaBias = c.modelType === "llama" && c.attentionBias;
  return { qkv: c.modelType === "qwen2" || llamaBias, o: llamaBias, mlp: c.modelType === "llama" && c.mlpBias };
}

/** Parameter shapes by name (internal layout: linear weights (in, out)), in creation order. */
export function llamaParameterShapes(c: LlamaConfig): [string, number[]][] {
  const C = c.nEmbd;
  const D = headDimOf(c);
  const [qOut, kvOut] = [c.nHead * D, c.nKvHead * D];
  const I = c.intermediateSize;
  const bias = biasesOf(c);
  const linear = (name: string, inF: number, outF: number, withBias: boolean): [string, number[]][] =>
    withBias ? [[`${name}.weight`, [inF, outF]], [`${name}.bias`, [outF]]] : [[`${name}.weight`, [inF, outF]]];
  const shapes: [string, number[]][] = [["model.embed_tokens.weight", [c.vocabSize, C]]];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `model.layers.${i}.`;
    shapes.push(
      [`${p}input_layernorm.weight`, [C]],
      ...linear(`${p}self_attn.q_proj`, C, qOut, bias.qkv),
      ...linear(`${p}self_attn.k_proj`, C, kvOut, bias.qkv),
      ...linear(`${p}self_attn.v_proj`, C, kvOut, bias.qkv),
      ...linear(`${p}self_attn.o_proj`, qOut, C, bias.o),
      [`${p}post_attention_layernorm.weight`, [C]],
      ...linear(`${p}mlp.gate_proj`, C, I, bias.mlp),
      ...linear(`${p}mlp.up_proj`, C, I, bias.mlp),
      ...linear(`${p}mlp.down_proj`, I, C, bias.mlp),
    );
  }
  shapes.push(["model.norm.weight", [C]]);
  if (!c.tieWordEmbeddings) shapes.push(["lm_head.weight", [C, c.vocabSize]]);
  if (c.scalarHead !== "none") shapes.push(["score.weight", [C, 1]]);
  return shapes;
}

/** Closed-form parameter count (SmolLM2-135M: 134,515,008). */
export function countLlamaParams(c: LlamaConfig): number {
  const C = c.nEmbd;
  const D = headDimOf(c);
  const I = c.intermediateSize;
  const bias = biasesOf(c);
  const attention = C * c.nHead * D * 2 + C * c.nKvHead * D * 2 + (bias.qkv ? (c.nHead + 2 * c.nKvHead) * D : 0) + (bias.o ? C : 0);
  const mlp = 3 * C * I + (bias.mlp ? 2 * I + C : 0);
  const perLayer = 2 * C + attention + mlp;
  return c.vocabSize * C + c.nLayer * perLayer + C + (c.tieWordEmbeddings ? 0 : C * c.vocabSize) + (c.scalarHead === "none" ? 0 : C);
}

/** True for weights held transposed relative to Hugging Face (every 2-D parameter but the embedding). */
export function isTransposedLinear(name: string, rank: number): boolean {
  return rank === 2 && name !== "model.embed_tokens.weight";
}

/**
 * Initialisation as transformers' LlamaPreTrainedModel._init_weights: N(0, initializer_range = 0.02)
 * for linear and embedding weights, zero biases, unit RMSNorm gains. The reward head is
 * N(0, 1/√(C+1)) and a value head starts at zero, as for GPT-2 (gpt.ts).
 */
export function initLlama(config: LlamaConfig, seed = 0): LlamaModel {
  const rng = createRng(seed);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of llamaParameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    let values: Float32Array;
    if (name.endsWith("layernorm.weight") || name === "model.norm.weight") values = new Float32Array(size).fill(1);
    else if (name.endsWith(".bias")) values = new Float32Array(size);
    else if (name === "score.weight")
      values = config.scalarHead === "value" ? new Float32Array(size) : normalArray(rng, size, 1 / Math.sqrt(config.nEmbd + 1));
    else values = normalArray(rng, size, 0.02);
    const initial = tf.tensor(values, shape, "float32");
    params.set(name, tf.variable(initial, true));
    initial.dispose();
  }
  return { config, params };
}

export function disposeLlama(model: LlamaModel): void {
  for (const v of model.params.values()) v.dispose();
  model.params.clear();
  if (model.lora) for (const a of model.lora.adapters.values()) tf.dispose([a.a, a.b]);
  delete model.lora;
}

function param(model: LlamaModel, name: string): tf.Variable {
  const p = model.params.get(name);
  if (!p) throw new Error(`missing parameter ${name}`);
  return p;
}

/**
 * RMSNorm over the last axis: x · rsqrt(mean(x²) + ε) · g (Zhang & Sennrich 2019; LlamaRMSNorm,
 * computed in float32 as HF does). On wasm one fused loop per row, forward and backward (fused-norms.ts).
 */
export function rmsNorm(x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor {
  const backend = fusedBackend("norm");
  if (backend && fusedNormApplies(x, g)) return fusedRmsNorm(backend, x, g, eps);
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), g);
}

/**
 * SiLU (swish), x·σ(x), with its gradient written out, σ + x·σ(1 − σ), so the backward pass is a few
 * elementwise ops on saved x and σ(x) (as geluTanh in gpt.ts).
 */
export const silu = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const s = tf.sigmoid(x);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, ss] = saved as [tf.Tensor, tf.Tensor];
      return [tf.mul(dy, tf.add(ss, tf.mul(tf.mul(sx, ss), tf.sub(1, ss))))];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * Rotary tables for these positions: cos and sin of position · θ^(−2i/D), each frequency written
 * twice (HF's `cat((freqs, freqs))`), shaped (B, 1, T, D) to broadcast over heads.
 */
export function rotaryCosSin(positions: tf.Tensor2D, headDim: number, theta: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  return tf.tidy(() => {
    const [B, T] = positions.shape;
    // inv_freq as HF computes it: 1 / θ^(arange(0, D, 2) / D), rounded to float32
    const invFreq = rotaryInverseFrequencies(headDim, theta);
    const freqs = tf.mul(tf.reshape(tf.cast(positions, "float32"), [B, T, 1]), tf.tensor3d(invFreq, [1, 1, headDim / 2])); // (B, T, D/2)
    const emb = tf.reshape(tf.concat([freqs, freqs], -1), [B, 1, T, headDim]); // (B, 1, T, D)
    return { cos: tf.cos(emb) as tf.Tensor4D, sin: tf.sin(emb) as tf.Tensor4D };
  });
}

/** rotate_half: (x1, x2) → (−x2, x1) over the two halves of the last axis. */
function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  const [x1, x2] = tf.split(x, 2, -1) as [tf.Tensor4D, tf.Tensor4D];
  return tf.concat([tf.neg(x2), x1], -1);
}

/** x·cos + rotate_half(x)·sin: x (B, H, T, D), cos/sin (B, 1, T, D). */
export function applyRotary(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D {
  return tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin));
}

/** repeat_kv: (B, Hkv, T, D) → (B, Hkv·nRep, T, D), key/value head j serving query heads j·nRep … j·nRep + nRep − 1. */
export function repeatKv(x: tf.Tensor4D, nRep: number): tf.Tensor4D {
  if (nRep === 1) return x;
  const [B, Hkv, T, D] = x.shape;
  // nRep copies concatenated along a unit axis, not tf.tile: tfjs-wasm's Tile took 7–26 ms for (24, 1, 1088…4160)
  // against 0.3–0.9 ms for this Concat (the same values), and was 2/3 of a SmolLM2 decode step on the op path
  // (decision trainer-029); Concat's gradient is slices, which the engine adds up for the repeated input
  const flat = tf.reshape(x, [B * Hkv, 1, T * D]);
  return tf.reshape(tf.concat(Array.from({ length: nRep }, () => flat), 1), [B, Hkv * nRep, T, D]);
}

/** x · W with W a variable: a frozen one (LoRA's base) gets no weight gradient computed. */
function linearWeight(x: tf.Tensor2D, w: tf.Variable | tf.Tensor): tf.Tensor2D {
  return (w as tf.Variable).trainable === false ? matMul2dFrozenB(x, w as tf.Tensor2D) : matMul2d(x, w as tf.Tensor2D);
}

/** x (N, in) · W (in, out) [+ b] [+ the LoRA update of this projection when adapters are on]. */
function project(model: LlamaModel, name: string, x: tf.Tensor2D): tf.Tensor2D {
  let y = linearWeight(x, param(model, `${name}.weight`));
  const b = model.params.get(`${name}.bias`);
  if (b) y = tf.add(y, b);
  const adapter = model.lora?.enabled ? model.lora.adapters.get(name) : undefined;
  if (adapter && model.lora) y = tf.add(y, loraDelta(model.lora, adapter, x));
  return y;
}

/**
 * Grouped-query self-attention with rotary positions on pre-normalised input.
 * x (B, T, C) → (B, T, C); also returns this layer's keys/values (nKvHead heads) for the cache.
 */
function selfAttention(
  model: LlamaModel,
  p: string,
  x: tf.Tensor3D,
  rope: { cos: tf.Tensor4D; sin: tf.Tensor4D },
  bias: tf.Tensor4D,
  past?: { k: tf.Tensor4D; v: tf.Tensor4D },
): { y: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
  const c = model.config;
  const [B, T, C] = x.shape;
  const D = headDimOf(c);
  const flat = tf.reshape(x, [B * T, C]) as tf.Tensor2D;
  const heads = (t: tf.Tensor, h: number): tf.Tensor4D => tf.transpose(tf.reshape(t, [B, T, h, D]), [0, 2, 1, 3]); // (B, h, T, D)
  // 1. projections: q (B, H, T, D), k/v (B, Hkv, T, D)
  const q = applyRotary(heads(project(model, `${p}q_proj`, flat), c.nHead), rope.cos, rope.sin);
  let k = applyRotary(heads(project(model, `${p}k_proj`, flat), c.nKvHead), rope.cos, rope.sin);
  let v = heads(project(model, `${p}v_proj`, flat), c.nKvHead);
  // 2. the cache holds rotated keys, so a cached position keeps its own rotation
  if (past) {
    k = tf.concat([past.k, k], 2); // (B, Hkv, T_past + T, D)
    v = tf.concat([past.v, v], 2);
  }
  // 3. each key/value head serves nHead / nKvHead query heads; softmax(q·kᵀ/√D + bias)·v
  const nRep = c.nHead / c.nKvHead;
  const y = scaledDotProductAttention(q, repeatKv(k, nRep), repeatKv(v, nRep), bias, past !== undefined); // (B, H, T, D)
  const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, c.nHead * D]) as tf.Tensor2D; // (B·T, H·D)
  return { y: tf.reshape(project(model, `${p}o_proj`, merged), [B, T, C]), k, v };
}

/** SwiGLU MLP: down(silu(gate(x)) ⊙ up(x)). x (B·T, C) → (B·T, C). */
function swiGlu(model: LlamaModel, p: string, x: tf.Tensor2D): tf.Tensor2D {
  const gate = silu(project(model, `${p}gate_proj`, x)); // (B·T, I)
  const up = project(model, `${p}up_proj`, x); // (B·T, I)
  return project(model, `${p}down_proj`, tf.mul(gate, up) as tf.Tensor2D); // (B·T, C)
}

/**
 * One decoder layer: x + attn(rmsnorm(x)), then + mlp(rmsnorm(·)). x (B, T, C) → (B, T, C), with
 * this layer's keys/values (B, Hkv, T_past + T, D) for the cache.
 */
function llamaBlock(
  model: LlamaModel,
  i: number,
  x: tf.Tensor3D,
  rope: { cos: tf.Tensor4D; sin: tf.Tensor4D },
  bias: tf.Tensor4D,
  past?: { k: tf.Tensor4D; v: tf.Tensor4D },
): { x: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
  const c = model.config;
  const [B, T, C] = x.shape;
  const p = `model.layers.${i}.`;
  const h1 = rmsNorm(x, param(model, `${p}input_layernorm.weight`), c.rmsNormEps) as tf.Tensor3D;
  const attn = selfAttention(model, `${p}self_attn.`, h1, rope, bias, past);
  const mid = tf.add(x, attn.y) as tf.Tensor3D;
  const h2 = tf.reshape(rmsNorm(mid, param(model, `${p}post_attention_layernorm.weight`), c.rmsNormEps), [B * T, C]) as tf.Tensor2D;
  return { x: tf.add(mid, tf.reshape(swiGlu(model, `${p}mlp.`, h2), [B, T, C])) as tf.Tensor3D, k: attn.k, v: attn.v };
}

/** The trainable tensors layer i reads: its weights unless frozen, and its LoRA adapters when they are on. */
function blockWeights(model: LlamaModel, i: number): tf.Tensor[] {
  const p = `model.layers.${i}.`;
  const own = [...model.params].filter(([name]) => name.startsWith(p)).map(([, v]) => v);
  const adapters = model.lora?.enabled ? [...model.lora.adapters].filter(([name]) => name.startsWith(p)).flatMap(([, { a, b }]) => [a, b]) : [];
  return trainableOf([...own, ...adapters]);
}

/**
 * For a recomputed layer: the LoRA state at forward time (adapters on or off, dropout seed and mask
 * counter), put back while the layer is recomputed so that it draws the same dropout masks.
 */
function loraReplay(model: LlamaModel): (() => () => () => void) | undefined {
  const state = model.lora;
  if (!state) return undefined;
  return () => {
    const atForward = { enabled: state.enabled, dropoutSeed: state.dropoutSeed, dropoutCalls: state.dropoutCalls };
    return () => {
      const now = { enabled: state.enabled, dropoutSeed: state.dropoutSeed, dropoutCalls: state.dropoutCalls };
      Object.assign(state, atForward);
      return () => Object.assign(state, now);
    };
  };
}

/** Forward pass. inputIds (B, T) int32 → logits (B, T, V), hidden (B, T, C), optional scores/cache. */
export function llamaForward(model: LlamaModel, inputIds: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
  const c = model.config;
  const [B, T] = inputIds.shape;
  const pastLength = options.past?.length ?? 0;
  if (pastLength + T > c.blockSize) throw new Error(`sequence of ${pastLength + T} exceeds max_position_embeddings ${c.blockSize}`);
  const C = c.nEmbd;

  // one token per row after a cache: the decode step's single pass over the heap when it applies (llama-decode.ts)
  const decoded = llamaDecodeStep(model, inputIds, options);
  let hidden: tf.Tensor3D;
  let logits: tf.Tensor3D | undefined;
  let present: KvCache;
  if (decoded) ({ hidden, logits, present } = decoded);
  else {
    const blocks = llamaBlocks(model, inputIds, options, options.past && contiguousCache(options.past));
    present = blocks.present;
    // 4. final RMSNorm; LM head (B·T, C) @ (C, V), tied (embed_tokensᵀ) or its own
    hidden = rmsNorm(blocks.x, param(model, "model.norm.weight"), c.rmsNormEps) as tf.Tensor3D;
    if (options.logits !== false) {
      const flat = tf.reshape(hidden, [B * T, C]) as tf.Tensor2D;
      const weight = param(model, c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight") as tf.Tensor as tf.Tensor2D;
      let flatLogits: tf.Tensor2D;
      if (!c.tieWordEmbeddings) flatLogits = linearWeight(flat, weight); // lm_head (C, V)
      else if ((weight as tf.Tensor as tf.Variable).trainable === false) flatLogits = matMulTransposedFrozen(flat, weight); // frozen embed_tokens (V, C)
      else flatLogits = tiedLmHead(flat, weight);
      logits = tf.reshape(flatLogits, [B, T, c.vocabSize]);
    }
  }
  const result: ForwardResult = { hidden };
  if (logits) result.logits = logits;
  // optional scalar head (B·T, C) @ (C, 1)
  if (c.scalarHead !== "none")
    result.scores = tf.reshape(matMul2d(tf.reshape(hidden, [B * T, C]) as tf.Tensor2D, param(model, "score.weight") as tf.Tensor as tf.Tensor2D), [B, T]);
  if (options.useCache) result.present = present;
  return result;
}

/** Embeddings and the decoder layers as tensor ops: x (B, T, C) before the final RMSNorm, and the cache when asked for. */
function llamaBlocks(model: LlamaModel, inputIds: tf.Tensor2D, options: ForwardOptions, past: KvCache | undefined): { x: tf.Tensor3D; present: KvCache } {
  const c = model.config;
  const [B, T] = inputIds.shape;
  const pastLength = past?.length ?? 0;

  // 1. positions: explicit, else from the padding mask, else past + arange(T)
  let positions: tf.Tensor2D;
  if (options.positionIds) positions = options.positionIds;
  else if (options.attentionMask) positions = tf.slice(positionIdsFromMask(options.attentionMask), [0, pastLength], [B, T]);
  else positions = tf.tile(tf.reshape(tf.range(pastLength, pastLength + T, 1, "int32"), [1, T]), [B, 1]) as tf.Tensor2D;

  // 2. token embeddings (B, T, C); rotary tables (B, 1, T, D) shared by every layer
  let x = tf.gather(param(model, "model.embed_tokens.weight"), inputIds) as tf.Tensor3D;
  const rope = rotaryCosSin(positions, headDimOf(c), c.ropeTheta);

  // 3. decoder layers, pre-RMSNorm with residual connections
  const bias = attentionBias(B, T, pastLength, options.attentionMask); // (B, 1, T, T_k)
  // the decode step's caches have the same properties, in the same order: one hidden class for both (gpt-decode.ts)
  const present: KvCache = { layers: [], length: pastLength + T, capacity: undefined, store: undefined };
  const recompute = recomputeWanted(options.recompute) && !past && !options.useCache;
  for (let i = 0; i < c.nLayer; i++) {
    if (recompute) {
      x = recomputed(x, {
        fn: (xIn, [b, cos, sin]) => llamaBlock(model, i, xIn, { cos: cos as tf.Tensor4D, sin: sin as tf.Tensor4D }, b as tf.Tensor4D).x,
        consts: [bias, rope.cos, rope.sin],
        weights: blockWeights(model, i),
        replay: loraReplay(model),
      });
      continue;
    }
    const block = llamaBlock(model, i, x, rope, bias, past?.layers[i]);
    if (options.useCache) present.layers.push({ k: block.k, v: block.v });
    x = block.x;
  }
  return { x, present };
}
