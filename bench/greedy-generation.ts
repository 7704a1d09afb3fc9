// The generation both trainer-bench.ts and decode-ab.ts time: random prompts (seeded), then greedy steps of one token
// per row through the KV cache, as sampling runs them. CPU seconds of the process (user + system, every thread) and
// wall seconds: on a shared machine the wall figure waits for cores.
import * as tf from "@tensorflow/tfjs-core";
import { disposeKvCache, type GptModel } from "../trainer/model/gpt.ts";
import { lmForwardTidy, type LanguageModel } from "../trainer/model/lm.ts";
import { createRng } from "../trainer/random/rng.ts";

export function greedyGeneration(model: GptModel | LanguageModel, prompts: number, promptLength: number, newTokens: number): { cpuS: number; wallS: number } {
  const rng = createRng(2);
  const ids = Array.from({ length: prompts }, () => Array.from({ length: promptLength }, () => Math.floor(rng.next() * model.config.vocabSize)));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const input = tf.tensor2d(ids, [prompts, promptLength], "int32");
  let step = lmForwardTidy(model, input, { useCache: true });
  input.dispose();
  for (let i = 0; i < newTokens; i++) {
    const next = tf.tidy(() => {
      const logits = step.logits as tf.Tensor3D; // (B, t, V): greedy on the last position
      const [b, t, v] = logits.shape;
      return tf.cast(tf.reshape(tf.argMax(tf.slice(logits, [0, t - 1, 0], [b, 1, v]), -1), [b, 1]), "int32") as tf.Tensor2D;
    });
    const past = step.present;
    tf.dispose([step.hidden, step.logits as tf.Tensor]);
    step = lmForwardTidy(model, next, { past, useCache: true });
    next.dispose();
    disposeKvCache(past);
  }
  tf.dispose([step.hidden, step.logits as tf.Tensor]);
  disposeKvCache(step.present);
  const cpu = process.cpuUsage(c0);
  return { cpuS: (cpu.user + cpu.system) / 1e6, wallS: (performance.now() - t0) / 1000 };
}
