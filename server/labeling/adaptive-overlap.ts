import { z } from "zod";
import { pairwiseAgreement } from "./quality/kendall.ts";
import type { Ranking } from "./quality/ranking.ts";

/**
 * Adaptive overlap for ranking tasks (decision 0038, issue 16 item 2): a task starts with `start`
 * labelers; when its labels are in, it completes if they agree (pooled pairwise agreement at or
 * above `agreementBelow`), else it asks for one more labeler, up to `max` per task and
 * `extraLabelsCap` extra labels in the whole project. Pure parts here; the submit applies them
 * under the task's row lock.
 */
export const adaptiveOverlapSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    start: z.number().int().min(1).max(20).default(2),
    max: z.number().int().min(1).max(20).default(5),
    agreementBelow: z.number().min(0).max(1).default(0.75),
    /** Extra labels (beyond `start`) the project may spend in all; null = no project cap. */
    extraLabelsCap: z.number().int().min(0).max(1_000_000).nullable().default(null),
    /**
     * Stop before `start` (decision 0049): once `after` labels agree and the project's reward model
     * is confident about the item (top-two margin ≥ confidentMargin) and prefers what the labelers
     * put first, the task completes with those labels. Null = never.
     */
    earlyStop: z
      .strictObject({ after: z.number().int().min(2).max(19), confidentMargin: z.number().min(0).max(1_000_000) })
      .nullable()
      .default(null),
  })
  .refine((a) => a.start <= a.max, { path: ["max"], message: "must be at least start" })
  .refine((a) => a.earlyStop === null || a.earlyStop.after < a.start, { path: ["earlyStop", "after"], message: "must be below start (the labels a task stops early at)" });
export type AdaptiveOverlap = z.infer<typeof adaptiveOverlapSchema>;

/** The overlap a new task of this type gets. */
export function initialOverlap(settings: { overlap: Record<"demonstrate" | "rank" | "review" | "compare", number>; adaptiveOverlap: AdaptiveOverlap }, type: "demonstrate" | "rank" | "review" | "compare"): number {
  return type === "rank" && settings.adaptiveOverlap.enabled ? settings.adaptiveOverlap.start : settings.overlap[type];
}

/** Pooled agreement over every pair of rankings of one item (null: no pair ordered by both). */
export function itemAgreement(rankings: readonly Ranking[]): number | null {
  let agreed = 0;
  let compared = 0;
  for (let i = 0; i < rankings.length; i++) {
    for (let j = i + 1; j < rankings.length; j++) {
      const a = pairwiseAgreement(rankings[i]!, rankings[j]!);
      agreed += a.agreed;
      compared += a.compared;
    }
  }
  return compared === 0 ? null : agreed / compared;
}

/**
 * Stop early (decision 0049)? When there are `after` labels or more (the task asked for more),
 * they agree (pooled agreement ≥ agreementBelow), the reward model's margin is at least
 * `confidentMargin`, and the completion it scores best is in every label's first tier.
 */
export function stopsEarly(
  rankings: readonly Ranking[],
  settings: AdaptiveOverlap,
  model: { margin: number; best: string } | null,
): boolean {
  const early = settings.earlyStop;
  if (!early || !model || rankings.length < early.after) return false;
  const rate = itemAgreement(rankings);
  if (rate === null || rate < settings.agreementBelow) return false;
  return model.margin >= early.confidentMargin && rankings.every((r) => r.tiers[0]?.includes(model.best) ?? false);
}

/** One more labeler? Only when the labels disagree and the task is under its cap. */
export function wantsAnother(rankings: readonly Ranking[], overlap: number, settings: AdaptiveOverlap): boolean {
  if (overlap >= settings.max) return false;
  const rate = itemAgreement(rankings);
  return rate !== null && rate < settings.agreementBelow;
}
