/**
 * Executes generation runs inside the server process. A run is claimed with a lease
 * (SKIP LOCKED, lease_owner = this instance, renewed by a heartbeat), so two server instances
 * never run one run at once, and a run whose server died is picked up again after the lease
 * expires, resuming at the next unfinished prompt. Each prompt's outcome is stored in one
 * transaction that also checks the lease; a cancel (from any instance) stops the run at its next
 * heartbeat or prompt, and at once on the instance that runs it. Nothing here can throw into
 * the server: every failure ends up on the run (state failed + error) or in its error list.
 */
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../../db/database.server.ts";
import { projectSettingsSchema } from "../../labeling/project-settings.ts";
import { AppError } from "../../lib/app-error.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import type { Generator, GeneratorMessage } from "../generator.ts";
import { endpointConnection } from "./endpoints.server.ts";
import { externalGenerator, policyGenerator } from "./external-generator.server.ts";
import { emptyProgress, generateForPrompt, storedSpecSchema, storePromptOutcome, type RunProgress, type StoredSpec } from "./generation-runs.server.ts";
import type { SecretBox } from "./secret-box.server.ts";

export type GenerationRunner = {
  /** Look for work now (after a run was created on this instance). */
  kick: () => void;
  /** Abort a run this instance is executing (after it was cancelled in the database). */
  abortLocal: (runId: string) => void;
  stop: () => Promise<void>;
};

const LEASE_SECONDS = 30;
const HEARTBEAT_MS = 10_000;
const MAX_PARALLEL_RUNS = 3;

type Claimed = { id: string; project_id: string; kind: "rank" | "compare"; spec: Record<string, unknown>; progress: Record<string, unknown> };

export function startGenerationRunner(deps: { db: Db; log: Logger; box: SecretBox; inference: Inference; pollMs: number }): GenerationRunner {
  const { db, log } = deps;
  const owner = `server-${randomUUID()}`;
  const active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let looking = false;

  async function claim(): Promise<Claimed | null> {
    const result = await sql<Claimed>`
      update generation_runs set state = 'running', lease_owner = ${owner}, lease_expires_at = now() + make_interval(secs => ${LEASE_SECONDS}), updated_at = now()
      where id = (
        select id from generation_runs
        where state = 'queued' or (state = 'running' and (lease_expires_at is null or lease_expires_at < now()))
        order by id for update skip locked limit 1
      )
      returning id, project_id, kind, spec, progress`.execute(db);
    return result.rows[0] ?? null;
  }

  async function look(): Promise<void> {
    if (looking || stopped) return;
    looking = true;
    try {
      while (!stopped && active.size < MAX_PARALLEL_RUNS) {
        const run = await claim();
        if (!run) break;
        const controller = new AbortController();
        const done = execute(run, controller).finally(() => active.delete(run.id));
        active.set(run.id, { controller, done });
      }
    } catch (error) {
      log.warn({ err: error }, "generation runner could not claim a run");
    } finally {
      looking = false;
    }
  }

  async function finish(runId: string, state: "done" | "failed", error: string | null): Promise<void> {
    await db
      .updateTable("generation_runs")
      .set({ state, error, lease_owner: null, lease_expires_at: null, finished_at: new Date(), updated_at: new Date() })
      .where("id", "=", runId)
      .where("state", "=", "running")
      .where("lease_owner", "=", owner)
      .execute();
  }

  async function generatorsFor(spec: StoredSpec, projectId: string): Promise<Generator[]> {
    const out: Generator[] = [];
    for (const source of spec.sources) {
      if ("endpointId" in source) {
        const { endpoint, connection, decoding } = await endpointConnection(db, deps.box, source.endpointId);
        if (endpoint.projectId !== projectId) throw new AppError("validation_failed", `Endpoint ${source.endpointId} belongs to another project.`);
        out.push(externalGenerator(connection, { label: `endpoint:${endpoint.name}/${endpoint.model}`, defaults: decoding }));
      } else {
        const model = await db.selectFrom("models").select(["id", "name"]).where("id", "=", source.modelId).executeTakeFirst();
        if (!model) throw new AppError("validation_failed", `Model ${source.modelId} is no longer registered.`);
        out.push(policyGenerator(db, deps.inference, model.id));
      }
    }
    return out;
  }

  async function execute(run: Claimed, controller: AbortController): Promise<void> {
    const heartbeat = setInterval(() => {
      db.updateTable("generation_runs")
        .set({ lease_expires_at: sql`now() + make_interval(secs => ${LEASE_SECONDS})`, updated_at: new Date() })
        .where("id", "=", run.id)
        .where("state", "=", "running")
        .where("lease_owner", "=", owner)
        .executeTakeFirst()
        .then((r) => {
          if (Number(r.numUpdatedRows) === 0) controller.abort(); // cancelled, or the lease went elsewhere
        })
        .catch((error: unknown) => log.warn({ err: error, runId: run.id }, "generation run heartbeat failed"));
    }, HEARTBEAT_MS);
    try {
      const spec = storedSpecSchema.parse(run.spec);
      const project = await db.selectFrom("projects").select("settings").where("id", "=", run.project_id).executeTakeFirstOrThrow();
      const settings = projectSettingsSchema.parse(project.settings);
      let generators: Generator[];
      try {
        generators = await generatorsFor(spec, run.project_id);
      } catch (error) {
        await finish(run.id, "failed", error instanceof AppError ? error.message : "A source could not be prepared.");
        if (!(error instanceof AppError)) log.error({ err: error, runId: run.id }, "generation run sources failed");
        return;
      }
      const progress: RunProgress = { ...emptyProgress(spec.promptIds.length), ...(run.progress as Partial<RunProgress>) };
      log.info({ runId: run.id, kind: run.kind, prompts: spec.promptIds.length, from: progress.next, sources: generators.map((g) => g.label) }, "generation run started");
      let emptyInARow = 0;
      let lastFailure = "";
      while (progress.next < spec.promptIds.length) {
        if (controller.signal.aborted || stopped) return;
        const promptId = spec.promptIds[progress.next]!;
        const prompt = await db.selectFrom("prompts").select("messages").where("id", "=", promptId).executeTakeFirst();
        const outcome = prompt
          ? await generateForPrompt(run.kind, generators, prompt.messages as GeneratorMessage[], spec, settings, hashSeed(run.id, promptId), controller.signal)
          : { completions: [], failures: [], skipped: "the prompt was deleted", unexpected: [] };
        for (const error of outcome.unexpected) log.error({ err: error, runId: run.id, promptId }, "generation source failed unexpectedly");
        if (!(await storePromptOutcome(db, { id: run.id, projectId: run.project_id, kind: run.kind, owner }, promptId, outcome, settings, spec, progress))) return;
        if (outcome.completions.length === 0 && outcome.failures.length > 0) {
          emptyInARow++;
          lastFailure = `${outcome.failures[0]!.source}: ${outcome.failures[0]!.message}`;
          if (emptyInARow >= spec.maxConsecutiveFailures) {
            await finish(run.id, "failed", `Stopped after ${emptyInARow} prompts in a row got no completion; last error: ${lastFailure}`);
            log.warn({ runId: run.id, emptyInARow }, "generation run stopped: its sources keep failing");
            return;
          }
        } else emptyInARow = 0;
      }
      await finish(run.id, "done", null);
      log.info({ runId: run.id, tasks: progress.tasks, failedRequests: progress.failedRequests, skippedPrompts: progress.skippedPrompts }, "generation run finished");
    } catch (error) {
      if (controller.signal.aborted || stopped) return; // cancelled (already recorded) or shutting down (the lease expires, another instance resumes)
      log.error({ err: error, runId: run.id }, "generation run failed");
      await finish(run.id, "failed", "The run failed unexpectedly; the server log has the details.").catch(() => undefined);
    } finally {
      clearInterval(heartbeat);
    }
  }

  const schedule = () => {
    if (stopped || deps.pollMs === 0) return;
    timer = setTimeout(() => {
      void look().finally(schedule);
    }, deps.pollMs);
    timer.unref();
  };
  schedule();

  return {
    kick: () => {
      if (deps.pollMs > 0) void look();
    },
    abortLocal: (runId) => active.get(runId)?.controller.abort(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const { controller } of active.values()) controller.abort();
      await Promise.allSettled([...active.values()].map((a) => a.done));
    },
  };
}

/** A stable per-(run, prompt) seed, so a resumed run asks with the same seeds. */
function hashSeed(runId: string, promptId: string): number {
  let h = 2166136261;
  for (const ch of `${runId}:${promptId}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h % 2 ** 30;
}
