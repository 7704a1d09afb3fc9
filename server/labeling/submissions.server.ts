import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import type { SessionUser } from "../auth/actor.ts";
import { sql, type Transaction } from "kysely";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { releasePrompts } from "./prompt-review.server.ts";
import { validateRanking } from "./quality/ranking.ts";
import type { ProjectSettings } from "./project-settings.ts";
import { conversationMessageSchema } from "../../trainer/contract/conversation.ts";
import { transcriptProblems, undeclaredToolProblems } from "./transcript.ts";
import { settleToolResults } from "./tool-results.server.ts";
import { markFromFlags } from "./wellbeing/sensitive.server.ts";
import { adaptOverlap } from "./adaptive-overlap.server.ts";
import type { Ranking } from "./quality/ranking.ts";

/** What a client sends to finish an assignment. The key makes a double submit record once. */
export const submitSchema = z.object({
  idempotencyKey: z.string().min(8, "idempotencyKey must be at least 8 characters").max(100),
  payload: z.record(z.string(), z.unknown()),
  timings: z
    .object({
      msOnTask: z.number().int().min(0).max(86_400_000).optional(),
      expanded: z.array(z.string().max(30)).max(20).optional(),
      orderChanged: z.boolean().optional(),
    })
    .strict()
    .default({}),
});
export type SubmitInput = z.infer<typeof submitSchema>;

const MAX_CONTINUATION_TURNS = 40;
const MAX_TOOL_TURNS = 32;
const turnText = (who: string) => z.string().trim().min(1, `Write the ${who} or remove the turn.`).max(32_000, `Keep each turn under 32,000 characters.`);

/**
 * A reply's tool use (decision 0020): assistant messages with tool calls, each followed by the
 * tool messages with their results, before the reply's final words. Only tools the project
 * declares; a call's result must be written (the server does not run tools here yet, see
 * settleToolResults).
 */
const toolTurnsSchema = (tools: readonly string[]) =>
  z
    .array(conversationMessageSchema)
    .min(2, "A tool call needs its result.")
    .max(MAX_TOOL_TURNS, `A reply makes at most ${MAX_TOOL_TURNS / 2} tool calls.`)
    .superRefine((turns, ctx) => {
      // Checked as the reply it belongs to: the tool turns, then the final words.
      const problems = [...transcriptProblems([...turns, { role: "assistant", content: "(final words)" }]), ...undeclaredToolProblems(turns, tools)];
      for (const p of problems) if (p.path[0] !== turns.length) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
      turns.forEach((turn, i) => {
        if (turn.role === "tool" && turn.content.trim() === "") ctx.addIssue({ code: "custom", path: [i, "content"], message: "Write the tool's result (what the tool returned)." });
        for (const [c, call] of (turn.tool_calls ?? []).entries()) {
          const expression = call.function.arguments.expression;
          if (call.function.name === "calculator" && (typeof expression !== "string" || expression.trim() === "")) {
            ctx.addIssue({ code: "custom", path: [i, "tool_calls", c, "function", "arguments", "expression"], message: "Write the expression the calculator evaluates." });
          }
        }
      });
    });

/**
 * A demonstration is the assistant's reply (`text`) and, optionally, the conversation continued
 * after it: the user's next message and the assistant's reply to it, as many times as the labeler
 * goes on. So `continuation` alternates user, assistant, … and ends with an assistant turn. A
 * reply may call the project's tools before its final words (`toolTurns`).
 */
export const demonstrationPayloadFor = (tools: readonly string[]) => z
  .object({
    text: z.string().trim().min(1, "Write the reply before submitting.").max(32_000, "Keep the reply under 32,000 characters."),
    toolTurns: toolTurnsSchema(tools).optional(),
    continuation: z
      .array(
        z.discriminatedUnion("role", [
          z.object({ role: z.literal("user"), content: turnText("user's message") }).strict(),
          z.object({ role: z.literal("assistant"), content: turnText("assistant's reply"), toolTurns: toolTurnsSchema(tools).optional() }).strict(),
        ]),
      )
      .max(MAX_CONTINUATION_TURNS, `A demonstration continues for at most ${MAX_CONTINUATION_TURNS} more turns.`)
      .superRefine((turns, ctx) => {
        turns.forEach((turn, index) => {
          const expected = index % 2 === 0 ? "user" : "assistant";
          if (turn.role !== expected) ctx.addIssue({ code: "custom", path: [index, "role"], message: `turn ${index + 1} after the reply must be "${expected}" (user and assistant take turns)` });
        });
        if (turns.length % 2 === 1) ctx.addIssue({ code: "custom", path: [turns.length - 1], message: "the conversation must end with the assistant's reply to the last user message" });
      })
      .optional(),
  })
  .strict();
/** The payload with no tools declared (a tool call is then refused). */
export const demonstrationPayload = demonstrationPayloadFor([]);

const rankPayloadShape = z
  .object({
    ranking: z.unknown(),
    quality: z.record(z.string(), z.number().int()).default({}),
    flags: z.record(z.string(), z.array(z.string())).default({}),
    rationale: z.string().max(5_000, "Keep the rationale under 5,000 characters.").default(""),
  })
  .strict();

export const reviewReasons = ["factual_error", "incomplete", "unclear", "unsafe", "style", "formatting", "other"] as const;

const reviewPayload = z
  .object({
    decision: z.enum(["accept", "edit", "reject"]),
    editedText: z.string().trim().min(1, "Write the corrected answer.").max(32_000).optional(),
    reasons: z.array(z.enum(reviewReasons)).max(reviewReasons.length).default([]),
    note: z.string().max(2_000).default(""),
  })
  .strict()
  .refine((p) => p.decision !== "edit" || p.editedText !== undefined, { path: ["editedText"], message: "An edit needs the corrected answer." })
  .refine((p) => p.decision === "edit" || p.editedText === undefined, { path: ["editedText"], message: "Only an edit carries a corrected answer." })
  .refine((p) => p.decision !== "edit" || p.reasons.length > 0, { path: ["reasons"], message: "Say why you edited (at least one reason)." });

const comparePayload = z
  .object({
    /** A and B are the shown order's first and second completion. */
    choice: z.enum(["A", "B", "tie"]),
    strength: z.number().int().min(1).max(3).optional(),
    rationale: z.string().max(5_000).default(""),
  })
  .strict()
  .refine((p) => p.choice !== "tie" || p.strength === undefined, { path: ["strength"], message: "A tie has no strength." });

/** Checks a payload against the task type and the completions that were shown. */
export function validatePayload(type: string, payload: unknown, shown: string[], settings: ProjectSettings): Record<string, unknown> {
  if (type === "demonstrate") {
    const parsed = demonstrationPayloadFor(settings.tools).safeParse(payload);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The demonstration is not valid.");
    return parsed.data;
  }
  if (type === "rank") {
    const parsed = rankPayloadShape.safeParse(payload);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The ranking is not valid.");
    const ranking = validateRanking(shown, parsed.data.ranking);
    if (!ranking.ok) throw new AppError("validation_failed", "The ranking is not valid.", ranking.reasons.map((message) => ({ path: "ranking", message })));
    const errors: Array<{ path: string; message: string }> = [];
    const flagIds = new Set(settings.flags.map((f) => f.id));
    for (const [id, score] of Object.entries(parsed.data.quality)) {
      if (!shown.includes(id)) errors.push({ path: `quality.${id}`, message: "not a completion of this task" });
      else if (score < settings.quality.min || score > settings.quality.max) errors.push({ path: `quality.${id}`, message: `must be ${settings.quality.min}–${settings.quality.max}` });
    }
    for (const [id, flags] of Object.entries(parsed.data.flags)) {
      if (!shown.includes(id)) errors.push({ path: `flags.${id}`, message: "not a completion of this task" });
      for (const flag of flags) if (!flagIds.has(flag)) errors.push({ path: `flags.${id}`, message: `unknown flag ${flag}` });
    }
    if (errors.length > 0) throw new AppError("validation_failed", "The ranking is not valid.", errors);
    return { ...parsed.data, ranking: ranking.ranking };
  }
  if (type === "compare") {
    const parsed = comparePayload.safeParse(payload);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The comparison is not valid.");
    const [a, b] = shown;
    // Stored by completion id, so the shown sides never leak into the data.
    const winner = parsed.data.choice === "A" ? a : parsed.data.choice === "B" ? b : null;
    const loser = parsed.data.choice === "A" ? b : parsed.data.choice === "B" ? a : null;
    return { ...parsed.data, winner: winner ?? null, loser: loser ?? null };
  }
  if (type === "review") {
    const parsed = reviewPayload.safeParse(payload);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The review is not valid.");
    return parsed.data;
  }
  throw new AppError("bad_request", `Submitting ${type} tasks is not supported yet.`);
}

export type SubmitResult = { submissionId: string; duplicate: boolean; taskComplete: boolean };

export async function submitAssignment(
  db: Db,
  user: SessionUser,
  assignmentId: string,
  input: SubmitInput,
  settings: ProjectSettings,
): Promise<SubmitResult> {
  return db.transaction().execute(async (trx) => {
    // 0. Quality scores move the prompt's quality sum (a trigger on submissions, migration 0027, decision 0055), which
    //    locks the prompt row. Take that lock first, before the task's: a move to review, the eval set and a review's
    //    decision lock a prompt and then its tasks, and the two orders would deadlock. Without scores the prompt is
    //    not written and nothing is locked here.
    const scores = (input.payload as { quality?: unknown }).quality;
    if (scores !== null && typeof scores === "object" && Object.keys(scores).length > 0) {
      await sql`select 1 from prompts where id = (select t.prompt_id from assignments a join tasks t on t.id = a.task_id where a.id = ${assignmentId}) for no key update`.execute(trx);
    }
    // 1. Lock the task and the assignment in one statement. Every submitter of a task waits on
    //    the task row, so the completion count below sees every earlier submission; a claim
    //    never waits on it (SKIP LOCKED). A concurrent double submit waits here, then finds
    //    the assignment submitted and replays the first result.
    const locked = await sql<{
      user_id: string; state: string; lease_expires_at: Date; shown_order: string[]; lease_live: boolean;
      task_id: string; type: string; overlap_target: number; prompt_id: string; project_id: string; completion_ids: string[]; gold: boolean;
    }>`
      select a.user_id, a.state, a.lease_expires_at, a.shown_order, a.lease_expires_at > now() as lease_live,
             t.id as task_id, t.type, t.overlap_target, t.prompt_id, t.project_id, t.completion_ids, t.gold is not null as gold
      from assignments a join tasks t on t.id = a.task_id
      where a.id = ${assignmentId}
      for update of t, a`.execute(trx);
    const assignment = locked.rows[0];
    if (!assignment || assignment.user_id !== user.id) throw new AppError("forbidden", "This task is not assigned to you.");

    if (assignment.state === "submitted") {
      const earlier = await trx
        .selectFrom("submissions")
        .select("id")
        .where("assignment_id", "=", assignmentId)
        .where("idempotency_key", "=", input.idempotencyKey)
        .executeTakeFirst();
      if (earlier) return { submissionId: earlier.id, duplicate: true, taskComplete: false };
      throw new AppError("conflict", "You already submitted this task.");
    }
    if (assignment.state !== "active") throw new AppError("conflict", `This task was ${assignment.state}; take a new one.`);
    if (!assignment.lease_live) {
      throw new AppError(
        "lease_expired",
        `Your time on this task ran out at ${assignment.lease_expires_at.toISOString().slice(11, 16)} UTC and it went back to the queue. Your work is still on this page: copy it before you move on.`,
      );
    }

    // 2. Validate; a review may change its prompt (release it to labelers, or reject it).
    let payload = validatePayload(assignment.type, input.payload, assignment.shown_order, settings);
    if (assignment.type === "demonstrate") payload = await settleToolResults(payload, settings);
    if (assignment.type === "review") await applyReview(trx, assignment, payload as z.infer<typeof reviewPayload>, settings);
    if (assignment.type === "rank" && settings.adaptiveOverlap.enabled && !assignment.gold) await adaptOverlap(trx, assignment, payload.ranking as Ranking, settings);
    if (assignment.type === "rank") await markFromFlags(trx, assignment.prompt_id, user.id, payload.flags as Record<string, string[]>, settings.wellbeing);

    // 3. One statement records the submission, closes the assignment and completes the task when
    //    this submission fills it (the CTEs share a snapshot, hence "+ 1" for this one).
    try {
      const stored = await sql<{ submission_id: string; complete: boolean }>`
        with s as (
          insert into submissions (assignment_id, task_id, user_id, payload, timings, idempotency_key)
          values (${assignmentId}, ${assignment.task_id}, ${user.id}, ${JSON.stringify(payload)}::jsonb, ${JSON.stringify(input.timings)}::jsonb, ${input.idempotencyKey})
          returning id
        ), closed as (
          update assignments set state = 'submitted', updated_at = now() where id = ${assignmentId}
        ), completed as (
          update tasks set state = 'complete'
          -- A gold task stays open: every labeler gets it once (decision 0010).
          where id = ${assignment.task_id} and gold is null
            and (select count(*) + 1 from assignments where task_id = ${assignment.task_id} and state = 'submitted') >= overlap_target
          returning id
        )
        select (select id from s) as submission_id, exists (select 1 from completed) as complete`.execute(trx);
      const row = stored.rows[0]!;
      return { submissionId: row.submission_id, duplicate: false, taskComplete: row.complete };
    } catch (error) {
      if ((error as { code?: string; constraint?: string }).constraint === "submissions_user_key") {
        throw new AppError("conflict", "This idempotency key was used for another task.");
      }
      throw error;
    }
  });
}

/**
 * What a review decides, beyond the submission itself:
 * - a synthetic Q&A: an edit must change the answer (the export then yields the corrected
 *   answer as SFT data and the pair corrected ≻ original); a rejection marks it rejected;
 * - a prompt the content filter held back: accepted, it becomes an active prompt and gets its
 *   labeling task; rejected, it never reaches labelers. It cannot be "edited".
 */
async function applyReview(
  trx: Transaction<Database>,
  task: { prompt_id: string; project_id: string; completion_ids: string[] },
  review: z.infer<typeof reviewPayload>,
  settings: ProjectSettings,
): Promise<void> {
  const prompt = await trx.selectFrom("prompts").select(["kind", "status"]).where("id", "=", task.prompt_id).executeTakeFirstOrThrow();
  // Taken out of review in the data browser meanwhile (decision 0047): the decision has nothing left to decide.
  if (prompt.kind === "prompt" && prompt.status !== "review") throw new AppError("conflict", "This prompt was taken out of review meanwhile; take the next task.");
  if (review.decision === "reject") {
    await trx.updateTable("prompts").set({ status: "rejected" }).where("id", "=", task.prompt_id).execute();
    return;
  }
  if (prompt.kind === "qa") {
    if (review.decision === "edit") {
      const original = await trx.selectFrom("completions").select("text").where("id", "=", task.completion_ids[0]!).executeTakeFirstOrThrow();
      if (original.text.trim() === review.editedText!.trim()) {
        throw new AppError("validation_failed", "The edit changes nothing.", [{ path: "editedText", message: "Change the answer, or accept it as it is." }]);
      }
    }
    return;
  }
  if (review.decision === "edit") {
    throw new AppError("validation_failed", "A held-back prompt is accepted or rejected, not edited.", [{ path: "decision", message: "accept or reject" }]);
  }
  await trx.updateTable("prompts").set({ status: "active" }).where("id", "=", task.prompt_id).execute();
  // Its labeling task: the ones a move to review cancelled reopen, else a new one (prompt-review.server.ts).
  await releasePrompts(trx, task.project_id, [task.prompt_id], settings, false);
}
