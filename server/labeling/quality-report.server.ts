import { sql } from "kysely";
import type { Db } from "../db/database.server.ts";
import { labelerBias, type LabelerBias } from "./quality/bias.ts";
import { labelerAgreement, type AgreementReport } from "./quality/labeler-agreement.ts";
import { rankingSchema } from "./quality/ranking.ts";

export type QualityReport = {
  project: AgreementReport["project"];
  labelers: Array<AgreementReport["labelers"][number] & { name: string; bias: LabelerBias }>;
};

/**
 * The quality dashboard's numbers, computed from every raw ranking of the project (nothing
 * is aggregated away first): agreement between labelers and with the leave-one-out
 * consensus, Kendall's τ, Krippendorff's α, and each labeler's position and length bias.
 */
export async function qualityReport(db: Db, projectId: string): Promise<QualityReport> {
  const rows = await db
    .selectFrom("submissions")
    .innerJoin("tasks", "tasks.id", "submissions.task_id")
    .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
    .innerJoin("users", "users.id", "submissions.user_id")
    .select(["submissions.task_id", "submissions.user_id", "submissions.payload", "assignments.shown_order", "users.name"])
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

  const submissions = rows.map((r) => ({ itemId: r.task_id, labelerId: r.user_id, ranking: rankingSchema.parse(r.payload.ranking), shownOrder: r.shown_order }));
  const agreement = labelerAgreement(submissions);
  const names = new Map(rows.map((r) => [r.user_id, r.name]));
  return {
    project: agreement.project,
    labelers: agreement.labelers.map((labeler) => ({
      ...labeler,
      name: names.get(labeler.labelerId) ?? labeler.labelerId,
      bias: labelerBias(
        submissions
          .filter((s) => s.labelerId === labeler.labelerId)
          .map((s) => ({ shownOrder: s.shownOrder, ranking: s.ranking, lengths: Object.fromEntries(s.shownOrder.map((id) => [id, lengths.get(id) ?? 0])) })),
      ),
    })),
  };
}
