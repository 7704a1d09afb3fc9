// What the GPT-2 and Llama decode-step tests share (model/gpt-decode.test.ts, model/llama-decode.test.ts): a relative
// tolerance check, one forward as generate.ts calls it, and the check that one step's hidden states, scalar scores and
// logits come out the same with the step-kernels group "decode" on and off.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setStepKernels } from "../backend/step-kernels.ts";
import { disposeForward, type ForwardOptions, type ForwardResult, type KvCache } from "../model/gpt.ts";

/** A model's forward with its intermediate tensors released (gptForwardTidy, or llamaForward inside tf.tidy). */
export type TidyForward = (inputIds: tf.Tensor2D, options: ForwardOptions) => ForwardResult;

/** max |want − got| ≤ tol · max(1, max |want|). */
export function assertClose(want: ArrayLike<number>, got: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1;
  let worst = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i] as number));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs((want[i] as number) - (got[i] as number)));
  assert.ok(worst <= tol * scale, `${what}: max |Δ| ${worst} (scale ${scale})`);
}

/** One forward as generate.ts calls it: ids (B, T), the mask so far, explicit positions (B, 1) when given. */
export function forwardStep(forward: TidyForward, ids: number[][], mask: number[][], past: KvCache | undefined, positions?: number[], logits = true): ForwardResult {
  const input = tf.tensor2d(ids, [ids.length, ids[0]?.length ?? 0], "int32");
  const attentionMask = tf.tensor2d(mask, [mask.length, mask[0]?.length ?? 0], "int32");
  const pos = positions ? tf.tensor2d(positions.map((v) => [v]), [positions.length, 1], "int32") : undefined;
  const r = forward(input, { attentionMask, ...(pos ? { positionIds: pos } : {}), ...(past ? { past } : {}), useCache: true, logits });
  tf.dispose([input, attentionMask, ...(pos ? [pos] : [])]);
  return r;
}

export const logitsOf = (r: ForwardResult): Float32Array => (r.logits as tf.Tensor).dataSync().slice() as Float32Array;

/** The cache's first `length` positions of every layer's keys and values, whichever layout it has. */
export const cacheOf = (cache: KvCache): Float32Array[] =>
  cache.layers.flatMap(({ k, v }) => [k, v].map((t) => tf.tidy(() => tf.slice(t, [0, 0, 0, 0], [t.shape[0], t.shape[1], cache.length, t.shape[3]]).dataSync().slice() as Float32Array)));

/**
 * A cache continued twice (a branch) is copied, not overwritten, and a two-token step after a decode-step cache reads
 * it through the op path: every step's logits and three final caches agree with the group on and off. No tensor is
 * left behind.
 */
export function assertBranchMatches(forward: TidyForward, decodeRuns: boolean): void {
  const before = tf.memory().numTensors;
  const prompt = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]];
  const mask = prompt.map((r) => r.map(() => 1));
  const step = (ids: number[][], ones: number, past: KvCache | undefined) => forwardStep(forward, ids, mask.map((r) => [...r, ...Array<number>(ones).fill(1)]), past);
  const run = (on: boolean) => {
    setStepKernels(on);
    const pre = step(prompt, 0, undefined);
    const a = step([[7], [8]], 1, pre.present); // copies the prefill's cache into buffers
    const a2 = step([[12], [13]], 2, a.present); // in place
    const b2 = step([[10], [11]], 2, a.present); // the same past again: a branch
    const a3 = step([[14], [15]], 3, a2.present); // the first branch goes on
    const b4 = step([[16, 17], [18, 19]], 4, b2.present); // two tokens after a decode-step cache
    const b5 = step([[20], [21]], 5, b4.present);
    const got = [a, a2, b2, a3, b4, b5].map(logitsOf);
    const caches = [a3, b2, b5].map((r) => cacheOf(r.present as KvCache));
    const capacity = a3.present?.capacity;
    for (const r of [pre, a, a2, b2, a3, b4, b5]) disposeForward(r);
    setStepKernels(true);
    return { got, caches, capacity };
  };
  const on = run(true);
  const off = run(false);
  assert.equal(on.capacity !== undefined, decodeRuns);
  assert.equal(off.capacity, undefined);
  on.got.forEach((l, i) => assertClose(off.got[i] as Float32Array, l, 2e-5, `forward ${i}`));
  on.caches.forEach((layers, i) => layers.forEach((t, j) => assertClose(off.caches[i]?.[j] as Float32Array, t, 2e-5, `cache ${i} tensor ${j}`)));
  assert.equal(tf.memory().numTensors, before);
}

/**
 * A prefill of two rows and one token after it, with the group on and off, with and without logits: hidden states,
 * a scalar head's scores and logits agree, `logits: false` leaves them out, and the step ran (a cache with a capacity)
 * exactly when `decodeRuns`. `forward` is a model with a scalar head. No tensor is left behind.
 */
export function assertStepOutputsMatch(forward: TidyForward, decodeRuns: boolean): void {
  const before = tf.memory().numTensors;
  const ids = [[4, 8, 15, 16, 23], [1, 2, 3, 5, 8]];
  const mask = ids.map((r) => r.map(() => 1));
  const run = (on: boolean, logits: boolean) => {
    setStepKernels(on);
    const pre = forwardStep(forward, ids, mask, undefined);
    const r = forwardStep(forward, [[9], [10]], mask.map((row) => [...row, 1]), pre.present, undefined, logits);
    const out = { hidden: r.hidden.dataSync().slice(), scores: r.scores?.dataSync().slice(), logits: r.logits?.dataSync().slice(), capacity: r.present?.capacity };
    disposeForward(pre);
    disposeForward(r);
    setStepKernels(true);
    return out;
  };
  for (const logits of [true, false]) {
    const [on, off] = [run(true, logits), run(false, logits)];
    assert.equal(on.capacity !== undefined, decodeRuns);
    assertClose(off.hidden, on.hidden, 2e-5, "hidden");
    assertClose(off.scores as Float32Array, on.scores as Float32Array, 2e-5, "scores");
    assert.equal(on.logits === undefined, !logits);
    if (logits) assertClose(off.logits as Float32Array, on.logits as Float32Array, 2e-5, "logits");
  }
  assert.equal(tf.memory().numTensors, before);
}
