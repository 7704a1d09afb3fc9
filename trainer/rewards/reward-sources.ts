// Reward sources for GRPO and RLOO and their weighted sum (contract/reward-spec.ts says what each
// scores). Every source scores every sample; a null score means "not scored" (a checker over a prompt
// without its reference). The sum Σ wᵢ·rᵢ runs over the sources that scored; a sample none scored
// gets NaN, which the advantages treat as "no signal" (TRL). A NaN or infinite score is an error:
// it names the source and the sample, and the trainer stops the step before any update.
import * as tf from "@tensorflow/tfjs-core";
import { checkAnswer, digitAgreement, normalizeAnswer, referenceNumber, statedNumber, type CheckerSpec } from "../contract/checker.ts";
import { rewardSources, type RewardSourceName, type RewardSpec } from "../contract/reward-spec.ts";
import { readAndDispose } from "../backend/tensor-reads.ts";
import { collateCompletions } from "../data/collate.ts";
import { scoreCompletions } from "../algorithms/reward-trainer.ts";
import { type LanguageModel } from "../model/lm.ts";
import { nanMeanStd } from "../losses/grpo-loss.ts";

export interface RewardSample {
  /** Prompt token ids (with the generation prompt). */
  prompt: number[];
  /** Completion token ids, tool results included. */
  completion: number[];
  /** The prompt record's metadata (the checker's reference answer lives here). */
  metadata: Record<string, unknown>;
  /** The final answer's text (rewards/answer-text.ts). */
  answer: string;
  /** Tokens the policy sampled. */
  policyLength: number;
  /** What the answer's last tool call returned (`error: …` when it failed); null or absent when it called none. */
  toolResult?: string | null;
}

export interface SourceScores {
  /** One per sample; null = not scored. */
  values: (number | null)[];
  /** Why a sample scored 0 without being compared, or was not scored (checker reasons). */
  reasons?: (string | undefined)[];
}

export interface RewardSource {
  name: RewardSourceName;
  weight: number;
  score(samples: RewardSample[]): SourceScores | Promise<SourceScores>;
}

export class NonFiniteRewardError extends Error {}

/** 1 / 0 from the checker on the final answer; null where the prompt has no reference. */
export function checkerReward(spec: CheckerSpec, weight: number): RewardSource {
  return {
    name: "checker",
    weight,
    score(samples) {
      const results = samples.map((s) => checkAnswer(spec, s.answer, s.metadata));
      return { values: results.map((r) => r.score), reasons: results.map((r) => r.reason) };
    },
  };
}

/** 1 when the final answer matches the pattern (first 4,000 characters), else 0. */
export function formatReward(pattern: string, flags: string, weight: number): RewardSource {
  const re = new RegExp(pattern, flags.replace(/[gy]/g, ""));
  return { name: "format", weight, score: (samples) => ({ values: samples.map((s) => (re.test(s.answer.slice(0, 4000)) ? 1 : 0)) }) };
}

/** −|L − target| / target in policy tokens, floored at −1. */
export function lengthReward(target: number, weight: number): RewardSource {
  return { name: "length", weight, score: (samples) => ({ values: samples.map((s) => Math.max(-1, -Math.abs(s.policyLength - target) / target) || 0) }) };
}

/** A tool result as a number ("148", "-2.5", "1,234"), or null when it is not one. */
function resultNumber(result: string): number | null {
  const text = result.trim().replace(/,/g, "");
  if (!/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text)) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/**
 * 1 when the final answer states what the last tool call returned, else 0: a numeric result must be
 * the answer's stated number (checker.statedNumber), any other result must appear in the answer
 * (normalised). Not scored (null): no tool call, or the last call failed (`error: …`).
 */
export function statesToolResult(answer: string, toolResult: string | null): 0 | 1 | null {
  if (toolResult === null || toolResult.trim() === "" || /^error:/i.test(toolResult.trim())) return null;
  const number = resultNumber(toolResult);
  if (number !== null) {
    const stated = statedNumber(answer);
    return stated !== null && Math.abs(stated - number) <= 1e-9 * Math.max(1, Math.abs(number)) ? 1 : 0;
  }
  return normalizeAnswer(answer).includes(normalizeAnswer(toolResult)) ? 1 : 0;
}

/** 1 / 0: does the final answer state the last tool result (statesToolResult); null without one. */
export function toolResultReward(weight: number): RewardSource {
  return { name: "tool_result", weight, score: (samples) => ({ values: samples.map((s) => statesToolResult(s.answer, s.toolResult ?? null)) }) };
}

/**
 * Partial credit per digit (checker.digitAgreement) of the answer's stated number against the number
 * in metadata[field]; 0 when the answer states none; null when the prompt has no usable number there.
 */
export function digitsReward(field: string, weight: number): RewardSource {
  return {
    name: "digits",
    weight,
    score: (samples) => ({
      values: samples.map((s) => {
        const reference = referenceNumber(s.metadata[field]);
        if (reference === null) return null;
        const stated = statedNumber(s.answer);
        return stated === null ? 0 : digitAgreement(stated, reference);
      }),
    }),
  };
}

/**
 * A scalar-head reward model's scores of prompt + completion pairs, each read at its last token, `batchSize` pairs at
 * a time; each batch's read awaited, so a rollout that scores with it runs on webgpu (trainer-035).
 */
export async function rewardModelScores(model: LanguageModel, padId: number, pairs: ReadonlyArray<{ prompt: number[]; completion: number[] }>, batchSize = 16): Promise<Float32Array> {
  const values = new Float32Array(pairs.length);
  for (let i = 0; i < pairs.length; i += batchSize) {
    const part = pairs.slice(i, i + batchSize);
    values.set(await readAndDispose(tf.tidy(() => scoreCompletions(model, collateCompletions(part.map((s) => ({ prompt: s.prompt, completion: s.completion })), padId)))), i);
  }
  return values;
}

/** The reward model as a source: its score of prompt + completion at the last token (as PPO). */
export function rewardModelReward(model: LanguageModel, padId: number, weight: number, batchSize = 16): RewardSource {
  return { name: "reward_model", weight, score: async (samples) => ({ values: Array.from(await rewardModelScores(model, padId, samples, batchSize)) }) };
}

/** The sources a job's reward spec names, in the contract's order. */
export function buildRewardSources(spec: RewardSpec, rewardModel: { model: LanguageModel; padId: number } | null): RewardSource[] {
  return rewardSources(spec, rewardModel !== null).map(({ name, weight }) => {
    if (name === "checker") return checkerReward(spec.checker!, weight);
    if (name === "reward_model") return rewardModelReward(rewardModel!.model, rewardModel!.padId, weight);
    if (name === "format") return formatReward(spec.format!.pattern, spec.format!.flags, weight);
    if (name === "tool_result") return toolResultReward(weight);
    if (name === "digits") return digitsReward(spec.digits!.field, weight);
    return lengthReward(spec.length!.target, weight);
  });
}

export interface ScoredRewards {
  /** Σ wᵢ·rᵢ per sample over the sources that scored it; NaN when none did. */
  total: Float32Array;
  perSource: Map<RewardSourceName, (number | null)[]>;
  /** TRL's `reward`, `reward_std`, `rewards/<source>/mean|std`; `checker/unreadable/<reason>` and `checker/unscored` counts. */
  metrics: Record<string, number>;
}

export async function scoreRewards(sources: RewardSource[], samples: RewardSample[]): Promise<ScoredRewards> {
  const n = samples.length;
  const total = new Float32Array(n).fill(NaN);
  const perSource = new Map<RewardSourceName, (number | null)[]>();
  const metrics: Record<string, number> = {};
  for (const source of sources) {
    const { values, reasons } = await source.score(samples);
    if (values.length !== n) throw new Error(`reward source ${source.name} returned ${values.length} scores for ${n} samples`);
    values.forEach((v, i) => {
      if (v !== null && !Number.isFinite(v)) throw new NonFiniteRewardError(`non-finite reward ${v} from ${source.name} on sample ${i + 1} of ${n}`);
    });
    perSource.set(source.name, values);
    values.forEach((v, i) => {
      if (v === null) return;
      total[i] = (Number.isNaN(total[i]) ? 0 : (total[i] ?? 0)) + source.weight * v;
    });
    if (source.name === "checker") {
      metrics["checker/unscored"] = values.filter((v) => v === null).length;
      for (const reason of reasons ?? []) {
        if (reason === undefined || reason === "no_reference" || reason === "bad_reference") continue;
        metrics[`checker/unreadable/${reason}`] = (metrics[`checker/unreadable/${reason}`] ?? 0) + 1;
      }
    }
  }
  return { total, perSource, metrics: { ...metrics, ...rewardStats(total, perSource) } };
}

/** TRL's `rewards/<source>/mean|std` over the samples each source scored, and `reward`, `reward_std` of the totals. */
function rewardStats(total: Float32Array, perSource: Map<RewardSourceName, (number | null)[]>): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const [name, values] of perSource) {
    const stats = nanMeanStd(values.map((v) => v ?? NaN));
    metrics[`rewards/${name}/mean`] = stats.mean;
    metrics[`rewards/${name}/std`] = stats.std;
  }
  const stats = nanMeanStd(total);
  metrics["reward"] = stats.mean;
  metrics["reward_std"] = stats.std;
  return metrics;
}

/**
 * Several batches' scores as one (dynamic sampling scores each batch as it is drawn): totals and
 * per-source scores concatenated in order, the means and standard deviations recomputed over all
 * samples, and the counts (`checker/unscored`, `checker/unreadable/<reason>`) summed.
 */
export function joinScored(parts: ScoredRewards[]): ScoredRewards {
  if (parts.length === 1 && parts[0]) return parts[0];
  const total = new Float32Array(parts.reduce((n, p) => n + p.total.length, 0));
  let at = 0;
  for (const p of parts) { total.set(p.total, at); at += p.total.length; }
  const perSource = new Map<RewardSourceName, (number | null)[]>();
  for (const p of parts) for (const [name, values] of p.perSource) perSource.set(name, [...(perSource.get(name) ?? []), ...values]);
  // the counts add up; the means and standard deviations are recomputed below over every sample
  const metrics: Record<string, number> = {};
  for (const p of parts) for (const [key, value] of Object.entries(p.metrics)) metrics[key] = (metrics[key] ?? 0) + value;
  return { total, perSource, metrics: { ...metrics, ...rewardStats(total, perSource) } };
}
