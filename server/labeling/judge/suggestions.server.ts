/**
 * What a labeler may see of the judge, and the record of seeing it (decision 0035). A suggestion
 * is offered only when the project shows suggestions, the task fell in the "shown" arm and the
 * judge has answered; a withheld task looks exactly like a project without suggestions, so the
 * audit slice is blind. The suggestion itself is sent only on reveal, and the first reveal is
 * stored on the assignment.
 */
import { AppError } from "../../lib/app-error.ts";
import type { Db } from "../../db/database.server.ts";
import type { SuggestionArm } from "../../db/schema.ts";
import type { ProjectSettings } from "../project-settings.ts";

/** none: nothing to reveal (no judge, suggestions off, withheld, or the judge failed); pending: the judge has not answered yet. */
export type SuggestionState = { state: "none" | "pending" | "available"; revealed: string[][] | null };

/** The judge's ranking in the labeler's own letters (A = first shown). */
export function inShownLetters(tiers: readonly string[][], shownOrder: readonly string[]): string[][] {
  return tiers.map((tier) => tier.filter((id) => shownOrder.includes(id)).map((id) => String.fromCharCode(65 + shownOrder.indexOf(id)))).filter((t) => t.length > 0);
}

export async function suggestionState(
  db: Db,
  settings: ProjectSettings,
  row: { task_id: string; shown_order: string[]; suggestion_arm: SuggestionArm | null; suggestion_revealed_at: Date | null },
): Promise<SuggestionState> {
  if (settings.judge?.suggestions !== "shown" || row.suggestion_arm !== "shown") return { state: "none", revealed: null };
  const suggestion = await db.selectFrom("judge_suggestions").select(["state", "ranking"]).where("task_id", "=", row.task_id).executeTakeFirst();
  if (!suggestion || suggestion.state === "running") return { state: "pending", revealed: null };
  if (suggestion.state !== "done" || !suggestion.ranking) return { state: "none", revealed: null };
  return { state: "available", revealed: row.suggestion_revealed_at ? inShownLetters(suggestion.ranking.tiers, row.shown_order) : null };
}

/** Records the reveal (the first one counts) and returns the suggestion in the labeler's letters. */
export async function revealSuggestion(db: Db, userId: string, assignmentId: string, settings: ProjectSettings): Promise<{ tiers: string[][]; revealedAt: string }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom("assignments")
      .innerJoin("tasks", "tasks.id", "assignments.task_id")
      .select(["assignments.user_id", "assignments.state", "assignments.shown_order", "assignments.suggestion_revealed_at", "tasks.id as task_id", "tasks.suggestion_arm"])
      .where("assignments.id", "=", assignmentId)
      .forUpdate()
      .executeTakeFirst();
    if (!row || row.user_id !== userId) throw new AppError("not_found", "No such task among yours.");
    if (row.state !== "active") throw new AppError("conflict", `This task is ${row.state}; its suggestion can no longer be revealed.`);
    const state = await suggestionState(trx, settings, { ...row, suggestion_revealed_at: null });
    if (state.state !== "available") throw new AppError("conflict", state.state === "pending" ? "The judge has not answered yet; try again in a moment." : "This task has no suggestion to reveal.");
    const suggestion = await trx.selectFrom("judge_suggestions").select("ranking").where("task_id", "=", row.task_id).executeTakeFirstOrThrow();
    const revealedAt = row.suggestion_revealed_at ?? new Date();
    if (!row.suggestion_revealed_at) await trx.updateTable("assignments").set({ suggestion_revealed_at: revealedAt }).where("id", "=", assignmentId).execute();
    return { tiers: inShownLetters(suggestion.ranking!.tiers, row.shown_order), revealedAt: revealedAt.toISOString() };
  });
}
