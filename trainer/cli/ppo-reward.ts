// PPO's reward for a job: the reward model's score of prompt + response (tool results included, as
// it read them in training), or, when the job names more sources (`reward`), their weighted sum
// Σ wᵢ·rᵢ with the reward model as one of them — the same sources and sum as GRPO's
// (rewards/reward-sources.ts). The point of the sum: a reward model trained on a few hundred
// rankings misses what a checker sees (docs/benchmarks.md, seventeenth run: it takes "called the
// calculator" for a right answer), and PPO follows its blind spots within a few rollouts.
import { type RewardSpec } from "../contract/reward-spec.ts";
import { type RewardFn } from "../algorithms/ppo-trainer.ts";
import { type LanguageModel } from "../model/lm.ts";
import { buildRewardSources, rewardModelScores, scoreRewards, type RewardSample } from "../rewards/reward-sources.ts";

export interface PpoRewardInputs {
  rewardModel: LanguageModel;
  padId: number;
  /** More sources beside the reward model; absent: the reward model alone. */
  reward?: RewardSpec | undefined;
  /**
   * Each prompt's metadata (the checker's reference), by the prompt's token array: the trainer hands
   * the batches' arrays to the reward unchanged.
   */
  metadataOf: ReadonlyMap<number[], Record<string, unknown>>;
  /** The final answer's text, and the last tool result (null without one), of a completion. */
  answerText: (completion: number[], policyMask: number[]) => Promise<string>;
  toolResult: (completion: number[], policyMask: number[]) => Promise<string | null>;
}

export function ppoReward(o: PpoRewardInputs): RewardFn {
  if (!o.reward) return (prompts, responses) => rewardModelScores(o.rewardModel, o.padId, prompts.map((prompt, b) => ({ prompt, completion: responses[b] ?? [] })));
  const sources = buildRewardSources(o.reward, { model: o.rewardModel, padId: o.padId });
  return async (prompts, responses, policyMask) => {
    const samples: RewardSample[] = await Promise.all(prompts.map(async (prompt, b) => {
      const completion = responses[b] ?? [];
      const mask = policyMask[b] ?? [];
      const metadata = o.metadataOf.get(prompt);
      if (!metadata) throw new Error(`PPO reward: prompt ${b + 1} of the batch is not one of the job's prompts`);
      return {
        prompt, completion, metadata, answer: await o.answerText(completion, mask), toolResult: await o.toolResult(completion, mask),
        policyLength: mask.filter(Boolean).length,
      };
    }));
    const { total, metrics } = await scoreRewards(sources, samples);
    return { scores: total, metrics };
  };
}
