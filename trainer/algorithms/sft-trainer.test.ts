import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { sftConfigSchema } from "../contract/sft-config.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { disposeModel } from "../model/lm.ts";
import { CheckpointMismatchError, loadCheckpointInto, saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { collateSft, createSftTrainer, type SftExample } from "./sft-trainer.ts";
import { createRng } from "../random/rng.ts";

let dir = "";
before(async () => {
  await initBackend({ prefer: "wasm" });
  dir = mkdtempSync(join(tmpdir(), "tandem-sft-test-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const PAD = 0;
const modelConfig = resolveGptConfig({ vocabSize: 32, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 });

/** Four "conversations": a 4-token prompt (not trained) and a 6-token answer (trained). */
function batchOf(seed: number): SftExample[] {
  const rng = createRng(seed);
  return Array.from({ length: 4 }, (_, b) => {
    const n = 10 - (b % 2); // ragged, so right padding is exercised
    const ids = Array.from({ length: n }, () => 1 + Math.floor(rng.next() * 31));
    return { ids, lossMask: ids.map((_, t) => (t >= 4 ? 1 : 0)) };
  });
}

const config = sftConfigSchema.parse({
  batchSize: 4, steps: 60, optim: { lr: 1e-2, minLr: 1e-3, warmupSteps: 5, totalSteps: 60, weightDecay: 0, gradClip: 1 },
});

test("collate: right padding with pad id, attention and loss masks zero on padding", () => {
  const b = collateSft([{ ids: [5, 6, 7], lossMask: [0, 1, 1] }, { ids: [8], lossMask: [1] }], PAD);
  assert.deepEqual(b.shape, [2, 3]);
  assert.deepEqual(Array.from(b.inputIds), [5, 6, 7, 8, PAD, PAD]);
  assert.deepEqual(Array.from(b.attentionMask), [1, 1, 1, 1, 0, 0]);
  assert.deepEqual(Array.from(b.lossMask), [0, 1, 1, 1, 0, 0]);
});

test("overfit one batch: the loss falls far below its start (≈ ln V), and 50 steps leak no tensors", () => {
  const model = initGpt(modelConfig, 11);
  const trainer = createSftTrainer(model, config, PAD);
  const batch = batchOf(1);
  const first = trainer.trainStep(batch);
  assert.ok(Math.abs(first.loss - Math.log(32)) < 0.3, `initial loss ${first.loss} should be near ln 32`);
  assert.equal(first.tokens, (10 - 4) + (9 - 4) + (10 - 4) + (9 - 4)); // answer tokens only
  const tensorsAfterFirst = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 50; i++) last = trainer.trainStep(batch);
  assert.equal(tf.memory().numTensors, tensorsAfterFirst, "tensor count must not grow across steps");
  assert.ok(last.loss < 0.25 * first.loss, `loss ${first.loss} → ${last.loss}`);
  assert.equal(trainer.step, 51);
  trainer.dispose();
  disposeGpt(model);
});

test("trainStepAsync is trainStep with its reads awaited: the same metrics and weights, micro-batches and clipping included, and no leaked tensors", async () => {
  // lr 1e-2 with clip 0.05 clips every step, and two micro-batches exercise the accumulator
  const clipped = sftConfigSchema.parse({ batchSize: 4, optim: { lr: 1e-2, warmupSteps: 1, totalSteps: 5, gradClip: 0.05, gradAccumSteps: 2 } });
  const [a, b] = [createSftTrainer(initGpt(modelConfig, 5), clipped, PAD), createSftTrainer(initGpt(modelConfig, 5), clipped, PAD)];
  await b.trainStepAsync(batchOf(2)); // the first step allocates the optimizer's state
  a.trainStep(batchOf(2));
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const [sync, awaited] = [a.trainStep(batchOf(3 + i)), await b.trainStepAsync(batchOf(3 + i))];
    assert.deepEqual(awaited, sync);
    assert.ok(sync.gradNorm > 0.05, "clipping is active");
  }
  assert.equal(tf.memory().numTensors, tensors);
  for (const [name, p] of a.model.params) assert.deepEqual(Array.from(b.model.params.get(name)!.dataSync()), Array.from(p.dataSync()), name);
  // a NaN loss stops the async step before any weight changes, as the sync one
  const before = Array.from(b.model.params.get("wte.weight")!.dataSync());
  b.model.params.get("ln_f.weight")!.assign(tf.fill([32], NaN));
  await assert.rejects(b.trainStepAsync(batchOf(9)), /non-finite loss NaN at step 5/);
  assert.deepEqual(Array.from(b.model.params.get("wte.weight")!.dataSync()), before);
  for (const t of [a, b]) { t.dispose(); disposeModel(t.model); }
});

test("save → load → resume gives the same next-step loss and update as not stopping", () => {
  const ckpt = join(dir, "ckpt");
  const a = createSftTrainer(initGpt(modelConfig, 3), config, PAD);
  for (let s = 1; s <= 3; s++) a.trainStep(batchOf(s));
  saveCheckpoint(ckpt, a.model, a.optimizer, { step: a.step, rngState: 42, trainConfig: config, tokenizerHash: "abc" });
  const nextA = a.trainStep(batchOf(4));
  const afterA = a.evalLoss(batchOf(5));

  const b = createSftTrainer(initGpt(modelConfig, 99), config, PAD); // different init: everything must come from disk
  const manifest = loadCheckpointInto(ckpt, b.model, b.optimizer, { tokenizerHash: "abc" });
  b.step = manifest.step;
  assert.equal(manifest.rngState, 42);
  assert.equal(b.optimizer.step, 3);
  const nextB = b.trainStep(batchOf(4));
  assert.ok(Math.abs(nextA.loss - nextB.loss) < 1e-6, `${nextA.loss} vs ${nextB.loss}`);
  assert.equal(nextA.lr, nextB.lr);
  assert.ok(Math.abs(afterA - b.evalLoss(batchOf(5))) < 1e-6, "the update after resuming must match too");

  // another architecture or another tokenizer is refused with a clear message
  const other = initGpt({ ...modelConfig, nLayer: 1 }, 0);
  assert.throws(() => loadCheckpointInto(ckpt, other, null), (e: unknown) => e instanceof CheckpointMismatchError && /nLayer is 2/.test(e.message));
  assert.throws(() => loadCheckpointInto(ckpt, b.model, null, { tokenizerHash: "xyz" }), /another tokenizer/);
  // a corrupted manifest is rejected by the schema
  const manifestPath = join(ckpt, "manifest.json");
  const good = readFileSync(manifestPath, "utf8");
  writeFileSync(manifestPath, good.replace('"schemaVersion": 1', '"schemaVersion": 2'));
  assert.throws(() => loadCheckpointInto(ckpt, b.model, null));
  writeFileSync(manifestPath, good);

  for (const t of [a, b]) {
    t.dispose();
    disposeModel(t.model);
  }
  disposeGpt(other);
});
