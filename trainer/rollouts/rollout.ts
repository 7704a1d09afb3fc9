// The sampler behind GRPO/RLOO rollouts and the sampled KL checks, as an injected dependency with
// generate()'s signature, so sampling that runs tools plugs in without touching the trainers.
//
// A rollout may insert tokens the policy did not sample (a tool's result): `policyMask` (same shape
// as `completions`) is 1 where the policy sampled the token and 0 where the sampler inserted it.
// Inserted tokens stay in the context the policy conditions on, but ratios, KL and losses run over
// policy tokens only (TRL's tool_mask). A sampler without tools leaves it out: all ones.
import { generate, type GenerateOptions, type GenerateResult } from "../model/generate.ts";
import { type LanguageModel } from "../model/lm.ts";
import { collateCompletions, type CompletionBatch } from "../data/collate.ts";

export type RolloutResult = GenerateResult & { policyMask?: number[][] };
export type RolloutFn = (model: LanguageModel, prompts: number[][], options: GenerateOptions) => RolloutResult | Promise<RolloutResult>;

/** Plain sampling: every completion token is the policy's. */
export const plainRollout: RolloutFn = (model, prompts, options) => generate(model, prompts, options);

/** The rollout's policy mask, or all ones; refused when its shape differs from the completions'. */
export function policyMaskOf(result: RolloutResult): number[][] {
  const mask = result.policyMask;
  if (!mask) return result.completions.map((c) => c.map(() => 1));
  if (mask.length !== result.completions.length || mask.some((m, b) => m.length !== (result.completions[b]?.length ?? -1)))
    throw new Error("rollout: policyMask must have the shape of completions (one 0/1 per completion token)");
  return mask;
}

export interface RolloutBatch {
  /** prompt ++ completion, right-padded: (B, T). */
  batch: CompletionBatch;
  /** T − 1: next-token positions; position j predicts token j + 1. */
  width: number;
  /** (B, T−1) row-major: 1 where the predicted token is a completion token the policy sampled. */
  lossMask: Float32Array;
  /** Policy tokens per row. */
  policyLengths: number[];
}

export function collateRollout(prompts: number[][], completions: number[][], policyMask: number[][], padId: number): RolloutBatch {
  const batch = collateCompletions(prompts.map((prompt, b) => ({ prompt, completion: completions[b] ?? [] })), padId);
  const [B, T] = batch.shape;
  const W = T - 1;
  const lossMask = new Float32Array(B * W);
  const policyLengths = prompts.map(() => 0);
  for (let b = 0; b < B; b++) {
    const start = prompts[b]?.length ?? 0;
    const mask = policyMask[b] ?? [];
    mask.forEach((m, c) => {
      const j = start + c - 1; // the position that predicts completion token c
      if (m && j >= 0 && j < W) {
        lossMask[b * W + j] = 1;
        policyLengths[b] = (policyLengths[b] ?? 0) + 1;
      }
    });
  }
  return { batch, width: W, lossMask, policyLengths };
}

/** The sampled-by-the-policy tokens of one completion, in order (health metrics look at these). */
export function policyTokens(completion: number[], policyMask: number[]): number[] {
  return completion.filter((_, i) => policyMask[i]);
}

/** A row's seed for rollout r: reproducible, and distinct across rollouts (PPO's scheme). */
export function rolloutSeed(seed: number, rollout: number): number {
  return (seed + rollout * 7919) >>> 0;
}
