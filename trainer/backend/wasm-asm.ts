// A small WebAssembly binary writer, enough for the project's SIMD kernels (wasm-simd.ts, decision trainer-023):
// one imported memory, functions of i32/f32 parameters and locals, and the core and simd128 instructions they
// use. There is no wasm compiler on the machines this runs on, and the kernels are a few dozen instructions
// each, so they are written here as instruction lists and encoded at start-up: the TypeScript is the source,
// and nothing generated is checked in. Opcodes are from the WebAssembly 2.0 specification (§5.4, "Instructions";
// the SIMD ones are 0xFD followed by a LEB128 sub-opcode).

/** One instruction's bytes. */
export type Ins = readonly number[];

export type ValType = "i32" | "f32" | "f64" | "v128";
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function f32Bytes(x: number): number[] {
  return [...new Uint8Array(new Float32Array([x]).buffer)];
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

const simd = (op: number): number[] => [0xfd, ...uleb(op)];

/** Instructions, each an array of bytes; a function body is a list of them. */
export const I = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  ifV128: [0x04, 0x7b], // if with a v128 result: the then-arm and the else-arm each leave one
  else: [0x05],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  select: [0x1b],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  i32: (n: number) => [0x41, ...sleb(n | 0)],
  f32: (x: number) => [0x43, ...f32Bytes(x)],
  /** v128.const with the same float32 in all four lanes. */
  f32x4: (x: number) => [...simd(0x0c), ...f32Bytes(x), ...f32Bytes(x), ...f32Bytes(x), ...f32Bytes(x)],
  f32Load: [0x2a, 2, 0], // align 2^2, offset 0
  f32Store: [0x38, 2, 0],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Shl: [0x74],
  i32Eqz: [0x45],
  i32LtS: [0x48],
  i32GeS: [0x4e],
  f32Sqrt: [0x91],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
  f32Max: [0x97], // NaN if either is NaN
  f64Add: [0xa0],
  f32ConvertI32S: [0xb2],
  f64PromoteF32: [0xbb],
  // simd128: loads and stores take any alignment (align hint 2^0), offset 0
  v128Load: [...simd(0x00), 0, 0],
  v128Store: [...simd(0x0b), 0, 0],
  i8x16Shuffle: (lanes: number[]) => [...simd(0x0d), ...lanes],
  i32x4Splat: simd(0x11),
  f32x4Splat: simd(0x13),
  f32x4ExtractLane: (lane: number) => [...simd(0x1f), lane],
  f64x2ExtractLane: (lane: number) => [...simd(0x21), lane],
  f32x4Lt: simd(0x43),
  f32x4Ge: simd(0x46),
  v128AndNot: simd(0x4f), // a & ~b
  i32x4AllTrue: simd(0xa3), // i32: 1 if every lane is non-zero
  v128Bitselect: simd(0x52), // (a & c) | (b & ~c)
  f64x2PromoteLow: simd(0x5f),
  f32x4Nearest: simd(0x6a),
  i32x4Shl: simd(0xab),
  i32x4Add: simd(0xae),
  f32x4Abs: simd(0xe0),
  f32x4Neg: simd(0xe1),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f32x4Max: simd(0xe9),
  f32x4Pmax: simd(0xeb), // pmax(a, b) = a < b ? b : a, one x86 maxps (f32x4.max is several: NaN and ±0 rules)
  f64x2Add: simd(0xf0),
  f64x2Mul: simd(0xf2),
  i32x4TruncSatF32x4S: simd(0xf8),
} as const;

export interface FuncDef {
  name: string;
  params: ValType[];
  results: ValType[];
  /** Locals after the parameters, in order (their indices continue the parameters'). */
  locals: ValType[];
  body: Ins[];
}

/** A module importing its memory as env.memory (any size, not shared) and exporting `funcs` by name. */
export function assembleModule(funcs: FuncDef[]): Uint8Array<ArrayBuffer> {
  const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((t) => [VALTYPE[t]])), ...vec(f.results.map((t) => [VALTYPE[t]]))]);
  const memoryImport = [...name("env"), ...name("memory"), 0x02, 0x00, ...uleb(0)]; // memory, limits: min 0, no max
  const exports = funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  const codes = funcs.map((f) => {
    const locals = vec(f.locals.map((t) => [1, VALTYPE[t]])); // one entry per local: count 1, type
    const body = [...locals, ...f.body.flat(), 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec(types)),
    ...section(2, vec([memoryImport])),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ]);
}
