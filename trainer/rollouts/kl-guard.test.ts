// The DPO/KTO KL guard after a resume: the weights it starts from are a checkpoint's, perhaps never
// measured under the target, so it measures them before it keeps them.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { type LanguageModel } from "../model/lm.ts";
import { trainableParams } from "../model/lora.ts";
import { createKlGuard, frozenReference, type ReferencePolicy } from "./kl-guard.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const END = 1;
const modelConfig = resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 });

/** Noise of standard deviation `scale` added to every weight: the policy moves away from the reference by as much. */
function drift(model: LanguageModel, scale: number, seed: number): void {
  [...trainableParams(model).values()].forEach((v, i) => v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, scale, "float32", seed + i)))));
}

const weightsOf = (model: LanguageModel): Float32Array[] => [...trainableParams(model).values()].map((v) => v.dataSync() as Float32Array);

const guardFor = (policy: LanguageModel, reference: ReferencePolicy, klTarget: number) =>
  createKlGuard({
    policy, reference, prompts: [[2, 3], [4, 5, 6], [7]], klTarget, check: { every: 2, samples: 16, maxNewTokens: 6, seed: 0 },
    padId: 0, stopTokens: [END], decode: (ids) => ids.join(" "),
  });

test("resumed weights over the KL target stop training at once, and the stop says they were over it", async () => {
  const policy = initGpt(modelConfig, 3);
  const reference = frozenReference(policy);
  drift(policy, 1, 10); // a checkpoint written between checks, far from the reference
  const resumed = weightsOf(policy);
  const guard = guardFor(policy, reference, 0.5);
  const stop = await guard.begin(5);
  assert.ok(stop, "no stop: the resumed weights would be kept as if under the target");
  assert.equal(stop.reason, "kl_above_target");
  assert.ok(stop.kl > 0.5 && stop.klTarget === 0.5, JSON.stringify(stop));
  assert.equal(stop.step, 5);
  assert.equal(stop.keptStep, 5, "no earlier weights to keep");
  assert.deepEqual(weightsOf(policy), resumed);
  guard.dispose();
  reference.dispose();
  disposeGpt(policy);
});

test("resumed weights under the KL target are kept: a later check over it puts them back and names their step", async () => {
  const policy = initGpt(modelConfig, 3);
  const reference = frozenReference(policy);
  drift(policy, 0.01, 10);
  const resumed = weightsOf(policy);
  const guard = guardFor(policy, reference, 0.5);
  assert.equal(await guard.begin(5), null);
  drift(policy, 1, 20); // step 6 runs away
  const { metrics, stop } = await guard.afterStep(6, false);
  assert.ok(stop, `no stop at KL ${metrics["kl_guard/kl"]}`);
  assert.equal(stop.keptStep, 5);
  assert.ok(stop.kl > 0.5);
  assert.deepEqual(weightsOf(policy), resumed, "the resumed weights are back");
  guard.dispose();
  reference.dispose();
  disposeGpt(policy);
});
