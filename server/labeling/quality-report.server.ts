import { sql } from "kysely";
import type { Db } from "../db/database.server.ts";
import { labelerBias, type LabelerBias } from "./quality/bias.ts";
import { labelerAgreement, type AgreementReport } from "./quality/labeler-agreement.ts";
import { rankingSchema, type Ranking } from "./quality/ranking.ts";
import { judgeAudit, type JudgeAudit } from "./judge/judge-report.server.ts";

export type QualityReport = {
  project: AgreementReport["project"];
  /** submissions and vsConsensus count ordinary items only; goldSubmissions and vsGold the gold ones. */
  labelers: Array<AgreementReport["labelers"][number] & { name: string; goldSubmissions: number; bias: LabelerBias }>;
  /** The model judge and its anchoring audit (decision 0035). */
  judge: JudgeAudit;
};

/**
 * The quality dashboard's numbers, computed from every raw ranking of the project (nothing
 * is aggregated away first): agreement between labelers and with the leave-one-out
 * consensus, Kendall's τ, Krippendorff's α, and each labeler's position and length bias; and
 * the model judge's anchoring audit.
 */
export async function qualityReport(db: Db, projectId: string): Promise<QualityReport> {
  const rows = await db
    .selectFrom("submissions")
    .innerJoin("tasks", "tasks.id", "submissions.task_id")
    .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
    .innerJoin("users", "users.id", "submissions.user_id")
    .select(["submissions.task_id", "submissions.user_id", "submissions.payload", "assignments.shown_order", "users.name", "tasks.gold"])
    .where("tasks.project_id", "=", projectId)
    .where("tasks.type", "=", "rank")
    .orderBy("submissions.id")
    .execute();
  const completionIds = [...new Set(rows.flatMap((r) => r.shown_order))];
  const lengths = new Map<string, number>();
  if (completionIds.length > 0) {
    const found = await db
      .selectFrom("completions")
      .select(["id", sql<number>`char_length(text)`.as("length")])
      .where("id", "in", completionIds)
      .execute();
    for (const c of found) lengths.set(c.id, c.length);
  }

  const submissions = rows.map((r) => ({ itemId: r.task_id, labelerId: r.user_id, ranking: rankingSchema.parse(r.payload.ranking), shownOrder: r.shown_order, gold: r.gold }));
  // Gold items are ranked by every labeler: mixed into the inter-labeler figures they would
  // outweigh the real items, so they count only toward each labeler's agreement with gold.
  const agreement = labelerAgreement(submissions.filter((s) => s.gold === null));
  const gold = new Map<string, Ranking>();
  for (const s of submissions) if (s.gold) gold.set(s.itemId, rankingSchema.parse(s.gold));
  const goldAgreement = labelerAgreement(submissions.filter((s) => s.gold !== null), [...gold].map(([itemId, ranking]) => ({ itemId, ranking })));
  const ordinary = new Map(agreement.labelers.map((l) => [l.labelerId, l] as const));
  const onGold = new Map(goldAgreement.labelers.map((l) => [l.labelerId, l] as const));
  const none = { rate: null, agreed: 0, compared: 0, comparisons: 0 };
  const names = new Map(rows.map((r) => [r.user_id, r.name]));
  return {
    judge: await judgeAudit(db, projectId),
    project: agreement.project,
    labelers: [...new Set([...ordinary.keys(), ...onGold.keys()])].map((labelerId) => ({
      labelerId,
      submissions: ordinary.get(labelerId)?.submissions ?? 0,
      vsConsensus: ordinary.get(labelerId)?.vsConsensus ?? none,
      goldSubmissions: onGold.get(labelerId)?.submissions ?? 0,
      vsGold: onGold.get(labelerId)?.vsGold ?? none,
      name: names.get(labelerId) ?? labelerId,
      bias: labelerBias(
        submissions
          .filter((s) => s.labelerId === labelerId)
          .map((s) => ({ shownOrder: s.shownOrder, ranking: s.ranking, lengths: Object.fromEntries(s.shownOrder.map((id) => [id, lengths.get(id) ?? 0])) })),
      ),
    })),
  };
}
