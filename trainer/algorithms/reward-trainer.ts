// Reward model: Bradley–Terry on K-way rankings.
// Papers: Ouyang et al. 2022, "Training language models to follow instructions with human feedback"
// (arXiv 2203.02155) §3.5 "Reward modeling", Eq. 1: all C(K,2) comparisons of a prompt in one batch
// element, each prompt weighted equally; Bradley & Terry 1952 for the pairwise model. Options and
// metric names as TRL's RewardTrainer (margin, center_rewards_coefficient, accuracy, margin, min/mean/max).
//
// Reads top to bottom: 1. collate every completion of every prompt → 2. score at the last real token
// → 3. expand rankings to pairs, Bradley–Terry loss → 4. gradients, clip, AdamW → 5. metrics.
// The model is a GPT with `scalarHead: "reward"`, best initialised from the SFT policy (trlx #338).
// A step reads the device twice (the loss and the pairs' scores, then the gradients' norm): `trainStep`
// synchronously, `trainStepAsync` awaited, for webgpu, which cannot read synchronously under Node (trainer-033).
import * as tf from "@tensorflow/tfjs-core";
import { type RewardConfig } from "../contract/reward-config.ts";
import { collateCompletions, type CompletionBatch } from "../data/collate.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { trainableParams } from "../model/lora.ts";
import { bradleyTerryLoss, rankingPairs, rewardMetrics, type RankingPairs } from "../losses/reward-loss.ts";
import { adamwStep, createAdamW, disposeAdamW, type AdamWState } from "../optim/adamw.ts";
import { clipScale, clipScaleAsync } from "../optim/gradients.ts";
import { learningRateAt } from "../optim/lr-schedule.ts";

/** K completions of one prompt with their ranks (0 = best; equal ranks are ties). */
export interface RankingExample {
  prompt: number[];
  /** Each ends with the end-of-turn token: the score is read there. */
  completions: number[][];
  ranks: number[];
  /** Optional margin every better completion must win by (e.g. from labeler confidence). */
  margin?: number;
}

// 1. collate: row g·K + k is completion k of prompt g
export function collateRankings(examples: RankingExample[], padId: number, maxLength?: number): CompletionBatch {
  return collateCompletions(examples.flatMap((e) => e.completions.map((completion) => ({ prompt: e.prompt, completion }))), padId, maxLength);
}

/** Scores (B·K) read at each row's last real token. Call inside tf.tidy / variableGrads. */
export function scoreCompletions(model: LanguageModel, batch: CompletionBatch): tf.Tensor1D {
  if (model.config.scalarHead === "none") throw new Error("the reward model needs scalarHead 'reward'");
  const [B, T] = batch.shape;
  const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const attentionMask = tf.tensor2d(batch.attentionMask, [B, T], "int32");
  const scores = lmForward(model, ids, { attentionMask, logits: false }).scores as tf.Tensor2D; // (B, T)
  // 2. the last real token is the end-of-turn token, never a pad (PAD ≠ EOS; transformers #35352)
  const flatIndex = tf.tensor1d(Array.from(batch.lastIndex, (t, b) => b * T + t), "int32"); // (B)
  return tf.gather(tf.reshape(scores, [B * T]), flatIndex) as tf.Tensor1D; // (B)
}

/** Ranks of each example with the rows laid out as collateRankings does. */
function pairsOf(examples: RankingExample[]): RankingPairs & { margins: number[] } {
  const pairs = rankingPairs(examples.map((e) => e.ranks));
  // map each pair back to its example to attach the example's margin
  const starts: number[] = [];
  let offset = 0;
  for (const e of examples) {
    starts.push(offset);
    offset += e.completions.length;
  }
  const exampleOf = (row: number): RankingExample => {
    let g = 0;
    while (g + 1 < starts.length && (starts[g + 1] ?? Infinity) <= row) g++;
    return examples[g] as RankingExample;
  };
  return { ...pairs, margins: pairs.chosen.map((row) => exampleOf(row).margin ?? 0) };
}

export interface RewardTrainer {
  model: LanguageModel;
  optimizer: AdamWState;
  step: number;
  trainStep(examples: RankingExample[]): Record<string, number>;
  /** The same step, its reads of the device awaited. */
  trainStepAsync(examples: RankingExample[]): Promise<Record<string, number>>;
  /** Loss and TRL metrics on held-out rankings (no update). */
  evaluate(examples: RankingExample[]): Record<string, number>;
  dispose(): void;
}

export function createRewardTrainer(model: LanguageModel, config: RewardConfig, padId: number): RewardTrainer {
  // every weight, or the LoRA adapters and the reward head when the model has adapters
  const params = trainableParams(model);
  const optimizer = createAdamW(params);
  const vars = [...params.values()];
  const nameOf = new Map([...params].map(([name, v]) => [v.name, name]));

  // 3. pairwise Bradley–Terry over all ranked pairs, weighted so each prompt counts once
  const lossAndScores = (examples: RankingExample[]): { loss: tf.Scalar; chosen: tf.Tensor1D; rejected: tf.Tensor1D } => {
    const pairs = pairsOf(examples);
    if (pairs.chosen.length === 0) throw new Error("no ranked pairs in the batch (all ties?)");
    const scores = scoreCompletions(model, collateRankings(examples, padId, config.maxLength)); // (G·K)
    const chosen = tf.gather(scores, tf.tensor1d(pairs.chosen, "int32")) as tf.Tensor1D; // (P)
    const rejected = tf.gather(scores, tf.tensor1d(pairs.rejected, "int32")) as tf.Tensor1D; // (P)
    const loss = bradleyTerryLoss(chosen, rejected, {
      weights: tf.tensor1d(pairs.weights),
      margin: tf.tensor1d(pairs.margins),
      centerCoefficient: config.centerCoefficient,
    });
    return { loss, chosen, rejected };
  };

  // the forward and backward pass; the loss and the pairs' scores stay on the device until read
  const backward = (examples: RankingExample[]) => {
    let chosen: tf.Tensor1D | undefined;
    let rejected: tf.Tensor1D | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const r = lossAndScores(examples);
      [chosen, rejected] = [tf.keep(r.chosen), tf.keep(r.rejected)];
      return r.loss;
    }, vars);
    return { value, chosen: chosen!, rejected: rejected!, named: new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])) };
  };
  type Pass = ReturnType<typeof backward>;

  // 4. clip, schedule, AdamW; 5. TRL's metrics from the scores the loss saw
  const update = (pass: Pass, read: { loss: number; chosen: Float32Array; rejected: Float32Array }, clip: { norm: number; scale: number }) => {
    const lr = learningRateAt(trainer.step, config.optim);
    adamwStep(params, optimizer, pass.named, lr, config.optim, clip.scale); // the clip scale is applied inside AdamW's pass
    tf.dispose([...pass.named.values()]);
    trainer.step += 1;
    return { step: trainer.step, loss: read.loss, gradNorm: clip.norm, lr, ...rewardMetrics(read.chosen, read.rejected) };
  };
  // a non-finite loss stops the step before any weight changes
  const finiteOrThrow = (pass: Pass, loss: number) => {
    if (Number.isFinite(loss)) return;
    tf.dispose([...pass.named.values()]);
    throw new Error(`non-finite reward loss ${loss} at step ${trainer.step + 1}; resume from the last checkpoint with a lower lr`);
  };

  const trainer: RewardTrainer = {
    model,
    optimizer,
    step: 0,

    trainStep(examples) {
      const pass = backward(examples);
      const [loss, chosen, rejected] = [pass.value.dataSync()[0] ?? NaN, pass.chosen.dataSync() as Float32Array, pass.rejected.dataSync() as Float32Array];
      tf.dispose([pass.value, pass.chosen, pass.rejected]);
      finiteOrThrow(pass, loss);
      return update(pass, { loss, chosen, rejected }, clipScale(pass.named, config.optim.gradClip));
    },

    async trainStepAsync(examples) {
      const pass = backward(examples);
      let read: { loss: number; chosen: Float32Array; rejected: Float32Array };
      try {
        const [value, chosen, rejected] = await Promise.all([pass.value.data(), pass.chosen.data(), pass.rejected.data()]);
        read = { loss: value[0] ?? NaN, chosen: chosen as Float32Array, rejected: rejected as Float32Array };
      } catch (error) {
        tf.dispose([...pass.named.values()]); // a device lost mid-read: nothing of the step is kept
        throw error;
      } finally {
        tf.dispose([pass.value, pass.chosen, pass.rejected]);
      }
      finiteOrThrow(pass, read.loss);
      return update(pass, read, await clipScaleAsync(pass.named, config.optim.gradClip));
    },

    evaluate(examples) {
      let out: Record<string, number> = {};
      tf.tidy(() => {
        const r = lossAndScores(examples);
        out = { loss: r.loss.dataSync()[0] ?? NaN, ...rewardMetrics(r.chosen.dataSync() as Float32Array, r.rejected.dataSync() as Float32Array) };
      });
      return out;
    },

    dispose() {
      disposeAdamW(optimizer);
    },
  };
  return trainer;
}
