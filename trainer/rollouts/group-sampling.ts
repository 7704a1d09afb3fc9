// Step 1 of GRPO and RLOO: G answers per prompt, sampled and scored, with DAPO's dynamic sampling as an option.
//
// Why dynamic sampling: a group whose G answers all score alike (all right, or all wrong) gets advantage 0 on every
// answer, so it adds no policy gradient, only the KL term and the loss's denominator. The loop bench measured 53 % →
// 73 % of a seed's groups coming back so (docs/benchmarks.md, eleventh run), and that seed's GRPO stalled. DAPO (Yu et
// al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at Scale", arXiv 2503.14476, §3.2) over-samples and
// keeps only groups with mixed rewards, "until the batch is fully filled with samples whose accuracy is neither 0 nor
// 1". Here: after the rollout's prompt batch, further batches are drawn (the job's next batches in its shuffled order)
// until `promptsPerRollout` groups hold mixed rewards or `maxSamplingBatches` batches were sampled (verl's
// max_num_gen_batches), and the update trains on the first `promptsPerRollout` mixed groups only. Every sampled answer
// still counts in the KL, the rewards' metrics and the health metrics: they describe the policy, not the filter.
import { scoreRewards, joinScored, type ScoredRewards, type RewardSource } from "../rewards/reward-sources.ts";
import { type Decode } from "../rewards/answer-text.ts";
import { type LanguageModel } from "../model/lm.ts";
import { policyMaskOf, policyTokens, rolloutSeed, toolCallMetrics, toolCallsOf, type RolloutFn } from "./rollout.ts";

/** A prompt to answer: its rendered ids (ending with the generation prompt) and its record's metadata. */
export interface RlPrompt {
  ids: number[];
  metadata: Record<string, unknown>;
}

export interface GroupSampling {
  groupSize: number;
  maxNewTokens: number;
  temperature: number;
  padId: number;
  stopTokens: number[];
  /** The run's seed; batch d of rollout r samples with rolloutSeed(seed, r) + d·104729 (distinct from other rollouts'). */
  seed: number;
  rollout: number;
  /** Off: one batch, every group trains (TRL). */
  dynamicSampling: boolean;
  maxSamplingBatches: number;
}

export interface GroupSamplingDeps {
  sample: RolloutFn;
  rewards: RewardSource[];
  decode: Decode;
  answerText: (completion: number[], policyMask: number[]) => Promise<string>;
  toolResult: (completion: number[], policyMask: number[]) => Promise<string | null>;
}

export interface SampledGroups {
  /** Row b answers prompt rows[b]; rows b = g·G … g·G + G − 1 are group g. */
  rows: RlPrompt[];
  completions: number[][];
  policyMask: number[][];
  finished: boolean[];
  /** Whole decoded completions and their final answers (health metrics). */
  texts: string[];
  answers: string[];
  scored: ScoredRewards;
  /** The rows the update trains on: every row, or with dynamic sampling the rows of the first `wanted` mixed groups. */
  trainRows: number[];
  /** Prompt batches sampled (1 without dynamic sampling). */
  batches: number;
  /** Groups whose scored rewards differ (among all sampled). */
  mixedGroups: number;
  /** `tools/call_frac` over every answer sampled, when the sampler ran tools (toolCallMetrics); else {}. */
  toolMetrics: Record<string, number>;
}

/** A GRPO/RLOO config's sampling fields (contract/grpo-config.ts groupRolloutFields). */
export interface GroupRolloutSettings {
  numGenerations: number;
  maxCompletionLength: number;
  temperature: number;
  seed: number;
  dynamicSampling: boolean;
  maxSamplingBatches: number;
}

/** How rollout `rollout` of a run samples. */
export function samplingFor(c: GroupRolloutSettings, rollout: number, padId: number, stopTokens: number[]): GroupSampling {
  return {
    groupSize: c.numGenerations, maxNewTokens: c.maxCompletionLength, temperature: c.temperature, padId, stopTokens, seed: c.seed, rollout,
    dynamicSampling: c.dynamicSampling, maxSamplingBatches: c.maxSamplingBatches,
  };
}

/** The seed of prompt batch `draw` of a rollout: draw 0 keeps rolloutSeed's value (runs without dynamic sampling replay as before). */
export function samplingSeed(seed: number, rollout: number, draw: number): number {
  return (rolloutSeed(seed, rollout) + draw * 104_729) >>> 0;
}

/** Per group: true when at least two of its answers were scored and their rewards differ (the advantage is not all 0). */
export function mixedGroupsOf(total: ArrayLike<number>, groupSize: number): boolean[] {
  const out: boolean[] = [];
  for (let g = 0; g + groupSize <= total.length; g += groupSize) {
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < groupSize; k++) {
      const x = total[g + k] ?? NaN;
      if (!Number.isFinite(x)) continue;
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    out.push(hi - lo > 1e-8); // the tolerance of grpoAdvantages' zeroStd
  }
  return out;
}

/**
 * Samples and scores `first` (G answers each) and, with dynamic sampling, the batches `more()` draws, until `wanted`
 * groups are mixed or maxSamplingBatches were sampled. NaN/Inf rewards throw (scoreRewards) before anything trains.
 */
export async function sampleGroups(
  model: LanguageModel, first: RlPrompt[], more: (() => RlPrompt[]) | null, wanted: number, c: GroupSampling, deps: GroupSamplingDeps,
): Promise<SampledGroups> {
  const G = c.groupSize;
  const out: Omit<SampledGroups, "scored" | "toolMetrics"> = { rows: [], completions: [], policyMask: [], finished: [], texts: [], answers: [], trainRows: [], batches: 0, mixedGroups: 0 };
  let calls: number[] | null = null; // stays null when the sampler runs no tools
  const parts: ScoredRewards[] = [];
  let prompts = first;
  for (;;) {
    const rows = prompts.flatMap((p) => Array.from({ length: G }, () => p));
    const sampled = await deps.sample(model, rows.map((r) => r.ids), {
      maxNewTokens: c.maxNewTokens, temperature: c.temperature, padId: c.padId, stopTokens: c.stopTokens, seed: samplingSeed(c.seed, c.rollout, out.batches),
    });
    const mask = policyMaskOf(sampled);
    const batchCalls = toolCallsOf(sampled);
    if (batchCalls) (calls ??= []).push(...batchCalls);
    const texts = await Promise.all(sampled.completions.map((x) => deps.decode(x)));
    const answers = await Promise.all(sampled.completions.map((x, b) => deps.answerText(x, mask[b] ?? [])));
    const results = await Promise.all(sampled.completions.map((x, b) => deps.toolResult(x, mask[b] ?? [])));
    const scored = await scoreRewards(deps.rewards, sampled.completions.map((completion, b) => ({
      prompt: rows[b]?.ids ?? [], completion, metadata: rows[b]?.metadata ?? {}, answer: answers[b] ?? "", policyLength: policyTokens(completion, mask[b] ?? []).length, toolResult: results[b] ?? null,
    })));

    const offset = out.rows.length;
    mixedGroupsOf(scored.total, G).forEach((mixed, g) => {
      if (mixed) out.mixedGroups += 1;
      const trains = !c.dynamicSampling || (mixed && out.trainRows.length < wanted * G);
      if (trains) for (let k = 0; k < G; k++) out.trainRows.push(offset + g * G + k);
    });
    out.rows.push(...rows);
    out.completions.push(...sampled.completions);
    out.policyMask.push(...mask);
    out.finished.push(...sampled.finished);
    out.texts.push(...texts);
    out.answers.push(...answers);
    parts.push(scored);
    out.batches += 1;
    if (!c.dynamicSampling || !more || out.trainRows.length >= wanted * G || out.batches >= c.maxSamplingBatches) break;
    prompts = more();
    if (prompts.length === 0) break;
  }
  return { ...out, scored: joinScored(parts), toolMetrics: toolCallMetrics(calls) };
}

/**
 * `f` (advantages from rewards, group by group) over the rows that train only, so that statistics over the batch
 * (scaleRewards "batch", RLOO's normalizeAdvantages) are those of what trains, as DAPO filters before it computes them;
 * 0 on every other row. trainRows are whole groups in order, so the groups stay intact.
 */
export function overTrainRows(values: ArrayLike<number>, trainRows: number[], f: (trained: Float32Array) => Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  const result = f(Float32Array.from(trainRows, (b) => values[b] ?? NaN));
  trainRows.forEach((b, i) => (out[b] = result[i] ?? 0));
  return out;
}
