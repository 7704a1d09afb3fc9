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
import { I, assembleModule, type FuncDef, type Ins, type ValType } from "./wasm-asm.ts";
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
  return [
    I.get(z), I.f32x4Abs, I.f32x4Neg, I.set(t),
    ...expNonPositive(t, k, r), I.set(e),
    I.f32x4(1), I.get(e), I.get(z), I.f32x4(0), I.f32x4Ge, I.v128Bitselect, // z ≥ 0 ? 1 : e
    I.f32x4(1), I.get(e), I.f32x4Add, I.f32x4Div,
  ];
}

/**
 * exp(t) of the v128 local t, left on the stack, for t ≤ 0 (sigmoid's comment has the method; a t slightly above 0,
 * from rounding, is fine too: k = 0). 0 below EXP_MIN; NaN stays NaN. Uses locals k and r.
 */
function expNonPositive(t: number, k: number, r: number): Ins[] {
  const coeffs = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  return [
    I.get(t), I.f32x4(EXP_MIN), I.f32x4Pmax, I.tee(r), // r holds the clamped t for now
    I.f32x4(LOG2E), I.f32x4Mul, I.f32x4(EXP_MAGIC), I.f32x4Add, I.set(k), // k + 127 in the low bits
    I.get(r), I.get(k), I.f32x4(EXP_MAGIC), I.f32x4Sub, I.tee(k), I.f32x4(LN2_HI), I.f32x4Mul, I.f32x4Sub, I.get(k), I.f32x4(LN2_LO), I.f32x4Mul, I.f32x4Sub, I.set(r),
    I.f32x4(coeffs[0] as number),
    ...coeffs.slice(1).flatMap((c) => [I.get(r), I.f32x4Mul, I.f32x4(c), I.f32x4Add]),
    I.get(k), I.f32x4(EXP_MAGIC), I.f32x4Add, I.i32(23), I.i32x4Shl, // 2^k (k + magic is exact, so this restores the sum)
    I.f32x4Mul,
    I.get(t), I.f32x4(EXP_MIN), I.f32x4Lt, I.v128AndNot, // 0 below EXP_MIN
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

// swiglu_fwd(g, u, y, n): y = (g·σ(g))·u, llama.ts's silu(gate) ⊙ up in its order of operations: the Llama decode
// step's MLP activation (model/llama-decode.ts, decision trainer-029). y must not be g or u (the last vector overlaps).
// Locals: 4 off, 5 end, 6 o, 7 gv, 8 t, 9 k, 10 r, 11 e.
const swigluFwd: FuncDef = {
  name: "swiglu_fwd",
  params: ["i32", "i32", "i32", "i32"],
  results: [],
  locals: ["i32", "i32", "i32", "v128", "v128", "v128", "v128", "v128"],
  body: overVectors(3, 4, 5, 6, [
    ...load(0, 6), I.set(7),
    ...storeAt(2, 6), I.get(7), ...sigmoid(7, 8, 9, 10, 11), I.f32x4Mul, ...load(1, 6), I.f32x4Mul, I.v128Store,
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

/**
 * A function with named parameters and locals (in the order given; a name's index is its position). `body` gets
 * a lookup that throws on an unknown name, so a typo fails at start-up, where it falls back like a bad module.
 */
function namedFunc(
  name: string, params: [string, ValType][], locals: [string, ValType][], results: ValType[],
  body: (v: (name: string) => number) => Ins[],
): FuncDef {
  const index = new Map([...params, ...locals].map(([n], i) => [n, i]));
  const v = (n: string): number => {
    const i = index.get(n);
    if (i === undefined) throw new Error(`${name}: no local ${n}`);
    return i;
  };
  return { name, params: params.map(([, t]) => t), results, locals: locals.map(([, t]) => t), body: body(v) };
}

/** for (i = from; i < to; i += step) body; i and to are i32 locals (to read each time round), from an instruction list. */
function forLoop(i: number, from: Ins[], to: number, step: number, body: Ins[]): Ins[] {
  return [
    ...from, I.set(i),
    I.block, I.loop,
    I.get(i), I.get(to), I.i32GeS, I.brIf(1),
    ...body,
    I.get(i), I.i32(step), I.i32Add, I.set(i),
    I.br(0),
    I.end, I.end,
  ];
}

/** The f32 sum of the v128 local v's four lanes, (l0 + l1) + (l2 + l3), left on the stack. */
const hsum = (v: number): Ins[] => [
  I.get(v), I.f32x4ExtractLane(0), I.get(v), I.f32x4ExtractLane(1), I.f32Add,
  I.get(v), I.f32x4ExtractLane(2), I.get(v), I.f32x4ExtractLane(3), I.f32Add, I.f32Add,
];
const f32At = (base: number, o: number): Ins[] => [I.get(base), I.get(o), I.i32Add, I.f32Load];

/** A row of `width` floats in bytes into `cb`, and the bytes of its whole vectors, 16⌊width/4⌋, into `vb` (the row loops' bounds). */
const rowBytes = (width: number, cb: number, vb: number): Ins[] => [
  I.get(width), I.i32(4), I.i32Mul, I.set(cb),
  I.get(width), I.i32(-4), I.i32And, I.i32(4), I.i32Mul, I.set(vb),
];

/**
 * LayerNorm (centre) or RMSNorm forward over R rows of C, fused-norms.ts's loop in float32 (decision trainer-024):
 * per row μ = Σx/C (LayerNorm), then Σ(x − μ)² in a second pass (as the JS loop and the op path do, no E[x²] − μ²),
 * r = 1/√(Σ/C + ε), y = ((x − μ)·r)·γ + β (RMSNorm: (x·r)·γ). μ and r go to stats[2·row], stats[2·row + 1] for the
 * backward pass. Rows are walked in f32x4 over the first 4⌊C/4⌋ channels with one f32x4 accumulator, summed
 * across lanes at the end, and the last C mod 4 channels in scalar code (sums cannot overlap vectors as the
 * elementwise kernels do). Any C ≥ 1.
 * norm_fwd(x, γ, β, y, stats, R, C, ε) / rms_fwd(x, γ, y, stats, R, C, ε).
 */
function normFwd(centre: boolean): FuncDef {
  const params: [string, ValType][] = centre
    ? [["x", "i32"], ["g", "i32"], ["b", "i32"], ["y", "i32"], ["stats", "i32"], ["R", "i32"], ["C", "i32"], ["eps", "f32"]]
    : [["x", "i32"], ["g", "i32"], ["y", "i32"], ["stats", "i32"], ["R", "i32"], ["C", "i32"], ["eps", "f32"]];
  const locals: [string, ValType][] = [
    ["r", "i32"], ["o", "i32"], ["xr", "i32"], ["yr", "i32"], ["cb", "i32"], ["vb", "i32"], ["j", "i32"], ["st", "i32"],
    ["cf", "f32"], ["s", "f32"], ["mu", "f32"], ["rs", "f32"], ["d", "f32"],
    ["acc", "v128"], ["muv", "v128"], ["rsv", "v128"], ["dv", "v128"],
  ];
  return namedFunc(centre ? "norm_fwd" : "rms_fwd", params, locals, [], (v) => {
    const centred = (xv: Ins[]): Ins[] => (centre ? [...xv, I.get(v("muv")), I.f32x4Sub] : xv); // x − μ, or x
    const centredS = (xs: Ins[]): Ins[] => (centre ? [...xs, I.get(v("mu")), I.f32Sub] : xs);
    return [
      ...rowBytes(v("C"), v("cb"), v("vb")),
      I.get(v("C")), I.f32ConvertI32S, I.set(v("cf")),
      ...forLoop(v("r"), [I.i32(0)], v("R"), 1, [
        I.get(v("r")), I.get(v("cb")), I.i32Mul, I.tee(v("o")), I.get(v("x")), I.i32Add, I.set(v("xr")),
        I.get(v("o")), I.get(v("y")), I.i32Add, I.set(v("yr")),
        ...(centre
          ? [
              I.f32x4(0), I.set(v("acc")),
              ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [I.get(v("acc")), ...load(v("xr"), v("j")), I.f32x4Add, I.set(v("acc"))]),
              ...hsum(v("acc")), I.set(v("s")),
              ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [I.get(v("s")), ...f32At(v("xr"), v("j")), I.f32Add, I.set(v("s"))]),
              I.get(v("s")), I.get(v("cf")), I.f32Div, I.tee(v("mu")), I.f32x4Splat, I.set(v("muv")),
            ]
          : [I.f32(0), I.set(v("mu"))]),
        I.f32x4(0), I.set(v("acc")),
        ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
          ...centred(load(v("xr"), v("j"))), I.tee(v("dv")), I.get(v("dv")), I.f32x4Mul, I.get(v("acc")), I.f32x4Add, I.set(v("acc")),
        ]),
        ...hsum(v("acc")), I.set(v("s")),
        ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
          ...centredS(f32At(v("xr"), v("j"))), I.tee(v("d")), I.get(v("d")), I.f32Mul, I.get(v("s")), I.f32Add, I.set(v("s")),
        ]),
        I.f32(1), I.get(v("s")), I.get(v("cf")), I.f32Div, I.get(v("eps")), I.f32Add, I.f32Sqrt, I.f32Div, I.tee(v("rs")), I.f32x4Splat, I.set(v("rsv")),
        I.get(v("stats")), I.get(v("r")), I.i32(8), I.i32Mul, I.i32Add, I.tee(v("st")), I.get(v("mu")), I.f32Store,
        I.get(v("st")), I.i32(4), I.i32Add, I.get(v("rs")), I.f32Store,
        ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
          ...storeAt(v("yr"), v("j")),
          ...centred(load(v("xr"), v("j"))), I.get(v("rsv")), I.f32x4Mul, ...load(v("g"), v("j")), I.f32x4Mul,
          ...(centre ? [...load(v("b"), v("j")), I.f32x4Add] : []),
          I.v128Store,
        ]),
        ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
          ...storeAt(v("yr"), v("j")),
          ...centredS(f32At(v("xr"), v("j"))), I.get(v("rs")), I.f32Mul, ...f32At(v("g"), v("j")), I.f32Mul,
          ...(centre ? [...f32At(v("b"), v("j")), I.f32Add] : []),
          I.f32Store,
        ]),
      ]),
    ];
  });
}

/**
 * LayerNorm / RMSNorm backward over R rows, from the forward pass's stats: per row, with x̂ = (x − μ)·r and
 * g = dy·γ, one pass for Σg and Σg·x̂ (f32x4 accumulators) that also adds dy·x̂ into dγ and dy into dβ, then
 * dx = r·((dy·γ − mean(g)) − x̂·mean(g·x̂)) (RMSNorm: no μ, no mean(g), no dβ). dγ and dβ are added to, not
 * written: the caller zeroes them and sums blocks of rows in float64 (SimdKernels.normBackward).
 * norm_bwd(x, γ, dy, stats, dx, dγ, dβ, R, C) / rms_bwd(x, γ, dy, stats, dx, dγ, R, C).
 */
function normBwd(centre: boolean): FuncDef {
  const params: [string, ValType][] = [
    ["x", "i32"], ["g", "i32"], ["dy", "i32"], ["stats", "i32"], ["dx", "i32"], ["dg", "i32"],
    ...(centre ? [["db", "i32"] as [string, ValType]] : []), ["R", "i32"], ["C", "i32"],
  ];
  const locals: [string, ValType][] = [
    ["r", "i32"], ["o", "i32"], ["xr", "i32"], ["dyr", "i32"], ["dxr", "i32"], ["cb", "i32"], ["vb", "i32"], ["j", "i32"], ["st", "i32"],
    ["cf", "f32"], ["mu", "f32"], ["rs", "f32"], ["tg", "f32"], ["tgx", "f32"], ["mg", "f32"], ["mgx", "f32"], ["ds", "f32"], ["xhs", "f32"], ["gs", "f32"],
    ["muv", "v128"], ["rsv", "v128"], ["sg", "v128"], ["sgx", "v128"], ["dv", "v128"], ["xh", "v128"], ["gv", "v128"], ["mgv", "v128"], ["mgxv", "v128"],
  ];
  return namedFunc(centre ? "norm_bwd" : "rms_bwd", params, locals, [], (v) => {
    const xhat = (xv: Ins[]): Ins[] => [...xv, ...(centre ? [I.get(v("muv")), I.f32x4Sub] : []), I.get(v("rsv")), I.f32x4Mul];
    const xhatS = (xs: Ins[]): Ins[] => [...xs, ...(centre ? [I.get(v("mu")), I.f32Sub] : []), I.get(v("rs")), I.f32Mul];
    const addInto = (base: string, term: Ins[]): Ins[] => [...storeAt(v(base), v("j")), ...load(v(base), v("j")), ...term, I.f32x4Add, I.v128Store];
    const addIntoS = (base: string, term: Ins[]): Ins[] => [...storeAt(v(base), v("j")), ...f32At(v(base), v("j")), ...term, I.f32Add, I.f32Store];
    return [
      ...rowBytes(v("C"), v("cb"), v("vb")),
      I.get(v("C")), I.f32ConvertI32S, I.set(v("cf")),
      ...forLoop(v("r"), [I.i32(0)], v("R"), 1, [
        I.get(v("r")), I.get(v("cb")), I.i32Mul, I.set(v("o")),
        I.get(v("x")), I.get(v("o")), I.i32Add, I.set(v("xr")),
        I.get(v("dy")), I.get(v("o")), I.i32Add, I.set(v("dyr")),
        I.get(v("dx")), I.get(v("o")), I.i32Add, I.set(v("dxr")),
        I.get(v("stats")), I.get(v("r")), I.i32(8), I.i32Mul, I.i32Add, I.tee(v("st")), I.f32Load, I.tee(v("mu")), I.f32x4Splat, I.set(v("muv")),
        I.get(v("st")), I.i32(4), I.i32Add, I.f32Load, I.tee(v("rs")), I.f32x4Splat, I.set(v("rsv")),
        I.f32x4(0), I.set(v("sg")), I.f32x4(0), I.set(v("sgx")),
        ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
          ...load(v("dyr"), v("j")), I.set(v("dv")),
          ...xhat(load(v("xr"), v("j"))), I.set(v("xh")),
          I.get(v("dv")), ...load(v("g"), v("j")), I.f32x4Mul, I.set(v("gv")),
          ...(centre ? [I.get(v("sg")), I.get(v("gv")), I.f32x4Add, I.set(v("sg"))] : []),
          I.get(v("sgx")), I.get(v("gv")), I.get(v("xh")), I.f32x4Mul, I.f32x4Add, I.set(v("sgx")),
          ...addInto("dg", [I.get(v("dv")), I.get(v("xh")), I.f32x4Mul]),
          ...(centre ? addInto("db", [I.get(v("dv"))]) : []),
        ]),
        ...(centre ? [...hsum(v("sg")), I.set(v("tg"))] : []),
        ...hsum(v("sgx")), I.set(v("tgx")),
        ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
          ...f32At(v("dyr"), v("j")), I.set(v("ds")),
          ...xhatS(f32At(v("xr"), v("j"))), I.set(v("xhs")),
          I.get(v("ds")), ...f32At(v("g"), v("j")), I.f32Mul, I.set(v("gs")),
          ...(centre ? [I.get(v("tg")), I.get(v("gs")), I.f32Add, I.set(v("tg"))] : []),
          I.get(v("tgx")), I.get(v("gs")), I.get(v("xhs")), I.f32Mul, I.f32Add, I.set(v("tgx")),
          ...addIntoS("dg", [I.get(v("ds")), I.get(v("xhs")), I.f32Mul]),
          ...(centre ? addIntoS("db", [I.get(v("ds"))]) : []),
        ]),
        ...(centre ? [I.get(v("tg")), I.get(v("cf")), I.f32Div, I.tee(v("mg")), I.f32x4Splat, I.set(v("mgv"))] : []),
        I.get(v("tgx")), I.get(v("cf")), I.f32Div, I.tee(v("mgx")), I.f32x4Splat, I.set(v("mgxv")),
        ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
          ...storeAt(v("dxr"), v("j")),
          I.get(v("rsv")),
          ...load(v("dyr"), v("j")), ...load(v("g"), v("j")), I.f32x4Mul,
          ...(centre ? [I.get(v("mgv")), I.f32x4Sub] : []),
          ...xhat(load(v("xr"), v("j"))), I.get(v("mgxv")), I.f32x4Mul, I.f32x4Sub,
          I.f32x4Mul,
          I.v128Store,
        ]),
        ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
          ...storeAt(v("dxr"), v("j")),
          I.get(v("rs")),
          ...f32At(v("dyr"), v("j")), ...f32At(v("g"), v("j")), I.f32Mul,
          ...(centre ? [I.get(v("mg")), I.f32Sub] : []),
          ...xhatS(f32At(v("xr"), v("j"))), I.get(v("mgx")), I.f32Mul, I.f32Sub,
          I.f32Mul,
          I.f32Store,
        ]),
      ]),
    ];
  });
}

/** exp of the f32 on the stack (≤ 0), as expNonPositive computes it in lane 0: the scalar tails of the row kernels. */
const expScalar = (t: number, k: number, r: number): Ins[] => [I.f32x4Splat, I.set(t), ...expNonPositive(t, k, r), I.f32x4ExtractLane(0)];

/**
 * row_max(x, V) → the largest of V ≥ 1 floats. f32x4.pmax in the vectors skips a NaN (the caller's exp pass brings
 * it back: exp(NaN) is NaN); ±∞ count as values.
 */
const rowMax = namedFunc("row_max", [["x", "i32"], ["V", "i32"]], [["vb", "i32"], ["cb", "i32"], ["j", "i32"], ["acc", "v128"], ["m", "f32"]], ["f32"], (v) => [
  ...rowBytes(v("V"), v("cb"), v("vb")),
  I.f32x4(-Infinity), I.set(v("acc")),
  ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [I.get(v("acc")), ...load(v("x"), v("j")), I.f32x4Pmax, I.set(v("acc"))]),
  I.get(v("acc")), I.f32x4ExtractLane(0), I.get(v("acc")), I.f32x4ExtractLane(1), I.f32Max,
  I.get(v("acc")), I.f32x4ExtractLane(2), I.get(v("acc")), I.f32x4ExtractLane(3), I.f32Max, I.f32Max, I.set(v("m")),
  ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [I.get(v("m")), ...f32At(v("x"), v("j")), I.f32Max, I.set(v("m"))]),
  I.get(v("m")),
]);

/**
 * row_sumexp(x, V, max, inv) → Σ exp((x − max)·inv) over V floats, every argument ≤ 0 (max is the row's largest,
 * inv = 1/τ > 0). The exps in float32, the sum in float64 (two f64x2 accumulators, as sumsq): fused-logprobs.ts's
 * forward pass, which takes log of it.
 */
const rowSumExp = namedFunc(
  "row_sumexp",
  [["x", "i32"], ["V", "i32"], ["max", "f32"], ["inv", "f32"]],
  [["vb", "i32"], ["cb", "i32"], ["j", "i32"], ["maxv", "v128"], ["invv", "v128"], ["t", "v128"], ["k", "v128"], ["r", "v128"], ["e", "v128"], ["acc", "v128"], ["s", "f64"]],
  ["f64"],
  (v) => [
    ...rowBytes(v("V"), v("cb"), v("vb")),
    I.get(v("max")), I.f32x4Splat, I.set(v("maxv")), I.get(v("inv")), I.f32x4Splat, I.set(v("invv")),
    ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
      ...load(v("x"), v("j")), I.get(v("maxv")), I.f32x4Sub, I.get(v("invv")), I.f32x4Mul, I.set(v("t")),
      ...expNonPositive(v("t"), v("k"), v("r")), I.set(v("e")),
      I.get(v("acc")),
      I.get(v("e")), I.f64x2PromoteLow, I.f64x2Add,
      I.get(v("e")), I.get(v("e")), I.i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]), I.f64x2PromoteLow, I.f64x2Add,
      I.set(v("acc")),
    ]),
    I.get(v("acc")), I.f64x2ExtractLane(0), I.get(v("acc")), I.f64x2ExtractLane(1), I.f64Add, I.set(v("s")),
    ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
      I.get(v("s")),
      ...f32At(v("x"), v("j")), I.get(v("max")), I.f32Sub, I.get(v("inv")), I.f32Mul, ...expScalar(v("t"), v("k"), v("r")),
      I.f64PromoteF32, I.f64Add, I.set(v("s")),
    ]),
    I.get(v("s")),
  ],
);

/**
 * row_lp_grad(x, g, V, max, inv, logsum, negd): g_j = negd·exp((x_j − max)·inv − logsum) over V floats, the
 * gradient of log p(label) without the label's +d (fused-logprobs.ts adds it). logsum = log Σ exp((x − max)·inv),
 * so every argument is ≤ 0 up to rounding.
 */
const rowLpGrad = namedFunc(
  "row_lp_grad",
  [["x", "i32"], ["g", "i32"], ["V", "i32"], ["max", "f32"], ["inv", "f32"], ["logsum", "f32"], ["negd", "f32"]],
  [["vb", "i32"], ["cb", "i32"], ["j", "i32"], ["maxv", "v128"], ["invv", "v128"], ["lv", "v128"], ["dv", "v128"], ["t", "v128"], ["k", "v128"], ["r", "v128"]],
  [],
  (v) => [
    ...rowBytes(v("V"), v("cb"), v("vb")),
    I.get(v("max")), I.f32x4Splat, I.set(v("maxv")), I.get(v("inv")), I.f32x4Splat, I.set(v("invv")),
    I.get(v("logsum")), I.f32x4Splat, I.set(v("lv")), I.get(v("negd")), I.f32x4Splat, I.set(v("dv")),
    ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
      ...load(v("x"), v("j")), I.get(v("maxv")), I.f32x4Sub, I.get(v("invv")), I.f32x4Mul, I.get(v("lv")), I.f32x4Sub, I.set(v("t")),
      ...storeAt(v("g"), v("j")), I.get(v("dv")), ...expNonPositive(v("t"), v("k"), v("r")), I.f32x4Mul, I.v128Store,
    ]),
    ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
      ...storeAt(v("g"), v("j")), I.get(v("negd")),
      ...f32At(v("x"), v("j")), I.get(v("max")), I.f32Sub, I.get(v("inv")), I.f32Mul, I.get(v("logsum")), I.f32Sub, ...expScalar(v("t"), v("k"), v("r")),
      I.f32Mul, I.f32Store,
    ]),
  ],
);

/**
 * softmax_rows(s, bias, y, R, Tk, scale): attention's y = softmax(s·scale + bias) over R rows of Tk ≥ 1, bias row r
 * for score row r (fused-softmax.ts calls it once per (T, Tk) block of scores with that block's bias). As the JS
 * loop: z = s·scale + bias stored in y as float32 (so the −1e9 mask swallows the score exactly as the op path's Add
 * does), the row's max, e = exp(z − max) in place with its sum (float32 lanes), then y = e·(1/Σ).
 */
const softmaxRows = namedFunc(
  "softmax_rows",
  [["s", "i32"], ["bias", "i32"], ["y", "i32"], ["R", "i32"], ["Tk", "i32"], ["scale", "f32"]],
  [
    ["row", "i32"], ["o", "i32"], ["sr", "i32"], ["br", "i32"], ["yr", "i32"], ["vb", "i32"], ["cb", "i32"], ["j", "i32"],
    ["m", "f32"], ["sum", "f32"], ["z", "f32"],
    ["scalev", "v128"], ["acc", "v128"], ["mv", "v128"], ["t", "v128"], ["k", "v128"], ["r", "v128"], ["e", "v128"],
  ],
  [],
  (v) => [
    ...rowBytes(v("Tk"), v("cb"), v("vb")),
    I.get(v("scale")), I.f32x4Splat, I.set(v("scalev")),
    ...forLoop(v("row"), [I.i32(0)], v("R"), 1, [
      I.get(v("row")), I.get(v("cb")), I.i32Mul, I.tee(v("o")), I.get(v("s")), I.i32Add, I.set(v("sr")),
      I.get(v("o")), I.get(v("bias")), I.i32Add, I.set(v("br")),
      I.get(v("o")), I.get(v("y")), I.i32Add, I.set(v("yr")),
      // z and its max
      I.f32x4(-Infinity), I.set(v("acc")),
      ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
        ...storeAt(v("yr"), v("j")), ...load(v("sr"), v("j")), I.get(v("scalev")), I.f32x4Mul, ...load(v("br"), v("j")), I.f32x4Add, I.tee(v("e")), I.v128Store,
        I.get(v("acc")), I.get(v("e")), I.f32x4Pmax, I.set(v("acc")),
      ]),
      I.get(v("acc")), I.f32x4ExtractLane(0), I.get(v("acc")), I.f32x4ExtractLane(1), I.f32Max,
      I.get(v("acc")), I.f32x4ExtractLane(2), I.get(v("acc")), I.f32x4ExtractLane(3), I.f32Max, I.f32Max, I.set(v("m")),
      ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
        ...storeAt(v("yr"), v("j")), ...f32At(v("sr"), v("j")), I.get(v("scale")), I.f32Mul, ...f32At(v("br"), v("j")), I.f32Add, I.tee(v("z")), I.f32Store,
        I.get(v("m")), I.get(v("z")), I.f32Max, I.set(v("m")),
      ]),
      // e = exp(z − max) in place, and Σe
      I.f32x4(0), I.set(v("acc")), I.get(v("m")), I.f32x4Splat, I.set(v("mv")),
      ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
        ...load(v("yr"), v("j")), I.get(v("mv")), I.f32x4Sub, I.set(v("t")),
        ...storeAt(v("yr"), v("j")),
        // four masked keys (a causal row's future: about half of all) give 0 without the exp
        // (all four below EXP_MIN; a NaN is not, so it still reaches the sum)
        I.get(v("t")), I.f32x4(EXP_MIN), I.f32x4Lt, I.i32x4AllTrue,
        I.ifV128, I.f32x4(0), I.else, ...expNonPositive(v("t"), v("k"), v("r")), I.end,
        I.tee(v("e")), I.v128Store,
        I.get(v("acc")), I.get(v("e")), I.f32x4Add, I.set(v("acc")),
      ]),
      ...hsum(v("acc")), I.set(v("sum")),
      ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
        ...storeAt(v("yr"), v("j")), ...f32At(v("yr"), v("j")), I.get(v("m")), I.f32Sub, ...expScalar(v("t"), v("k"), v("r")), I.tee(v("z")), I.f32Store,
        I.get(v("sum")), I.get(v("z")), I.f32Add, I.set(v("sum")),
      ]),
      // y = e·(1/Σ)
      I.f32(1), I.get(v("sum")), I.f32Div, I.tee(v("sum")), I.f32x4Splat, I.set(v("e")),
      ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [...storeAt(v("yr"), v("j")), ...load(v("yr"), v("j")), I.get(v("e")), I.f32x4Mul, I.v128Store]),
      ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [...storeAt(v("yr"), v("j")), ...f32At(v("yr"), v("j")), I.get(v("sum")), I.f32Mul, I.f32Store]),
    ]),
  ],
);

/** softmax_grad_rows(y, dy, dx, R, Tk, scale): dx = (scale·y)·(dy − Σ dy·y) per row of Tk ≥ 1, the JS loop's order. */
const softmaxGradRows = namedFunc(
  "softmax_grad_rows",
  [["y", "i32"], ["dy", "i32"], ["dx", "i32"], ["R", "i32"], ["Tk", "i32"], ["scale", "f32"]],
  [["row", "i32"], ["o", "i32"], ["yr", "i32"], ["dyr", "i32"], ["dxr", "i32"], ["vb", "i32"], ["cb", "i32"], ["j", "i32"], ["dot", "f32"], ["scalev", "v128"], ["acc", "v128"], ["dotv", "v128"]],
  [],
  (v) => [
    ...rowBytes(v("Tk"), v("cb"), v("vb")),
    I.get(v("scale")), I.f32x4Splat, I.set(v("scalev")),
    ...forLoop(v("row"), [I.i32(0)], v("R"), 1, [
      I.get(v("row")), I.get(v("cb")), I.i32Mul, I.tee(v("o")), I.get(v("y")), I.i32Add, I.set(v("yr")),
      I.get(v("o")), I.get(v("dy")), I.i32Add, I.set(v("dyr")),
      I.get(v("o")), I.get(v("dx")), I.i32Add, I.set(v("dxr")),
      I.f32x4(0), I.set(v("acc")),
      ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [I.get(v("acc")), ...load(v("dyr"), v("j")), ...load(v("yr"), v("j")), I.f32x4Mul, I.f32x4Add, I.set(v("acc"))]),
      ...hsum(v("acc")), I.set(v("dot")),
      ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [I.get(v("dot")), ...f32At(v("dyr"), v("j")), ...f32At(v("yr"), v("j")), I.f32Mul, I.f32Add, I.set(v("dot"))]),
      I.get(v("dot")), I.f32x4Splat, I.set(v("dotv")),
      ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
        ...storeAt(v("dxr"), v("j")), I.get(v("scalev")), ...load(v("yr"), v("j")), I.f32x4Mul, ...load(v("dyr"), v("j")), I.get(v("dotv")), I.f32x4Sub, I.f32x4Mul, I.v128Store,
      ]),
      ...forLoop(v("j"), [I.get(v("vb"))], v("cb"), 4, [
        ...storeAt(v("dxr"), v("j")), I.get(v("scale")), ...f32At(v("yr"), v("j")), I.f32Mul, ...f32At(v("dyr"), v("j")), I.get(v("dot")), I.f32Sub, I.f32Mul, I.f32Store,
      ]),
    ]),
  ],
);

/**
 * dot_rows(a, x, y, R, n): y[r] = Σ_i a[r·n + i]·x[i] for R rows of n floats, n a multiple of 16: the decode step's
 * attention scores of one query against a head's cached keys (model/gpt-decode.ts, decision trainer-028). Four f32x4
 * accumulators over consecutive vectors (one chain of adds would wait on each add's latency), summed (a0 + a1) +
 * (a2 + a3) and then across lanes (l0 + l1) + (l2 + l3) at the end of each row.
 */
const dotRows = namedFunc(
  "dot_rows",
  [["a", "i32"], ["x", "i32"], ["y", "i32"], ["R", "i32"], ["n", "i32"]],
  [["r", "i32"], ["i", "i32"], ["nb", "i32"], ["ar", "i32"], ["a0", "v128"], ["a1", "v128"], ["a2", "v128"], ["a3", "v128"]],
  [],
  (v) => {
    const acc = ["a0", "a1", "a2", "a3"].map(v);
    const lane = (k: number): Ins[] => [
      I.get(acc[k] as number), I.get(v("ar")), I.get(v("i")), I.i32Add, I.v128Load, I.get(v("x")), I.get(v("i")), I.i32Add, I.v128Load, I.f32x4Mul, I.f32x4Add, I.set(acc[k] as number),
      I.get(v("i")), I.i32(16), I.i32Add, I.set(v("i")),
    ];
    return [
      I.get(v("n")), I.i32(4), I.i32Mul, I.set(v("nb")),
      ...forLoop(v("r"), [I.i32(0)], v("R"), 1, [
        I.get(v("r")), I.get(v("nb")), I.i32Mul, I.get(v("a")), I.i32Add, I.set(v("ar")),
        ...acc.flatMap((a) => [I.f32x4(0), I.set(a)]),
        // i advances 16 bytes per lane, 64 per round
        ...forLoop(v("i"), [I.i32(0)], v("nb"), 0, [...lane(0), ...lane(1), ...lane(2), ...lane(3)]),
        I.get(acc[0] as number), I.get(acc[1] as number), I.f32x4Add, I.get(acc[2] as number), I.get(acc[3] as number), I.f32x4Add, I.f32x4Add, I.set(acc[0] as number),
        I.get(v("r")), I.i32(4), I.i32Mul, I.get(v("y")), I.i32Add, ...hsum(acc[0] as number), I.f32Store,
      ]),
    ];
  },
);

/**
 * weighted_rows(a, p, y, R, n): y[i] = Σ_r p[r]·a[r·n + i] over R rows of n floats, n a multiple of 16, rows in
 * order: the decode step's context, a head's cached values weighted by the attention probabilities. Four column
 * vectors at a time, each its own accumulator, sharing the splat of p[r].
 */
const weightedRows = namedFunc(
  "weighted_rows",
  [["a", "i32"], ["p", "i32"], ["y", "i32"], ["R", "i32"], ["n", "i32"]],
  [["r", "i32"], ["i", "i32"], ["nb", "i32"], ["rb", "i32"], ["ar", "i32"], ["pr", "v128"], ["a0", "v128"], ["a1", "v128"], ["a2", "v128"], ["a3", "v128"]],
  [],
  (v) => {
    const acc = ["a0", "a1", "a2", "a3"].map(v);
    const vecAt = (k: number): Ins[] => [I.get(v("ar")), ...(k > 0 ? [I.i32(16 * k), I.i32Add] : []), I.v128Load];
    return [
      I.get(v("n")), I.i32(4), I.i32Mul, I.set(v("nb")),
      I.get(v("R")), I.i32(4), I.i32Mul, I.set(v("rb")),
      ...forLoop(v("i"), [I.i32(0)], v("nb"), 64, [
        I.get(v("a")), I.get(v("i")), I.i32Add, I.set(v("ar")),
        ...acc.flatMap((a) => [I.f32x4(0), I.set(a)]),
        ...forLoop(v("r"), [I.i32(0)], v("rb"), 4, [
          ...f32At(v("p"), v("r")), I.f32x4Splat, I.set(v("pr")),
          ...acc.flatMap((a, k) => [I.get(a), I.get(v("pr")), ...vecAt(k), I.f32x4Mul, I.f32x4Add, I.set(a)]),
          I.get(v("ar")), I.get(v("nb")), I.i32Add, I.set(v("ar")),
        ]),
        ...acc.flatMap((a, k) => [I.get(v("y")), I.get(v("i")), I.i32Add, ...(k > 0 ? [I.i32(16 * k), I.i32Add] : []), I.get(a), I.v128Store]),
      ]),
    ];
  },
);

/**
 * add_rows(a, b, y, R, n): y[r·n + j] = a[r·n + j] + b[j] for r < R and j < 4⌊n/4⌋ (the caller adds the rest), in
 * float32 as tf.add: the fused linear layer's residual + bias fill before sgemm adds the product (matmul.ts linearBias,
 * decision trainer-031). Byte addresses; y may be a.
 */
const addRows = namedFunc(
  "add_rows",
  [["a", "i32"], ["b", "i32"], ["y", "i32"], ["R", "i32"], ["n", "i32"]],
  [["r", "i32"], ["j", "i32"], ["nb", "i32"], ["vb", "i32"], ["ar", "i32"], ["yr", "i32"]],
  [],
  (v) => [
    ...rowBytes(v("n"), v("nb"), v("vb")),
    I.get(v("a")), I.set(v("ar")),
    I.get(v("y")), I.set(v("yr")),
    ...forLoop(v("r"), [I.i32(0)], v("R"), 1, [
      ...forLoop(v("j"), [I.i32(0)], v("vb"), 16, [
        I.get(v("yr")), I.get(v("j")), I.i32Add,
        I.get(v("ar")), I.get(v("j")), I.i32Add, I.v128Load,
        I.get(v("b")), I.get(v("j")), I.i32Add, I.v128Load,
        I.f32x4Add, I.v128Store,
      ]),
      I.get(v("ar")), I.get(v("nb")), I.i32Add, I.set(v("ar")),
      I.get(v("yr")), I.get(v("nb")), I.i32Add, I.set(v("yr")),
    ]),
  ],
);

/** Rows per call of the norm backward kernel: dγ and dβ add up in float32 within a block, in float64 across blocks. */
const NORM_BWD_BLOCK = 64;

export interface SimdKernels {
  geluForward(x: tf.TensorInfo, y: tf.TensorInfo, n: number): void;
  geluBackward(x: tf.TensorInfo, dy: tf.TensorInfo, dx: tf.TensorInfo, n: number): void;
  /** bufs: p, g, m, v, pOut, mOut, vOut; scalars: gradScale, β1, 1 − β1, β2, 1 − β2, keep, lr/bc1, 1/√bc2, ε. */
  adamw(bufs: readonly tf.TensorInfo[], n: number, scalars: readonly number[]): void;
  /** Σ x² in float64 over all n elements (the last n mod 4 in JS). */
  sumOfSquares(x: tf.TensorInfo, n: number): number;
  /**
   * LayerNorm (b given) or RMSNorm (b null) of R rows of C: y (R·C) and stats (2R: μ and 1/√(var + ε) per row, μ = 0
   * for RMSNorm), which normBackward reads. R ≥ 1, C ≥ 1.
   */
  normForward(x: tf.TensorInfo, g: tf.TensorInfo, b: tf.TensorInfo | null, y: tf.TensorInfo, stats: tf.TensorInfo, R: number, C: number, eps: number): void;
  /** dx, dγ and (b given, LayerNorm) dβ from x, γ, dy and the forward pass's stats; dγ and dβ summed in float64 across blocks of rows. */
  normBackward(x: tf.TensorInfo, g: tf.TensorInfo, dy: tf.TensorInfo, stats: tf.TensorInfo, dx: tf.TensorInfo, dg: tf.TensorInfo, db: tf.TensorInfo | null, R: number, C: number): void;
  /** The byte address of a float32 tensor on the heap (valid until the next allocation), for the row kernels below. */
  address(t: tf.TensorInfo): number;
  /** The largest of V floats at byte address x (a NaN among them may be skipped: rowSumExp's exps bring it back). */
  rowMax(x: number, V: number): number;
  /** Σ exp((x − max)·inv) over V floats at x, in float64. */
  rowSumExp(x: number, V: number, max: number, inv: number): number;
  /** g = negd·exp((x − max)·inv − logsum) over V floats, x and g byte addresses. */
  rowLogProbGrad(x: number, g: number, V: number, max: number, inv: number, logsum: number, negd: number): void;
  /** Attention's softmax(s·scale + bias) over R rows of Tk at byte addresses s, bias (row r for row r), y. */
  softmaxRows(s: number, bias: number, y: number, R: number, Tk: number, scale: number): void;
  /** dx = (scale·y)·(dy − Σ dy·y) over R rows of Tk. */
  softmaxGradRows(y: tf.TensorInfo, dy: tf.TensorInfo, dx: tf.TensorInfo, R: number, Tk: number, scale: number): void;
  /** normForward's LayerNorm on byte addresses (the decode step's scratch, model/gpt-decode.ts). */
  layerNormAt(x: number, g: number, b: number, y: number, stats: number, R: number, C: number, eps: number): void;
  /** geluForward on byte addresses, n ≥ 4. */
  geluForwardAt(x: number, y: number, n: number): void;
  /** normForward's RMSNorm on byte addresses (the Llama decode step, model/llama-decode.ts). */
  rmsNormAt(x: number, g: number, y: number, stats: number, R: number, C: number, eps: number): void;
  /** y = (g·σ(g))·u over n ≥ 4 floats at byte addresses, y apart from g and u (SwiGLU's silu(gate) ⊙ up). */
  swigluAt(g: number, u: number, y: number, n: number): void;
  /** y[r] = Σ_i a[r·n + i]·x[i], R rows of n floats at byte addresses; n a multiple of 16. */
  dotRows(a: number, x: number, y: number, R: number, n: number): void;
  /** y[i] = Σ_r p[r]·a[r·n + i], R rows of n floats at byte addresses; n a multiple of 16. */
  weightedRows(a: number, p: number, y: number, R: number, n: number): void;
  /** y[r·n + j] = a[r·n + j] + b[j] for R rows at byte addresses, j < 4⌊n/4⌋ only (the caller adds the last n mod 4); y may be a. */
  addRows(a: number, b: number, y: number, R: number, n: number): void;
}

/** The module's bytes (a function of this file only; the tests compile it). */
export function simdModuleBytes(): Uint8Array<ArrayBuffer> {
  return assembleModule([
    geluFwd, geluBwd, adamw, sumsq, normFwd(true), normFwd(false), normBwd(true), normBwd(false),
    rowMax, rowSumExp, rowLpGrad, softmaxRows, softmaxGradRows, dotRows, weightedRows, swigluFwd, addRows,
  ]);
}

type Exports = {
  gelu_fwd(x: number, y: number, n: number): void;
  gelu_bwd(x: number, dy: number, dx: number, n: number): void;
  adamw(...args: number[]): void;
  sumsq(x: number, n: number): number;
  norm_fwd(x: number, g: number, b: number, y: number, stats: number, R: number, C: number, eps: number): void;
  rms_fwd(x: number, g: number, y: number, stats: number, R: number, C: number, eps: number): void;
  norm_bwd(x: number, g: number, dy: number, stats: number, dx: number, dg: number, db: number, R: number, C: number): void;
  rms_bwd(x: number, g: number, dy: number, stats: number, dx: number, dg: number, R: number, C: number): void;
  row_max(x: number, V: number): number;
  row_sumexp(x: number, V: number, max: number, inv: number): number;
  row_lp_grad(x: number, g: number, V: number, max: number, inv: number, logsum: number, negd: number): void;
  softmax_rows(s: number, bias: number, y: number, R: number, Tk: number, scale: number): void;
  softmax_grad_rows(y: number, dy: number, dx: number, R: number, Tk: number, scale: number): void;
  dot_rows(a: number, x: number, y: number, R: number, n: number): void;
  weighted_rows(a: number, p: number, y: number, R: number, n: number): void;
  swiglu_fwd(g: number, u: number, y: number, n: number): void;
  add_rows(a: number, b: number, y: number, R: number, n: number): void;
};

let loaded: { memory: WebAssembly.Memory; kernels: SimdKernels } | { memory: WebAssembly.Memory | null; reason: string } | undefined;

/** The callers of the kernels, switchable one at a time for the bench (bench/simd-ab.ts). */
export type SimdGroup = "gelu" | "adamw" | "norm" | "logprobs" | "softmax";
export const ALL_SIMD_GROUPS: readonly SimdGroup[] = ["gelu", "adamw", "norm", "logprobs", "softmax"];

/** TANDEM_SIMD: unset or "on" all groups, "off" none, else a comma-separated list of groups ("gelu,adamw"). */
function groupsFromEnv(value: string | undefined): ReadonlySet<SimdGroup> {
  if (value === undefined || value === "" || value === "on") return new Set(ALL_SIMD_GROUPS);
  if (value === "off") return new Set();
  return new Set(ALL_SIMD_GROUPS.filter((g) => value.split(",").map((v) => v.trim()).includes(g)));
}
let simdOn = groupsFromEnv(process.env["TANDEM_SIMD"]);

/**
 * For the tests and the bench: false makes every caller take its non-SIMD path (JS loop or tensor ops); a list
 * keeps exactly those groups on. TANDEM_SIMD=off starts the process with them off (TANDEM_SIMD=gelu,adamw with those).
 */
export function setSimdKernels(on: boolean | readonly SimdGroup[]): void {
  simdOn = new Set(on === true ? ALL_SIMD_GROUPS : on === false ? [] : on);
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
    normForward: (x, g, b, y, stats, R, C, eps) => {
      if (b) e.norm_fwd(addr(x), addr(g), addr(b), addr(y), addr(stats), R, C, eps);
      else e.rms_fwd(addr(x), addr(g), addr(y), addr(stats), R, C, eps);
    },
    normBackward: (x, g, dy, stats, dx, dg, db, R, C) => {
      const [xa, ga, dya, sa, dxa] = [x, g, dy, stats, dx].map(addr) as [number, number, number, number, number];
      const dgView = heapView(backend, dg as tf.Tensor);
      const dbView = db ? heapView(backend, db as tf.Tensor) : null;
      const dgSum = new Float64Array(C);
      const dbSum = new Float64Array(C);
      for (let r0 = 0; r0 < R; r0 += NORM_BWD_BLOCK) {
        const rows = Math.min(NORM_BWD_BLOCK, R - r0);
        const o = 4 * r0 * C;
        dgView.fill(0);
        dbView?.fill(0);
        if (dbView) e.norm_bwd(xa + o, ga, dya + o, sa + 8 * r0, dxa + o, dgView.byteOffset, dbView.byteOffset, rows, C);
        else e.rms_bwd(xa + o, ga, dya + o, sa + 8 * r0, dxa + o, dgView.byteOffset, rows, C);
        for (let j = 0; j < C; j++) dgSum[j] = (dgSum[j] as number) + (dgView[j] as number);
        if (dbView) for (let j = 0; j < C; j++) dbSum[j] = (dbSum[j] as number) + (dbView[j] as number);
      }
      dgView.set(dgSum);
      dbView?.set(dbSum);
    },
    address: addr,
    rowMax: e.row_max,
    rowSumExp: e.row_sumexp,
    rowLogProbGrad: e.row_lp_grad,
    softmaxRows: e.softmax_rows,
    softmaxGradRows: (y, dy, dx, R, Tk, scale) => e.softmax_grad_rows(addr(y), addr(dy), addr(dx), R, Tk, scale),
    layerNormAt: e.norm_fwd,
    geluForwardAt: e.gelu_fwd,
    dotRows: e.dot_rows,
    weightedRows: e.weighted_rows,
    rmsNormAt: e.rms_fwd,
    swigluAt: e.swiglu_fwd,
    addRows: e.add_rows,
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
  } finally {
    tf.dispose([x, y]);
  }
  return normSelfCheck(kernels, backend);
}

/** LayerNorm and the attention softmax of one row of 7 (a vector and a 3-element tail) against float64. */
function normSelfCheck(kernels: SimdKernels, backend: WasmHeapBackend): string | null {
  const xs = [3, -1, 0.5, 2, -4, 1.25, 7];
  const gs = [1, 2, -1, 0.5, 1.5, 1, -2];
  const bs = [0, 1, 0, -1, 0.25, 0, 2];
  const [x, g, b] = [xs, gs, bs].map((v) => tf.tensor1d(v)) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const yInfo = backend.makeOutput([xs.length], "float32");
  const statsInfo = backend.makeOutput([2], "float32");
  const [y, stats] = [yInfo, statsInfo].map((i) => tf.engine().makeTensorFromTensorInfo(i));
  try {
    kernels.normForward(x, g, b, yInfo, statsInfo, 1, xs.length, 1e-5);
    const got = heapView(backend, y as tf.Tensor);
    const mu = xs.reduce((a, v) => a + v, 0) / xs.length;
    const r = 1 / Math.sqrt(xs.reduce((a, v) => a + (v - mu) ** 2, 0) / xs.length + 1e-5);
    for (let j = 0; j < xs.length; j++) {
      const want = ((xs[j] as number) - mu) * r * (gs[j] as number) + (bs[j] as number);
      if (!(Math.abs((got[j] as number) - want) <= 1e-5 * Math.max(1, Math.abs(want)))) return `self-check: LayerNorm y[${j}] = ${got[j]}, expected ${want}`;
    }
    // the same row as attention scores, bias b as the mask's stand-in, scale 0.5: softmax_rows's vector, tail and exp
    kernels.softmaxRows(kernels.address(x), kernels.address(b), kernels.address(yInfo), 1, xs.length, 0.5);
    const z = xs.map((v, j) => 0.5 * v + (bs[j] as number));
    const m = Math.max(...z);
    const sum = z.reduce((a, v) => a + Math.exp(v - m), 0);
    const after = heapView(backend, y as tf.Tensor);
    for (let j = 0; j < xs.length; j++) {
      const want = Math.exp((z[j] as number) - m) / sum;
      if (!(Math.abs((after[j] as number) - want) <= 1e-6)) return `self-check: softmax y[${j}] = ${after[j]}, expected ${want}`;
    }
    return null;
  } finally {
    tf.dispose([x, g, b, y as tf.Tensor, stats as tf.Tensor]);
  }
}

/**
 * The SIMD kernels on this wasm backend's heap, or null (off, `group` off, or the module failed: see
 * simdKernelsStatus). The module is built once per heap memory.
 */
export function simdKernels(backend: WasmHeapBackend, group?: SimdGroup): SimdKernels | null {
  if (group === undefined ? simdOn.size === 0 : !simdOn.has(group)) return null;
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
export const SIMD_KERNELS_LABEL = "GELU, AdamW, Σx², LayerNorm/RMSNorm, softmax, log-probs (wasm SIMD)";

/** Whether the SIMD kernels are in use on this backend, or why not. */
export function simdKernelsStatus(backend: WasmHeapBackend): { ok: true } | { ok: false; reason: string } {
  if (simdOn.size === 0) return { ok: false, reason: "turned off (setSimdKernels(false))" };
  simdKernels(backend);
  return loaded && "kernels" in loaded ? { ok: true } : { ok: false, reason: loaded && "reason" in loaded ? loaded.reason : "not loaded" };
}
