/**
 * How often the labelers agree with each other on the preference pairs a round's reward model is measured on
 * (decision 0067). The reward model's held-out accuracy means little alone: on pairs people order as often one way
 * as the other, no model can score high. InstructGPT reports its reward model (≈72 %) next to its labelers' own
 * agreement (72.6 ± 1.5 %); the round report does the same, on the very pairs of the reward model's held-out side.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.server.ts";
import { choiceAsRanking, notSentBack } from "../labeling/export-items.server.ts";
import { promptRules } from "../labeling/eval-split.ts";
import { labelerAgreement, type AgreementSubmission } from "../labeling/quality/labeler-agreement.ts";
import { rankingSchema } from "../labeling/quality/ranking.ts";
import type { DataSnapshot } from "./rounds.server.ts";

export type HeldOutAgreement = {
  /** Of the answer pairs two labelers both ordered, the share they ordered the same way (pooled); null when none. */
  rate: number | null;
  /** Those (answer pair, two labelers) comparisons. */
  compared: number;
};

/**
 * Pooled pairwise agreement between labelers over the ranking and A/B items on the held-out side of the round's
 * prompt split, from exactly the submissions the round's data snapshot holds (its id ranges carry the date, labeler,
 * source and gold filters). Gold items are left out, as they are from training. null without a split.
 */
export async function heldOutAgreement(db: Db, snapshot: Pick<DataSnapshot, "promptSplit" | "ranges">): Promise<HeldOutAgreement | null> {
  const split = snapshot.promptSplit;
  const first = snapshot.ranges[0]?.[0];
  const last = snapshot.ranges.at(-1)?.[1];
  if (!split) return null;
  if (first === undefined || last === undefined) return { rate: null, compared: 0 };
  let query = db
    .selectFrom("submissions")
    .innerJoin("tasks", "tasks.id", "submissions.task_id")
    .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
    .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
    .select(["submissions.id", "submissions.task_id", "submissions.user_id", "submissions.payload", "tasks.type", "assignments.shown_order"])
    .where("tasks.type", "in", ["rank", "compare"])
    .where("tasks.gold", "is", null)
    .where(sql<boolean>`submissions.id between ${first} and ${last}`)
    .where(notSentBack)
    .orderBy("submissions.id");
  for (const rule of promptRules({ promptSplit: "eval", promptSplitSeed: split.seed, promptSplitShare: split.share })) query = query.where(rule);
  const inSnapshot = (id: number) => {
    // the ranges are sorted and disjoint: binary search for the last one starting at or before id
    let [lo, hi] = [0, snapshot.ranges.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (snapshot.ranges[mid]![0] <= id) lo = mid;
      else hi = mid - 1;
    }
    const [a, b] = snapshot.ranges[lo]!;
    return id >= a && id <= b;
  };
  const submissions: AgreementSubmission[] = (await query.execute())
    .filter((row) => inSnapshot(Number(row.id)))
    .map((row) => ({
      itemId: row.task_id,
      labelerId: row.user_id,
      ranking: row.type === "rank" ? rankingSchema.parse(row.payload.ranking) : choiceAsRanking(row.payload, row.shown_order),
    }));
  const { rate, compared } = labelerAgreement(submissions).project.pairwise;
  return { rate, compared };
}
