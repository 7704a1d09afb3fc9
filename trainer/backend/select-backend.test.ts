import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, describeBackend } from "./select-backend.ts";
import { matMul2d } from "./matmul.ts";
import { SIMD_KERNELS_LABEL } from "./wasm-simd.ts";
import { unsortedSegmentSumValues } from "./unsorted-segment-sum-kernel.ts";
import { checkGradients } from "../testing/grad-check.ts";

before(async () => {
  // The real import of the optional packages: they are not installed here, so both must be skipped.
  await initBackend();
});

test("auto selection skips missing tfjs-node packages and lands on wasm with SIMD and our kernel", () => {
  const info = describeBackend();
  assert.equal(info.backend, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  // native BLAS is on where OpenBLAS is installed, else skipped with the reason (native-blas.test.ts)
  const blas = info.blas || process.env["TANDEM_BLAS"] === "off" ? [] : ["OpenBLAS (libopenblas0-pthread) via koffi"];
  const simdOff = process.env["TANDEM_SIMD"] === "off"; // the SIMD kernels are then skipped with that reason (wasm-simd.test.ts)
  assert.deepEqual(info.skipped.map((s) => s.package), ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node", ...blas, ...(simdOff ? [SIMD_KERNELS_LABEL] : [])]);
  for (const s of info.skipped) assert.ok(s.reason.length > 0);
  assert.equal(info.simd, true);
  assert.ok(info.threads >= 1);
  assert.deepEqual(info.customKernels, ["UnsortedSegmentSum", "GatherV2", "Slice", "SplitV", "Sum", "Transpose", "Identity", ...(info.blas ? ["BatchMatMul (native BLAS)"] : []), ...(simdOff ? [] : [SIMD_KERNELS_LABEL])]);
});

test("patched wasm Identity shares the buffer: a clone is a reference, and outlives its source and a variable's assign", () => {
  const backend = tf.backend() as unknown as { refCount(dataId: object): number };
  const initial = tf.tensor1d([1, 2, 3]);
  const v = tf.variable(initial);
  initial.dispose();
  const c = tf.clone(v);
  assert.equal(c.dataId, v.dataId, "the same buffer, not a copy");
  assert.equal(backend.refCount(c.dataId), 2);
  v.assign(tf.tensor1d([7, 8, 9])); // a variable takes a new buffer; the clone keeps the old values
  assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3]);
  v.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3]);
  assert.equal(backend.refCount(c.dataId), 1);
  c.dispose();
  // gradients that save their inputs (through clone) still see the right values
  const x = tf.tensor1d([0.5, -1, 2]);
  assert.deepEqual(Array.from(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(t, t)))(x).dataSync()), [1, -2, 4]);
  x.dispose();
});

test("an optional package that imports but fails to start is skipped too", async () => {
  const info = await initBackend({ prefer: "tfjs-node", importModule: async () => ({}) });
  assert.equal(info.backend, "wasm");
  assert.match(info.skipped[0]?.reason ?? "", /tensorflow/);
});

test("unsortedSegmentSum matches the hand-computed sums (wasm kernel)", () => {
  // rows of x: [1,2], [3,4], [5,6], [7,8] with ids 2, 0, 2, 5 (5 is out of range: dropped)
  const out = tf.tidy(() =>
    tf.unsortedSegmentSum(tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]), tf.tensor1d([2, 0, 2, 5], "int32"), 3).arraySync(),
  );
  assert.deepEqual(out, [[3, 4], [0, 0], [6, 8]]);
  const plain = new Float32Array(2);
  unsortedSegmentSumValues([1, 2, 3], [1, 1, 0], 2, 1, plain);
  assert.deepEqual(Array.from(plain), [3, 3]);
});

test("tf.gather now has a gradient on wasm: closed form and finite differences agree", () => {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const table = tf.tensor2d([0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9], [3, 3]);
    const ids = tf.tensor1d([2, 0, 2, 2], "int32");
    const weights = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3]);
    const f = ([w]: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(tf.square(tf.gather(w as tf.Tensor2D, ids)), weights));
    // d/dW[r] = Σ_{i: ids[i]=r} 2·W[r]·weights[i]
    const g = tf.grad((w: tf.Tensor) => f([w]))(table).arraySync() as number[][];
    const w = table.arraySync();
    const expectRow = (r: number, rows: number[]): number[] =>
      [0, 1, 2].map((c) => rows.reduce((acc, i) => acc + 2 * (w[r]?.[c] ?? 0) * (i * 3 + c + 1), 0));
    const expected = [expectRow(0, [1]), [0, 0, 0], expectRow(2, [0, 2, 3])];
    g.forEach((row, r) => row.forEach((v, c) => assert.ok(Math.abs(v - (expected[r]?.[c] ?? NaN)) < 1e-4)));
    const check = checkGradients(f, [table]);
    assert.ok(check.maxRelError < 1e-2, `rel error ${check.maxRelError}`);
  });
  assert.equal(tf.memory().numTensors, before);
});

test("matMul2d equals tf.matMul and its explicit-transpose gradient passes a finite-difference check", () => {
  tf.tidy(() => {
    const a = tf.randomNormal([5, 4], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([4, 3], 0, 1, "float32", 2) as tf.Tensor2D;
    const c = tf.randomNormal([5, 3], 0, 1, "float32", 3);
    const diff = tf.max(tf.abs(tf.sub(matMul2d(a, b), tf.matMul(a, b)))).dataSync()[0] ?? 1;
    assert.ok(diff < 1e-6);
    const f = ([x, y]: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(tf.tanh(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D)), c));
    const stock = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.tanh(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D)), c)))([a, b]);
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => f([x, y]))([a, b]);
    ours.forEach((g, i) => assert.ok((tf.max(tf.abs(tf.sub(g, stock[i] as tf.Tensor))).dataSync()[0] ?? 1) < 1e-5));
    const check = checkGradients(f, [a, b]);
    assert.ok(check.maxRelError < 1e-2, `rel error ${check.maxRelError}`);
  });
});

test("patched wasm Slice/SplitV: contiguous and strided slices and splits equal the cpu backend", async () => {
  const x = Array.from({ length: 4 * 3 * 5 }, (_, i) => i * 0.5 - 7);
  const run = (): number[][] =>
    tf.tidy(() => {
      const t = tf.tensor3d(x, [4, 3, 5]);
      const parts = tf.split(t, [1, 3], 0).map((p) => Array.from(p.dataSync()));
      const middle = tf.split(t, [2, 2, 1], 2).map((p) => Array.from(p.dataSync()));
      return [
        Array.from(tf.slice(t, [1, 0, 0], [2, 3, 5]).dataSync()), // contiguous: view path
        Array.from(tf.slice(t, [1, 1, 2], [2, 2, 3]).dataSync()), // strided: one run per (i, j)
        Array.from(tf.slice(t, [0, 0, 0], [4, 2, 5]).dataSync()), // strided, runs of two whole rows (logits without the last position)
        Array.from(tf.slice(t, [3, 2, 4], [1, 1, 1]).dataSync()), // one element
        Array.from(tf.slice(tf.tensor2d(x, [6, 10]), [2, 3], [3, 4]).dataSync()), // 2-D
        Array.from(tf.slice(tf.tensor4d(x, [2, 3, 2, 5]), [1, 0, 1, 1], [1, 3, 1, 3]).dataSync()), // 4-D
        Array.from(tf.slice(tf.tensor(x, [2, 2, 3, 1, 5]), [0, 1, 0, 0, 0], [2, 1, 2, 1, 5]).dataSync()), // 5-D, a run spanning two axes
        Array.from(tf.slice(tf.tensor3d(x.map(Math.round), [4, 3, 5], "int32"), [1, 0, 1], [3, 3, 2]).dataSync()), // int32
        Array.from(tf.slice(tf.tensor3d(x.map((v) => v > 0), [4, 3, 5], "bool"), [0, 1, 0], [4, 1, 5]).dataSync()), // bool
        Array.from(tf.slice(t, [0, 0, 5], [4, 3, 0]).dataSync()), // empty
        ...parts,
        ...middle,
        // attention's qkv split: (rows, 3C) into three (rows, C) along the columns, and its gradient through concat
        ...tf.split(tf.tensor2d(x, [5, 12]), 3, 1).map((p) => Array.from(p.dataSync())),
        Array.from(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.split(a, 3, 1)[1] as tf.Tensor, tf.reshape(tf.range(0, 20), [5, 4]))))(tf.tensor2d(x, [5, 12])).dataSync()),
      ];
    });
  const onWasm = run();
  await tf.setBackend("cpu");
  const onCpu = run();
  await tf.setBackend("wasm");
  assert.deepEqual(onWasm, onCpu);
});

test("patched wasm Sum over leading axes and 2-D Transpose equal the cpu backend; other cases still work", async () => {
  const x = Array.from({ length: 3 * 4 * 5 }, (_, i) => Math.sin(i) * 3);
  const big = Array.from({ length: 2100 }, (_, i) => Math.cos(i * 0.7) * 2 + 0.1);
  const run = (): number[][] =>
    tf.tidy(() => {
      const t = tf.tensor3d(x, [3, 4, 5]);
      const m = tf.tensor2d(x, [12, 5]);
      return [
        tf.sum(t, 0), // leading axis: the loop
        tf.sum(t, [0, 1]), // two leading axes: the loop
        tf.sum(t, [1, 0], true), // keepDims, axes in any order
        tf.sum(t, 1), // a middle axis: stock
        tf.sum(t, -1), // innermost: stock
        tf.sum(t), // everything: stock
        tf.sum(tf.cast(t, "int32"), 0), // int32: stock
        tf.sum(tf.tensor2d(big, [300, 7]), 0), // 300 rows: cblas_sgemm with a row of ones when native BLAS is on
        tf.sum(tf.tensor3d(big, [2, 150, 7]), [0, 1], true), // the same over two leading axes, keepDims
        tf.sum(tf.tensor3d(big, [70, 6, 5]), 0), // 70 rows of (6, 5)
        tf.transpose(m), // 2-D: the loop
        tf.transpose(tf.tensor2d(x, [6, 10])),
        tf.transpose(t, [2, 0, 1]), // 3-D: stock
        tf.transpose(tf.cast(m, "int32")), // int32: stock
      ].map((r) => [...r.shape, ...Array.from(r.dataSync())]);
    });
  const onWasm = run();
  await tf.setBackend("cpu");
  const onCpu = run();
  await tf.setBackend("wasm");
  assert.equal(onWasm.length, onCpu.length);
  onWasm.forEach((w, i) => {
    const c = onCpu[i] ?? [];
    assert.equal(w.length, c.length, `case ${i}: shape`);
    // relative above 1: a BLAS sum of 300 float32 terms adds in another order than the cpu backend's loop
    w.forEach((v, j) => assert.ok(Math.abs(v - (c[j] ?? NaN)) < 1e-5 * Math.max(1, Math.abs(c[j] ?? 0)), `case ${i}[${j}]: ${v} vs ${c[j]}`));
  });
  // a transpose larger than one 64 × 64 tile, with ragged edges
  tf.tidy(() => {
    const big = tf.randomNormal([130, 67], 0, 1, "float32", 3) as tf.Tensor2D;
    const t = tf.transpose(big).arraySync() as number[][];
    const b = big.arraySync();
    for (let r = 0; r < 130; r += 7) for (let c = 0; c < 67; c += 5) assert.equal(t[c]?.[r], b[r]?.[c]);
  });
});
