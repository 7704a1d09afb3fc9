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
