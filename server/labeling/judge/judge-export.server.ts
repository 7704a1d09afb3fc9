/**
 * The judge's verdicts as their own annotator (decision 0035): one JSONL line per judged task,
 * with `annotator: {kind: "judge", name}` (name: endpoint:…, model:… or reward-model:…). They live in their own table, never in submissions,
 * so no human export (preferences, rankings, SFT) can pick them up; this file is the only way out.
 */
import type { Db } from "../../db/database.server.ts";

const BATCH = 500;

/** The verdicts finished in a time window, like the human exports' `since` / `until`. */
export type JudgeExportFilter = { since?: string | undefined; until?: string | undefined };

export async function* judgeLines(db: Db, projectId: string, filter: JudgeExportFilter = {}): AsyncGenerator<string> {
  let after = "0";
  for (;;) {
    const rows = await db
      .selectFrom("judge_suggestions")
      .innerJoin("tasks", "tasks.id", "judge_suggestions.task_id")
      .select([
        "judge_suggestions.id", "judge_suggestions.task_id", "judge_suggestions.judge", "judge_suggestions.state", "judge_suggestions.ranking",
        "judge_suggestions.detail", "judge_suggestions.failure", "judge_suggestions.finished_at", "tasks.prompt_id", "tasks.type", "tasks.suggestion_arm",
      ])
      .where("judge_suggestions.project_id", "=", projectId)
      .where("judge_suggestions.state", "!=", "running")
      .where("judge_suggestions.id", ">", after)
      .$if(filter.since !== undefined, (q) => q.where("judge_suggestions.finished_at", ">=", new Date(filter.since!)))
      .$if(filter.until !== undefined, (q) => q.where("judge_suggestions.finished_at", "<", new Date(filter.until!)))
      .orderBy("judge_suggestions.id")
      .limit(BATCH)
      .execute();
    if (rows.length === 0) return;
    after = rows.at(-1)!.id;
    yield rows
      .map((r) =>
        JSON.stringify({
          task_id: r.task_id,
          prompt_id: r.prompt_id,
          task_type: r.type,
          annotator: { kind: "judge", name: r.judge },
          state: r.state,
          ranking: r.ranking,
          failure: r.failure,
          answers: r.detail.answers ?? [],
          consistency: r.detail.consistency ?? null,
          // A reward-model judge (decision 0053): its score of each completion, in the task's order.
          scores: r.detail.scores ?? null,
          suggestion_arm: r.suggestion_arm,
          judged_at: r.finished_at?.toISOString() ?? null,
        }) + "\n",
      )
      .join("");
  }
}
