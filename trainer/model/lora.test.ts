// LoRA on a tiny Llama: the update's math and gradients, adapters on/off as the reference policy,
// merging, PEFT's file layout (with a PyTorch check of its meaning), and the same learning tests the
// GPT-2 trainers pass (SFT overfits, DPO and the reward model learn a known preference, PPO raises a
// known reward) with the reference as the base with adapters off.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveLlamaConfig, type LlamaConfig } from "../contract/llama-config.ts";
import { loraConfigSchema } from "../contract/lora-config.ts";
import { sftConfigSchema } from "../contract/sft-config.ts";
import { dpoConfigSchema } from "../contract/dpo-config.ts";
import { rewardConfigSchema } from "../contract/reward-config.ts";
import { ppoConfigSchema } from "../contract/ppo-config.ts";
import { createPpoTrainer, type RewardFn } from "../algorithms/ppo-trainer.ts";
import { disposeLlama, initLlama, llamaForward, type LlamaModel } from "./llama.ts";
import { attachLora, loraDelta, mergeLora, trainableParams, withAdaptersOff } from "./lora.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { createSftTrainer, type SftExample } from "../algorithms/sft-trainer.ts";
import { createDpoTrainer, precomputeReferenceLogps, type PreferencePair } from "../algorithms/dpo-trainer.ts";
import { createRewardTrainer, type RankingExample } from "../algorithms/reward-trainer.ts";
import { exportHfLlama } from "../checkpoint/hf-llama.ts";
import { adapterConfigJson, exportPeftAdapter, importPeftAdapter } from "../checkpoint/peft-adapter.ts";
import { loadCheckpointInto, saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { loadModel } from "../checkpoint/load-model.ts";
import { decodeSafetensors } from "../checkpoint/safetensors.ts";
import { snapshotWeights } from "../rollouts/kl-guard.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const tmp = (): string => mkdtempSync(join(tmpdir(), "tandem-lora-"));
const tiny: LlamaConfig = resolveLlamaConfig({
  architecture: "llama", vocabSize: 16, blockSize: 16, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 32, intermediateSize: 48, rmsNormEps: 1e-5,
});
const lora = loraConfigSchema.parse({}); // PEFT's defaults: r 8, alpha 8, dropout 0, q_proj + v_proj

function logitsOf(model: LlamaModel, ids: number[][]): Float32Array {
  return tf.tidy(() => (llamaForward(model, tf.tensor2d(ids, [ids.length, ids[0]?.length ?? 0], "int32")).logits as tf.Tensor).dataSync() as Float32Array);
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] ?? NaN))), 0);

/** A base with weights large enough that attention and the MLP matter, and adapters with B ≠ 0 (as after training). */
function adaptedModel(seed: number, config: LlamaConfig = tiny, loraInput: Parameters<typeof loraConfigSchema.parse>[0] = {}): LlamaModel {
  const model = initLlama(config, seed);
  const rng = createRng(seed + 1);
  for (const [name, v] of model.params) if (!name.endsWith("norm.weight")) tf.tidy(() => v.assign(tf.tensor(normalArray(rng, v.size, 0.3), v.shape, "float32")));
  attachLora(model, loraConfigSchema.parse(loraInput), seed);
  for (const { b } of model.lora?.adapters.values() ?? []) tf.tidy(() => b.assign(tf.tensor(normalArray(rng, b.size, 0.3), b.shape, "float32")));
  return model;
}

const ids = [[3, 7, 1, 12, 9, 4], [5, 5, 2, 8, 15, 6]];

test("PEFT's defaults; fresh adapters leave the model equal to its base; only adapters (and a head) are trainable", () => {
  assert.deepEqual(lora, { r: 8, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj"] });
  const model = initLlama({ ...tiny, scalarHead: "reward" }, 1);
  const before = logitsOf(model, ids);
  attachLora(model, lora, 2);
  // B = 0. Equal to float rounding, not bitwise: under LoRA the frozen base weights go through
  // matMul2dFrozenB / matMulTransposedFrozen, and OpenBLAS's AVX-512 kernels may round those calls
  // differently (decision trainer-015)
  assert.ok(maxDiff(logitsOf(model, ids), before) <= 1e-5, `fresh adapters changed the logits by ${maxDiff(logitsOf(model, ids), before)}`);
  const trainable = trainableParams(model);
  assert.deepEqual([...trainable.keys()].slice(0, 4), [
    "model.layers.0.self_attn.q_proj.lora_A.weight", "model.layers.0.self_attn.q_proj.lora_B.weight",
    "model.layers.0.self_attn.v_proj.lora_A.weight", "model.layers.0.self_attn.v_proj.lora_B.weight",
  ]);
  assert.equal(trainable.size, 2 * 2 * 2 + 1); // A and B × 2 targets × 2 layers + the reward head
  assert.deepEqual(trainable.get("model.layers.1.self_attn.v_proj.lora_A.weight")?.shape, [32, 8]); // Aᵀ (in, r)
  assert.deepEqual(trainable.get("model.layers.1.self_attn.v_proj.lora_B.weight")?.shape, [8, 16]); // Bᵀ (r, out): 2 kv heads × 8
  // A ~ U(−1/√in, 1/√in) as PEFT's kaiming_uniform(a=√5)
  const a = trainable.get("model.layers.0.self_attn.q_proj.lora_A.weight")?.dataSync() ?? new Float32Array();
  assert.ok(Math.max(...Array.from(a).map(Math.abs)) <= 1 / Math.sqrt(32) && Math.max(...Array.from(a).map(Math.abs)) > 0.8 / Math.sqrt(32));
  assert.ok(!model.params.get("model.layers.0.self_attn.q_proj.weight")?.trainable && model.params.get("score.weight")?.trainable);
  disposeLlama(model);
});

test("the LoRA update is (α/r)·B·A x, with finite-difference gradients through A, B and the input", () => {
  const state = { config: loraConfigSchema.parse({ r: 3, alpha: 6 }), scale: 2, adapters: new Map(), enabled: true, dropoutSeed: null, dropoutCalls: 0 };
  tf.tidy(() => {
    const x = tf.randomNormal([4, 5], 0, 1, "float32", 1) as tf.Tensor2D;
    const a = tf.variable(tf.randomNormal([5, 3], 0, 0.5, "float32", 2));
    const b = tf.variable(tf.randomNormal([3, 6], 0, 0.5, "float32", 3));
    const delta = loraDelta(state, { a, b }, x);
    const expected = tf.mul(tf.matMul(tf.matMul(x, a), b), 2);
    assert.ok(tf.max(tf.abs(tf.sub(delta, expected))).dataSync()[0]! < 1e-5);
    const probe = tf.randomNormal([4, 6], 0, 1, "float32", 4);
    const check = checkGradients(([xx, aa, bb]) => tf.sum(tf.mul(tf.tanh(loraDelta(state, { a: aa as tf.Variable, b: bb as tf.Variable }, xx as tf.Tensor2D)), probe)), [x, a, b], { eps: 1e-3 });
    assert.ok(check.maxRelError < 1e-2, `lora rel error ${check.maxRelError}`);
  });
});

test("a loss through the whole adapted model passes a finite-difference check in A and B", () => {
  const model = adaptedModel(3, { ...tiny, nLayer: 1 });
  const state = model.lora as NonNullable<LlamaModel["lora"]>;
  tf.tidy(() => {
    const input = tf.tensor2d(ids, [2, 6], "int32");
    const targets = tf.oneHot(tf.tensor2d([[7, 1, 12, 9, 4, 2], [5, 2, 8, 15, 6, 1]], [2, 6], "int32"), 16);
    for (const [proj, which] of [["q_proj", "a"], ["q_proj", "b"], ["v_proj", "b"]] as const) {
      const name = `model.layers.0.self_attn.${proj}`;
      const adapter = state.adapters.get(name) as NonNullable<ReturnType<typeof state.adapters.get>>;
      // the same model with this one adapter tensor replaced by the probed value
      const loss = (value: tf.Tensor): tf.Scalar => {
        const adapters = new Map(state.adapters).set(name, { ...adapter, [which]: value as tf.Variable });
        const logits = llamaForward({ ...model, lora: { ...state, adapters } }, input).logits as tf.Tensor3D;
        return tf.mean(tf.mul(tf.logSoftmax(logits), targets)) as tf.Scalar;
      };
      const check = checkGradients((xs) => loss(xs[0] as tf.Tensor), [adapter[which]], { eps: 1e-3, directions: 2 });
      assert.ok(check.maxRelError < 2e-2, `${proj} ${which} rel error ${JSON.stringify(check)}`);
    }
  });
  disposeLlama(model);
});

test("adapters off give the base exactly; merging folds them in (same logits, no adapters left)", () => {
  const model = adaptedModel(4, tiny, { targetModules: "all-linear" });
  const withAdapters = logitsOf(model, ids);
  const off = withAdaptersOff(model, () => logitsOf(model, ids));
  assert.equal(model.lora?.enabled, true, "switched back on");
  const base = initLlama(tiny, 4);
  for (const [name, v] of model.params) (base.params.get(name) as tf.Variable).assign(v);
  assert.ok(maxDiff(off, logitsOf(base, ids)) <= 1e-5, `adapters off differ from the base by ${maxDiff(off, logitsOf(base, ids))}`); // frozen-weight matmuls: see above
  assert.ok(maxDiff(off, withAdapters) > 1e-2, "the adapters must matter for this test");
  mergeLora(model);
  assert.equal(model.lora, undefined);
  assert.ok(maxDiff(logitsOf(model, ids), withAdapters) < 1e-4, `merged diff ${maxDiff(logitsOf(model, ids), withAdapters)}`);
  disposeLlama(model);
  disposeLlama(base);
});

test("PEFT files: tensor names and layouts as PEFT writes them, adapter_config.json, and back through import with the base", () => {
  const root = tmp();
  const model = adaptedModel(5, { ...tiny, scalarHead: "reward" }, { r: 4, alpha: 16, targetModules: ["q_proj", "k_proj", "down_proj"] });
  exportPeftAdapter(join(root, "peft"), model, { baseModel: "HuggingFaceTB/SmolLM2-135M" });
  const { tensors } = decodeSafetensors(readFileSync(join(root, "peft", "adapter_model.safetensors")));
  assert.deepEqual(tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")?.shape, [4, 32]); // (r, in)
  assert.deepEqual(tensors.get("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight")?.shape, [16, 4]); // (out, r)
  assert.deepEqual(tensors.get("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight")?.shape, [4, 48]);
  assert.deepEqual(tensors.get("base_model.model.score.weight")?.shape, [1, 32]);
  assert.equal(tensors.size, 2 * 3 * 2 + 1);
  const cfg = JSON.parse(readFileSync(join(root, "peft", "adapter_config.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual(
    [cfg["peft_type"], cfg["r"], cfg["lora_alpha"], cfg["lora_dropout"], cfg["target_modules"], cfg["task_type"], cfg["modules_to_save"], cfg["bias"], cfg["base_model_name_or_path"]],
    ["LORA", 4, 16, 0, ["down_proj", "k_proj", "q_proj"], "SEQ_CLS", ["score"], "none", "HuggingFaceTB/SmolLM2-135M"],
  );
  assert.deepEqual(cfg, adapterConfigJson(model, "HuggingFaceTB/SmolLM2-135M"));

  // the base as a checkpoint, the adapter imported over it: the same logits and scores
  const base = initLlama(tiny, 5);
  for (const [name, v] of model.params) base.params.get(name)?.assign(v);
  saveCheckpoint(join(root, "base"), base, null, { step: 0, rngState: 0, trainConfig: {}, tokenizerHash: null });
  importPeftAdapter(join(root, "peft"), join(root, "adapter"), join(root, "base"));
  const back = loadModel(join(root, "adapter")) as LlamaModel;
  assert.equal(back.config.scalarHead, "reward");
  assert.deepEqual(Array.from(logitsOf(back, ids)), Array.from(logitsOf(model, ids)));
  const scores = (m: LlamaModel): Float32Array => tf.tidy(() => (llamaForward(m, tf.tensor2d(ids, [2, 6], "int32")).scores as tf.Tensor).dataSync() as Float32Array);
  assert.deepEqual(Array.from(scores(back)), Array.from(scores(model)));

  // an adapter whose base has other shapes is refused, naming the tensor
  const wide = initLlama({ ...tiny, nEmbd: 48, intermediateSize: 48 }, 6);
  saveCheckpoint(join(root, "wide"), wide, null, { step: 0, rngState: 0, trainConfig: {}, tokenizerHash: null });
  assert.throws(() => importPeftAdapter(join(root, "peft"), join(root, "bad"), join(root, "wide")), /adapter_model\.safetensors: base_model\.model\.model\.layers\.0\.\S+\.lora_[AB]\.weight has shape \[\d+, \d+\] but the base model implies \[\d+, \d+\]/);
  // and a Tandem adapter checkpoint over a base of another shape too
  const manifestPath = join(root, "adapter", "manifest.json");
  writeFileSync(manifestPath, readFileSync(manifestPath, "utf8").replace(JSON.stringify(join(root, "base")), JSON.stringify(join(root, "wide"))));
  assert.throws(() => loadModel(join(root, "adapter")), /does not fit its base .*wide.*nEmbd is 32 in the checkpoint but 48 in the model/);
  // DoRA, rsLoRA, rank patterns are not LoRA as Tandem computes it
  for (const [patch, why] of [[{ use_dora: true }, /use_dora/], [{ use_rslora: true }, /use_rslora/], [{ rank_pattern: { "model.layers.0.self_attn.q_proj": 2 } }, /rank_pattern/], [{ target_modules: ["lm_head"] }, /target_modules \["lm_head"\]/]] as const) {
    writeFileSync(join(root, "peft", "adapter_config.json"), JSON.stringify({ ...cfg, ...patch }));
    assert.throws(() => importPeftAdapter(join(root, "peft"), join(root, "bad"), join(root, "base")), why);
  }
  for (const m of [model, back, base, wide]) disposeLlama(m);
});

test("adapter checkpoints hold only the adapters; resuming restores them and their AdamW moments; the base never changes", () => {
  const root = tmp();
  const model = initLlama(tiny, 7);
  attachLora(model, lora, 7);
  const baseBefore = model.params.get("model.layers.0.self_attn.q_proj.weight")?.dataSync().slice();
  const config = sftConfigSchema.parse({ batchSize: 4, steps: 5, optim: { lr: 1e-2, warmupSteps: 0, weightDecay: 0 } });
  const trainer = createSftTrainer(model, config, 0);
  assert.deepEqual([...trainer.optimizer.m.keys()], [...trainableParams(model).keys()], "AdamW moments for the adapters alone");
  const batch: SftExample[] = [{ ids: [1, 2, 3, 4, 5, 6], lossMask: [0, 0, 1, 1, 1, 1] }, { ids: [6, 5, 4, 3], lossMask: [0, 1, 1, 1] }];
  for (let s = 0; s < 3; s++) trainer.trainStep(batch);
  assert.deepEqual(Array.from(model.params.get("model.layers.0.self_attn.q_proj.weight")?.dataSync() ?? []), Array.from(baseBefore ?? []));
  saveCheckpoint(join(root, "base"), initLlama(tiny, 7), null, { step: 0, rngState: 0, trainConfig: {}, tokenizerHash: null });
  if (model.lora) model.lora.base = join(root, "base");
  saveCheckpoint(join(root, "ckpt"), model, trainer.optimizer, { step: trainer.step, rngState: 1, trainConfig: {}, tokenizerHash: null });
  const stored = decodeSafetensors(readFileSync(join(root, "ckpt", "model.safetensors"))).tensors;
  assert.equal(stored.size, 8);
  assert.ok([...stored.keys()].every((k) => k.startsWith("base_model.model.model.layers.")));
  const next = trainer.trainStep(batch);
  // a fresh copy resumed from disk takes the same step
  const other = initLlama(tiny, 7);
  attachLora(other, lora, 99);
  const resumed = createSftTrainer(other, config, 0);
  const manifest = loadCheckpointInto(join(root, "ckpt"), other, resumed.optimizer);
  resumed.step = manifest.step;
  assert.equal(manifest.lora?.base, join(root, "base"));
  assert.ok(Math.abs(resumed.trainStep(batch).loss - next.loss) < 1e-6);
  // other LoRA settings are refused
  const wrong = initLlama(tiny, 7);
  attachLora(wrong, loraConfigSchema.parse({ r: 4 }), 0);
  assert.throws(() => loadCheckpointInto(join(root, "ckpt"), wrong, null), /other LoRA settings/);
  trainer.dispose();
  resumed.dispose();
  for (const m of [model, other, wrong]) disposeLlama(m);
});

const PYTHON = "/usr/bin/python3";
const torchAvailable = existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;

test(
  "PEFT layout in PyTorch: base folder + adapter folder give the TS model's logits (bench/llama_parity.py --adapter)",
  { skip: torchAvailable ? false : `skipped: ${PYTHON} -c "import torch" fails (install python3-torch to run it)` },
  (t) => {
    const root = tmp();
    const model = adaptedModel(8, { ...tiny, modelType: "qwen2", tieWordEmbeddings: false }, { r: 4, alpha: 12, targetModules: "all-linear" });
    const expected = logitsOf(model, ids);
    exportPeftAdapter(join(root, "peft"), model, { baseModel: join(root, "hf") });
    const lora = model.lora;
    delete model.lora;
    exportHfLlama(join(root, "hf"), model, { ids: { bos: 1, eos: 2, pad: 0 } });
    model.lora = lora;
    writeFileSync(join(root, "expected.json"), JSON.stringify({ input_ids: ids, logits: Array.from(expected) }));
    const script = fileURLToPath(new URL("../../bench/llama_parity.py", import.meta.url));
    const r = spawnSync(PYTHON, [script, join(root, "hf"), join(root, "expected.json"), "--adapter", join(root, "peft"), "--tol", "1e-4"], { encoding: "utf8" });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const result = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as { max_abs_diff: number };
    t.diagnostic(`qwen2 + LoRA (all-linear, r 4): max |Δlogit| ${result.max_abs_diff.toExponential(2)}`);
    disposeLlama(model);
  },
);

// The GPT-2 trainers' learning tests (sft/dpo/reward-trainer.test.ts), on a tiny Llama with LoRA.
const PAD = 0;
const END = 1;

/**
 * A base whose embeddings have a trained model's scale (N(0, 1) rather than the 0.02 of a fresh
 * init): with frozen, tied embeddings a fresh init's head can only express near-uniform outputs,
 * which no adapter on q/v could change. Adapters use PEFT's default targets (q_proj, v_proj).
 */
function pretrainedLike(config: LlamaConfig, seed: number, embeddingStd = 1): LlamaModel {
  const model = initLlama(config, seed);
  const embed = model.params.get("model.embed_tokens.weight") as tf.Variable;
  tf.tidy(() => embed.assign(tf.tensor(normalArray(createRng(seed + 100), embed.size, embeddingStd), embed.shape, "float32")));
  attachLora(model, loraConfigSchema.parse({ r: 8, alpha: 16 }), seed);
  return model;
}

test("SFT with LoRA overfits one batch (loss far below ln V and its start) without leaking tensors", () => {
  const model = pretrainedLike(tiny, 11);
  const config = sftConfigSchema.parse({ batchSize: 4, steps: 60, optim: { lr: 5e-2, minLr: 5e-3, warmupSteps: 5, totalSteps: 60, weightDecay: 0, gradClip: 1 } });
  const trainer = createSftTrainer(model, config, PAD);
  const rng = createRng(1);
  const batch: SftExample[] = Array.from({ length: 4 }, (_, b) => {
    const ids = Array.from({ length: 10 - (b % 2) }, () => 2 + Math.floor(rng.next() * 14));
    return { ids, lossMask: ids.map((_, t) => (t >= 4 ? 1 : 0)) };
  });
  const first = trainer.trainStep(batch);
  const tensors = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 50; i++) last = trainer.trainStep(batch);
  assert.equal(tf.memory().numTensors, tensors, "tensor count must not grow across steps");
  assert.ok(last.loss < 0.1 * first.loss && last.loss < 0.5 * Math.log(16), `loss ${first.loss} → ${last.loss}`);
  trainer.dispose();
  disposeLlama(model);
});

/** Known reward: the number of "good" tokens (2–8); chosen has two, rejected none. */
function pairs(n: number, seed: number): PreferencePair[] {
  const rng = createRng(seed);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));
  return Array.from({ length: n }, () => ({ prompt: [pick(2, 15), pick(2, 15)], chosen: [pick(2, 8), pick(2, 8), END], rejected: [pick(9, 15), pick(9, 15), END] }));
}

test("DPO with LoRA: the reference is the base with adapters off; ln 2 at step 0, then held-out preferences learned", () => {
  const model = pretrainedLike(tiny, 5);
  const train = pairs(32, 1);
  const heldOut = pairs(32, 2);
  const config = dpoConfigSchema.parse({ beta: 0.5, batchSize: 8, steps: 40, optim: { lr: 5e-2, minLr: 5e-3, warmupSteps: 2, totalSteps: 40, weightDecay: 0 } });
  const heldOutRef = precomputeReferenceLogps(model, heldOut, PAD, 16);
  const trainer = createDpoTrainer(model, train, config, PAD);
  const rng = createRng(9);
  const batch = (): number[] => Array.from({ length: config.batchSize }, () => Math.floor(rng.next() * train.length));
  const first = trainer.trainStep(batch());
  assert.ok(Math.abs(first.loss - Math.LN2) < 1e-4, `step-0 loss ${first.loss}`);
  // policy = reference: the margin is 0 up to float noise (with native BLAS a sequence's log-probs depend on
  // its batch at the 1e-7 level, so exact ties, accuracy ½, hold only on plain wasm)
  assert.ok(Math.abs(first["rewards/margins"] ?? NaN) < 1e-5, `step-0 margin ${first["rewards/margins"]}`);
  const tensors = tf.memory().numTensors;
  for (let s = 1; s < config.steps; s++) trainer.trainStep(batch());
  assert.equal(tf.memory().numTensors, tensors, "no tensor growth across DPO steps");
  const after = trainer.evaluate(heldOut, heldOutRef);
  assert.ok((after["rewards/accuracies"] ?? 0) >= 0.9, `held-out accuracy ${after["rewards/accuracies"]}`);
  assert.ok((after.loss ?? 1) < 0.5 * Math.LN2, `held-out loss ${after.loss}`);
  // the reference is still the base: recomputing it with the adapters off gives the stored numbers
  const again = precomputeReferenceLogps(model, heldOut, PAD, 16);
  assert.ok(maxDiff(again.chosen, heldOutRef.chosen) < 1e-4 && maxDiff(again.rejected, heldOutRef.rejected) < 1e-4);
  trainer.dispose();
  disposeLlama(model);
});

test("reward model with LoRA (adapters + head) ranks held-out pairs well above chance", () => {
  const rankings = (n: number, seed: number): RankingExample[] => {
    const rng = createRng(seed);
    const pick = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));
    return Array.from({ length: n }, () => {
      const completions = Array.from({ length: 4 }, () => [...Array.from({ length: 3 }, () => (rng.next() < 0.5 ? pick(2, 8) : pick(9, 15))), END]);
      const reward = completions.map((c) => c.filter((t) => t >= 2 && t <= 8).length);
      const distinct = [...new Set(reward)].sort((a, b) => b - a);
      return { prompt: [pick(2, 15), pick(2, 15)], completions, ranks: reward.map((r) => distinct.indexOf(r)) };
    });
  };
  const model = pretrainedLike({ ...tiny, scalarHead: "reward" }, 3);
  const train = rankings(64, 4);
  const heldOut = rankings(32, 5);
  const config = rewardConfigSchema.parse({ batchSize: 8, steps: 40, centerCoefficient: 0.01, optim: { lr: 3e-2, minLr: 3e-3, warmupSteps: 2, totalSteps: 40, weightDecay: 0 } });
  const trainer = createRewardTrainer(model, config, PAD);
  const rng = createRng(6);
  const before = trainer.evaluate(heldOut);
  const tensors = tf.memory().numTensors;
  for (let s = 0; s < config.steps; s++) trainer.trainStep(Array.from({ length: config.batchSize }, () => train[Math.floor(rng.next() * train.length)] as RankingExample));
  assert.equal(tf.memory().numTensors, tensors, "no tensor growth across reward-model steps");
  const after = trainer.evaluate(heldOut);
  assert.ok((after.accuracy ?? 0) >= 0.85, `held-out accuracy ${before.accuracy} → ${after.accuracy}`);
  trainer.dispose();
  disposeLlama(model);
});

test("PPO with LoRA and no reference model: the reference is the policy with adapters off (KL 0 at first), the score rises", async () => {
  // a less peaked start than the other tests' (PPO must explore by sampling)
  const policy = pretrainedLike(tiny, 1, 0.3);
  const value = pretrainedLike({ ...tiny, scalarHead: "value" }, 2, 0.3);
  const config = ppoConfigSchema.parse({
    // no KL guard: this run leaves the reference by more than the default 6 nats, and what it tests is the reference
    rolloutBatchSize: 32, miniBatchSize: 8, ppoEpochs: 4, responseLength: 4, temperature: 1, klCoef: 0.05, klTarget: null,
    optim: { lr: 3e-2, minLr: 3e-2, warmupSteps: 0, totalSteps: 1000, weightDecay: 0 },
  });
  const reward: RewardFn = (_prompts, responses) => Float32Array.from(responses.map((r) => r.filter((t) => t >= 2 && t <= 8).length));
  const trainer = createPpoTrainer({ policy, value }, config, { padId: PAD, stopTokens: [END], reward });
  assert.equal(trainer.optimizer.m.size, 8 + 8 + 1, "AdamW state: policy adapters, value adapters and the value head");
  const baseBefore = policy.params.get("model.layers.1.self_attn.q_proj.weight")?.dataSync().slice();
  const rng = createRng(2);
  const prompts = (): number[][] => Array.from({ length: config.rolloutBatchSize }, () => [2 + Math.floor(rng.next() * 14), 2 + Math.floor(rng.next() * 14)]);
  const history: Record<string, number>[] = [];
  for (let r = 0; r < 10; r++) history.push((await trainer.rolloutStep(prompts())).metrics);
  assert.ok(Math.abs(history[0]?.["objective/kl"] ?? NaN) < 1e-5, `initial KL ${history[0]?.["objective/kl"]}`);
  const late = history.slice(-3).reduce((a, m) => a + (m["objective/scores"] ?? 0), 0) / 3;
  assert.ok(late > (history[0]?.["objective/scores"] ?? 0) + 0.8, `score ${history[0]?.["objective/scores"]} → ${late}`);
  assert.ok((history.at(-1)?.["objective/kl"] ?? 0) > 0, "the adapters moved the policy away from its base");
  assert.deepEqual(Array.from(policy.params.get("model.layers.1.self_attn.q_proj.weight")?.dataSync() ?? []), Array.from(baseBefore ?? []));
  assert.throws(() => createPpoTrainer({ policy: initLlama(tiny, 0), value }, config, { padId: PAD, stopTokens: [END], reward }), /needs a reference model, or a policy with LoRA adapters/);
  trainer.dispose();
  disposeLlama(policy);
  disposeLlama(value);
});

test("a KL guard's weight snapshot of a LoRA model puts back the adapters and the head, and copies none of the frozen base", () => {
  const model = adaptedModel(7, { ...tiny, scalarHead: "reward" });
  const before = logitsOf(model, ids);
  const tensorsBefore = tf.memory().numTensors;
  const snapshot = snapshotWeights(model, 3);
  assert.equal(tf.memory().numTensors - tensorsBefore, trainableParams(model).size, "one copy per adapter matrix and the head");
  // training moves the adapters and the head (the base is frozen)
  for (const v of trainableParams(model).values()) tf.tidy(() => v.assign(tf.add(v, 0.5)));
  assert.ok(maxDiff(logitsOf(model, ids), before) > 1e-2, "the moved adapters change the model");
  snapshot.restoreInto(model);
  assert.equal(snapshot.step, 3);
  assert.deepEqual(Array.from(logitsOf(model, ids)), Array.from(before), "the kept adapters are back, exactly");
  snapshot.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore);
  disposeLlama(model);
});
