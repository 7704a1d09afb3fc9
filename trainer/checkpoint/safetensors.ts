// Minimal safetensors reader/writer (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw bytes.
// Writes F32 (tfjs trains in float32; F16/BF16 on request, rounded to nearest even, as Hugging Face
// checkpoints are stored); reads F32, and F16/BF16 widened to F32.

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

export type StoredDtype = "F32" | "F16" | "BF16";

export function encodeSafetensors(tensors: Map<string, NamedArray>, metadata: Record<string, string> = {}, dtype: StoredDtype = "F32"): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const width = dtype === "F32" ? 4 : 2;
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.length * width;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keeps the data 8-byte aligned
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    if (dtype === "F32") {
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, pos);
      pos += t.data.byteLength;
    } else {
      const narrow = dtype === "BF16" ? floatToBf16 : floatToF16;
      for (let i = 0; i < t.data.length; i++, pos += 2) out.writeUInt16LE(narrow(t.data[i] ?? 0), pos);
    }
  }
  return out;
}

export function decodeSafetensors(buf: Buffer): { tensors: Map<string, NamedArray>; metadata: Record<string, string> } {
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, unknown>;
  const base = 8 + headerLength;
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const [start, end] = e.data_offsets;
    const width = BYTES_PER_ELEMENT[e.dtype];
    if (width === undefined) throw new Error(`${name}: dtype ${e.dtype} is not supported (F32, F16, BF16)`);
    const elements = e.shape.reduce((a, b) => a * b, 1);
    if (end - start !== elements * width)
      throw new Error(`${name}: data_offsets [${start}, ${end}] hold ${end - start} bytes but shape [${e.shape.join(", ")}] of ${e.dtype} needs ${elements * width}`);
    if (base + end > buf.length) throw new Error(`${name}: its data ends at byte ${base + end} but the file has ${buf.length} (truncated?)`);
    if (e.dtype === "F32") {
      const copy = new Uint8Array(end - start);
      buf.copy(copy, 0, base + start, base + end); // copy: the source offset need not be 4-aligned
      tensors.set(name, { shape: e.shape, data: new Float32Array(copy.buffer) });
    } else if (e.dtype === "F16" || e.dtype === "BF16") {
      const n = (end - start) / 2;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const h = buf.readUInt16LE(base + start + 2 * i);
        data[i] = e.dtype === "BF16" ? bf16ToFloat(h) : f16ToFloat(h);
      }
      tensors.set(name, { shape: e.shape, data });
    } else throw new Error(`${name}: dtype ${e.dtype} is not supported (F32, F16, BF16)`);
  }
  return { tensors, metadata };
}

const BYTES_PER_ELEMENT: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bf16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0] as number;
}

function f16ToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 → bfloat16 bits, round to nearest even (NaN kept quiet). */
export function floatToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  if (Number.isNaN(x)) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 → IEEE binary16 bits, round to nearest even; overflow → ±Infinity, tiny → subnormal or 0. */
export function floatToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000; // the implicit leading 1, then shift into a subnormal
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rounded = (mant + half - 1 + ((mant >>> shift) & 1)) >>> shift;
    return sign | rounded;
  }
  const rounded = mant + 0xfff + ((mant >>> 13) & 1);
  if (rounded & 0x800000) {
    e += 1; // the mantissa rounded up into the next binade
    if (e >= 31) return sign | 0x7c00;
    return sign | (e << 10);
  }
  return sign | (e << 10) | (rounded >>> 13);
}
