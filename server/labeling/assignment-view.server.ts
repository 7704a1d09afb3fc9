import { AppError } from "../lib/app-error.ts";
import type { SessionUser } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import type { ChatMessage, TaskType, TranscriptMessage } from "../db/schema.ts";
import { getProject } from "./projects.server.ts";
import { suggestionState, type SuggestionState } from "./judge/suggestions.server.ts";
import { sensitiveCategories } from "./wellbeing/sensitive.server.ts";
import { sentBackOfTask } from "./annotation-review.server.ts";

/** Everything a task page needs. Model names stay hidden from labelers: they bias rankings. */
export type AssignmentView = {
  assignmentId: string;
  taskId: string;
  taskType: TaskType;
  /** A synthetic question with its answer (review tasks), not a prompt to label. */
  isQa: boolean;
  state: string;
  leaseExpiresAt: string;
  /** tools: what the project declares (the demonstration editor offers these calls). */
  project: { id: string; name: string; guidelines: string; flags: Array<{ id: string; label: string }>; quality: { min: number; max: number }; tools: string[] };
  messages: ChatMessage[];
  /** text: the final answer; messages: the transcript with tool calls and results, null for a plain completion (decision 0020). */
  completions: Array<{ id: string; label: string; text: string; messages: TranscriptMessage[] | null }>;
  /** The model judge's suggestion, if this task offers one (decision 0035); its ranking only once revealed. */
  suggestion: SuggestionState;
  /** Sensitive categories of this task's content (shown blurred until revealed) and how often this labeler revealed it (decision 0036). */
  sensitive: { categories: string[]; reveals: number };
  /** Minutes on tasks after which the page suggests a break; null = none. */
  breakAfterMinutes: number | null;
  /** A redo of a submission a reviewer sent back (decision 0044): their comment and what was submitted before. */
  sentBack: { comment: string; reviewer: string | null; sentBackAt: string; previous: Record<string, unknown> } | null;
};

export async function loadAssignmentView(db: Db, user: SessionUser, assignmentId: string): Promise<AssignmentView> {
  if (!/^\d{1,18}$/.test(assignmentId)) throw new AppError("not_found", "No such task.");
  const row = await db
    .selectFrom("assignments")
    .innerJoin("tasks", "tasks.id", "assignments.task_id")
    .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
    .select([
      "assignments.id", "assignments.user_id", "assignments.state", "assignments.lease_expires_at", "assignments.shown_order", "assignments.suggestion_revealed_at",
      "tasks.id as task_id", "tasks.suggestion_arm", "tasks.redo_of", "tasks.prompt_id", "tasks.type", "tasks.project_id", "prompts.messages", "prompts.kind",
    ])
    .where("assignments.id", "=", assignmentId)
    .executeTakeFirst();
  if (!row || row.user_id !== user.id) throw new AppError("not_found", "No such task among yours.");
  const project = await getProject(db, row.project_id);
  const texts = row.shown_order.length
    ? await db.selectFrom("completions").select(["id", "text", "messages"]).where("id", "in", row.shown_order).execute()
    : [];
  const byId = new Map(texts.map((c) => [c.id, c]));
  return {
    assignmentId: row.id,
    taskId: row.task_id,
    taskType: row.type,
    isQa: row.kind === "qa",
    state: row.state,
    leaseExpiresAt: row.lease_expires_at.toISOString(),
    project: { id: project.id, name: project.name, guidelines: project.guidelines, flags: project.settings.flags, quality: project.settings.quality, tools: project.settings.tools },
    messages: row.messages,
    completions: row.shown_order.map((id, index) => ({ id, label: String.fromCharCode(65 + index), text: byId.get(id)?.text ?? "", messages: byId.get(id)?.messages ?? null })),
    suggestion: row.type === "rank" || row.type === "compare" ? await suggestionState(db, project.settings, row) : { state: "none", revealed: null },
    sensitive: { categories: await sensitiveCategories(db, row.prompt_id), reveals: await revealCount(db, row.id) },
    breakAfterMinutes: project.settings.wellbeing.breakAfterMinutes,
    sentBack: row.redo_of ? await sentBackOfTask(db, row.task_id) : null,
  };
}

async function revealCount(db: Db, assignmentId: string): Promise<number> {
  const row = await db.selectFrom("content_reveals").select((eb) => eb.fn.countAll<string>().as("n")).where("assignment_id", "=", assignmentId).executeTakeFirstOrThrow();
  return Number(row.n);
}
