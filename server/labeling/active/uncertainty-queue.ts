import { z } from "zod";
import type { ServedBy } from "../../db/schema.ts";

/**
 * Uncertainty-first queues (decision 0048, issue 16 item 2): when enabled, a ranking or compare
 * claim serves first the open task whose K completions the current reward model separates least
 * (smallest margin between its top two scores), except a `randomShare` of claims, which take a
 * uniformly random open task so the labeled data still covers the whole pool. Pure parts here;
 * the queue (queue.server.ts) applies them and the scoring runner fills the cache.
 */
export const uncertaintyQueueSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** A registered reward model of this project; null = the latest round's reward model. */
    rewardModelId: z.string().regex(/^\d{1,18}$/, "must be a model id").nullable().default(null),
    /** Share of claims served at random instead (keeps the data unbiased). */
    randomShare: z.number().min(0).max(1).default(0.3),
  })
  .default({ enabled: false, rewardModelId: null, randomShare: 0.3 });
export type UncertaintyQueue = z.infer<typeof uncertaintyQueueSchema>;

/** Top score minus the runner-up (0 for fewer than two scores): small = the reward model is unsure. */
export function scoreMargin(scores: readonly number[]): number {
  if (scores.length < 2) return 0;
  const sorted = [...scores].sort((a, b) => b - a);
  return sorted[0]! - sorted[1]!;
}

/** Which rule a claim tries: random with probability randomShare, else uncertainty first. */
export function drawRule(settings: UncertaintyQueue, random: () => number): Exclude<ServedBy, "fifo"> {
  return random() < settings.randomShare ? "random" : "uncertainty";
}
