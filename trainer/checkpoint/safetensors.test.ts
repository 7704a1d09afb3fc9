import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";

test("safetensors: byte layout per the spec and a lossless round trip", () => {
  const tensors = new Map([
    ["a.weight", { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
    ["b", { shape: [1], data: new Float32Array([-0.5]) }],
  ]);
  const buf = encodeSafetensors(tensors, { format: "pt" });
  const headerLength = Number(buf.readBigUInt64LE(0));
  assert.equal(headerLength % 8, 0);
  assert.equal(buf.length, 8 + headerLength + 7 * 4);
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString()) as Record<string, { data_offsets: number[] }>;
  assert.deepEqual(header["b"]?.data_offsets, [24, 28]);
  assert.equal(buf.readFloatLE(8 + headerLength + 24), -0.5);
  const back = decodeSafetensors(buf);
  assert.deepEqual(back.metadata, { format: "pt" });
  assert.deepEqual([...back.tensors.keys()], ["a.weight", "b"]);
  assert.deepEqual(Array.from(back.tensors.get("a.weight")?.data ?? []), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(back.tensors.get("a.weight")?.shape, [2, 3]);
});

test("safetensors: F16 and BF16 written rounded to nearest even and read back; a truncated file or a shape that does not fit is refused", () => {
  const values = new Float32Array([1.5, -2, 0.1, 65504, 1e-7, 3.14159, -0.0009765625, 70000]);
  const tensors = new Map([["x", { shape: [8], data: values }]]);
  const half = decodeSafetensors(encodeSafetensors(tensors, {}, "F16")).tensors.get("x")?.data ?? new Float32Array();
  // binary16: 0.1 → 0.0999755859375, 1e-7 → subnormal 1.1920929e-7, 3.14159 → 3.140625, 70000 → Infinity
  assert.deepEqual(Array.from(half), [1.5, -2, 0.0999755859375, 65504, 1.1920928955078125e-7, 3.140625, -0.0009765625, Infinity]);
  const bf = decodeSafetensors(encodeSafetensors(tensors, {}, "BF16")).tensors.get("x")?.data ?? new Float32Array();
  // bfloat16 keeps 8 bits of mantissa: 0.1 → 0.10009765625, 3.14159 → 3.140625, 65504 → 65536
  assert.deepEqual(Array.from(bf).slice(0, 4), [1.5, -2, 0.10009765625, 65536]);
  assert.equal(bf[5], 3.140625);
  const buf = encodeSafetensors(tensors);
  assert.throws(() => decodeSafetensors(buf.subarray(0, buf.length - 4)), /x: its data ends at byte \d+ but the file has \d+ \(truncated\?\)/);
  const wrongShape = encodeSafetensors(new Map([["y", { shape: [3], data: new Float32Array(4) }]]));
  assert.throws(() => decodeSafetensors(wrongShape), /y: data_offsets \[0, 16\] hold 16 bytes but shape \[3\] of F32 needs 12/);
});
