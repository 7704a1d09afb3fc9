/**
 * Reward-model scores for the uncertainty-first queue (decision 0048) and adaptive overlap's early
 * stop (decision 0049), computed in the server's background, never inside a claim: a runner claims
 * one unscored open task of a project that uses either by inserting its (task, model) row with a lease (the unique pair settles two
 * instances racing; an expired lease is claimed again), asks the inference worker for the reward
 * model's score of each completion, and stores the scores and their top-two margin. The queue reads
 * only finished rows; a task without one is served in the normal order. A failed scoring is kept
 * as failed (not retried: the message says why) and the task stays in the normal order.
 */
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../../db/database.server.ts";
import { AppError } from "../../lib/app-error.ts";
import { claimExpiredLease, newLeaseOwner, startLeasedRunner } from "../../lib/leased-runner.server.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import { projectSettingsSchema, type ProjectSettings } from "../project-settings.ts";
import { scoreMargin } from "./uncertainty-queue.ts";
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
      const modelId = await currentRewardModelId(db, project.id, projectSettingsSchema.parse(project.settings));
      if (modelId === null) continue;
      // Oldest first: the order the queue would otherwise serve them in.
      const fresh = await sql<Claimed>`
        insert into reward_scores (task_id, model_id, project_id, lease_owner, lease_expires_at)
        select t.id, ${modelId}, t.project_id, ${owner}, now() + make_interval(secs => ${LEASE_SECONDS})
        from tasks t
        where t.project_id = ${project.id} and t.state = 'open' and t.type in ('rank', 'compare') and t.gold is null
          and not exists (select 1 from reward_scores s where s.task_id = t.id and s.model_id = ${modelId})
        order by t.id
        limit 1
        on conflict (task_id, model_id) do nothing
        returning id, task_id, model_id`.execute(db);
      if (fresh.rows[0]) return fresh.rows[0];
    }
    return null;
  }

  async function scoreOne(claimed: Claimed, signal: AbortSignal): Promise<void> {
    try {
      const task = await db
        .selectFrom("tasks")
        .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
        .select(["tasks.completion_ids", "prompts.messages"])
        .where("tasks.id", "=", claimed.task_id)
        .executeTakeFirstOrThrow();
      const texts = await db.selectFrom("completions").select(["id", "text"]).where("id", "in", task.completion_ids).execute();
      const textOf = new Map(texts.map((c) => [c.id, c.text]));
      const completions = task.completion_ids.map((id) => textOf.get(id) ?? "");
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
