// The decode step of decision trainer-028 (gpt-decode.ts, step-kernels.ts group "decode") against the op path it
// replaces (the group off) and a float64 GPT-2 in plain JS: left-padded rows, explicit positions as generate.ts feeds
// them, pad tokens fed to a finished row, a cache grown past its first capacity, a branch (one cache continued twice),
// and a multi-token step after a decode-step cache (the op path reads it through contiguousCache). On wasm with
// OpenBLAS the step runs; under TANDEM_BLAS=off it does not apply and the same checks run on the op path.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { setStepKernels } from "../backend/step-kernels.ts";
import { resolveGptConfig, type GptConfig } from "../contract/gpt-config.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { disposeForward, disposeGpt, disposeKvCache, gptForward, gptForwardTidy, initGpt, type ForwardResult, type GptModel, type KvCache } from "./gpt.ts";
import { cacheCapacity } from "./gpt-decode.ts";
import { assertBranchMatches, assertClose, assertStepOutputsMatch, forwardStep, logitsOf } from "../testing/decode-parity.ts";

const info = await initBackend({ prefer: "wasm", blasThreads: 1 });
const decodeRuns = info.blas !== null;
after(() => setStepKernels(true));

// room for 80 positions so the cache grows once (capacity 64, then the block size); head size 16 takes the SIMD
// attention kernels, 6 cblas_sgemv (gpt-decode.ts)
const configs: GptConfig[] = [
  resolveGptConfig({ vocabSize: 37, blockSize: 96, nLayer: 2, nHead: 3, nEmbd: 48 }),
  resolveGptConfig({ vocabSize: 37, blockSize: 96, nLayer: 2, nHead: 3, nEmbd: 18 }),
];

/** A model with weights large enough that attention is far from uniform (GPT-2's init gives near-uniform scores). */
function model(config: GptConfig): GptModel {
  const m = initGpt(config, 3);
  let seed = 10;
  for (const [name, v] of m.params) {
    const std = name.includes("ln_") ? 0.3 : name === "wpe.weight" || name === "wte.weight" ? 1 : 0.25;
    const base = name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight" ? 1 : 0;
    v.assign(tf.tensor(normalArray(createRng(seed++), v.size, std).map((x) => x + base), v.shape));
  }
  return m;
}

/** GPT-2 in float64 over whole rows: logits (B, T, V) with attention bias (1 − m)·(−1e9) and positions from the mask. */
function reference(m: GptModel, ids: number[][], mask: number[][]): Float64Array[][] {
  const P = new Map([...m.params].map(([k, v]) => [k, Float64Array.from(v.dataSync())]));
  const p = (n: string): Float64Array => P.get(n) as Float64Array;
  const config = m.config;
  const { nEmbd: C, nHead: H, vocabSize: V } = config;
  const D = C / H;
  const ln = (x: Float64Array, g: Float64Array, b: Float64Array): Float64Array => {
    const mu = x.reduce((a, v) => a + v, 0) / C;
    const r = 1 / Math.sqrt(x.reduce((a, v) => a + (v - mu) ** 2, 0) / C + config.layerNormEps);
    return x.map((v, j) => (v - mu) * r * (g[j] as number) + (b[j] as number));
  };
  const lin = (x: Float64Array, w: Float64Array, b: Float64Array | null, n: number): Float64Array => {
    const y = new Float64Array(n);
    for (let o = 0; o < n; o++) {
      let s = b ? (b[o] as number) : 0;
      for (let i = 0; i < x.length; i++) s += (x[i] as number) * (w[i * n + o] as number);
      y[o] = s;
    }
    return y;
  };
  const gelu = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  return ids.map((row, b) => {
    const maskRow = mask[b] as number[];
    let seen = 0;
    let xs = row.map((id, t) => {
      const pos = seen;
      seen += maskRow[t] as number;
      return Float64Array.from({ length: C }, (_, j) => (p("wte.weight")[id * C + j] as number) + (p("wpe.weight")[pos * C + j] as number));
    });
    for (let l = 0; l < config.nLayer; l++) {
      const q = (n: string): Float64Array => p(`h.${l}.${n}`);
      const qkv = xs.map((x) => lin(ln(x, q("ln_1.weight"), q("ln_1.bias")), q("attn.c_attn.weight"), q("attn.c_attn.bias"), 3 * C));
      const merged = qkv.map((qi, t) => {
        const y = new Float64Array(C);
        for (let h = 0; h < H; h++) {
          const scores = qkv.slice(0, t + 1).map((kj, j) => {
            let s = 0;
            for (let d = 0; d < D; d++) s += (qi[h * D + d] as number) * (kj[C + h * D + d] as number);
            return s / Math.sqrt(D) + (1 - (maskRow[j] as number)) * -1e9;
          });
          const mx = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - mx));
          const sum = e.reduce((a, v) => a + v, 0);
          e.forEach((ej, j) => {
            for (let d = 0; d < D; d++) y[h * D + d] = (y[h * D + d] as number) + (ej / sum) * ((qkv[j] as Float64Array)[2 * C + h * D + d] as number);
          });
        }
        return y;
      });
      xs = xs.map((x, t) => {
        const mid = lin(merged[t] as Float64Array, q("attn.c_proj.weight"), q("attn.c_proj.bias"), C).map((v, j) => v + (x[j] as number));
        const u = lin(ln(mid, q("ln_2.weight"), q("ln_2.bias")), q("mlp.c_fc.weight"), q("mlp.c_fc.bias"), 4 * C).map(gelu);
        return lin(u, q("mlp.c_proj.weight"), q("mlp.c_proj.bias"), C).map((v, j) => v + (mid[j] as number));
      });
    }
    const wte = p("wte.weight");
    return xs.map((x) => {
      const hN = ln(x, p("ln_f.weight"), p("ln_f.bias"));
      return Float64Array.from({ length: V }, (_, v) => hN.reduce((a, hv, j) => a + hv * (wte[v * C + j] as number), 0));
    });
  });
}

/** One forward as generate.ts calls it (decode-parity.ts). */
const step = (m: GptModel, ids: number[][], mask: number[][], past: KvCache | undefined, positions?: number[]): ForwardResult =>
  forwardStep((input, options) => gptForwardTidy(m, input, options), ids, mask, past, positions);

/**
 * Prefill of three left-padded prompts, then `steps` one-token steps with the given tokens; row 2 is fed pads (mask 0)
 * from step 20 on, as a finished row is. Returns each step's logits (B, 1, V), the sequences and masks fed.
 */
function decode(m: GptModel, steps: number): { logits: Float32Array[]; ids: number[][]; mask: number[][]; capacities: (number | undefined)[] } {
  const prompts = [[5, 9, 2, 30, 11], [0, 0, 7, 3, 14], [0, 4, 36, 1, 8]];
  const mask = [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1]];
  const ids = prompts.map((r) => [...r]);
  const real = mask.map((r) => r.reduce((a, v) => a + v, 0));
  let out = step(m, prompts, mask, undefined);
  const logits: Float32Array[] = [];
  const capacities: (number | undefined)[] = [];
  for (let s = 0; s < steps; s++) {
    const next = [0, 1, 2].map((b) => (b === 2 && s >= 20 ? 0 : (s * 7 + b * 11 + 3) % m.config.vocabSize));
    const fed = [1, 1, s >= 20 ? 0 : 1];
    const positions = real.slice();
    next.forEach((t, b) => {
      (ids[b] as number[]).push(t);
      (mask[b] as number[]).push(fed[b] as number);
      real[b] = (real[b] as number) + (fed[b] as number);
    });
    const past = out.present;
    const r = step(m, next.map((t) => [t]), mask, past, positions);
    disposeForward({ ...out, present: undefined });
    disposeKvCache(past);
    out = r;
    logits.push(logitsOf(out));
    capacities.push(out.present?.capacity);
  }
  disposeForward(out);
  return { logits, ids, mask, capacities };
}

for (const config of configs)
  test(`decode step, head size ${config.nEmbd / config.nHead}: the same logits as the op path and a float64 GPT-2 over 75 steps (cache grown once), ${decodeRuns ? "wasm + OpenBLAS" : "plain wasm: the op path both times"}`, () => {
    const m = model(config);
    const before = tf.memory();
    setStepKernels(true);
    const on = decode(m, 75);
    assert.equal(tf.memory().numTensors, before.numTensors, "the decode step leaves no tensor behind");
    assert.equal(tf.memory().numDataBuffers, before.numDataBuffers, "nor a buffer");
    setStepKernels(false);
    const off = decode(m, 75);
    setStepKernels(true);
    assert.deepEqual(on.ids, off.ids);
    on.logits.forEach((l, s) => assertClose(off.logits[s] as Float32Array, l, 2e-5, `step ${s}: decode step vs op path`));
    if (decodeRuns) {
      assert.equal(on.capacities[0], cacheCapacity(6, config.blockSize));
      assert.equal(on.capacities.at(-1), config.blockSize, "grown past 64 positions: 128 capped at the block size");
    } else assert.ok(on.capacities.every((c) => c === undefined));
    const ref = reference(m, on.ids, on.mask);
    for (const s of [0, 19, 20, 58, 59, 74]) {
      const want = ref.flatMap((row) => Array.from(row[5 + s] as Float64Array));
      assertClose(want, on.logits[s] as Float32Array, 1e-4, `step ${s}: decode step vs float64`);
    }
    disposeGpt(m);
  });

test("decode step: a cache continued twice (a branch) is copied, not overwritten; a multi-token step reads it through the op path", () => {
  const m = model(configs[0] as GptConfig);
  assertBranchMatches((input, options) => gptForwardTidy(m, input, options), decodeRuns);
  disposeGpt(m);
});

test("decode step: hidden states, a scalar head's scores and logits: false come out as on the op path", () => {
  const m = model({ ...(configs[0] as GptConfig), scalarHead: "reward" });
  assertStepOutputsMatch((input, options) => gptForwardTidy(m, input, options), decodeRuns);
  disposeGpt(m);
});

test("decode step: under a gradient tape the op path runs, so a one-token step after a cache still has gradients", () => {
  const m = model(configs[0] as GptConfig);
  const ids = [[4, 8, 15], [1, 2, 3]];
  const pre = step(m, ids, ids.map((r) => r.map(() => 1)), undefined);
  const input = tf.tensor2d([[9], [10]], [2, 1], "int32");
  const wte = m.params.get("wte.weight")!;
  let capacity: number | undefined = -1;
  const { value, grads } = tf.variableGrads(() => {
    const r = gptForward(m, input, { past: pre.present, useCache: true });
    capacity = r.present?.capacity;
    return tf.sum(tf.square(r.logits!)) as tf.Scalar;
  }, [wte]);
  assert.equal(capacity, undefined, "the op path's cache, not the decode step's");
  const g = grads[wte.name]!;
  assert.ok(tf.sum(tf.abs(g)).dataSync()[0]! > 0, "a gradient reaches the embedding");
  tf.dispose([value, g, input]);
  disposeForward(pre);
  disposeGpt(m);
});

test("cacheCapacity: doubles from 64, never past the block size, never below what is needed", () => {
  assert.equal(cacheCapacity(17, 256), 64);
  assert.equal(cacheCapacity(65, 256), 128);
  assert.equal(cacheCapacity(200, 256), 256);
  assert.equal(cacheCapacity(17, 40), 40);
  assert.equal(cacheCapacity(5, 4), 5);
});
