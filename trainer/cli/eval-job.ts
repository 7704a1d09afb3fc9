// `eval`: measures a checkpoint on a dataset without training. What is measured follows from the
// checkpoint's head and from `reference`:
//   A. policy + `messages` records → mean NLL over assistant tokens and its perplexity (the SFT loss,
//      token-weighted over the whole set, not a mean of batch means);
//   B. reward model + preference/ranking records → pairwise accuracy (ties ½), mean margin, min/mean/
//      max reward, and the Bradley–Terry loss weighted as in training (each prompt counts once);
//   C. policy + `reference` + preference/ranking records → DPO's implicit rewards β·log π/π_ref
//      (TRL's rewards/* and logps/* metrics), the sigmoid DPO loss, and a Monte Carlo estimate of
//      KL(π‖π_ref) from completions the policy samples.
// Metric names carry TRL's `eval_` prefix. One "metrics" line holds them all; they are also written
// to <out>/eval.json.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { type JobSpec } from "../contract/job.ts";
import { readManifest } from "../checkpoint/checkpoint.ts";
import { countModelParams, disposeModel, lmForward, type LanguageModel } from "../model/lm.ts";
import { readAndDispose } from "../backend/tensor-reads.ts";
import { type ChatFormat } from "../tokenizer/chat-format.ts";
import { collateSft, type SftExample } from "../algorithms/sft-trainer.ts";
import { collateRankings, scoreCompletions, type RankingExample } from "../algorithms/reward-trainer.ts";
import { collatePairs, sequenceLogps, type PreferencePair } from "../algorithms/dpo-trainer.ts";
import { nextTokenLogProbs } from "../losses/logprobs.ts";
import { rankingPairs, rewardMetrics } from "../losses/reward-loss.ts";
import { dpoMetrics } from "../losses/dpo-loss.ts";
import { klOfSampledAnswers, modelAsReference } from "../rollouts/kl-guard.ts";
import { buildModel, readPreferencePairs, readRankingExamples, readSftExamples } from "./job-inputs.ts";
import { createProgress } from "./progress.ts";
import { type JobLogger } from "./logger.ts";

type EvalSpec = Extract<JobSpec, { kind: "eval" }>;

/** −log σ(z), stable for large |z|. */
const softplusNeg = (z: number): number => (z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z)));

/** Calls `fn` on consecutive slices of `items`, one after another, drawing a progress bar. */
async function inBatches<T>(label: string, items: T[], size: number, fn: (part: T[], start: number) => Promise<void>): Promise<void> {
  const bar = createProgress(label, items.length);
  for (let i = 0; i < items.length; i += size) {
    await fn(items.slice(i, i + size), i);
    bar.update(Math.min(i + size, items.length));
  }
  bar.finish();
}

// A. Σ log p over target tokens and their count, batch by batch.
export async function evalSftLoss(model: LanguageModel, examples: SftExample[], padId: number, batchSize: number): Promise<Record<string, number>> {
  let logpSum = 0;
  let tokens = 0;
  await inBatches("eval", examples, batchSize, async (part) => {
    const batch = collateSft(part, padId);
    const [B, T] = batch.shape;
    // targets are tokens 1..T−1 whose loss mask is set (token 0 has nothing before it)
    for (let b = 0; b < B; b++) for (let t = 1; t < T; t++) tokens += batch.lossMask[b * T + t] ?? 0;
    logpSum += (await readAndDispose(tf.tidy(() => {
      const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
      const positionIds = tf.tile(tf.reshape(tf.range(0, T, 1, "int32"), [1, T]), [B, 1]) as tf.Tensor2D; // right padding
      const logits = lmForward(model, ids, { attentionMask: tf.tensor2d(batch.attentionMask, [B, T], "int32"), positionIds }).logits as tf.Tensor3D; // (B, T, V)
      const logp = nextTokenLogProbs(logits, ids, tf.tensor2d(batch.lossMask, [B, T], "int32")); // (B, T−1), 0 off target
      return tf.sum(logp);
    })))[0] ?? NaN;
  });
  if (tokens === 0) throw new Error("no assistant tokens to evaluate");
  const loss = -logpSum / tokens;
  return { eval_loss: loss, eval_perplexity: Math.exp(loss), eval_tokens: tokens, eval_examples: examples.length };
}

// B. Every completion scored once; pairs and weights as in training (reward-loss.ts).
export async function evalRewardModel(model: LanguageModel, examples: RankingExample[], padId: number, batchSize: number): Promise<Record<string, number>> {
  const chosen: number[] = [];
  const rejected: number[] = [];
  let loss = 0;
  let prompts = 0;
  await inBatches("eval", examples, batchSize, async (part) => {
    const scores = await readAndDispose(tf.tidy(() => scoreCompletions(model, collateRankings(part, padId)))); // (Σ K)
    const pairs = rankingPairs(part.map((e) => e.ranks));
    let offset = 0;
    let p = 0;
    for (const e of part) {
      let sum = 0;
      let n = 0;
      for (; p < pairs.chosen.length && (pairs.chosen[p] ?? 0) < offset + e.completions.length; p++) {
        const c = scores[pairs.chosen[p] ?? 0] ?? NaN;
        const r = scores[pairs.rejected[p] ?? 0] ?? NaN;
        chosen.push(c);
        rejected.push(r);
        sum += softplusNeg(c - r - (e.margin ?? 0));
        n++;
      }
      if (n > 0) {
        loss += sum / n;
        prompts++;
      }
      offset += e.completions.length;
    }
  });
  if (chosen.length === 0) throw new Error("no ranked pairs to evaluate (all ties?)");
  const m = rewardMetrics(chosen, rejected);
  return { eval_loss: loss / prompts, ...Object.fromEntries(Object.entries(m).map(([k, v]) => [`eval_${k}`, v])), eval_pairs: chosen.length, eval_prompts: prompts };
}

/** Σ log p(completion) under `model` for each pair's chosen and rejected completion. */
async function pairLogps(label: string, model: LanguageModel, pairs: PreferencePair[], padId: number, batchSize: number): Promise<{ chosen: Float32Array; rejected: Float32Array }> {
  const chosen = new Float32Array(pairs.length);
  const rejected = new Float32Array(pairs.length);
  await inBatches(label, pairs, batchSize, async (part, start) => {
    const values = await readAndDispose(tf.tidy(() => sequenceLogps(model, collatePairs(part, padId)))); // (2n)
    chosen.set(values.subarray(0, part.length), start);
    rejected.set(values.subarray(part.length), start);
  });
  return { chosen, rejected };
}

// C. Implicit rewards on the pairs, then KL(π‖π_ref) by sampling: the k1 estimator Σ_t log π/π_ref over
// completions drawn from π at temperature 1, unbiased for the sequence KL (rollouts/kl-guard.ts says why).
export async function evalDpo(
  policy: LanguageModel,
  reference: LanguageModel,
  pairs: PreferencePair[],
  o: { padId: number; batchSize: number; beta: number; stopTokens: number[]; kl: EvalSpec["kl"] },
): Promise<Record<string, number>> {
  const pol = await pairLogps("eval policy", policy, pairs, o.padId, o.batchSize);
  const ref = await pairLogps("eval reference", reference, pairs, o.padId, o.batchSize);
  let loss = 0;
  for (let i = 0; i < pairs.length; i++) {
    const delta = (pol.chosen[i] ?? 0) - (ref.chosen[i] ?? 0) - ((pol.rejected[i] ?? 0) - (ref.rejected[i] ?? 0));
    loss += softplusNeg(o.beta * delta);
  }
  const metrics = dpoMetrics({ policyChosen: pol.chosen, policyRejected: pol.rejected, refChosen: ref.chosen, refRejected: ref.rejected }, o.beta);
  const out: Record<string, number> = { eval_loss: loss / pairs.length, ...Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`eval_${k}`, v])), eval_pairs: pairs.length };
  if (o.kl.samplesPerPrompt === 0) return out;

  // distinct prompts, each sampled samplesPerPrompt times; row i uses seed kl.seed + i (reproducible)
  const prompts = [...new Map(pairs.map((p) => [p.prompt.join(","), p.prompt])).values()];
  const rows = prompts.flatMap((p) => Array.from({ length: o.kl.samplesPerPrompt }, () => p));
  const bar = createProgress("eval kl", rows.length);
  const { mean, stderr, samples } = (await klOfSampledAnswers(policy, [modelAsReference(reference)], rows, {
    maxNewTokens: o.kl.maxNewTokens, seed: o.kl.seed, padId: o.padId, stopTokens: o.stopTokens, batchSize: o.batchSize, onProgress: (done) => bar.update(done),
  })).estimates[0]!;
  bar.finish();
  return { ...out, eval_kl: mean, eval_kl_stderr: stderr, eval_kl_samples: samples };
}

export async function evalJob(spec: EvalSpec, format: ChatFormat, log: JobLogger): Promise<void> {
  const head = readManifest(spec.model.checkpoint).modelConfig.scalarHead;
  if (head === "value") throw new Error(`eval: ${spec.model.checkpoint} is a PPO value model; evaluate the policy or the reward model`);
  if (head === "reward" && spec.reference) throw new Error(`eval: reference is for DPO policies, but ${spec.model.checkpoint} is a reward model`);
  const mode = head === "reward" ? "reward" : spec.reference ? "dpo" : "sft";
  const pad = format.padId;
  const model = buildModel({ checkpoint: spec.model.checkpoint }, format, head);
  const models = [model];
  try {
    let metrics: Record<string, number>;
    if (mode === "sft") {
      const examples = await readSftExamples(spec.data, format, model.config.blockSize);
      log.event("start", { kind: spec.kind, mode, examples: examples.length, params: countModelParams(model.config) });
      metrics = await evalSftLoss(model, examples, pad, spec.batchSize);
    } else if (mode === "reward") {
      const examples = await readRankingExamples(spec.data, format, model.config.blockSize);
      log.event("start", { kind: spec.kind, mode, prompts: examples.length, params: countModelParams(model.config) });
      metrics = await evalRewardModel(model, examples, pad, spec.batchSize);
    } else {
      const reference = buildModel({ checkpoint: spec.reference?.checkpoint ?? "" }, format, "none");
      models.push(reference);
      const pairs = await readPreferencePairs(spec.data, format, model.config.blockSize);
      log.event("start", { kind: spec.kind, mode, pairs: pairs.length, params: countModelParams(model.config) });
      metrics = await evalDpo(model, reference, pairs, {
        padId: pad, batchSize: spec.batchSize, beta: spec.beta, stopTokens: format.stopTokens, kl: spec.kl,
      });
    }
    log.event("metrics", { mode, ...metrics });
    const file = join(spec.out, "eval.json");
    writeFileSync(file, JSON.stringify({ mode, model: spec.model.checkpoint, data: spec.data, ...(spec.reference ? { reference: spec.reference.checkpoint } : {}), metrics }, null, 2));
    log.event("done", { kind: spec.kind, mode, file });
  } finally {
    for (const m of models) disposeModel(m);
  }
}
