// What GRPO and RLOO are rewarded for: pluggable sources, each scored on every sampled answer and
// logged on its own (`rewards/<source>/mean`, `rewards/<source>/std`, TRL's names), combined as
// Σ wᵢ·rᵢ (TRL's reward_weights; "sum then normalise"). Zod only, so the web app can import it.
//
// Sources (metric name → what it scores):
//   checker       the project's verifiable checker over each prompt's metadata, on the final answer
//                 (the text after the last tool result): 1 right, 0 wrong or unreadable (counted by
//                 reason as `checker/unreadable/<reason>`); a prompt without the reference field is
//                 not scored (`checker/unscored`): it neither helps nor hurts
//   reward_model  a scalar-head reward model's score of prompt + answer, read at the last token (as PPO)
//   format        1 when the final answer matches `format.pattern`, else 0
//   length        −|L − target| / target in policy tokens, floored at −1 (0 at the target)
//   tool_result   1 when the final answer states what the last tool call returned (the same number,
//                 or the result's text inside the answer), else 0; an answer that called no tool, or
//                 whose last call failed (`error: …`), is not scored. It credits reading the tool's
//                 result: a policy that calls the calculator right and then states another number
//                 gets no credit from it (the bench's commonest slip, docs/benchmarks.md)
//   digits        partial credit for a numeric answer: the share of digit places (and the sign) where
//                 the stated number agrees with the number in the prompt's metadata field
//                 (checker.digitAgreement: 1776 for 1767 scores 0.5); 0 when the answer states no
//                 number, not scored without the field. A 0/1 checker says only that an answer is
//                 wrong; this says how near it came, so a group whose answers are all wrong can still
//                 teach (decision trainer-032)
// An answer no source could score (all null) gets advantage 0 and is left out of its group's
// statistics (TRL). A NaN or infinite score stops the step, naming the source and the last checkpoint.
import { z } from "zod";
import { checkerSpecSchema, metadataField } from "./checker.ts";

export const REWARD_SOURCES = ["checker", "reward_model", "format", "length", "tool_result", "digits"] as const;
export type RewardSourceName = (typeof REWARD_SOURCES)[number];

function compiles(pattern: string, flags: string): boolean {
  try {
    new RegExp(pattern, flags);
    return true;
  } catch {
    return false;
  }
}

const weight = z.number().min(-100).max(100);

export const rewardSpecSchema = z
  .strictObject({
    /** A verifiable checker (numeric, exact, regex or JSON field) over each prompt's metadata. */
    checker: checkerSpecSchema.optional(),
    /** A regular expression the final answer must match (first 4,000 characters). */
    format: z
      .strictObject({
        pattern: z.string().min(1).max(500),
        flags: z.string().regex(/^[imsu]{0,4}$/, "flags: i, m, s, u").default(""),
      })
      .refine((f) => compiles(f.pattern, f.flags), { message: "not a valid regular expression", path: ["pattern"] })
      .optional(),
    /** A length term toward `target` policy tokens. */
    length: z.strictObject({ target: z.number().int().positive().max(100_000) }).optional(),
    /** Credit for stating the last tool result (no settings). */
    toolResult: z.strictObject({}).optional(),
    /** Partial credit per digit against a numeric reference in each prompt's metadata. */
    digits: z.strictObject({ field: metadataField.default("answer") }).optional(),
    /**
     * Weight of each source in the sum (default 1). `rewardModel` weighs the reward model the job
     * names (job `rewardModel`); a weight for a source the job does not have is refused.
     */
    weights: z
      .strictObject({ checker: weight.optional(), rewardModel: weight.optional(), format: weight.optional(), length: weight.optional(), toolResult: weight.optional(), digits: weight.optional() })
      .default({}),
  })
  .superRefine((r, ctx) => {
    for (const key of ["checker", "format", "length", "toolResult", "digits"] as const) {
      if (r.weights[key] !== undefined && r[key] === undefined)
        ctx.addIssue({ code: "custom", message: `a weight for ${key}, but no ${key} reward is configured`, path: ["weights", key] });
    }
  });

export type RewardSpec = z.output<typeof rewardSpecSchema>;
export type RewardSpecInput = z.input<typeof rewardSpecSchema>;

/** The sources a job rewards with, and their weights; refuses a job with none or a stray weight. */
export function rewardSources(spec: RewardSpec, hasRewardModel: boolean): { name: RewardSourceName; weight: number }[] {
  if (spec.weights.rewardModel !== undefined && !hasRewardModel) throw new Error("reward.weights.rewardModel: the job names no reward model (rewardModel)");
  const sources: { name: RewardSourceName; weight: number }[] = [];
  if (spec.checker) sources.push({ name: "checker", weight: spec.weights.checker ?? 1 });
  if (hasRewardModel) sources.push({ name: "reward_model", weight: spec.weights.rewardModel ?? 1 });
  if (spec.format) sources.push({ name: "format", weight: spec.weights.format ?? 1 });
  if (spec.length) sources.push({ name: "length", weight: spec.weights.length ?? 1 });
  if (spec.toolResult) sources.push({ name: "tool_result", weight: spec.weights.toolResult ?? 1 });
  if (spec.digits) sources.push({ name: "digits", weight: spec.weights.digits ?? 1 });
  if (sources.length === 0) throw new Error("reward: no reward source (give a checker, a reward model, a format, a length, a tool-result or a digits term)");
  return sources;
}
