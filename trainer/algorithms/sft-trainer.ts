// Supervised fine-tuning on chat demonstrations, loss on assistant tokens only.
// Paper: Ouyang et al. 2022, "Training language models to follow instructions with human
// feedback" (arXiv 2203.02155) §3.5 "Supervised fine-tuning (SFT)". Loss masking as TRL's
// `assistant_only_loss`; optimisation as nanoGPT (AdamW, warmup + cosine, clip 1.0).
//
// Reads top to bottom: 1. collate → 2. forward + masked NLL + gradients per micro-batch →
// 3. accumulate → 4. clip, schedule, AdamW. The run loop (shuffled batches, checkpoints, resume) is
// shared with the reward and DPO jobs: trainer/cli/train-loop.ts. A step reads two numbers off the
// device (the losses, then the gradients' norm): `trainStep` reads them synchronously, `trainStepAsync`
// awaits them, for webgpu, which cannot read synchronously under Node (decision trainer-033).
import * as tf from "@tensorflow/tfjs-core";
import { type SftConfig } from "../contract/sft-config.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { trainableParams, withAdapterDropout } from "../model/lora.ts";
import { sftLoss } from "../losses/sft-loss.ts";
import { adamwStep, createAdamW, disposeAdamW, type AdamWState } from "../optim/adamw.ts";
import { clipScale, clipScaleAsync, GradAccumulator } from "../optim/gradients.ts";
import { learningRateAt } from "../optim/lr-schedule.ts";

/** One rendered conversation (see tokenizer/chat-template.ts). */
export interface SftExample {
  ids: number[];
  lossMask: number[];
}

export interface SftBatch {
  shape: [number, number];
  inputIds: Int32Array; // (B, T) right-padded with padId
  attentionMask: Int32Array; // (B, T) 1 on real tokens
  lossMask: Int32Array; // (B, T) 1 on target tokens, 0 on prompt and padding
}

// a type, not an interface, so it is also a Record<string, number> (the run loop logs any metrics)
export type SftStepMetrics = {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Target tokens in the batch. */
  tokens: number;
};

// 1. collate: right-pad to the longest example. Padding is hidden from attention and from the loss.
export function collateSft(examples: SftExample[], padId: number): SftBatch {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length));
  const inputIds = new Int32Array(B * T).fill(padId);
  const attentionMask = new Int32Array(B * T);
  const lossMask = new Int32Array(B * T);
  examples.forEach((e, b) => {
    e.ids.forEach((id, t) => {
      inputIds[b * T + t] = id;
      attentionMask[b * T + t] = 1;
      lossMask[b * T + t] = e.lossMask[t] ?? 0;
    });
  });
  return { shape: [B, T], inputIds, attentionMask, lossMask };
}

export interface SftTrainer {
  model: LanguageModel;
  optimizer: AdamWState;
  /** Optimizer steps taken. */
  step: number;
  trainStep(examples: SftExample[]): SftStepMetrics;
  /** The same step, its two reads of the device awaited. */
  trainStepAsync(examples: SftExample[]): Promise<SftStepMetrics>;
  /** Masked NLL without updating (for held-out data and resume checks). */
  evalLoss(examples: SftExample[]): number;
  dispose(): void;
}

export function createSftTrainer(model: LanguageModel, config: SftConfig, padId: number): SftTrainer {
  // every weight, or only the LoRA adapters when the model has them (optimizer state follows)
  const params = trainableParams(model);
  const optimizer = createAdamW(params);
  const vars = [...params.values()];
  const nameOf = new Map([...params].map(([name, v]) => [v.name, name]));
  const trainer: SftTrainer = {
    model,
    optimizer,
    step: 0,

    evalLoss(examples) {
      const batch = collateSft(examples, padId);
      return tf.tidy(() => lossOf(model, batch).dataSync()[0] ?? NaN);
    },

    trainStep(examples) {
      const pass = backward(examples);
      const grads = meanIfFinite(pass, pass.losses.map((l) => l.dataSync()[0] ?? NaN));
      return update(pass, grads, clipScale(grads, config.optim.gradClip));
    },

    async trainStepAsync(examples) {
      const pass = backward(examples);
      const losses: number[] = [];
      try {
        for (const l of pass.losses) losses.push((await l.data())[0] ?? NaN);
      } catch (error) {
        tf.dispose(pass.losses); // a device lost mid-read: nothing of the step is kept
        pass.accumulator.dispose();
        throw error;
      }
      const grads = meanIfFinite(pass, losses);
      return update(pass, grads, await clipScaleAsync(grads, config.optim.gradClip));
    },

    dispose() {
      disposeAdamW(optimizer);
    },
  };

  // 2.–3. forward + loss + gradients, one micro-batch at a time (bounds activation memory); the losses stay on the device
  function backward(examples: SftExample[]): Pass {
    const micro = config.optim.gradAccumSteps;
    const accumulator = new GradAccumulator();
    const losses: tf.Scalar[] = [];
    let tokens = 0;
    for (let m = 0; m < micro; m++) {
      const part = examples.filter((_, i) => i % micro === m);
      if (part.length === 0) continue;
      const batch = collateSft(part, padId);
      tokens += batch.lossMask.reduce((a, b) => a + b, 0);
      // LoRA dropout (if configured) draws its masks from the step and micro-batch, so a resumed run repeats them
      const { value, grads } = withAdapterDropout(model, trainer.step * micro + m, () => tf.variableGrads(() => lossOf(model, batch), vars));
      losses.push(value);
      // 3. accumulate (the accumulator owns the gradients from here)
      accumulator.add(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
    }
    return { accumulator, losses, tokens, loss: NaN };
  }

  /** The losses read: a non-finite one stops the step before any weight changes; else the mean gradients. */
  function meanIfFinite(pass: Pass, lossValues: number[]): Map<string, tf.Tensor> {
    tf.dispose(pass.losses);
    pass.loss = lossValues.reduce((a, b) => a + b, 0) / pass.accumulator.micros;
    if (!Number.isFinite(pass.loss)) {
      pass.accumulator.dispose();
      throw new Error(`non-finite loss ${pass.loss} at step ${trainer.step + 1}; resume from the last checkpoint with a lower lr`);
    }
    return pass.accumulator.mean();
  }

  // 4. clip the global norm (applied inside AdamW's pass), read the scheduled lr, AdamW update
  function update(pass: Pass, grads: Map<string, tf.Tensor>, clip: { norm: number; scale: number }): SftStepMetrics {
    const lr = learningRateAt(trainer.step, config.optim);
    adamwStep(params, optimizer, grads, lr, config.optim, clip.scale);
    tf.dispose([...grads.values()]);
    trainer.step += 1;
    return { step: trainer.step, loss: pass.loss, gradNorm: clip.norm, lr, tokens: pass.tokens };
  }

  return trainer;
}

interface Pass {
  accumulator: GradAccumulator;
  losses: tf.Scalar[];
  tokens: number;
  /** Mean loss over the micro-batches, once read. */
  loss: number;
}

/** Masked next-token NLL of one collated batch. Call inside tf.tidy / variableGrads. */
function lossOf(model: LanguageModel, batch: SftBatch): tf.Scalar {
  const [B, T] = batch.shape;
  const inputIds = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const attentionMask = tf.tensor2d(batch.attentionMask, [B, T], "int32");
  const lossMask = tf.tensor2d(batch.lossMask, [B, T], "int32");
  // right padding: positions 0..len−1 are already right, so pass them rather than derive from the mask
  const positionIds = tf.tile(tf.reshape(tf.range(0, T, 1, "int32"), [1, T]), [B, 1]) as tf.Tensor2D;
  const logits = lmForward(model, inputIds, { attentionMask, positionIds }).logits as tf.Tensor3D; // (B, T, V)
  return sftLoss(logits, inputIds, lossMask);
}
