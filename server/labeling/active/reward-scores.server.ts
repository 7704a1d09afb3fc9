/**
 * Reward-model scores for the uncertainty-first queue (decision 0048) and adaptive overlap's early
 * stop (decision 0049), computed in the server's background, never inside a claim: a runner claims
 * one unscored open task of a project that uses either by inserting its (task, model) row with a lease (the unique pair settles two
 * instances racing; an expired lease is claimed again), asks the inference worker for the reward
 * model's score of each completion, and stores the scores and their top-two margin. The queue reads
 * only finished rows; a task without one is served in the normal order. A failed scoring is kept
 * as failed (not retried: the message says why) and the task stays in the normal order.
 * Under the disagreement rule (decision 0053) the runner scores each open task with the previous
 * round's reward model too, and stores the two models' disagreement on the current model's row.
 */
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../../db/database.server.ts";
import { AppError } from "../../lib/app-error.ts";
import { claimExpiredLease, newLeaseOwner, startLeasedRunner } from "../../lib/leased-runner.server.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import { projectSettingsSchema, type ProjectSettings } from "../project-settings.ts";
import { scoreMargin } from "./uncertainty-queue.ts";
import { rewardDisagreement } from "./disagreement.ts";
import { completionAnswers } from "../exports.server.ts";
import type { ConversationMessage } from "../../../trainer/contract/conversation.ts";

/**
 * The reward model that ranks a project's queue: the one its settings name, else the latest
 * round's (the newest reward model a round of this project registered). Null: none yet.
 */
export async function currentRewardModelId(db: Db, projectId: string, settings: Pick<ProjectSettings, "uncertaintyQueue">): Promise<string | null> {
  let query = db.selectFrom("models").select("id").where("kind", "=", "reward").where("external_uri", "is", null);
  const named = settings.uncertaintyQueue.rewardModelId;
  query = named !== null ? query.where("id", "=", named) : query.where("project_id", "=", projectId).where("round_id", "is not", null);
  const row = await query.orderBy("id", "desc").limit(1).executeTakeFirst();
  return row?.id ?? null;
}

/**
 * The disagreement rule's other model (decision 0053): the one the settings name, else the
 * previous round's — the newest reward model a round of this project registered before `currentId`.
 * Null: there is no earlier round yet.
 */
export async function previousRewardModelId(db: Db, projectId: string, settings: Pick<ProjectSettings, "uncertaintyQueue">, currentId: string): Promise<string | null> {
  let query = db.selectFrom("models").select("id").where("kind", "=", "reward").where("external_uri", "is", null).where("id", "!=", currentId);
  const named = settings.uncertaintyQueue.previousRewardModelId;
  query = named !== null ? query.where("id", "=", named) : query.where("project_id", "=", projectId).where("round_id", "is not", null).where("id", "<", currentId);
  const row = await query.orderBy("id", "desc").limit(1).executeTakeFirst();
  return row?.id ?? null;
}

/**
 * What the queue measures uncertainty with, resolved once per claim: the current reward model, and
 * under the disagreement rule the previous one too. `ready` is false when the rule has not the
 * models it needs (no reward model; or, for disagreement, no earlier round): claims then keep the
 * normal order.
 */
export type UncertaintyModels = { rule: "margin" | "disagreement"; current: string | null; previous: string | null; ready: boolean };

export async function uncertaintyModels(db: Db, projectId: string, settings: Pick<ProjectSettings, "uncertaintyQueue">): Promise<UncertaintyModels> {
  const rule = settings.uncertaintyQueue.rule;
  const current = await currentRewardModelId(db, projectId, settings);
  const previous = rule === "disagreement" && current !== null ? await previousRewardModelId(db, projectId, settings, current) : null;
  return { rule, current, previous, ready: current !== null && (rule === "margin" || previous !== null) };
}

export type RewardScoreRunner = { kick: () => void; stop: () => Promise<void> };

// Longer than the inference worker's own timeout (120 s), so a live claim never expires.
const LEASE_SECONDS = 180;

type Claimed = { id: string; task_id: string; model_id: string };

export function startRewardScoreRunner(deps: { db: Db; log: Logger; inference: Inference; pollMs: number }): RewardScoreRunner {
  const { db, log } = deps;
  const owner = newLeaseOwner("scores");

  async function claim(): Promise<Claimed | null> {
    const expired = await claimExpiredLease<Claimed>(db, "reward_scores", owner, LEASE_SECONDS, "id, task_id, model_id");
    if (expired) return expired;
    const projects = await sql<{ id: string; settings: unknown }>`
      select id, settings from projects
      where (settings -> 'uncertaintyQueue' ->> 'enabled') = 'true'
         or ((settings -> 'adaptiveOverlap' ->> 'enabled') = 'true' and jsonb_typeof(settings -> 'adaptiveOverlap' -> 'earlyStop') = 'object')
      order by id`.execute(db);
    for (const project of projects.rows) {
      const settings = projectSettingsSchema.parse(project.settings);
      const models = await uncertaintyModels(db, project.id, settings);
      if (models.current === null) continue;
      // The disagreement rule (decision 0053) needs the previous round's scores of the same tasks too.
      const needed = [models.current];
      if (settings.uncertaintyQueue.enabled && models.rule === "disagreement" && models.previous !== null) {
        await fillDisagreements(project.id, models.current, models.previous);
        needed.push(models.previous);
      }
      // Oldest task first (the order the queue would otherwise serve them in), the current model first.
      const fresh = await sql<Claimed>`
        insert into reward_scores (task_id, model_id, project_id, lease_owner, lease_expires_at)
        select t.id, m.model_id, t.project_id, ${owner}, now() + make_interval(secs => ${LEASE_SECONDS})
        from tasks t cross join (values ${sql.join(needed.map((id, i) => sql`(${id}::bigint, ${i}::int)`))}) as m(model_id, rank)
        where t.project_id = ${project.id} and t.state = 'open' and t.type in ('rank', 'compare') and t.gold is null
          and not exists (select 1 from reward_scores s where s.task_id = t.id and s.model_id = m.model_id)
        order by t.id, m.rank
        limit 1
        on conflict (task_id, model_id) do nothing
        returning id, task_id, model_id`.execute(db);
      if (fresh.rows[0]) return fresh.rows[0];
    }
    return null;
  }

  /**
   * The disagreement of every task both models have scored, stored on the current model's row
   * (decision 0053). Pure arithmetic on cached scores, no worker: done here, a batch per look,
   * before any claim. Scores never change once done, so two instances writing at once write the
   * same value.
   */
  async function fillDisagreements(projectId: string, current: string, previous: string): Promise<void> {
    const pairs = await sql<{ id: string; a: number[]; b: number[] }>`
      select s.id, s.scores as a, p.scores as b from reward_scores s
      join reward_scores p on p.task_id = s.task_id and p.model_id = ${previous} and p.state = 'done'
      where s.project_id = ${projectId} and s.model_id = ${current} and s.state = 'done'
        and s.compared_model_id is distinct from ${previous}
      order by s.id
      limit 500`.execute(db);
    if (pairs.rows.length === 0) return;
    // Scores that do not line up (cannot happen for one task's completions) leave the task unmeasured: served in the normal order.
    const values = pairs.rows.map((r) => ({ id: r.id, d: r.a.length === r.b.length ? rewardDisagreement(r.a, r.b) : null }));
    await sql`
      update reward_scores r set compared_model_id = ${previous}, disagreement = v.d
      from jsonb_to_recordset(${JSON.stringify(values)}::jsonb) as v(id bigint, d double precision)
      where r.id = v.id`.execute(db);
  }

  async function scoreOne(claimed: Claimed, signal: AbortSignal): Promise<void> {
    try {
      const task = await db
        .selectFrom("tasks")
        .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
        .select(["tasks.completion_ids", "prompts.messages"])
        .where("tasks.id", "=", claimed.task_id)
        .executeTakeFirstOrThrow();
      // an answer that used tools is scored as its transcript, as the reward model read it in training
      const answers = await completionAnswers(db, task.completion_ids);
      const completions = task.completion_ids.map((id) => answers.get(id) ?? "");
      // On stop, a scoring the worker is still busy with is not waited for: its late result is dropped
      // here, and the lease is handed back.
      const stopped = new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true }));
      const scores = await Promise.race([deps.inference.score(db, claimed.model_id, { messages: task.messages as ConversationMessage[], completions }), stopped]);
      await db
        .updateTable("reward_scores")
        .set({ state: "done", scores: JSON.stringify(scores), margin: scoreMargin(scores), lease_owner: null, lease_expires_at: null, finished_at: new Date() })
        .where("id", "=", claimed.id)
        .where("lease_owner", "=", owner)
        .execute();
    } catch (error) {
      if (signal.aborted) return; // shutting down: the lease is handed back
      const message = error instanceof AppError ? error.message : "Scoring failed unexpectedly; the server log has the details.";
      if (error instanceof AppError) log.info({ taskId: claimed.task_id, modelId: claimed.model_id, message }, "a task could not be scored");
      else log.error({ err: error, taskId: claimed.task_id }, "scoring failed");
      await db
        .updateTable("reward_scores")
        .set({ state: "failed", message: message.slice(0, 1000), lease_owner: null, lease_expires_at: null, finished_at: new Date() })
        .where("id", "=", claimed.id)
        .where("lease_owner", "=", owner)
        .execute()
        .catch((e: unknown) => log.warn({ err: e }, "could not record a scoring failure"));
    }
  }

  const runner = startLeasedRunner<Claimed>({
    what: "reward-score", log, pollMs: deps.pollMs, owner,
    // One task at a time: the inference worker answers one request at a time anyway.
    maxParallel: 1,
    claim,
    execute: scoreOne,
    // no heartbeat: the lease outlasts the inference worker's own timeout
    handBack: async () => {
      await db.updateTable("reward_scores").set({ lease_owner: null, lease_expires_at: new Date() }).where("state", "=", "running").where("lease_owner", "=", owner).execute();
    },
  });
  return { kick: runner.kick, stop: runner.stop };
}
