// Native BLAS (OpenBLAS through koffi) against the plain wasm path: every matmul shape the models use
// (plain, transposed either way, batched, broadcast batch, attention's 4-D products), and a tiny
// GPT-2's and Llama's loss gradients, equal on both; a finite-difference gradient check on the BLAS
// path; and a missing library falls back to wasm with the reason. The parity tests SKIP, with the
// reason, where OpenBLAS is not installed (Debian: apt-get install libopenblas0-pthread).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./select-backend.ts";
import { loadNativeBlas, openblasCoreType, referenceSgemm } from "./native-blas.ts";
import { wasmBlasActive } from "./wasm-blas-matmul.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { resolveLlamaConfig } from "../contract/llama-config.ts";
import { loraConfigSchema } from "../contract/lora-config.ts";
import { initGpt } from "../model/gpt.ts";
import { initLlama } from "../model/llama.ts";
import { attachLora, trainableParams } from "../model/lora.ts";
import { disposeModel, lmForward, type LanguageModel } from "../model/lm.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { createRng, normalArray } from "../random/rng.ts";

const probe = await loadNativeBlas({ threads: 2 });
const skip = "reason" in probe ? `native BLAS unavailable: ${probe.reason}` : false;

after(async () => {
  await initBackend({ prefer: "wasm" });
});

/** Runs `fn` on plain wasm and on wasm + BLAS; returns both results as arrays. */
async function bothPaths(fn: () => tf.Tensor | tf.Tensor[]): Promise<{ wasm: Float32Array[]; blas: Float32Array[] }> {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const out = fn();
      return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync().slice() as Float32Array);
    }) as unknown as Float32Array[];
  await initBackend({ prefer: "wasm", blas: "off" });
  assert.equal(wasmBlasActive(), null);
  const wasm = run();
  await initBackend({ prefer: "wasm", blas: "auto", blasThreads: 2 });
  assert.notEqual(wasmBlasActive(), null, "BLAS is on");
  const blas = run();
  return { wasm, blas };
}

function assertClose(a: Float32Array[], b: Float32Array[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((x, k) => {
    const y = b[k] as Float32Array;
    assert.equal(x.length, y.length);
    const scale = Math.max(1, ...Array.from(x, Math.abs));
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs((x[i] ?? 0) - (y[i] ?? NaN)));
    assert.ok(worst <= tol * scale, `${what} [${k}]: max |Δ| ${worst} (scale ${scale})`);
  });
}

const randn = (shape: number[], seed: number): tf.Tensor => tf.tensor(normalArray(createRng(seed), shape.reduce((p, d) => p * d, 1), 1), shape);

test("cblas_sgemm through koffi equals a plain JS product in all four transpose combinations", { skip }, () => {
  if ("reason" in probe) return;
  const [M, N, K] = [13, 11, 7];
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    const a = Float32Array.from(normalArray(createRng(1), M * K, 1));
    const b = Float32Array.from(normalArray(createRng(2), K * N, 1));
    const c = new Float32Array(M * N);
    probe.sgemm(ta, tb, M, N, K, a, b, c);
    const want = referenceSgemm(ta, tb, M, N, K, a, b);
    want.forEach((w, i) => assert.ok(Math.abs(w - (c[i] ?? NaN)) < 1e-5, `(${ta}, ${tb}) [${i}]`));
  }
});

test("every matmul shape the models use equals the wasm path (plain, transposed, batched, broadcast, 4-D attention)", { skip }, async () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ["plain 2-D", [64, 48], [48, 96], false, false],
    ["transposeB (dA = dY·Bᵀ)", [64, 96], [48, 96], false, true],
    ["transposeA (dB = Aᵀ·dY)", [64, 48], [64, 96], true, false],
    ["both transposed", [48, 64], [96, 48], true, true],
    ["batched", [6, 33, 17], [6, 17, 9], false, false],
    ["batched, q·kᵀ", [6, 33, 17], [6, 29, 17], false, true],
    ["broadcast batch (one matrix on the right)", [4, 10, 8], [8, 5], false, false],
    ["broadcast batch (one matrix on the left)", [1, 10, 8], [3, 8, 5], false, false],
    ["4-D attention (B, H, T, D)·(B, H, T, D)ᵀ", [2, 3, 16, 8], [2, 3, 16, 8], false, true],
    ["one row (decoding)", [1, 64], [64, 200], false, false],
  ];
  for (const [name, sa, sb, ta, tb] of cases) {
    const { wasm, blas } = await bothPaths(() => tf.matMul(randn(sa, 3), randn(sb, 4), ta, tb));
    assertClose(wasm, blas, 1e-5, name);
  }
});

/** Loss Σ logits·w and the gradients of every trainable tensor. */
function lossAndGrads(model: LanguageModel): tf.Tensor[] {
  const params = trainableParams(model);
  const names = [...params.keys()];
  const ids = tf.tensor2d([[0, 0, 3, 7, 1, 9], [4, 2, 8, 1, 5, 6]], [2, 6], "int32");
  const attentionMask = tf.tensor2d([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], [2, 6], "int32");
  const { value, grads } = tf.valueAndGrads(() => {
    const logits = lmForward(model, ids, { attentionMask }).logits as tf.Tensor3D;
    return tf.sum(tf.mul(logits, tf.tensor(normalArray(createRng(7), logits.size, 1), logits.shape))) as tf.Scalar;
  })(names.map((n) => params.get(n) as tf.Tensor));
  return [value, ...grads];
}

function perturb(model: LanguageModel, seed: number): void {
  const rng = createRng(seed);
  const lora = "lora" in model ? model.lora : undefined;
  for (const v of [...model.params.values(), ...[...(lora?.adapters.values() ?? [])].flatMap(({ a, b }) => [a, b])])
    tf.tidy(() => v.assign(tf.tensor(normalArray(rng, v.size, 0.3), v.shape)));
}

test("tiny GPT-2, Llama (GQA) and Llama + LoRA: loss and gradients on BLAS equal the wasm path", { skip }, async () => {
  const gpt = initGpt(resolveGptConfig({ vocabSize: 23, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 8 }), 1);
  const llamaConfig = resolveLlamaConfig({ architecture: "llama", vocabSize: 19, blockSize: 16, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, intermediateSize: 24, rmsNormEps: 1e-5 });
  const llama = initLlama(llamaConfig, 2);
  const adapted = attachLora(initLlama(llamaConfig, 3), loraConfigSchema.parse({ targetModules: "all-linear" }));
  for (const [name, model, seed] of [["GPT-2", gpt, 11], ["Llama", llama, 12], ["Llama + LoRA", adapted, 13]] as const) {
    perturb(model, seed);
    const { wasm, blas } = await bothPaths(() => lossAndGrads(model));
    assertClose(wasm, blas, 1e-4, name);
    disposeModel(model);
  }
});

test("on the BLAS path, a tiny GPT-2's loss gradient passes a finite-difference check", { skip }, async () => {
  await initBackend({ prefer: "wasm", blas: "auto", blasThreads: 2 });
  assert.notEqual(wasmBlasActive(), null);
  const model = initGpt(resolveGptConfig({ vocabSize: 23, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8 }), 3);
  tf.tidy(() => {
    const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4], "int32");
    const targets = tf.oneHot(tf.tensor2d([[2, 3, 4, 5], [6, 7, 8, 9]], [2, 4], "int32"), 23);
    for (const name of ["h.0.attn.c_attn.weight", "h.0.attn.c_proj.weight", "h.0.mlp.c_fc.weight", "wte.weight"]) {
      const original = model.params.get(name) as tf.Variable;
      const loss = (xs: tf.Tensor[]): tf.Scalar => {
        const swapped = new Map(model.params);
        swapped.set(name, xs[0] as tf.Variable);
        const logits = lmForward({ config: model.config, params: swapped }, ids).logits as tf.Tensor3D;
        return tf.mean(tf.mul(tf.logSoftmax(logits), targets)) as tf.Scalar;
      };
      const check = checkGradients(loss, [original], { eps: 1e-3, directions: 2 });
      assert.ok(check.maxRelError < 2e-2, `${name} rel error ${JSON.stringify(check)}`);
    }
  });
  disposeModel(model);
});

test("a BLAS library that cannot be loaded falls back to plain wasm with the reason", async () => {
  const missing = await loadNativeBlas({ library: "libdoes-not-exist-blas.so.9" });
  assert.ok("reason" in missing);
  assert.match(missing.reason, /libdoes-not-exist-blas\.so\.9/);
  assert.match(missing.reason, /libopenblas0-pthread/);
  const saved = process.env["TANDEM_BLAS_LIB"];
  process.env["TANDEM_BLAS_LIB"] = "libdoes-not-exist-blas.so.9";
  try {
    // a fresh thread count forces a fresh load, which reads TANDEM_BLAS_LIB
    const info = await initBackend({ prefer: "wasm", blas: "auto", blasThreads: 3 });
    assert.equal(info.backend, "wasm");
    assert.equal(info.blas, null);
    assert.equal(wasmBlasActive(), null);
    assert.ok(info.skipped.some((s) => /OpenBLAS/.test(s.package) && /libdoes-not-exist-blas/.test(s.reason)), JSON.stringify(info.skipped));
    assert.ok(info.projectOps.includes("perHeadAttention"));
    // and the stock kernel still multiplies
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]);
    assert.equal(y, 11);
  } finally {
    if (saved === undefined) delete process.env["TANDEM_BLAS_LIB"];
    else process.env["TANDEM_BLAS_LIB"] = saved;
  }
});

test("OpenBLAS kernels follow the CPU's flags, so an unknown CPU model does not get the SSE3 (Prescott) kernels", () => {
  const cpu = (flags: string): string => `processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: ${flags}\n`;
  assert.equal(openblasCoreType(cpu("fpu sse3 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_fp16")), "SkylakeX");
  assert.equal(openblasCoreType(cpu("fpu sse3 avx avx2 fma")), "Haswell"); // AMD Zen too: OpenBLAS runs Haswell kernels there
  assert.equal(openblasCoreType(cpu("fpu sse3 avx avx2 avx512f")), null); // AVX-512 foundation alone, no FMA: leave it to OpenBLAS
  assert.equal(openblasCoreType(""), null); // no /proc/cpuinfo
  // and the library loaded here reports the kernels it ran with: ours from the flags, or the ones the
  // environment had already set (a user's OPENBLAS_CORETYPE is kept; some machines set it)
  const used = process.env["OPENBLAS_CORETYPE"];
  if (!("reason" in probe) && used) assert.match(probe.config, new RegExp(used));
});
