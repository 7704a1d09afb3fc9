/**
 * The judge's figures for the project page and the quality page (decision 0035): how many tasks
 * it judged or failed on (and why), and the anchoring audit over the human submissions on judged
 * tasks. The quality page, its JSON and the tests all call `judgeAudit`.
 */
import type { Db } from "../../db/database.server.ts";
import type { JudgeFailure, SuggestionArm } from "../../db/schema.ts";
import { getProject } from "../projects.server.ts";
import { rankingSchema, type Ranking } from "../quality/ranking.ts";
import { armReport, judgePositionBias, type ArmReport, type AuditSubmission, type PositionBias } from "./anchoring.ts";
import type { JudgeAnswer } from "./judge-core.ts";

export type JudgeStatus = {
  configured: boolean;
  /** What judges: an endpoint, a chat model, or a reward model that scores (decision 0053). */
  source: "endpoint" | "model" | "reward-model" | null;
  suggestions: "off" | "shown" | null;
  withheldShare: number | null;
  done: number;
  running: number;
  failed: Record<JudgeFailure, number>;
  arms: Record<SuggestionArm, number>;
};

export async function judgeStatus(db: Db, projectId: string): Promise<JudgeStatus> {
  const project = await getProject(db, projectId);
  const rows = await db
    .selectFrom("judge_suggestions")
    .select(["state", "failure", (eb) => eb.fn.countAll<string>().as("n")])
    .where("project_id", "=", projectId)
    .groupBy(["state", "failure"])
    .execute();
  const arms = await db
    .selectFrom("tasks")
    .select(["suggestion_arm", (eb) => eb.fn.countAll<string>().as("n")])
    .where("project_id", "=", projectId)
    .where("suggestion_arm", "is not", null)
    .groupBy("suggestion_arm")
    .execute();
  const count = (state: string, failure: string | null = null) => Number(rows.find((r) => r.state === state && r.failure === failure)?.n ?? 0);
  return {
    configured: project.settings.judge !== undefined,
    source: project.settings.judge?.source.kind ?? null,
    suggestions: project.settings.judge?.suggestions ?? null,
    withheldShare: project.settings.judge?.withheldShare ?? null,
    done: count("done"),
    running: count("running"),
    failed: { timeout: count("failed", "timeout"), unparseable: count("failed", "unparseable"), error: count("failed", "error") },
    arms: { shown: Number(arms.find((a) => a.suggestion_arm === "shown")?.n ?? 0), withheld: Number(arms.find((a) => a.suggestion_arm === "withheld")?.n ?? 0) },
  };
}

export type JudgeAudit = {
  status: JudgeStatus;
  project: ArmReport;
  positionBias: PositionBias;
  labelers: Array<ArmReport & { labelerId: string; name: string }>;
};

/** A compare submission as a ranking of its two completions (a tie is one tier). */
function humanRanking(type: string, payload: Record<string, unknown>, shown: string[]): Ranking | null {
  if (type === "rank") {
    const parsed = rankingSchema.safeParse(payload.ranking);
    return parsed.success ? parsed.data : null;
  }
  if (typeof payload.winner === "string" && typeof payload.loser === "string") return { tiers: [[payload.winner], [payload.loser]] };
  return payload.choice === "tie" ? { tiers: [shown.slice(0, 2)] } : null;
}

export async function judgeAudit(db: Db, projectId: string): Promise<JudgeAudit> {
  const status = await judgeStatus(db, projectId);
  const rows = await db
    .selectFrom("submissions")
    .innerJoin("tasks", "tasks.id", "submissions.task_id")
    .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
    .innerJoin("judge_suggestions", "judge_suggestions.task_id", "tasks.id")
    .innerJoin("users", "users.id", "submissions.user_id")
    .select([
      "submissions.user_id", "submissions.payload", "submissions.timings", "tasks.type", "tasks.suggestion_arm",
      "assignments.shown_order", "assignments.suggestion_revealed_at", "judge_suggestions.ranking", "users.name",
    ])
    .where("tasks.project_id", "=", projectId)
    .where("judge_suggestions.state", "=", "done")
    .where("tasks.suggestion_arm", "is not", null)
    .orderBy("submissions.id")
    .execute();
  const records: AuditSubmission[] = [];
  for (const r of rows) {
    const human = humanRanking(r.type, r.payload, r.shown_order);
    if (!human || !r.ranking || !r.suggestion_arm) continue;
    const ms = r.timings.msOnTask;
    records.push({ labelerId: r.user_id, arm: r.suggestion_arm, revealed: r.suggestion_revealed_at !== null, human, judge: r.ranking, msOnTask: typeof ms === "number" ? ms : null });
  }
  const names = new Map(rows.map((r) => [r.user_id, r.name]));
  const suggestions = await db.selectFrom("judge_suggestions").select("detail").where("project_id", "=", projectId).where("state", "=", "done").execute();
  return {
    status,
    project: armReport(records),
    positionBias: judgePositionBias(
      suggestions.map((s) => ({
        answers: (s.detail.answers as JudgeAnswer[] | undefined) ?? [],
        consistency: (s.detail.consistency as { agreed: number; compared: number } | undefined) ?? { agreed: 0, compared: 0 },
        mode: typeof s.detail.mode === "string" ? s.detail.mode : undefined,
      })),
      status.source !== "reward-model",
    ),
    labelers: [...names.keys()].map((labelerId) => ({ labelerId, name: names.get(labelerId) ?? labelerId, ...armReport(records.filter((r) => r.labelerId === labelerId)) })),
  };
}
