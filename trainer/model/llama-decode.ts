// One KV-cache decoding step of a Llama-family model (one new token per row after a cache) as one pass over the wasm
// heap (decision trainer-029; step-kernels.ts group "decode"), GPT-2's step (gpt-decode.ts, decision trainer-028)
// with Llama's pieces:
//   x = embed_tokens[id]                                          (rows copied)
//   per layer: h = RMSNorm(x)                                      (SIMD kernel)
//              q = h·Wq, k = h·Wk, v = h·Wv (+ biases: Qwen2)      (cblas_sgemm, the bias already in C)
//              rotary positions on q and k of the new token        (plain loop, cos/sin of each row's position)
//              k, v → the cache at position L (rotated keys, as the op path caches them); query head hh attends
//              with key/value head ⌊hh·Hkv/H⌋ (grouped-query)      (SIMD dot_rows, softmax, weighted_rows)
//              x += y·Wo                                           (cblas_sgemm with beta 1)
//              h = RMSNorm(x); a = silu(h·Wg) ⊙ (h·Wu)             (two cblas_sgemm, the SIMD swiglu kernel)
//              x += a·Wd
// then x = RMSNorm_f(x) and logits = x·lm_head, or x·embed_tokensᵀ when tied. The cache, its growth, a branch's
// copy and the one OpenBLAS thread are gpt-decode.ts's (shared helpers there); the cache keeps nKvHead heads.
// LoRA adapters that are on add (α/r)·(h·Aᵀ)·Bᵀ to their projection's output as two more cblas_sgemm (the (B, r)
// product scaled in between), as lora.ts's loraDelta without dropout.
// Null (the op path runs) where GPT-2's step would be null (no native BLAS under wasm, the group or the SIMD kernels
// off, a gradient tape, an id or position out of range, a mask or positions of the wrong shape), and also while
// adapter dropout is drawing masks (a training forward: withAdapterDropout), which this pass does not do.
import * as tf from "@tensorflow/tfjs-core";
import { headDimOf } from "../contract/llama-config.ts";
import { copyCache, decodeCache, decodeInputs, fillMaskBias, newTokenAttention, presentCache, rowsOf, withOneBlasThread, type DecodeResult } from "./gpt-decode.ts";
import type { ForwardOptions } from "./gpt.ts";
import type { LlamaModel } from "./llama.ts";

/** inv_freq as HF computes it, 1 / θ^(arange(0, D, 2) / D), rounded to float32 (llama.ts's rotaryCosSin reads it too). */
export function rotaryInverseFrequencies(headDim: number, theta: number): Float32Array {
  const invFreq = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) invFreq[i] = 1 / theta ** ((2 * i) / headDim);
  return invFreq;
}

/**
 * One decoding step: inputIds (B, 1) after `options.past` → the final RMSNorm's output, the LM head's logits and the
 * cache one longer, or null when the step does not apply (then llamaForward runs the ops). Call inside a tidy.
 */
export function llamaDecodeStep(model: LlamaModel, inputIds: tf.Tensor2D, options: ForwardOptions): DecodeResult | null {
  const c = model.config;
  const lora = model.lora?.enabled && model.lora.adapters.size > 0 ? model.lora : null;
  if (lora && lora.dropoutSeed !== null && lora.config.dropout > 0) return null;
  const inputs = decodeInputs(inputIds, options, c, ["softmax", "gelu"]); // "gelu": the MLP activations' group
  const past = options.past;
  if (!inputs || !past) return null;
  const { env, B, L, Tk, ids, positions, maskValues } = inputs;
  const { backend, blas, simd } = env;
  const [C, H, Hkv, I, V] = [c.nEmbd, c.nHead, c.nKvHead, c.intermediateSize, c.vocabSize];
  const D = headDimOf(c);
  const [qOut, kvOut] = [H * D, Hkv * D];
  if (H % Hkv !== 0 || D % 2 !== 0 || B * I < 4) return null; // the swiglu kernel wants n ≥ 4
  const headName = c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  const names = ["model.embed_tokens.weight", "model.norm.weight", headName];
  const projections = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];
  for (let i = 0; i < c.nLayer; i++)
    names.push(...["input_layernorm", "post_attention_layernorm"].map((n) => `model.layers.${i}.${n}.weight`), ...projections.map((n) => `model.layers.${i}.${n}.weight`));
  if (names.some((n) => model.params.get(n)?.dtype !== "float32")) return null;
  const adapters = lora ? [...lora.adapters.values()] : [];
  if (adapters.some(({ a, b }) => a.dtype !== "float32" || b.dtype !== "float32")) return null;
  const rank = Math.max(0, ...adapters.map(({ a }) => a.shape[1] as number));

  // 1. buffers: the cache (in place, or fresh and filled from the past), the output, one scratch for the rest
  const engine = tf.engine();
  const alloc = (shape: number[]): tf.Tensor => engine.makeTensorFromTensorInfo(backend.makeOutput(shape, "float32"));
  const cache = decodeCache(past, B, Hkv, D, c.blockSize, alloc);
  const cap = cache.cap;
  const out = alloc([B, 1, C]) as tf.Tensor3D; // the residual stream, then the final RMSNorm's output in place
  const logits = options.logits !== false ? (alloc([B, 1, V]) as tf.Tensor3D) : undefined;
  const sizes = [B * C, B * qOut, B * kvOut, B * kvOut, B * qOut, B * I, B * I, B * I, 2 * B, B * H * Tk, B * H * Tk, B * rank];
  const scratch = alloc([sizes.reduce((a, n) => a + n, 0)]);

  // 2. views after every allocation (one may grow the heap); offsets below are float indices into it
  const heap = new Float32Array((backend.typedArrayFromHeap(scratch) as Float32Array).buffer);
  const at = (t: tf.Tensor): number => (backend.typedArrayFromHeap(t) as Float32Array).byteOffset >> 2;
  const w = (name: string): number => at(model.params.get(name) as tf.Tensor);
  const has = (name: string): boolean => model.params.has(name);
  let o = at(scratch);
  const [h, q, k, v, y, gate, up, act, stats, s, bias, low] = sizes.map((n) => ((o += n), o - n)) as number[] as [number, number, number, number, number, number, number, number, number, number, number, number];
  heap.fill(0, at(scratch), o);
  const kv = cache.buffers.map((layer) => ({ k: at(layer.k), v: at(layer.v) }));
  if (cache.fresh) copyCache(heap, past, kv, at, B * Hkv, L * D, (past.capacity ?? L) * D, cap * D);
  const x = at(out);
  const embed = w("model.embed_tokens.weight");
  for (let b = 0; b < B; b++) heap.copyWithin(x + b * C, embed + (ids[b] as number) * C, embed + (ids[b] as number) * C + C);
  if (maskValues) fillMaskBias(heap, maskValues, bias, B, H, Tk);
  const { cos, sin } = rotaryRows(positions, D, c.ropeTheta);

  const view = (off: number): Float32Array => heap.subarray(off);
  /** C (B, N) = A (B, K)·W (K, N) [+ bias] [+ the adapter's update], or += with `add` (the residual stream) */
  const project = (a: number, K: number, name: string, N: number, cAt: number, add: boolean): void => {
    const withBias = has(`${name}.bias`);
    if (withBias) rowsOf(heap, w(`${name}.bias`), N, cAt, B, add);
    blas.sgemmLd(false, false, B, N, K, view(a), K, view(w(`${name}.weight`)), N, view(cAt), N, withBias || add ? 1 : 0);
    const adapter = lora?.adapters.get(name);
    if (!lora || !adapter) return;
    const r = adapter.a.shape[1] as number;
    blas.sgemmLd(false, false, B, r, K, view(a), K, view(at(adapter.a)), r, view(low), r); // (B, r) = A (B, K)·Aᵀ (K, r)
    scaleRange(heap, low, B * r, lora.scale);
    blas.sgemmLd(false, false, B, N, r, view(low), r, view(at(adapter.b)), N, view(cAt), N, 1); // += ·Bᵀ (r, N)
  };
  const decodeBlocks = (): void => {
    const scale = 1 / Math.sqrt(D);
    for (let i = 0; i < c.nLayer; i++) {
      const p = `model.layers.${i}.`;
      const { k: kAt, v: vAt } = kv[i] as { k: number; v: number };
      simd.rmsNormAt(4 * x, 4 * w(`${p}input_layernorm.weight`), 4 * h, 4 * stats, B, C, c.rmsNormEps);
      project(h, C, `${p}self_attn.q_proj`, qOut, q, false);
      project(h, C, `${p}self_attn.k_proj`, kvOut, k, false);
      project(h, C, `${p}self_attn.v_proj`, kvOut, v, false);
      rotate(heap, q, B, H, D, cos, sin);
      rotate(heap, k, B, Hkv, D, cos, sin);
      const attention = { q, qStride: qOut, kNew: k, vNew: v, kvStride: kvOut, kCache: kAt, vCache: vAt, s, bias, y, yStride: qOut };
      newTokenAttention(env, heap, attention, { B, H, Hkv, D, L, cap }, scale);
      project(y, qOut, `${p}self_attn.o_proj`, C, x, true);
      simd.rmsNormAt(4 * x, 4 * w(`${p}post_attention_layernorm.weight`), 4 * h, 4 * stats, B, C, c.rmsNormEps);
      project(h, C, `${p}mlp.gate_proj`, I, gate, false);
      project(h, C, `${p}mlp.up_proj`, I, up, false);
      simd.swigluAt(4 * gate, 4 * up, 4 * act, B * I);
      project(act, I, `${p}mlp.down_proj`, C, x, true);
    }
    // the final RMSNorm over the residual stream (the kernel reads each row before it writes it), then the LM head
    simd.rmsNormAt(4 * x, 4 * w("model.norm.weight"), 4 * x, 4 * stats, B, C, c.rmsNormEps);
    if (!logits) return;
    if (c.tieWordEmbeddings) blas.sgemmLd(false, true, B, V, C, view(x), C, view(embed), C, view(at(logits)), V); // x·embed_tokensᵀ
    else blas.sgemmLd(false, false, B, V, C, view(x), C, view(w("lm_head.weight")), V, view(at(logits)), V); // lm_head (C, V)
  };
  withOneBlasThread(blas, decodeBlocks);
  scratch.dispose();
  return { hidden: out, ...(logits ? { logits } : {}), present: presentCache(env, past, cache) };
}

/**
 * cos and sin (B, D/2) of each row's position times the inverse frequencies, as rotaryCosSin computes them: the
 * angle p·θ^(−2i/D) in float32 (tf.mul of float32 tensors), then its cosine and sine rounded to float32.
 */
function rotaryRows(positions: Int32Array, D: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const invFreq = rotaryInverseFrequencies(D, theta);
  const half = D / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  positions.forEach((p, b) => {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * (invFreq[i] as number));
      cos[b * half + i] = Math.cos(angle);
      sin[b * half + i] = Math.sin(angle);
    }
  });
  return { cos, sin };
}

/**
 * Rotary positions in place on `heads` heads of D per row at `at` (rows heads·D apart): x·cos + rotate_half(x)·sin in
 * HF's rotate-half layout, lane i paired with lane i + D/2: (x₁, x₂) → (x₁·cos − x₂·sin, x₂·cos + x₁·sin).
 */
function rotate(heap: Float32Array, at: number, B: number, heads: number, D: number, cos: Float32Array, sin: Float32Array): void {
  const half = D / 2;
  for (let b = 0; b < B; b++)
    for (let hh = 0; hh < heads; hh++) {
      const base = at + (b * heads + hh) * D;
      for (let i = 0; i < half; i++) {
        const [x1, x2] = [heap[base + i] as number, heap[base + half + i] as number];
        const [cs, sn] = [cos[b * half + i] as number, sin[b * half + i] as number];
        heap[base + i] = Math.fround(x1 * cs) - Math.fround(x2 * sn);
        heap[base + half + i] = Math.fround(x2 * cs) + Math.fround(x1 * sn);
      }
    }
}

/** heap[at + i] *= scale for i < n. */
function scaleRange(heap: Float32Array, at: number, n: number, scale: number): void {
  for (let i = 0; i < n; i++) heap[at + i] = (heap[at + i] as number) * scale;
}
