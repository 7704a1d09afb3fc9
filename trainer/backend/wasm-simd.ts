// The project's SIMD kernels (wasm simd128), run in place on tfjs-wasm's heap (decision trainer-023).
//
// Why: after matmul, a micro step's time went to elementwise work that tfjs does as chains of XNNPACK kernels
// (GELU: 7 ops forward, 11 backward, each a pass over the (B·T, 4C) activation with a fresh output) and that
// scalar JS loops cannot beat (trainer-021). A wasm module of our own can do the whole chain in one pass with
// four lanes at a time. It imports tfjs-wasm's WebAssembly.Memory, so tensors are read where they lie (a
// tensor's address is its heap view's byteOffset) and results go into buffers allocated with makeOutput, never
// into an input (wasm-heap.ts says why). The module is assembled at start-up from the instruction lists below
// (wasm-asm.ts); if it does not compile, instantiate or pass its self-check, the kernels are off, the reason goes
// into the backend's `skipped` list (select-backend.ts, logged and shown like a missing BLAS), and the JS loops and
// tensor ops run as before.
//
// Kernels take element counts n ≥ 4 and cover the last n mod 4 elements by running the last vector at n − 4,
// overlapping the one before: elementwise results do not depend on which pass writes them, and no store goes
// past the end of a buffer. Callers handle n < 4 their own way.
import * as tf from "@tensorflow/tfjs-core";
import { I, assembleModule, type FuncDef, type Ins } from "./wasm-asm.ts";
import { heapView, type WasmHeapBackend } from "./wasm-heap.ts";

export const GELU_C = 0.044715;
export const GELU_K = 2 * Math.sqrt(2 / Math.PI);

const LOG2E = Math.LOG2E;
const LN2_HI = 0.693145751953125; // ln 2 = LN2_HI + LN2_LO, LN2_HI with few enough bits that k·LN2_HI is exact
const LN2_LO = 1.428606765330187e-6;
const EXP_MIN = -87.33654475; // ln 2^−126: below it exp rounds to a float32 subnormal or 0; taken as 0
const EXP_MAGIC = 12582912 + 127; // 1.5·2²³ + 127: adding it rounds to an integer and leaves k + 127 in the low bits

/**
 * The loop every kernel shares: `body(o)` for o = 0, 16, 32 … (byte offsets) and a last time at 4(n − 4).
 * Uses locals off, end and o.
 */
function overVectors(n: number, off: number, end: number, o: number, body: Ins[]): Ins[] {
  return [
    I.get(n), I.i32(4), I.i32Sub, I.i32(4), I.i32Mul, I.set(end), // end = 4(n − 4)
    I.i32(0), I.set(off),
    I.block, I.loop,
    I.get(off), I.get(end), I.get(off), I.get(end), I.i32LtS, I.select, I.set(o), // o = min(off, end)
    ...body,
    I.get(off), I.get(end), I.i32GeS, I.brIf(1),
    I.get(off), I.i32(16), I.i32Add, I.set(off),
    I.br(0),
    I.end, I.end,
  ];
}

const load = (base: number, o: number): Ins[] => [I.get(base), I.get(o), I.i32Add, I.v128Load];
const storeAt = (base: number, o: number): Ins[] => [I.get(base), I.get(o), I.i32Add];

/**
 * σ(z) of the v128 in local z, left on the stack: e = exp(−|z|) ∈ (0, 1], then 1/(1 + e) for z ≥ 0 and e/(1 + e)
 * for z < 0, so nothing overflows. exp(t), t ≤ 0: t = k·ln 2 + r with k = round(t·log₂e), |r| ≤ ln 2 / 2;
 * exp(r) by Taylor to r⁶ (error < r⁷/7! ≈ 1.2e-7 relative; to r⁷ changed no gradient's error against float64, 2e-6, which
 * comes from the float32 cancellation in the backward formula on both paths). k comes from adding 1.5·2²³ + 127 to
 * t·log₂e: the sum's low mantissa bits are then k + 127, which shifted left by 23 are 2^k's bits, and subtracting
 * the constant again gives k (no rounding or conversion instructions, which V8 expands on x64). t is clamped below
 * at EXP_MIN with pmax (one maxps; NaN passes through), and e is 0 below it, as float32 exp nearly is. NaN goes
 * through every step and comes out NaN; z = ±∞ gives 1 and 0, as tfjs's Sigmoid does. Uses locals t, k, r, e.
 */
function sigmoid(z: number, t: number, k: number, r: number, e: number): Ins[] {
  const coeffs = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  return [
    I.get(z), I.f32x4Abs, I.f32x4Neg, I.tee(t),
    I.f32x4(EXP_MIN), I.f32x4Pmax, I.tee(r), // r holds the clamped t for now
    I.f32x4(LOG2E), I.f32x4Mul, I.f32x4(EXP_MAGIC), I.f32x4Add, I.set(k), // k + 127 in the low bits
    I.get(r), I.get(k), I.f32x4(EXP_MAGIC), I.f32x4Sub, I.tee(k), I.f32x4(LN2_HI), I.f32x4Mul, I.f32x4Sub, I.get(k), I.f32x4(LN2_LO), I.f32x4Mul, I.f32x4Sub, I.set(r),
    I.f32x4(coeffs[0] as number),
    ...coeffs.slice(1).flatMap((c) => [I.get(r), I.f32x4Mul, I.f32x4(c), I.f32x4Add]),
    I.get(k), I.f32x4(EXP_MAGIC), I.f32x4Add, I.i32(23), I.i32x4Shl, // 2^k (k + magic is exact, so this restores the sum)
    I.f32x4Mul,
    I.get(t), I.f32x4(EXP_MIN), I.f32x4Lt, I.v128AndNot, I.set(e), // 0 below EXP_MIN
    I.f32x4(1), I.get(e), I.get(z), I.f32x4(0), I.f32x4Ge, I.v128Bitselect, // z ≥ 0 ? 1 : e
    I.f32x4(1), I.get(e), I.f32x4Add, I.f32x4Div,
  ];
}

/** z = k(x + c·x³) as gpt.ts's op chain computes it: ((x·x)·x)·c + x, then ·k. Leaves z on the stack. */
function geluArg(x: number): Ins[] {
  return [I.get(x), I.get(x), I.f32x4Mul, I.get(x), I.f32x4Mul, I.f32x4(GELU_C), I.f32x4Mul, I.get(x), I.f32x4Add, I.f32x4(GELU_K), I.f32x4Mul];
}

// gelu_fwd(x, y, n): y = x·σ(z). Locals: 3 off, 4 end, 5 o, 6 xv, 7 z, 8 t, 9 k, 10 r, 11 e.
const geluFwd: FuncDef = {
  name: "gelu_fwd",
  params: ["i32", "i32", "i32"],
  results: [],
  locals: ["i32", "i32", "i32", "v128", "v128", "v128", "v128", "v128", "v128"],
  body: overVectors(2, 3, 4, 5, [
    ...load(0, 5), I.set(6),
    ...geluArg(6), I.set(7),
    ...storeAt(1, 5), I.get(6), ...sigmoid(7, 8, 9, 10, 11), I.f32x4Mul, I.v128Store,
  ]),
};

// gelu_bwd(x, dy, dx, n): dx = dy·(s + x·s(1 − s)·k(1 + 3c·x²)), s = σ(z), in gpt.ts's order of operations.
// Locals: 4 off, 5 end, 6 o, 7 xv, 8 z, 9 t, 10 k, 11 r, 12 e, 13 s.
const geluBwd: FuncDef = {
  name: "gelu_bwd",
  params: ["i32", "i32", "i32", "i32"],
  results: [],
  locals: ["i32", "i32", "i32", "v128", "v128", "v128", "v128", "v128", "v128", "v128"],
  body: overVectors(3, 4, 5, 6, [
    ...load(0, 6), I.set(7),
    ...geluArg(7), I.set(8),
    ...sigmoid(8, 9, 10, 11, 12), I.set(13),
    ...storeAt(2, 6),
    ...load(1, 6), // dy
    I.get(13), // s
    I.get(7),
    I.get(13), I.f32x4(1), I.get(13), I.f32x4Sub, I.f32x4Mul, // s(1 − s)
    I.get(7), I.get(7), I.f32x4Mul, I.f32x4(3 * GELU_C), I.f32x4Mul, I.f32x4(1), I.f32x4Add, I.f32x4(GELU_K), I.f32x4Mul, // k(1 + 3c·x²)
    I.f32x4Mul, I.f32x4Mul, I.f32x4Add, I.f32x4Mul,
    I.v128Store,
  ]),
};

// adamw(p, g, m, v, pOut, mOut, vOut, n, gradScale, beta1, a1, beta2, a2, keep, stepSize, invSqrtBc2, eps):
// fused-adamw.ts's update in float32: g ← s·g; m ← β1·m + a1·g; v ← β2·v + (a2·g)·g; p ← keep·p − (η·m)/(√v·q + ε).
// Locals: 17 off, 18 end, 19 o, 20 gi, 21 mi, 22 vi, then 23…31 the nine scalars splatted.
const adamw: FuncDef = {
  name: "adamw",
  params: ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32", "f32", "f32", "f32", "f32", "f32", "f32", "f32"],
  results: [],
  locals: ["i32", "i32", "i32", "v128", "v128", "v128", ...Array.from({ length: 9 }, () => "v128" as const)],
  body: (() => {
    const S = (i: number): number => 23 + i; // splatted scalar i (0 gradScale … 8 eps)
    return [
      ...Array.from({ length: 9 }, (_, i) => [I.get(8 + i), I.f32x4Splat, I.set(S(i))]).flat(),
      ...overVectors(7, 17, 18, 19, [
        ...load(1, 19), I.get(S(0)), I.f32x4Mul, I.set(20),
        I.get(S(1)), ...load(2, 19), I.f32x4Mul, I.get(S(2)), I.get(20), I.f32x4Mul, I.f32x4Add, I.set(21),
        I.get(S(3)), ...load(3, 19), I.f32x4Mul, I.get(S(4)), I.get(20), I.f32x4Mul, I.get(20), I.f32x4Mul, I.f32x4Add, I.set(22),
        ...storeAt(5, 19), I.get(21), I.v128Store,
        ...storeAt(6, 19), I.get(22), I.v128Store,
        ...storeAt(4, 19),
        I.get(S(5)), ...load(0, 19), I.f32x4Mul,
        I.get(S(6)), I.get(21), I.f32x4Mul,
        I.get(22), I.f32x4Sqrt, I.get(S(7)), I.f32x4Mul, I.get(S(8)), I.f32x4Add,
        I.f32x4Div, I.f32x4Sub,
        I.v128Store,
      ]),
    ];
  })(),
};

// sumsq(x, n) → Σ x² over the first 4⌊n/4⌋ elements, in float64 (two f64x2 accumulators' lanes added at the end).
// Locals: 2 off, 3 end, 4 acc, 5 xv.
const sumsq: FuncDef = {
  name: "sumsq",
  params: ["i32", "i32"],
  results: ["f64"],
  locals: ["i32", "i32", "v128", "v128"],
  body: [
    I.get(1), I.i32(-4), I.i32And, I.i32(4), I.i32Mul, I.set(3), // end = 16⌊n/4⌋
    I.i32(0), I.set(2),
    I.block, I.loop,
    I.get(2), I.get(3), I.i32GeS, I.brIf(1),
    I.get(0), I.get(2), I.i32Add, I.v128Load, I.set(5),
    I.get(4),
    I.get(5), I.f64x2PromoteLow, I.get(5), I.f64x2PromoteLow, I.f64x2Mul, I.f64x2Add,
    I.get(5), I.get(5), I.i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]), I.f64x2PromoteLow, I.tee(5), I.get(5), I.f64x2Mul, I.f64x2Add,
    I.set(4),
    I.get(2), I.i32(16), I.i32Add, I.set(2),
    I.br(0),
    I.end, I.end,
    I.get(4), I.f64x2ExtractLane(0), I.get(4), I.f64x2ExtractLane(1), I.f64Add,
  ],
};

export interface SimdKernels {
  geluForward(x: tf.TensorInfo, y: tf.TensorInfo, n: number): void;
  geluBackward(x: tf.TensorInfo, dy: tf.TensorInfo, dx: tf.TensorInfo, n: number): void;
  /** bufs: p, g, m, v, pOut, mOut, vOut; scalars: gradScale, β1, 1 − β1, β2, 1 − β2, keep, lr/bc1, 1/√bc2, ε. */
  adamw(bufs: readonly tf.TensorInfo[], n: number, scalars: readonly number[]): void;
  /** Σ x² in float64 over all n elements (the last n mod 4 in JS). */
  sumOfSquares(x: tf.TensorInfo, n: number): number;
}

/** The module's bytes (a function of this file only; the tests compile it). */
export function simdModuleBytes(): Uint8Array<ArrayBuffer> {
  return assembleModule([geluFwd, geluBwd, adamw, sumsq]);
}

type Exports = {
  gelu_fwd(x: number, y: number, n: number): void;
  gelu_bwd(x: number, dy: number, dx: number, n: number): void;
  adamw(...args: number[]): void;
  sumsq(x: number, n: number): number;
};

let loaded: { memory: WebAssembly.Memory; kernels: SimdKernels } | { memory: WebAssembly.Memory | null; reason: string } | undefined;
let simdOn = process.env["TANDEM_SIMD"] !== "off";

/**
 * For the tests and the bench: false makes every caller take its non-SIMD path (JS loop or tensor ops).
 * TANDEM_SIMD=off starts the process with it off.
 */
export function setSimdKernels(on: boolean): void {
  simdOn = on;
}

function memoryOf(backend: WasmHeapBackend): WebAssembly.Memory | null {
  const wasm = (backend as unknown as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } }).wasm;
  const memory = wasm?.asm?.memory ?? wasm?.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

function instantiate(memory: WebAssembly.Memory, backend: WasmHeapBackend): SimdKernels {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(simdModuleBytes()), { env: { memory } });
  const e = instance.exports as unknown as Exports;
  const addr = (t: tf.TensorInfo): number => heapView(backend, t as tf.Tensor).byteOffset;
  return {
    geluForward: (x, y, n) => e.gelu_fwd(addr(x), addr(y), n),
    geluBackward: (x, dy, dx, n) => e.gelu_bwd(addr(x), addr(dy), addr(dx), n),
    adamw: (bufs, n, scalars) => e.adamw(...bufs.map(addr), n, ...scalars),
    sumOfSquares: (x, n) => {
      const view = heapView(backend, x as tf.Tensor);
      let s = n >= 4 ? e.sumsq(view.byteOffset, n) : 0;
      for (let i = n - (n % 4); i < n; i++) s += (view[i] as number) * (view[i] as number);
      return s;
    },
  };
}

/** Checks a few GELU values against the formula in float64, so that a wrong module never trains. */
function selfCheck(kernels: SimdKernels, backend: WasmHeapBackend): string | null {
  const xs = [-3, -1, -0.25, 0, 0.5, 1, 2.5, 9, -12];
  const x = tf.tensor1d(xs);
  const info = backend.makeOutput([xs.length], "float32");
  const y = tf.engine().makeTensorFromTensorInfo(info);
  try {
    kernels.geluForward(x, info, xs.length);
    const got = heapView(backend, y);
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i] as number;
      const want = v / (1 + Math.exp(-GELU_K * (v + GELU_C * v * v * v)));
      if (!(Math.abs((got[i] as number) - want) <= 1e-6 * Math.max(1, Math.abs(want)))) return `self-check: GELU(${v}) = ${got[i]}, expected ${want}`;
    }
    return null;
  } finally {
    tf.dispose([x, y]);
  }
}

/**
 * The SIMD kernels on this wasm backend's heap, or null (off, or the module failed: see simdKernelsStatus).
 * The module is built once per heap memory.
 */
export function simdKernels(backend: WasmHeapBackend): SimdKernels | null {
  if (!simdOn) return null;
  const memory = memoryOf(backend);
  if (loaded === undefined || loaded.memory !== memory) {
    if (!memory) loaded = { memory: null, reason: "tfjs-wasm's WebAssembly.Memory is not reachable (backend.wasm.asm.memory)" };
    else {
      try {
        const kernels = instantiate(memory, backend);
        const failure = selfCheck(kernels, backend);
        loaded = failure === null ? { memory, kernels } : { memory, reason: failure };
      } catch (error) {
        loaded = { memory, reason: error instanceof Error ? error.message : String(error) };
      }
    }
  }
  return "kernels" in loaded ? loaded.kernels : null;
}

/** How select-backend.ts lists the kernels among the backend's custom kernels, and names them when they are skipped. */
export const SIMD_KERNELS_LABEL = "GELU, AdamW, Σx² (wasm SIMD)";

/** Whether the SIMD kernels are in use on this backend, or why not. */
export function simdKernelsStatus(backend: WasmHeapBackend): { ok: true } | { ok: false; reason: string } {
  if (!simdOn) return { ok: false, reason: "turned off (setSimdKernels(false))" };
  simdKernels(backend);
  return loaded && "kernels" in loaded ? { ok: true } : { ok: false, reason: loaded && "reason" in loaded ? loaded.reason : "not loaded" };
}
