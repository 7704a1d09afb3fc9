/**
 * Runs the projects' model judges in the server process, in the background (decision 0035; a
 * reward model as judge: decision 0053).
 * A task is claimed by inserting its suggestion row with a lease (the unique task_id settles two
 * instances racing for one task; an expired lease is claimed again), judged, and finished as
 * done or failed. Nothing here touches the queue: a task is claimable whatever its judge does,
 * and a judge that fails, times out or answers unparseably leaves the task without a suggestion,
 * counted on the project page. Nothing here can throw into the server.
 */
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../../db/database.server.ts";
import type { JudgeFailure } from "../../db/schema.ts";
import { AppError } from "../../lib/app-error.ts";
import { claimExpiredLease, newLeaseOwner, startLeasedRunner } from "../../lib/leased-runner.server.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import { endpointGenerator, policyGenerator } from "../../bridges/external/external-generator.server.ts";
import { ExternalRequestError } from "../../bridges/external/openai-client.server.ts";
import type { SecretBox } from "../../bridges/external/secret-box.server.ts";
import type { Generator } from "../../bridges/generator.ts";
import { projectSettingsSchema } from "../project-settings.ts";
import { combineAnswers, firstWon, judgeQuestions, parseJudgeAnswer, renderJudgePrompt, UnparseableAnswer, type JudgeAnswer } from "./judge-core.ts";
import { judgePrompt, type JudgeSource } from "./judge-settings.ts";
import { rankByScores, rewardJudgeDetail } from "./reward-model-judge.ts";
import type { ConversationMessage } from "../../../trainer/contract/conversation.ts";
import { completionAnswers } from "../exports.server.ts";
import type { Answer } from "../transcript.ts";

export type JudgeRunner = { kick: () => void; stop: () => Promise<void> };

// Longer than the longest judging allowed (timeoutSeconds ≤ 600), so a live claim never expires.
const LEASE_SECONDS = 660;
const MAX_PARALLEL = 2;

type Claimed = { id: string; task_id: string; project_id: string };

export function startJudgeRunner(deps: { db: Db; log: Logger; box: SecretBox; inference: Inference; pollMs: number }): JudgeRunner {
  const { db, log } = deps;
  const owner = newLeaseOwner("judge");

  async function claim(): Promise<Claimed | null> {
    const expired = await claimExpiredLease<Claimed>(db, "judge_suggestions", owner, LEASE_SECONDS, "id, task_id, project_id");
    if (expired) return expired;
    const fresh = await sql<Claimed>`
      insert into judge_suggestions (task_id, project_id, judge, lease_owner, lease_expires_at)
      select t.id, t.project_id, '', ${owner}, now() + make_interval(secs => ${LEASE_SECONDS})
      from tasks t join projects p on p.id = t.project_id
      where t.state = 'open' and t.type in ('rank', 'compare') and t.gold is null
        and jsonb_typeof(p.settings -> 'judge') = 'object'
        and not exists (select 1 from judge_suggestions s where s.task_id = t.id)
      order by t.id
      limit 1
      on conflict (task_id) do nothing
      returning id, task_id, project_id`.execute(db);
    return fresh.rows[0] ?? null;
  }

  async function finish(id: string, values: { judge: string; state: "done" | "failed"; ranking?: unknown; detail?: unknown; failure?: JudgeFailure; message?: string }) {
    await db
      .updateTable("judge_suggestions")
      .set({
        judge: values.judge, state: values.state,
        ranking: values.ranking === undefined ? null : JSON.stringify(values.ranking),
        detail: JSON.stringify(values.detail ?? {}),
        failure: values.failure ?? null, message: values.message ?? null,
        lease_owner: null, lease_expires_at: null, finished_at: new Date(),
      })
      .where("id", "=", id)
      .where("lease_owner", "=", owner)
      .execute();
  }

  async function sourceOf(source: Exclude<JudgeSource, { kind: "reward-model" }>, projectId: string): Promise<{ label: string; generator: Generator }> {
    if (source.kind === "endpoint") {
      const endpoint = await db.selectFrom("external_endpoints").select(["project_id", "name", "model"]).where("id", "=", source.endpointId).executeTakeFirst();
      if (!endpoint || endpoint.project_id !== projectId) throw new AppError("validation_failed", `The judge's endpoint ${source.endpointId} is not one of this project's.`);
      return { label: `endpoint:${endpoint.name}/${endpoint.model}`, generator: await endpointGenerator(db, deps.box, source.endpointId, { timing: { minTimeoutMs: 200, maxTimeoutMs: 2000, factor: 2, maxRetryAfterMs: 10_000 } }) };
    }
    const model = await db.selectFrom("models").select(["id", "name", "kind"]).where("id", "=", source.modelId).executeTakeFirst();
    if (!model || model.kind === "reward") throw new AppError("validation_failed", `The judge's model ${source.modelId} is not a registered chat model.`);
    return { label: `model:${model.id}/${model.name}`, generator: policyGenerator(db, deps.inference, model.id) };
  }

  /**
   * A reward-model judge (decision 0053): the model's score of each completion, from the scoring
   * cache when the queue's runner already scored this task with this model, else through the
   * inference worker (Inference.score, the path of POST /models/:id/score), within the timeout.
   */
  async function rewardVerdict(modelId: string, task: { id: string; completion_ids: string[]; messages: unknown }, completions: Answer[], timeoutSeconds: number, stop: AbortSignal) {
    const cached = await db.selectFrom("reward_scores").select("scores").where("task_id", "=", task.id).where("model_id", "=", modelId).where("state", "=", "done").executeTakeFirst();
    let scores = cached?.scores?.length === completions.length ? cached.scores : null;
    if (!scores) {
      const late = AbortSignal.any([stop, AbortSignal.timeout(timeoutSeconds * 1000)]);
      const aborted = new Promise<never>((_, reject) =>
        late.addEventListener("abort", () => reject(new ExternalRequestError(stop.aborted ? "cancelled" : "timeout", `No scores within ${timeoutSeconds} s.`)), { once: true }),
      );
      // The worker is not interrupted on a timeout: its late answer is dropped here.
      scores = await Promise.race([deps.inference.score(db, modelId, { messages: task.messages as ConversationMessage[], completions }), aborted]);
    }
    return { ranking: rankByScores(task.completion_ids, scores), detail: rewardJudgeDetail(scores) };
  }

  async function judgeOne(claimed: Claimed, stop: AbortSignal): Promise<void> {
    let label = "";
    try {
      const project = await db.selectFrom("projects").select("settings").where("id", "=", claimed.project_id).executeTakeFirstOrThrow();
      const judge = projectSettingsSchema.parse(project.settings).judge;
      if (!judge) {
        // The judge was removed after the claim: no row, so a judge attached later takes the task.
        await db.deleteFrom("judge_suggestions").where("id", "=", claimed.id).where("lease_owner", "=", owner).execute();
        return;
      }
      const task = await db
        .selectFrom("tasks")
        .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
        .select(["tasks.completion_ids", "prompts.messages"])
        .where("tasks.id", "=", claimed.task_id)
        .executeTakeFirstOrThrow();
      if (judge.source.kind === "reward-model") {
        const model = await db.selectFrom("models").select("name").where("id", "=", judge.source.modelId).executeTakeFirst();
        label = `reward-model:${judge.source.modelId}/${model?.name ?? "missing"}`;
        // an answer that used tools is scored as its transcript, as the reward model read it in training
        const answers = await completionAnswers(db, task.completion_ids);
        const verdict = await rewardVerdict(judge.source.modelId, { id: claimed.task_id, ...task }, task.completion_ids.map((id) => answers.get(id) ?? ""), judge.timeoutSeconds, stop);
        await finish(claimed.id, { judge: label, state: "done", ranking: verdict.ranking, detail: verdict.detail });
        return;
      }
      // a chat judge reads each answer's final words (its text)
      const texts = await db.selectFrom("completions").select(["id", "text"]).where("id", "in", task.completion_ids).execute();
      const textOf = new Map(texts.map((c) => [c.id, c.text]));
      const source = await sourceOf(judge.source, claimed.project_id);
      label = source.label;
      const signal = AbortSignal.any([stop, AbortSignal.timeout(judge.timeoutSeconds * 1000)]);
      const answers: JudgeAnswer[] = [];
      for (const question of judgeQuestions(judge.mode, task.completion_ids)) {
        const messages = renderJudgePrompt(judgePrompt(judge), task.messages, question.order.map((id) => textOf.get(id) ?? ""));
        const [reply] = await source.generator.generate({ messages, n: 1, temperature: 0, maxTokens: judge.maxTokens }, signal);
        if (signal.aborted) throw new ExternalRequestError(stop.aborted ? "cancelled" : "timeout", `No verdict within ${judge.timeoutSeconds} s.`);
        const parsed = parseJudgeAnswer(reply?.text ?? "", question.order);
        answers.push({ order: question.order, ...parsed, first: firstWon(question.order, parsed.ranking) });
      }
      const { ranking, detail } = combineAnswers(judge.mode, answers);
      await finish(claimed.id, { judge: label, state: "done", ranking, detail });
    } catch (error) {
      if (stop.aborted) return; // shutting down: the lease is handed back, another look resumes it
      const failure: JudgeFailure = error instanceof UnparseableAnswer ? "unparseable" : error instanceof ExternalRequestError && error.kind === "timeout" ? "timeout" : "error";
      const message = error instanceof UnparseableAnswer || error instanceof ExternalRequestError || error instanceof AppError ? error.message : "The judge failed unexpectedly; the server log has the details.";
      if (failure === "error" && !(error instanceof ExternalRequestError) && !(error instanceof AppError)) log.error({ err: error, taskId: claimed.task_id }, "judging failed");
      else log.info({ taskId: claimed.task_id, failure, message }, "judge left a task without a suggestion");
      await finish(claimed.id, { judge: label || "unknown", state: "failed", failure, message: message.slice(0, 1000) }).catch((e: unknown) => log.warn({ err: e }, "could not record a judge failure"));
    }
  }

  const runner = startLeasedRunner<Claimed>({
    what: "judge", log, pollMs: deps.pollMs, maxParallel: MAX_PARALLEL, owner,
    claim,
    execute: judgeOne,
    // no heartbeat: the lease outlasts the longest judging allowed
    handBack: async () => {
      await db.updateTable("judge_suggestions").set({ lease_owner: null, lease_expires_at: new Date() }).where("state", "=", "running").where("lease_owner", "=", owner).execute();
    },
  });
  return { kick: runner.kick, stop: runner.stop };
}
