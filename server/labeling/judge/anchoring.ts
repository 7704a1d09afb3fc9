/**
 * The anchoring audit's numbers (decision 0035). Pure: the report loader hands in one record per
 * human submission on a task the judge ranked, and gets back the figures the quality page shows.
 *
 * The unit is the submission: its agreement with the judge is the share of completion pairs both
 * order that they order the same way (InstructGPT's pairwise agreement). The anchoring effect is
 * mean agreement when the suggestion could be revealed (arm "shown") minus mean agreement when it
 * was withheld; the arms are drawn at random per task, so the difference estimates what showing
 * the suggestion does to agreement. Its 95 % interval is Welch's normal approximation for a
 * difference of two means, diff ± 1.96·√(s²ₛ/nₛ + s²ᵥ/nᵥ) with sample variances (n − 1), which
 * treats submissions as independent: labelers and items repeat, so read it as a first check, not
 * a clustered analysis.
 */
import type { SuggestionArm } from "../../db/schema.ts";
import { pairwiseAgreement } from "../quality/kendall.ts";
import type { Ranking } from "../quality/ranking.ts";
import type { JudgeAnswer } from "./judge-core.ts";

export type AuditSubmission = {
  labelerId: string;
  arm: SuggestionArm;
  revealed: boolean;
  human: Ranking;
  judge: Ranking;
  msOnTask: number | null;
};

export type ArmFigures = {
  submissions: number;
  /** Submissions whose agreement is defined (at least one pair ordered by both). */
  compared: number;
  meanAgreement: number | null;
  sd: number | null;
  /** Pooled over pairs, for reference next to the per-submission mean. */
  agreedPairs: number;
  comparedPairs: number;
  /** Submissions in the arm whose labeler revealed the suggestion (always 0 when withheld). */
  revealed: number;
  meanMsOnTask: number | null;
  timed: number;
};

export type AnchoringEffect = {
  /** shown − withheld mean agreement; null when an arm has fewer than two compared submissions. */
  difference: number | null;
  low: number | null;
  high: number | null;
  method: "welch-normal-95";
};

export type ArmReport = { shown: ArmFigures; withheld: ArmFigures; effect: AnchoringEffect };

export const Z95 = 1.959963984540054;

function figures(records: readonly AuditSubmission[]): ArmFigures {
  const rates: number[] = [];
  let agreedPairs = 0;
  let comparedPairs = 0;
  for (const r of records) {
    const a = pairwiseAgreement(r.human, r.judge);
    agreedPairs += a.agreed;
    comparedPairs += a.compared;
    if (a.rate !== null) rates.push(a.rate);
  }
  const mean = rates.length > 0 ? rates.reduce((s, x) => s + x, 0) / rates.length : null;
  const sd = mean !== null && rates.length > 1 ? Math.sqrt(rates.reduce((s, x) => s + (x - mean) ** 2, 0) / (rates.length - 1)) : null;
  const times = records.map((r) => r.msOnTask).filter((t): t is number => t !== null);
  return {
    submissions: records.length,
    compared: rates.length,
    meanAgreement: mean,
    sd,
    agreedPairs,
    comparedPairs,
    revealed: records.filter((r) => r.revealed).length,
    meanMsOnTask: times.length > 0 ? times.reduce((s, x) => s + x, 0) / times.length : null,
    timed: times.length,
  };
}

export function welchDifference(a: ArmFigures, b: ArmFigures): AnchoringEffect {
  if (a.meanAgreement === null || b.meanAgreement === null || a.sd === null || b.sd === null) return { difference: null, low: null, high: null, method: "welch-normal-95" };
  const difference = a.meanAgreement - b.meanAgreement;
  const se = Math.sqrt(a.sd ** 2 / a.compared + b.sd ** 2 / b.compared);
  return { difference, low: difference - Z95 * se, high: difference + Z95 * se, method: "welch-normal-95" };
}

export function armReport(records: readonly AuditSubmission[]): ArmReport {
  const shown = figures(records.filter((r) => r.arm === "shown"));
  const withheld = figures(records.filter((r) => r.arm === "withheld"));
  return { shown, withheld, effect: welchDifference(shown, withheld) };
}

export type PositionBias = {
  /**
   * False when the judge reads nothing in an order: a reward model scores each answer on its own
   * (decision 0053), so it has no position bias to measure and the figures below stay empty.
   */
  applies: boolean;
  /** Answers whose first-read completion won outright, of the answers with a single winner. */
  firstWon: number;
  decided: number;
  rate: number | null;
  /** The rate of a judge with no position preference (1/2 pairwise, 1/K for a K-way list). */
  expectedRate: number | null;
  /** Pairs ordered the same way in both presentation orders. */
  consistency: { agreed: number; compared: number; rate: number | null };
};

/**
 * `judgeReadsInOrder`: whether the project's current judge is asked questions (a chat model) rather
 * than scoring (a reward model). The bias applies when it is, or when any verdict came from one.
 */
export function judgePositionBias(
  suggestions: ReadonlyArray<{ answers: JudgeAnswer[]; consistency: { agreed: number; compared: number }; mode?: string }>,
  judgeReadsInOrder = true,
): PositionBias {
  let firstWonCount = 0;
  let decided = 0;
  let expected = 0;
  let agreed = 0;
  let compared = 0;
  for (const s of suggestions) {
    for (const a of s.answers) {
      if (a.first === null) continue;
      decided++;
      if (a.first) firstWonCount++;
      expected += 1 / a.order.length;
    }
    agreed += s.consistency.agreed;
    compared += s.consistency.compared;
  }
  return {
    applies: judgeReadsInOrder || suggestions.some((s) => s.mode !== "reward-model"),
    firstWon: firstWonCount,
    decided,
    rate: decided > 0 ? firstWonCount / decided : null,
    expectedRate: decided > 0 ? expected / decided : null,
    consistency: { agreed, compared, rate: compared > 0 ? agreed / compared : null },
  };
}
