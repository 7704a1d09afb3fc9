// One KV-cache decoding step of GPT-2 (one new token per row after a cache) as one pass over the wasm heap
// (decision trainer-028; step-kernels.ts group "decode").
//
// Why: a decode step of micro (B = 8 rows, C = 384) does ~90 M multiply-adds, ~4 ms of cblas_sgemm, but ran ~200 tfjs
// ops around them (per layer: split, three reshapes and transposes, two concats of the whole cache, batched matmuls
// of one query row, the masked softmax, the merge transpose, bias and residual adds), each with its dispatch, its
// allocation and its pass over memory, and the concats copied every layer's cache every step. Here the blocks are
// plain loops over heap views with no tfjs op inside:
//   x = wte[id] + wpe[pos]                                        (rows copied and added)
//   per layer: h = LayerNorm(x)                                    (SIMD kernel)
//              qkv = bias; qkv += h·W_attn                         (cblas_sgemm with beta 1)
//              k, v of the new token → the cache at position L     (written in place)
//              s = K·q per (row, head), p = softmax(s/√D + bias)   (SIMD dot_rows, softmax kernel over all rows)
//              y = Vᵀ·p into the head's columns                    (SIMD weighted_rows)
//              x += bias; x += y·W_proj                            (cblas_sgemm with beta 1)
//              h = LayerNorm(x); u = bias; u += h·W_fc; g = GELU(u); x += bias; x += g·W_mproj
// then x = LayerNorm_f(x) and logits = x·wteᵀ (cblas_sgemm NT, the tied head as matmul.ts's tiedLmHead). The cache is (B, H, capacity, D) per layer, allocated once and
// grown by doubling; positions from `length` on are not read. Each step writes its token's keys and values in place
// and returns a cache over the same buffers one longer (clones that share them, so the caller disposes the old cache
// as before). A cache continued a second time (a branch from an earlier cache: bench/tool-generation-bench.ts does
// it) is copied first, since the buffers' next position already belongs to the other branch; so is a cache of the
// old layout (the prefill's, or the op path's).
// The two attention products are SIMD kernels (wasm-simd.ts) rather than cblas_sgemv: at (Tk ≤ 256, D = 64) a call of
// OpenBLAS cost ~4 µs, mostly its own overhead, and a micro step makes 576 of them; cblas_sgemv remains for a head
// size that is not a multiple of 16.
// Only with native BLAS under wasm and the SIMD kernels of LayerNorm, GELU and softmax; null (the op path runs)
// otherwise, or when an id or position is out of range (the op path's Gather decides what that does).
// The pieces that do not depend on GPT-2's blocks (the checks and inputs, the cache's buffers and the cache one
// longer, the new token's attention with grouped heads, one OpenBLAS thread) are exported for the Llama family's
// step (llama-decode.ts, decision trainer-029).
import * as tf from "@tensorflow/tfjs-core";
import { stepKernelOn } from "../backend/step-kernels.ts";
import { wasmBlasActive } from "../backend/wasm-blas-matmul.ts";
import { activeHeapBackend, type WasmHeapBackend } from "../backend/wasm-heap.ts";
import { simdKernels, type SimdGroup } from "../backend/wasm-simd.ts";
import type { ForwardOptions, GptModel, KvCache } from "./gpt.ts";

/** Capacity of a fresh cache: room for `needed` positions doubled from 64, at most the block size. */
export function cacheCapacity(needed: number, blockSize: number): number {
  let cap = 64;
  while (cap < needed) cap *= 2;
  return Math.max(needed, Math.min(cap, blockSize));
}

/** A cache of the decode step's layout as the op path wants it: (B, H, length, D) slices (other caches as they are). */
export function contiguousCache(cache: KvCache): KvCache {
  if (cache.capacity === undefined) return cache;
  const cut = (t: tf.Tensor4D): tf.Tensor4D => tf.slice(t, [0, 0, 0, 0], [t.shape[0], t.shape[1], cache.length, t.shape[3]]);
  return { layers: cache.layers.map(({ k, v }) => ({ k: cut(k), v: cut(v) })), length: cache.length, capacity: undefined, store: undefined };
}

export type DecodeEnv = { backend: WasmHeapBackend; blas: NonNullable<ReturnType<typeof wasmBlasActive>>; simd: NonNullable<ReturnType<typeof simdKernels>> };

/** Native BLAS under wasm, the step-kernels group "decode" and the SIMD kernels of these groups; else null. */
export function decodeEnv(simdGroups: readonly SimdGroup[]): DecodeEnv | null {
  const blas = wasmBlasActive();
  const heap = stepKernelOn("decode") && blas ? activeHeapBackend() : null;
  if (!blas || !heap) return null;
  const simd = simdKernels(heap, "norm");
  if (!simd || simdGroups.some((g) => !simdKernels(heap, g))) return null;
  return { backend: heap, blas, simd };
}

/** What every model's decode step reads from its inputs: B rows, L cached positions, each row's token and position, the mask as floats. */
export interface DecodeInputs {
  env: DecodeEnv;
  B: number;
  L: number;
  Tk: number;
  ids: Int32Array;
  positions: Int32Array;
  maskValues: Float32Array | null;
}

/**
 * The checks and inputs shared by the decode steps (GPT-2 here, Llama in llama-decode.ts): one int32 token per row
 * after a cache of every layer, outside a gradient tape, the environment there, a mask (B, L + 1) and positions (B, 1)
 * of the right shape, ids below the vocabulary and positions below the block size. Null: the op path runs.
 * Positions are explicit, else the exclusive count of real tokens before this one (as positionIdsFromMask), else L.
 */
export function decodeInputs(inputIds: tf.Tensor2D, options: ForwardOptions, c: { nLayer: number; vocabSize: number; blockSize: number }, simdGroups: readonly SimdGroup[]): DecodeInputs | null {
  const past = options.past;
  if (!past || !options.useCache || inputIds.shape[1] !== 1 || past.layers.length !== c.nLayer) return null;
  // inside tf.grad / variableGrads the op path runs: this pass records nothing on the tape, so no gradient would flow
  if ((tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0) return null;
  const env = decodeEnv(simdGroups);
  if (!env || inputIds.dtype !== "int32") return null;
  const { backend } = env;
  const [B] = inputIds.shape;
  const L = past.length;
  const Tk = L + 1;
  if (B === 0 || Tk > c.blockSize) return null;
  const mask = options.attentionMask;
  if (mask && (mask.shape[0] !== B || mask.shape[1] !== Tk)) return null;
  const pos = options.positionIds;
  if (pos && (pos.shape[0] !== B || pos.shape[1] !== 1)) return null;
  const ids = Int32Array.from(backend.typedArrayFromHeap(inputIds));
  const positions = new Int32Array(B).fill(L);
  const maskValues = mask ? Float32Array.from(backend.typedArrayFromHeap(mask), (m) => (mask.dtype === "float32" ? m : Number(m))) : null;
  if (pos) positions.set(pos.dtype === "int32" ? backend.typedArrayFromHeap(pos) : Int32Array.from(pos.dataSync(), (p) => Math.trunc(p)));
  else if (maskValues)
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let j = 0; j < L; j++) n += Math.trunc(maskValues[b * Tk + j] as number); // tf.cast(mask, "int32")
      positions[b] = Math.max(n, 0);
    }
  for (let b = 0; b < B; b++) {
    const [id, p] = [ids[b] as number, positions[b] as number];
    if (!(id >= 0 && id < c.vocabSize && p >= 0 && p < c.blockSize)) return null;
  }
  return { env, B, L, Tk, ids, positions, maskValues };
}

/** The cache buffers a step writes into: the past's own (in place) or fresh ones of capacity `cap` (Hkv heads of D). */
export interface DecodeCache {
  inPlace: boolean;
  cap: number;
  fresh: { k: tf.Tensor4D; v: tf.Tensor4D }[] | null;
  buffers: { k: tf.Tensor4D; v: tf.Tensor4D }[];
}

/** In place when the past is a decode-step cache whose next position is still free and has room; else fresh buffers. */
export function decodeCache(past: KvCache, B: number, Hkv: number, D: number, blockSize: number, alloc: (shape: number[]) => tf.Tensor): DecodeCache {
  const Tk = past.length + 1;
  const inPlace = past.capacity !== undefined && past.store !== undefined && past.store.written === past.length && Tk <= past.capacity;
  const cap = inPlace ? (past.capacity as number) : cacheCapacity(Tk, blockSize);
  const fresh = inPlace ? null : past.layers.map(() => ({ k: alloc([B, Hkv, cap, D]) as tf.Tensor4D, v: alloc([B, Hkv, cap, D]) as tf.Tensor4D }));
  return { inPlace, cap, fresh, buffers: fresh ?? past.layers };
}

/**
 * The cache one longer over the step's buffers. The caller's cache keeps its tensors (it disposes them): the new
 * cache gets its own over the same buffers, as tf.clone makes them with the project's Identity kernel
 * (wasm-identity-kernel.ts), without a kernel dispatch each.
 */
export function presentCache(env: DecodeEnv, past: KvCache, cache: DecodeCache): KvCache {
  const Tk = past.length + 1;
  const store = cache.inPlace ? (past.store as { written: number }) : { written: 0 };
  store.written = Tk;
  const engine = tf.engine();
  const share = <T extends tf.Tensor>(t: T): T => {
    (env.backend as unknown as { incRef(dataId: object): void }).incRef(t.dataId);
    return engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }) as T;
  };
  const layers = cache.fresh ?? cache.buffers.map(({ k, v }) => ({ k: share(k), v: share(v) }));
  return { layers, length: Tk, capacity: cache.cap, store };
}

/**
 * fn with one OpenBLAS thread for the step's products: splitting a product of 8 rows across threads cost more than
 * it saved (with 2 threads on 2 shared cores a micro generation took 2–3× the CPU time and 1.5–3× the wall time).
 */
export function withOneBlasThread(blas: DecodeEnv["blas"], fn: () => void): void {
  const threads = blas.threads;
  if (threads > 1) blas.setThreads(1);
  try {
    fn();
  } finally {
    if (threads > 1) blas.setThreads(threads);
  }
}

/** Float offsets on the heap of one layer's new-token attention (newTokenAttention). */
export interface AttentionAt {
  /** query head hh of row b at q + b·qStride + hh·D */
  q: number;
  qStride: number;
  /** key/value head j of row b's new token at kNew / vNew + b·kvStride + j·D */
  kNew: number;
  vNew: number;
  kvStride: number;
  /** the layer's cache buffers (B, Hkv, cap, D) */
  kCache: number;
  vCache: number;
  /** scores (B·H, Tk), the mask bias (B·H, Tk), the context: head hh of row b to y + b·yStride + hh·D */
  s: number;
  bias: number;
  y: number;
  yStride: number;
}

/**
 * One layer's attention for one new token per row: its keys and values go into the cache at position L, then
 * query head hh, served by key/value head ⌊hh·Hkv/H⌋ (grouped-query attention; Hkv = H for GPT-2), gets
 * softmax(K·q·scale + bias)·V. Scores and context per (row, head) are the SIMD kernels dot_rows / weighted_rows when
 * D is a multiple of 16, cblas_sgemv otherwise (at (Tk ≤ 256, D = 64) a call of OpenBLAS cost ~4 µs, mostly its own
 * overhead, and a micro step makes 576 of them); one softmax over all rows in between.
 */
export function newTokenAttention(env: DecodeEnv, heap: Float32Array, at: AttentionAt, dims: { B: number; H: number; Hkv: number; D: number; L: number; cap: number }, scale: number): void {
  const { simd, blas } = env;
  const { B, H, Hkv, D, L, cap } = dims;
  const Tk = L + 1;
  const nRep = H / Hkv;
  const lanes = D % 16 === 0; // the SIMD kernels take four f32x4 vectors at a time
  const view = (off: number): Float32Array => heap.subarray(off);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < Hkv; j++) {
      const [src, head] = [b * at.kvStride + j * D, (b * Hkv + j) * cap * D + L * D];
      heap.copyWithin(at.kCache + head, at.kNew + src, at.kNew + src + D);
      heap.copyWithin(at.vCache + head, at.vNew + src, at.vNew + src + D);
    }
    for (let hh = 0; hh < H; hh++) {
      const [q, kHead, sAt] = [at.q + b * at.qStride + hh * D, at.kCache + (b * Hkv + Math.floor(hh / nRep)) * cap * D, at.s + (b * H + hh) * Tk];
      if (lanes) simd.dotRows(4 * kHead, 4 * q, 4 * sAt, Tk, D); // K (Tk, D)·q
      else blas.sgemv(false, Tk, D, view(kHead), view(q), view(sAt));
    }
  }
  simd.softmaxRows(4 * at.s, 4 * at.bias, 4 * at.s, B * H, Tk, scale); // in place; bias rows are zeros without a mask
  for (let b = 0; b < B; b++)
    for (let hh = 0; hh < H; hh++) {
      const [vHead, pAt, yAt] = [at.vCache + (b * Hkv + Math.floor(hh / nRep)) * cap * D, at.s + (b * H + hh) * Tk, at.y + b * at.yStride + hh * D];
      if (lanes) simd.weightedRows(4 * vHead, 4 * pAt, 4 * yAt, Tk, D); // Vᵀ·p
      else blas.sgemv(true, Tk, D, view(vHead), view(pAt), view(yAt));
    }
}

const LAYER_PARAMS = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
  "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"] as const;

/** What the decode step makes: ln_f's output (B, 1, C), the logits (B, 1, V) unless options.logits is false, the cache one longer. */
export interface DecodeResult {
  hidden: tf.Tensor3D;
  logits?: tf.Tensor3D;
  present: KvCache;
}

/**
 * One decoding step: inputIds (B, 1) after `options.past` → ln_f's output, the tied LM head's logits and the cache one
 * longer, or null when the step does not apply (then gptForward runs the ops). Call inside a tidy.
 */
export function gptDecodeStep(model: GptModel, inputIds: tf.Tensor2D, options: ForwardOptions): DecodeResult | null {
  const c = model.config;
  const inputs = decodeInputs(inputIds, options, c, ["gelu", "softmax"]);
  const past = options.past;
  if (!inputs || !past) return null;
  const { env, B, L, Tk, ids, positions, maskValues } = inputs;
  const { backend, blas, simd } = env;
  const [C, H] = [c.nEmbd, c.nHead];
  const D = C / H;
  if (!Number.isInteger(D)) return null;
  const params: tf.Tensor[] = [];
  const need = (name: string): boolean => {
    const p = model.params.get(name);
    if (!p || p.dtype !== "float32") return false;
    params.push(p);
    return true;
  };
  if (!need("wte.weight") || !need("wpe.weight") || !need("ln_f.weight") || !need("ln_f.bias")) return null;
  for (let i = 0; i < c.nLayer; i++) for (const n of LAYER_PARAMS) if (!need(`h.${i}.${n}`)) return null;

  // 1. buffers: the cache (in place, or fresh and filled from the past), the output, one scratch for the rest
  const engine = tf.engine();
  const alloc = (shape: number[]): tf.Tensor => engine.makeTensorFromTensorInfo(backend.makeOutput(shape, "float32"));
  const cache = decodeCache(past, B, H, D, c.blockSize, alloc);
  const cap = cache.cap;
  const out = alloc([B, 1, C]) as tf.Tensor3D; // the residual stream, then ln_f's output in place
  const wantLogits = options.logits !== false;
  const logits = wantLogits ? (alloc([B, 1, c.vocabSize]) as tf.Tensor3D) : undefined;
  const [hS, qkvS, yS, uS, gS, statsS, sS, biasS] = [B * C, 3 * B * C, B * C, 4 * B * C, 4 * B * C, 2 * B, B * H * Tk, B * H * Tk];
  const scratch = alloc([hS + qkvS + yS + uS + gS + statsS + sS + biasS]);

  // 2. views after every allocation (one may grow the heap); offsets below are float indices into it
  const heap = new Float32Array((backend.typedArrayFromHeap(scratch) as Float32Array).buffer);
  const at = (t: tf.Tensor): number => (backend.typedArrayFromHeap(t) as Float32Array).byteOffset >> 2;
  const w = (name: string): number => at(model.params.get(name) as tf.Tensor);
  let o = at(scratch);
  const [h, qkv, y, u, g, stats, s, bias] = [hS, qkvS, yS, uS, gS, statsS, sS, biasS].map((n) => ((o += n), o - n)) as number[] as [number, number, number, number, number, number, number, number];
  heap.fill(0, at(scratch), o);
  const kv = cache.buffers.map(({ k, v }) => ({ k: at(k), v: at(v) }));
  if (cache.fresh) copyCache(heap, past, kv, at, B * H, L * D, (past.capacity ?? L) * D, cap * D);
  const x = at(out);
  const [wte, wpe] = [w("wte.weight"), w("wpe.weight")];
  for (let b = 0; b < B; b++) addRows(heap, wte + (ids[b] as number) * C, wpe + (positions[b] as number) * C, x + b * C, C);
  if (maskValues) fillMaskBias(heap, maskValues, bias, B, H, Tk);

  const view = (off: number): Float32Array => heap.subarray(off);
  /** C (B, N) (+)= A (B, K)·W (K, N) with W at float offset wAt; beta 1 adds onto what C holds */
  const gemm = (a: number, K: number, wAt: number, N: number, cAt: number): void =>
    blas.sgemmLd(false, false, B, N, K, view(a), K, view(wAt), N, view(cAt), N, 1);
  const decodeBlocks = (): void => {
    const scale = 1 / Math.sqrt(D);
    for (let i = 0; i < c.nLayer; i++) {
      const p = `h.${i}.`;
      const { k: kAt, v: vAt } = kv[i] as { k: number; v: number };
      simd.layerNormAt(4 * x, 4 * w(`${p}ln_1.weight`), 4 * w(`${p}ln_1.bias`), 4 * h, 4 * stats, B, C, c.layerNormEps);
      rowsOf(heap, w(`${p}attn.c_attn.bias`), 3 * C, qkv, B, false);
      gemm(h, C, w(`${p}attn.c_attn.weight`), 3 * C, qkv);
      const attention = { q: qkv, qStride: 3 * C, kNew: qkv + C, vNew: qkv + 2 * C, kvStride: 3 * C, kCache: kAt, vCache: vAt, s, bias, y, yStride: C };
      newTokenAttention(env, heap, attention, { B, H, Hkv: H, D, L, cap }, scale);
      rowsOf(heap, w(`${p}attn.c_proj.bias`), C, x, B, true);
      gemm(y, C, w(`${p}attn.c_proj.weight`), C, x);
      simd.layerNormAt(4 * x, 4 * w(`${p}ln_2.weight`), 4 * w(`${p}ln_2.bias`), 4 * h, 4 * stats, B, C, c.layerNormEps);
      rowsOf(heap, w(`${p}mlp.c_fc.bias`), 4 * C, u, B, false);
      gemm(h, C, w(`${p}mlp.c_fc.weight`), 4 * C, u);
      simd.geluForwardAt(4 * u, 4 * g, 4 * B * C);
      rowsOf(heap, w(`${p}mlp.c_proj.bias`), C, x, B, true);
      gemm(g, 4 * C, w(`${p}mlp.c_proj.weight`), C, x);
    }
    // ln_f over the residual stream (the kernel reads each row before it writes it: y may be x), then x·wteᵀ
    simd.layerNormAt(4 * x, 4 * w("ln_f.weight"), 4 * w("ln_f.bias"), 4 * x, 4 * stats, B, C, c.layerNormEps);
    if (logits) blas.sgemmLd(false, true, B, c.vocabSize, C, view(x), C, view(wte), C, view(at(logits)), c.vocabSize);
  };
  withOneBlasThread(blas, decodeBlocks);
  scratch.dispose();
  return { hidden: out, ...(logits ? { logits } : {}), present: presentCache(env, past, cache) };
}

// The loops below are functions of their own, not closures of gptDecodeStep: they stay optimized when the step's own
// code is deoptimized (the first steps of a process saw "wrong map" deopts, and these loops then ran unoptimized).

/** Every row of (B, n) at dst set to (add false) or increased by (add true) the n-vector at src. */
export function rowsOf(heap: Float32Array, src: number, n: number, dst: number, B: number, add: boolean): void {
  for (let b = 0; b < B; b++) {
    if (!add) heap.copyWithin(dst + b * n, src, src + n);
    else addRows(heap, dst + b * n, src, dst + b * n, n);
  }
}

/** heap[dst + j] = heap[a + j] + heap[b + j] for j < n (float32 sums, as tf.add). */
function addRows(heap: Float32Array, a: number, b: number, dst: number, n: number): void {
  for (let j = 0; j < n; j++) heap[dst + j] = (heap[a + j] as number) + (heap[b + j] as number);
}

/** Each row's additive mask bias over Tk keys, (1 − m)·(−1e9) in float32 as attentionBias, repeated for its H heads. */
export function fillMaskBias(heap: Float32Array, mask: Float32Array, bias: number, B: number, H: number, Tk: number): void {
  for (let b = 0; b < B; b++)
    for (let j = 0; j < Tk; j++) {
      const v = Math.fround(Math.fround(1 - (mask[b * Tk + j] as number)) * -1e9) + 0;
      for (let h = 0; h < H; h++) heap[bias + (b * H + h) * Tk + j] = v;
    }
}

/** Copies each (row, head)'s first `n` floats of the past's keys and values (rows `srcStride` apart) into fresh buffers (`dstStride` apart). */
export function copyCache(heap: Float32Array, past: KvCache, kv: { k: number; v: number }[], at: (t: tf.Tensor) => number, heads: number, n: number, srcStride: number, dstStride: number): void {
  past.layers.forEach(({ k, v }, i) => {
    const dst = kv[i] as { k: number; v: number };
    for (const [from, to] of [[at(k), dst.k], [at(v), dst.v]] as const)
      for (let bh = 0; bh < heads; bh++) heap.copyWithin(to + bh * dstStride, from + bh * srcStride, from + bh * srcStride + n);
  });
}
