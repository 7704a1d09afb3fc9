/**
 * Running a round on a Ray cluster instead of Tandem's own trainer (decision 0017). At launch
 * the round gets a `ray_submissions` row instead of its first trainer job. A runner in the
 * server then, for each unfinished row: builds the round's bundle, uploads it as a working-dir
 * package, submits `bash run.sh` through the Ray Jobs API, and polls status and logs, mirroring
 * them into the row, the round's state and the round's socket room. When the job succeeds, the
 * checkpoint named on run.sh's TANDEM_RESULT line is registered as an external model.
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import type { Selectable } from "kysely";
import type { TandemContext } from "../../../app/context.ts";
import type { RaySubmissionsTable, RoundState } from "../../db/schema.ts";
import { AppError } from "../../lib/app-error.ts";
import { recordAudit } from "../../auth/audit.server.ts";
import { loadRound, type DataSnapshot, type RoundExecutor } from "../../rounds/rounds.server.ts";
import { publishRoundState } from "../../rounds/live-rounds.server.ts";
import { buildRoundBundle } from "./round-bundle.server.ts";
import { engineSteps, handOffSchema, UnsupportedStepError, type HandOff } from "./engine-steps.ts";
import { createRayJobsClient, RayApiError, TERMINAL, type RayStatus } from "./ray-jobs-client.server.ts";
import type { RoundSpec } from "../../../trainer/contract/round.ts";
import type { Transaction } from "kysely";
import type { Database } from "../../db/schema.ts";

type Ctx = Pick<TandemContext, "db" | "io" | "log" | "config">;
type Submission = Selectable<RaySubmissionsTable>;

/** The tail of the job's logs kept in the row and shown on the round page. */
export const LOGS_TAIL_CHARS = 64_000;
/** How long one server instance holds a row while it talks to the cluster. */
const POLL_LEASE_SECONDS = 60;

export type RaySettings = HandOff & { outputDir: string };

/**
 * Checks a hand-off before the round exists: a cluster must be configured and the engine must
 * be able to run the round's path. Returns what the submission row stores.
 */
export function prepareHandOff(config: Ctx["config"], input: unknown, spec: RoundSpec): HandOff {
  if (!config.TANDEM_RAY_DASHBOARD_URL) {
    throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [
      { path: "handOff", message: "no Ray cluster is configured on this server (set TANDEM_RAY_DASHBOARD_URL)" },
    ]);
  }
  const parsed = handOffSchema.safeParse(input);
  if (!parsed.success) {
    throw new AppError(
      "validation_failed",
      "The round is not valid; nothing was launched.",
      parsed.error.issues.map((issue) => ({ path: ["handOff", ...issue.path].join("."), message: issue.message })),
    );
  }
  try {
    engineSteps(spec, parsed.data.engine, { sft: 1, preferences: 1, prompts: 1 });
  } catch (error) {
    if (error instanceof UnsupportedStepError) {
      throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "handOff.engine", message: error.message }]);
    }
    throw error;
  }
  return parsed.data;
}

/**
 * Inside the launch (or retry) transaction: the round's submission row, attempt n. Each attempt
 * writes to its own folder on the cluster, so a retry never mixes with what a failed one left.
 */
export async function insertSubmission(trx: Transaction<Database>, config: Ctx["config"], roundId: string, handOff: HandOff): Promise<void> {
  const last = await trx.selectFrom("ray_submissions").select(sql<number>`coalesce(max(attempt), 0)`.as("attempt")).where("round_id", "=", roundId).executeTakeFirst();
  const attempt = Number(last?.attempt ?? 0) + 1;
  // The random tail keeps ids apart on a cluster shared with another Tandem (or this one after a reset).
  const submissionId = `tandem-round-${roundId}-${attempt}-${randomBytes(3).toString("hex")}`;
  const settings: RaySettings = { engine: handOff.engine, baseModel: handOff.baseModel, numGpus: handOff.numGpus, outputDir: `${config.TANDEM_RAY_OUTPUT_DIR.replace(/\/+$/, "")}/${submissionId}` };
  await trx
    .insertInto("ray_submissions")
    .values({
      round_id: roundId,
      attempt,
      submission_id: submissionId,
      dashboard_url: config.TANDEM_RAY_DASHBOARD_URL!,
      settings: JSON.stringify(settings),
    })
    .execute();
}

export async function latestSubmission(db: Ctx["db"] | Transaction<Database>, roundId: string): Promise<Submission | null> {
  return (await db.selectFrom("ray_submissions").selectAll().where("round_id", "=", roundId).orderBy("attempt", "desc").limit(1).executeTakeFirst()) ?? null;
}

/** What the round page and API show of a submission (everything in it is the cluster's or ours; nothing secret). */
export function submissionView(s: Submission | null) {
  if (!s) return null;
  return {
    attempt: s.attempt,
    submissionId: s.submission_id,
    dashboardUrl: s.dashboard_url,
    settings: s.settings,
    status: s.status,
    message: s.message,
    lastError: s.last_error,
    logsTail: s.logs_tail,
    result: s.result,
    packageUri: s.package_uri,
    updatedAt: s.updated_at,
    finishedAt: s.finished_at,
  };
}

/** A retry of a Ray round is a new submission (a new id), never a re-run of the old one. */
export async function retryRayRound(ctx: Ctx, actorId: string, roundId: string) {
  return ctx.db.transaction().execute(async (trx) => {
    const locked = await trx.selectFrom("rounds").select(["id", "state"]).where("id", "=", roundId).forUpdate().executeTakeFirst();
    if (!locked) throw new AppError("not_found", "No such round.");
    if (locked.state !== "failed" && locked.state !== "cancelled") throw new AppError("conflict", `Only a failed or cancelled round can be retried; this one is ${locked.state}.`);
    const previous = await trx.selectFrom("ray_submissions").select(["settings", "finished_at"]).where("round_id", "=", roundId).orderBy("attempt", "desc").executeTakeFirstOrThrow();
    // A cancelled attempt is stopped by the runner on its next poll; until the cluster says so,
    // a new attempt could be overtaken by the old job's last word.
    if (previous.finished_at === null) throw new AppError("conflict", "The cluster is still stopping the previous attempt; retry once it shows STOPPED.");
    if (!ctx.config.TANDEM_RAY_DASHBOARD_URL) throw new AppError("conflict", "No Ray cluster is configured on this server (TANDEM_RAY_DASHBOARD_URL), so the round cannot be submitted again.");
    await insertSubmission(trx, ctx.config, roundId, handOffSchema.parse(pickHandOff(previous.settings)));
    await trx.updateTable("rounds").set({ state: "queued", error: null, finished_at: null, updated_at: new Date() }).where("id", "=", roundId).execute();
    await recordAudit(trx, { actorUserId: actorId, action: "round.retry", target: `round:${roundId}`, details: { ray: true } });
    return { state: "queued" as const };
  });
}

const pickHandOff = (settings: Record<string, unknown>) => ({ engine: settings["engine"], baseModel: settings["baseModel"], numGpus: settings["numGpus"] });

/** The executor a launch with `handOff` uses: no trainer job, a submission row instead. */
export function rayExecutor(config: Ctx["config"], input: unknown): RoundExecutor {
  let handOff: HandOff | null = null;
  return {
    trainingOnly: true,
    check: (spec) => {
      handOff = prepareHandOff(config, input, spec);
    },
    start: (trx, roundId) => insertSubmission(trx, config, roundId, handOff!),
    get audit() {
      return { ray: { engine: handOff?.engine, baseModel: handOff?.baseModel } };
    },
  };
}

export async function isRayRound(db: Ctx["db"], roundId: string): Promise<boolean> {
  return (await db.selectFrom("ray_submissions").select("id").where("round_id", "=", roundId).limit(1).executeTakeFirst()) !== undefined;
}

// ---------------------------------------------------------------- the runner

export type RayRunner = { tick: () => Promise<void>; stop: () => void };

/** Polls every TANDEM_RAY_POLL_MS; one tick at a time per instance, rows leased across instances. */
export function startRayRunner(ctx: Ctx): RayRunner {
  let running: Promise<void> | null = null;
  const tick = () => {
    running ??= runOnce(ctx)
      .catch((error) => ctx.log.error({ err: error }, "ray runner tick failed"))
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void tick(), ctx.config.TANDEM_RAY_POLL_MS);
  timer.unref();
  return { tick, stop: () => clearInterval(timer) };
}

async function runOnce(ctx: Ctx): Promise<void> {
  const due = await ctx.db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom("ray_submissions")
      .selectAll()
      .where("finished_at", "is", null)
      .where((eb) => eb.or([eb("poll_lease_until", "is", null), eb("poll_lease_until", "<", sql<Date>`now()`)]))
      .orderBy("id")
      .limit(20)
      .forUpdate()
      .skipLocked()
      .execute();
    if (rows.length > 0) {
      await trx
        .updateTable("ray_submissions")
        .set({ poll_lease_until: sql`now() + make_interval(secs => ${POLL_LEASE_SECONDS})` })
        .where("id", "in", rows.map((r) => r.id))
        .execute();
    }
    return rows;
  });
  for (const row of due) {
    try {
      await advance(ctx, row);
    } catch (error) {
      // The cluster being away is expected and shown; anything else is logged with the row.
      const message = error instanceof RayApiError ? error.message : "internal error (see the server log)";
      if (!(error instanceof RayApiError)) ctx.log.error({ err: error, submission: row.submission_id }, "ray hand-off failed");
      await ctx.db.updateTable("ray_submissions").set({ last_error: message, poll_lease_until: null, updated_at: new Date() }).where("id", "=", row.id).execute();
      await publishRay(ctx, row.round_id);
    }
  }
}

/** One step of one submission: submit it, or read its status and logs and mirror them. */
async function advance(ctx: Ctx, row: Submission): Promise<void> {
  const client = createRayJobsClient(row.dashboard_url);
  const round = await loadRound(ctx.db, row.round_id);
  const settings = row.settings as RaySettings;

  if (row.status === "submitting") {
    if (round.state === "cancelled") {
      await finish(ctx, row, { status: "STOPPED", message: "cancelled before it was submitted" });
      return;
    }
    // The bundle holds no attempt-specific value (the output folder comes as an env var), so a retry reuses the package.
    const bundle = await buildRoundBundle(ctx.db, { ...round, data_snapshot: round.data_snapshot as DataSnapshot }, handOffSchema.parse(pickHandOff(settings)));
    const packageName = `_ray_pkg_tandem_${bundle.sha256.slice(0, 32)}.zip`;
    if (!(await client.packageExists(packageName))) await client.uploadPackage(packageName, bundle.zip);
    try {
      await client.submit({
        entrypoint: "bash run.sh",
        submission_id: row.submission_id,
        runtime_env: {
          working_dir: `gcs://${packageName}`,
          env_vars: { TANDEM_ENGINE: settings.engine, TANDEM_BASE_MODEL: settings.baseModel, TANDEM_OUTPUT_DIR: settings.outputDir },
        },
        metadata: { tandem_round: round.id, tandem_project: round.project_id, tandem_attempt: String(row.attempt) },
        ...(settings.numGpus > 0 ? { entrypoint_num_gpus: settings.numGpus } : {}),
      });
    } catch (error) {
      // A submit whose answer was lost may have gone through: the id is the idempotency key, and
      // the job's metadata must name this round and attempt before it is taken as ours.
      const existing = error instanceof RayApiError ? await client.details(row.submission_id).catch(() => null) : null;
      const ours = existing?.["metadata"] as Record<string, unknown> | undefined;
      if (!existing || ours?.["tandem_round"] !== round.id || ours?.["tandem_attempt"] !== String(row.attempt)) {
        if (error instanceof RayApiError && error.status === 400) {
          await finish(ctx, row, { status: "FAILED", message: `Ray refused the job: ${error.message}` });
          return;
        }
        throw error;
      }
    }
    await ctx.db
      .updateTable("ray_submissions")
      .set({ status: "PENDING", package_uri: `gcs://${packageName}`, message: "submitted", last_error: null, poll_lease_until: null, updated_at: new Date() })
      .where("id", "=", row.id)
      .execute();
    await publishRay(ctx, row.round_id);
    return;
  }

  if (round.state === "cancelled" && !row.stop_requested) {
    await client.stop(row.submission_id);
    await ctx.db.updateTable("ray_submissions").set({ stop_requested: true }).where("id", "=", row.id).execute();
  }
  const details = await client.details(row.submission_id);
  if (!details) {
    await finish(ctx, row, { status: "FAILED", message: "the cluster no longer knows this job (was the cluster restarted?)" });
    return;
  }
  const logs = await client.logs(row.submission_id);
  const tail = logs.length > LOGS_TAIL_CHARS ? logs.slice(-LOGS_TAIL_CHARS) : logs;
  if (TERMINAL.includes(details.status)) {
    await finish(ctx, row, { status: details.status, message: details.message ?? null, logs: tail, fullLogs: logs });
    return;
  }
  // one transaction: nobody reads the cluster's RUNNING with the round still queued
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable("ray_submissions")
      .set({ status: details.status, message: details.message ?? null, logs_tail: tail, last_error: null, poll_lease_until: null, updated_at: new Date() })
      .where("id", "=", row.id)
      .execute();
    if (details.status === "RUNNING") {
      await trx.updateTable("rounds").set({ state: "running", updated_at: new Date() }).where("id", "=", row.round_id).where("state", "=", "queued").execute();
    }
  });
  await publishRay(ctx, row.round_id);
}

/** The line run.sh prints last: it must hold the engine and the checkpoint (more keys are kept). */
const resultSchema = z.looseObject({
  engine: z.string(),
  checkpoint: z.string().min(1),
  steps: z.string().optional(),
  dryRun: z.boolean().optional(),
});

export function parseResultLine(logs: string): z.infer<typeof resultSchema> | null {
  const line = logs.split("\n").reverse().find((l) => l.startsWith("TANDEM_RESULT "));
  if (!line) return null;
  try {
    const parsed = resultSchema.safeParse(JSON.parse(line.slice("TANDEM_RESULT ".length)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * A job reached a final status: the row, the round and — for a success — the model, in one
 * transaction, so a round is never done without its model nor a model without its round.
 */
async function finish(ctx: Ctx, row: Submission, outcome: { status: RayStatus; message: string | null; logs?: string; fullLogs?: string }): Promise<void> {
  const result = outcome.status === "SUCCEEDED" ? parseResultLine(outcome.fullLogs ?? "") : null;
  await ctx.db.transaction().execute(async (trx) => {
    const round = await trx.selectFrom("rounds").select(["id", "state", "project_id", "name", "steps", "data_snapshot"]).where("id", "=", row.round_id).forUpdate().executeTakeFirstOrThrow();
    let state: RoundState;
    let error: string | null = null;
    if (outcome.status === "SUCCEEDED" && result) state = "done";
    else if (outcome.status === "SUCCEEDED") {
      state = "failed";
      error = "The Ray job succeeded but printed no valid TANDEM_RESULT line, so there is no checkpoint to register.";
    } else if (outcome.status === "STOPPED") state = "cancelled";
    else {
      state = "failed";
      error = `The Ray job failed: ${outcome.message ?? "no message"} (submission ${row.submission_id}).`;
    }
    // A round cancelled here stays cancelled whatever the cluster says afterwards.
    if (round.state === "cancelled") state = "cancelled";
    if (state === "done" && result) {
      const settings = row.settings as RaySettings;
      const lastKind = [...round.steps].reverse().find((k) => k !== "reward" && k !== "sample");
      await trx
        .insertInto("models")
        .values({
          project_id: round.project_id,
          round_id: round.id,
          // Trained from the Hugging Face model named in the hand-off (config.baseModel), not from a Tandem checkpoint.
          parent_id: null,
          name: `${round.name} (${settings.engine} on Ray)`,
          kind: lastKind === "sft" ? "sft" : "policy",
          storage_key: `external/${row.submission_id}`,
          config: JSON.stringify({ external: true, engine: settings.engine, baseModel: settings.baseModel, steps: result.steps ?? null, dryRun: result.dryRun ?? false, submissionId: row.submission_id }),
          metrics: JSON.stringify({}),
          data_snapshot: JSON.stringify(round.data_snapshot),
          external_uri: result.checkpoint,
        })
        .execute();
    }
    await trx
      .updateTable("ray_submissions")
      .set({
        status: outcome.status, message: outcome.message, ...(outcome.logs !== undefined ? { logs_tail: outcome.logs } : {}),
        result: result ? JSON.stringify(result) : null, last_error: null, poll_lease_until: null, finished_at: new Date(), updated_at: new Date(),
      })
      .where("id", "=", row.id)
      .execute();
    if (round.state !== "cancelled" || state !== "cancelled") {
      await trx
        .updateTable("rounds")
        .set({ state, error, finished_at: new Date(), updated_at: new Date(), ...(state === "done" ? { report: JSON.stringify({ ray: { submissionId: row.submission_id, checkpoint: result!.checkpoint, engine: result!.engine } }) } : {}) })
        .where("id", "=", round.id)
        .execute();
    }
  });
  await publishRoundState(ctx, row.round_id);
  await publishRay(ctx, row.round_id);
}

async function publishRay(ctx: Ctx, roundId: string): Promise<void> {
  try {
    const view = submissionView(await latestSubmission(ctx.db, roundId));
    if (view) ctx.io.to(`round:${roundId}`).emit("round:ray", { roundId, submission: view });
  } catch (error) {
    ctx.log.warn({ err: error, roundId }, "could not publish the ray submission");
  }
}
