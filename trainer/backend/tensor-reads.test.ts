import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./select-backend.ts";
import { readAndDispose, readSyncAndDispose, readTransposedSync } from "./tensor-reads.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

test("readTransposedSync: a (2, 3) tensor read as its (3, 2) transpose, tf.transpose's values; other ranks refused", () => {
  const t = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const out = readTransposedSync(t);
  assert.deepEqual(out.shape, [3, 2]);
  assert.deepEqual(Array.from(out.data), [1, 4, 2, 5, 3, 6]);
  const wide = tf.randomNormal([5, 7], 0, 1, "float32", 3);
  assert.deepEqual(Array.from(readTransposedSync(wide).data), Array.from(tf.transpose(wide).dataSync()));
  assert.throws(() => readTransposedSync(tf.tensor1d([1, 2])), /a 2-D tensor, not shape \[2\]/);
  tf.dispose([t, wide]);
});

test("readAndDispose and readSyncAndDispose give the values and free the tensor", async () => {
  const before = tf.memory().numTensors;
  assert.deepEqual(Array.from(await readAndDispose(tf.tensor1d([1.5, -2]))), [1.5, -2]);
  assert.deepEqual(Array.from(readSyncAndDispose(tf.tensor1d([3]))), [3]);
  assert.equal(tf.memory().numTensors, before);
});
