import { z } from "zod";
import type { ServedBy } from "../../db/schema.ts";

/**
 * Uncertainty-first queues (decision 0048, issue 16 item 2): when enabled, a ranking or compare
 * claim serves first the open task whose K completions the current reward model separates least
 * (smallest margin between its top two scores), except a `randomShare` of claims, which take a
 * uniformly random open task so the labeled data still covers the whole pool. The second rule
 * (decision 0053) serves first the task two successive rounds' reward models disagree on most
 * (active/disagreement.ts). Pure parts here;
 * the queue (queue.server.ts) applies them and the scoring runner fills the cache.
 */
const modelId = z.string().regex(/^\d{1,18}$/, "must be a model id");

export const uncertaintyQueueSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /**
     * How uncertainty is measured: margin (the current reward model's smallest top-two gap first,
     * decision 0048) or disagreement (the current and the previous round's reward models disagree
     * most first, decision 0053).
     */
    rule: z.enum(["margin", "disagreement"]).default("margin"),
    /** A registered reward model of this project; null = the latest round's reward model. */
    rewardModelId: modelId.nullable().default(null),
    /** The disagreement rule's other model; null = the round reward model registered before the current one. */
    previousRewardModelId: modelId.nullable().default(null),
    /** Share of claims served at random instead (keeps the data unbiased). */
    randomShare: z.number().min(0).max(1).default(0.3),
  })
  .refine((q) => q.previousRewardModelId === null || q.previousRewardModelId !== q.rewardModelId, {
    path: ["previousRewardModelId"],
    message: "must be another model than rewardModelId (a model agrees with itself)",
  })
  .default({ enabled: false, rule: "margin", rewardModelId: null, previousRewardModelId: null, randomShare: 0.3 });
export type UncertaintyQueue = z.infer<typeof uncertaintyQueueSchema>;

/** Top score minus the runner-up (0 for fewer than two scores): small = the reward model is unsure. */
export function scoreMargin(scores: readonly number[]): number {
  if (scores.length < 2) return 0;
  const sorted = [...scores].sort((a, b) => b - a);
  return sorted[0]! - sorted[1]!;
}

/** Which rule a claim tries: random with probability randomShare, else the project's uncertainty rule (margin or disagreement). */
export function drawRule(settings: UncertaintyQueue, random: () => number): Exclude<ServedBy, "fifo"> {
  if (random() < settings.randomShare) return "random";
  return settings.rule === "disagreement" ? "disagreement" : "uncertainty";
}
