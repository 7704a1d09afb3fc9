/**
 * Executes generation runs inside the server process. A run is claimed with a lease
 * (SKIP LOCKED, lease_owner = this instance, renewed by a heartbeat), so two server instances
 * never run one run at once, and a run whose server died is picked up again after the lease
 * expires, resuming at the next unfinished prompt. Each prompt's outcome is stored in one
 * transaction that also checks the lease; a cancel (from any instance) stops the run at its next
 * heartbeat or prompt, and at once on the instance that runs it. Nothing here can throw into
 * the server: every failure ends up on the run (state failed + error) or in its error list.
 */
import type { Logger } from "pino";
import type { Db } from "../../db/database.server.ts";
import { projectSettingsSchema } from "../../labeling/project-settings.ts";
import { AppError } from "../../lib/app-error.ts";
import { jobTableLease, newLeaseOwner, startLeasedRunner, type LeasedRunner } from "../../lib/leased-runner.server.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import type { Generator, GeneratorMessage } from "../generator.ts";
import { endpointGenerator, policyGenerator } from "./external-generator.server.ts";
import { emptyProgress, generateForPrompt, storedSpecSchema, storePromptOutcome, type RunProgress, type StoredSpec } from "./generation-runs.server.ts";
import type { SecretBox } from "./secret-box.server.ts";

export type GenerationRunner = LeasedRunner;

const LEASE_SECONDS = 30;
const HEARTBEAT_MS = 10_000;
const MAX_PARALLEL_RUNS = 3;

type Claimed = { id: string; project_id: string; kind: "rank" | "compare"; spec: Record<string, unknown>; progress: Record<string, unknown> };

export function startGenerationRunner(deps: { db: Db; log: Logger; box: SecretBox; inference: Inference; pollMs: number }): GenerationRunner {
  const { db, log } = deps;
  const owner = newLeaseOwner("server");
  const lease = jobTableLease(db, "generation_runs", owner, LEASE_SECONDS);
  const finish = lease.finish;

  async function generatorsFor(spec: StoredSpec, projectId: string): Promise<Generator[]> {
    const out: Generator[] = [];
    for (const source of spec.sources) {
      if ("endpointId" in source) {
        const owner = await db.selectFrom("external_endpoints").select("project_id").where("id", "=", source.endpointId).executeTakeFirst();
        if (!owner) throw new AppError("validation_failed", `Endpoint ${source.endpointId} was removed after the run was started.`);
        if (owner.project_id !== projectId) throw new AppError("validation_failed", `Endpoint ${source.endpointId} belongs to another project.`);
        out.push(await endpointGenerator(db, deps.box, source.endpointId));
      } else {
        const model = await db.selectFrom("models").select(["id", "name"]).where("id", "=", source.modelId).executeTakeFirst();
        if (!model) throw new AppError("validation_failed", `Model ${source.modelId} is no longer registered.`);
        out.push(policyGenerator(db, deps.inference, model.id));
      }
    }
    return out;
  }

  async function execute(run: Claimed, signal: AbortSignal): Promise<void> {
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
        if (signal.aborted) return;
        const promptId = spec.promptIds[progress.next]!;
        const prompt = await db.selectFrom("prompts").select("messages").where("id", "=", promptId).executeTakeFirst();
        const outcome = prompt
          ? await generateForPrompt(run.kind, generators, prompt.messages as GeneratorMessage[], spec, settings, hashSeed(run.id, promptId), signal)
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
      if (signal.aborted) return; // cancelled (already recorded) or shutting down (the lease expires, another instance resumes)
      log.error({ err: error, runId: run.id }, "generation run failed");
      await finish(run.id, "failed", "The run failed unexpectedly; the server log has the details.").catch(() => undefined);
    }
  }

  return startLeasedRunner<Claimed>({
    what: "generation run", log, pollMs: deps.pollMs, maxParallel: MAX_PARALLEL_RUNS, owner,
    claim: () => lease.claim<Claimed>("id, project_id, kind, spec, progress"),
    execute,
    heartbeat: { everyMs: HEARTBEAT_MS, renew: lease.renew },
    handBack: lease.handBack,
  });
}

/** A stable per-(run, prompt) seed, so a resumed run asks with the same seeds. */
function hashSeed(runId: string, promptId: string): number {
  let h = 2166136261;
  for (const ch of `${runId}:${promptId}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h % 2 ** 30;
}
