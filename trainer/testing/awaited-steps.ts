// Tests that a trainer's awaited step (`trainStepAsync`, what webgpu runs) is its synchronous step: two trainers
// on identical models take the same batches, one each way, and must agree to the bit (trainer-034).
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { type LanguageModel } from "../model/lm.ts";

interface SteppingBothWays {
  trainStep(indices: number[]): Record<string, number>;
  trainStepAsync(indices: number[]): Promise<Record<string, number>>;
}

/** `steps` steps of `batchSize` consecutive indices: the metrics equal step by step, no tensor grows, the weights end equal. */
export async function assertAwaitedStepsEqual(
  o: { sync: SteppingBothWays; awaited: SteppingBothWays; models: [LanguageModel, LanguageModel]; steps: number; batchSize: number },
): Promise<void> {
  const tensors = tf.memory().numTensors;
  for (let s = 0; s < o.steps; s++) {
    const batch = Array.from({ length: o.batchSize }, (_, i) => s * o.batchSize + i);
    assert.deepEqual(await o.awaited.trainStepAsync(batch), o.sync.trainStep(batch), `step ${s + 1}`);
  }
  assert.equal(tf.memory().numTensors, tensors, "no tensor growth across awaited steps");
  const [a, b] = o.models;
  for (const [name, v] of a.params) assert.deepEqual(b.params.get(name)?.dataSync(), v.dataSync(), name);
}
