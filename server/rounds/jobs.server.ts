/**
 * The trainer's side of rounds. A trainer token claims the oldest claimable job as a lease
 * (SKIP LOCKED, like labeling tasks), keeps it with heartbeats, streams events, uploads the
 * step's files, then reports completion; the server registers the model and queues the next
 * step in the same transaction. Every call checks that the caller's token holds the lease.
 */
import path from "node:path";
import fs from "node:fs/promises";
import { sql, type Transaction } from "kysely";
import type { Readable } from "node:stream";
import type { Db } from "../db/database.server.ts";
import type { Database, JobKind, ModelKind } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { checkpointManifestSchema } from "../../trainer/contract/checkpoint.ts";
import { remoteJobSchema, reportKlTarget, resumeFilesOf, type RemoteJob, type RoundSpec } from "../../trainer/contract/round.ts";
import { EARLY_STOP_EVENT, earlyStopEventSchema } from "../../trainer/contract/kl-guard.ts";
import { heldoutFileSchema, heldOutReport, roundWarnings, type HeldOutReport } from "./round-warnings.ts";
import { heldOutAgreement } from "./heldout-agreement.server.ts";
import { failFollowers, insertJob, loadRound, startFollowers } from "./rounds.server.ts";
import { modelDir, outputFileName, readIfPresent, removeDir, resumeDir, resumeFileName, resumeIncomingDir, stagingDir, writeUpload } from "./model-files.server.ts";
import { storeSamples, type SampleSummary } from "./samples.server.ts";
import { corpusForJob, corpusPartLines, parseLmEval, parseMixSearch, saveSearchResult, type CorpusSnapshot } from "./corpus-rounds.server.ts";

/** A job goes back to the queue after this many expired leases; then the round fails. */
export const MAX_ATTEMPTS = 3;

type JobRow = Awaited<ReturnType<typeof lockHeldJob>>;

/** Claims the oldest queued job, or one whose trainer stopped sending heartbeats. */
export async function claimJob(db: Db, dataDir: string, tokenId: string, worker: string, leaseSeconds: number): Promise<RemoteJob | null> {
  return db.transaction().execute(async (trx) => {
    // Jobs that lost their trainer too often fail their round instead of looping forever.
    const exhausted = await trx
      .updateTable("jobs")
      .set({ state: "failed", error: `the trainer stopped responding ${MAX_ATTEMPTS} times`, finished_at: new Date(), updated_at: new Date() })
      .where("state", "=", "running")
      .where("lease_expires_at", "<", sql<Date>`now()`)
      .where("attempts", ">=", MAX_ATTEMPTS)
      .returning(["round_id", "step_index", "kind"])
      .execute();
    for (const job of exhausted) await failRoundRow(trx, job.round_id, `step ${job.step_index + 1} (${job.kind}) failed: the trainer stopped responding ${MAX_ATTEMPTS} times`);

    const claimed = await sql<{ id: string; round_id: string; attempts: number; kind: JobKind; spec: Record<string, unknown> }>`
      with candidate as (
        select id from jobs
        where state = 'queued' or (state = 'running' and lease_expires_at < now())
        order by id
        limit 1
        for update skip locked
      )
      update jobs set state = 'running', attempts = jobs.attempts + 1, lease_token_id = ${tokenId}, worker = ${worker},
        lease_expires_at = now() + make_interval(secs => ${leaseSeconds}), updated_at = now()
      from candidate where jobs.id = candidate.id
      returning jobs.id, jobs.round_id, jobs.attempts, jobs.kind, jobs.spec`.execute(trx);
    const job = claimed.rows[0];
    if (!job) return null;
    await trx
      .updateTable("rounds")
      .set({ state: job.kind === "sample" ? "sampling" : "running", updated_at: new Date() })
      .where("id", "=", job.round_id)
      .where("state", "in", ["queued", "running", "sampling"])
      .execute();
    const { promptIds, ...spec } = job.spec as { promptIds?: string[] };
    // corpus steps stream the documents frozen in the round's snapshot (corpus-rounds.server.ts)
    const corpus = ["pretrain", "midtrain", "mix-search"].includes(job.kind)
      ? ((await trx.selectFrom("rounds").select("data_snapshot").where("id", "=", job.round_id).executeTakeFirstOrThrow()).data_snapshot as { corpus?: CorpusSnapshot }).corpus ?? null
      : null;
    // An earlier attempt's latest periodic checkpoint, if it uploaded one: the new attempt resumes there.
    const manifest = await readIfPresent(path.join(resumeDir(dataDir, job.id), "latest", "manifest.json"));
    const resumeStep = Number((parseJsonOr(manifest ?? "{}", {}) as { step?: number }).step ?? 0) || 0;
    // The attempt before this one lost its lease: its half-uploaded files are of no use.
    if (job.attempts > 1) await removeDir(stagingDir(dataDir, job.id, job.attempts - 1));
    return remoteJobSchema.parse({
      ...spec,
      jobId: job.id,
      roundId: job.round_id,
      attempt: job.attempts,
      leaseSeconds,
      ...(promptIds ? { promptsUrl: `/api/v1/trainer/jobs/${job.id}/prompts.jsonl?attempt=${job.attempts}` } : {}),
      ...(corpus ? { corpus: corpusForJob(corpus, job.kind, job.id, job.attempts) } : {}),
      ...(resumeStep > 0 ? { resume: { step: resumeStep } } : {}),
    });
  });
}

/**
 * Who holds a job: the trainer token and the attempt its claim started. The attempt matters
 * because several trainer processes may share one token: a process whose lease expired and was
 * re-claimed (by the same token) must not touch the new attempt.
 */
export type Lease = { tokenId: string | null; attempt: number };

/** Locks the job and checks that this lease is its live one; the message says what is wrong. */
async function lockHeldJob(trx: Transaction<Database>, jobId: string, lease: Lease) {
  const job = await trx.selectFrom("jobs").selectAll().where("id", "=", jobId).forUpdate().executeTakeFirst();
  if (!job) throw new AppError("not_found", "No such job.");
  if (job.state === "cancelled") throw new AppError("conflict", "The job was cancelled; stop working on it.");
  if (job.state !== "running" || lease.tokenId === null || job.lease_token_id !== lease.tokenId || job.attempts !== lease.attempt) {
    throw new AppError("conflict", "You do not hold this job (its lease expired or another trainer has it).");
  }
  return job;
}

function held<T>(db: Db, jobId: string, lease: Lease, work: (trx: Transaction<Database>, job: JobRow) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => work(trx, await lockHeldJob(trx, jobId, lease)));
}

/** Renews the lease. A cancelled job answers "cancelled" so the trainer stops. */
export async function heartbeat(db: Db, jobId: string, lease: Lease, leaseSeconds: number): Promise<{ state: "running" | "cancelled" }> {
  const job = await db.selectFrom("jobs").select(["state", "lease_token_id", "attempts"]).where("id", "=", jobId).executeTakeFirst();
  if (job?.state === "cancelled" && job.lease_token_id === lease.tokenId && job.attempts === lease.attempt) return { state: "cancelled" };
  return held(db, jobId, lease, async (trx) => {
    await trx
      .updateTable("jobs")
      .set({ lease_expires_at: sql<Date>`now() + make_interval(secs => ${leaseSeconds})`, updated_at: new Date() })
      .where("id", "=", jobId)
      .execute();
    return { state: "running" as const };
  });
}

export async function recordEvents(db: Db, jobId: string, lease: Lease, events: Array<{ type: string } & Record<string, unknown>>) {
  return held(db, jobId, lease, async (trx, job) => {
    const rows = await trx
      .insertInto("job_events")
      .values(events.map(({ type, ...payload }) => ({ job_id: jobId, round_id: job.round_id, attempt: job.attempts, type, payload: JSON.stringify(payload) })))
      .returning(["id", "type", "payload", "created_at"])
      .execute();
    return { roundId: job.round_id, rows: rows.map((r) => ({ ...r, job_id: jobId, kind: job.kind, step_index: job.step_index, attempt: job.attempts })) };
  });
}

/** Streams one output file into the job's staging folder (the lease is checked first). */
export async function uploadFile(db: Db, dataDir: string, jobId: string, lease: Lease, name: string, body: Readable, maxBytes: number) {
  const file = outputFileName(name);
  const job = await held(db, jobId, lease, async (_trx, job) => job);
  const bytes = await writeUpload(stagingDir(dataDir, jobId, job.attempts), file, body, maxBytes);
  return { file, bytes };
}

/** One file of a periodic checkpoint, into this attempt's incoming folder (made current by markResumeReady). */
export async function uploadResumeFile(db: Db, dataDir: string, jobId: string, lease: Lease, name: string, body: Readable, maxBytes: number) {
  const file = resumeFileName(name);
  const job = await held(db, jobId, lease, async (_trx, job) => job);
  const bytes = await writeUpload(resumeIncomingDir(dataDir, jobId, job.attempts), file, body, maxBytes);
  return { file, bytes };
}

/**
 * The uploaded checkpoint is complete: it replaces the job's previous one in a rename, under the
 * job's row lock, so a re-claim never sees a half-written checkpoint.
 */
export async function markResumeReady(db: Db, dataDir: string, jobId: string, lease: Lease, step: number) {
  return held(db, jobId, lease, async (_trx, job) => {
    const incoming = resumeIncomingDir(dataDir, jobId, job.attempts);
    const missing = [];
    for (const name of resumeFilesOf(job.kind)) if ((await fs.stat(path.join(incoming, name)).catch(() => null)) === null) missing.push(name);
    if (missing.length > 0) throw new AppError("conflict", `Upload ${missing.join(", ")} before marking the checkpoint ready.`);
    const manifest = parseJsonOr((await readIfPresent(path.join(incoming, "manifest.json"))) ?? "{}", {}) as { step?: number };
    if (manifest.step !== step) throw new AppError("validation_failed", `manifest.json is for step ${String(manifest.step)}, not ${step}.`);
    const latest = path.join(resumeDir(dataDir, jobId), "latest");
    const previous = path.join(resumeDir(dataDir, jobId), `previous-${job.attempts}-${step}`);
    await fs.rename(latest, previous).catch(() => undefined);
    await fs.rename(incoming, latest);
    await removeDir(previous);
    return { step };
  });
}

/** Where a resuming trainer downloads the latest checkpoint's files from (the lease is checked). */
export async function resumeFilePath(db: Db, dataDir: string, jobId: string, lease: Lease, name: string): Promise<string> {
  const file = resumeFileName(name);
  await held(db, jobId, lease, async (_trx, job) => job);
  const target = path.join(resumeDir(dataDir, jobId), "latest", file);
  if ((await fs.stat(target).catch(() => null)) === null) throw new AppError("not_found", "This job has no checkpoint to resume from.");
  return target;
}

/** The prompts a sampling or PPO job works on, in the order their samples refer to them (line = index + 1). */
export async function promptLines(db: Db, jobId: string, lease: Lease): Promise<AsyncGenerator<string>> {
  // Checked before the response starts, so a trainer without the lease gets a 409, not a torn stream.
  const job = await held(db, jobId, lease, async (_trx, job) => job);
  const ids = (job.spec as { promptIds?: string[] }).promptIds ?? [];
  const rows = ids.length > 0 ? await db.selectFrom("prompts").select(["id", "messages", "metadata"]).where("id", "in", ids).execute() : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  // metadata carries the reference answers that checkers read (GRPO rewards, held-out scores).
  return (async function* () {
    for (const id of ids) yield JSON.stringify({ prompt: byId.get(id)?.messages ?? [], metadata: byId.get(id)?.metadata ?? {} }) + "\n";
  })();
}

/** One corpus part of a pretrain, midtrain or mix-search job (its index in the round's snapshot), as JSONL documents. */
export async function corpusLines(db: Db, jobId: string, lease: Lease, index: number): Promise<AsyncGenerator<string>> {
  // Checked before the response starts, so a trainer without the lease gets a 409, not a torn stream.
  const job = await held(db, jobId, lease, async (_trx, job) => job);
  const row = await db.selectFrom("rounds").select("data_snapshot").where("id", "=", job.round_id).executeTakeFirstOrThrow();
  const snapshot = (row.data_snapshot as { corpus?: CorpusSnapshot }).corpus;
  if (!snapshot || !snapshot.parts[index]) throw new AppError("not_found", "This job has no such corpus part.");
  return corpusPartLines(db, snapshot, index);
}

/** Parses JSON a trainer uploaded; a malformed file gets the caller's fallback, not a 500. */
function parseJsonOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}

const MODEL_KIND: Record<Exclude<JobKind, "sample" | "evaluate" | "mix-search">, ModelKind> = {
  sft: "sft", reward: "reward", dpo: "policy", ppo: "policy", grpo: "policy", rloo: "policy", kto: "policy", pretrain: "base", midtrain: "base",
};

/**
 * A finished step. Training steps register their model (the staging folder is renamed into
 * the registry inside the transaction, and renamed back if it fails); sampling stores the
 * completions and opens ranking tasks. Then the next step is queued, or the round is done.
 */
export async function completeJob(db: Db, dataDir: string, jobId: string, lease: Lease, metrics: Record<string, number>) {
  const moved: Array<{ from: string; to: string }> = [];
  let result;
  try {
    result = await held(db, jobId, lease, async (trx, job) => {
      const round = await loadRound(trx, job.round_id);
      const staging = stagingDir(dataDir, jobId, job.attempts);
      let modelId: string | null = null;
      let samples: SampleSummary | null = null;
      let evaluation: Record<string, number> | null = null;
      let rewardJudge: RewardJudgement | null = null;
      if (job.kind === "evaluate") {
        // the held-out scores wait in the round's report until the round is done
        const text = await readIfPresent(path.join(staging, "heldout.json"));
        if (text === null) throw new AppError("conflict", "Upload heldout.json before reporting the job complete.");
        const file = heldoutFileSchema.safeParse(parseJsonOr(text, null));
        if (!file.success) throw new AppError("validation_failed", "heldout.json is not the heldout command's output.");
        const rm = parseEvaluation(await readIfPresent(path.join(staging, "rm-heldout.json")));
        // the chain's origin policy, named for the report, when the job was given one (decision 0058)
        const originId = (job.spec as { heldOut?: { originModelId?: string } }).heldOut?.originModelId;
        const originRow = originId ? await trx.selectFrom("models").select(["id", "name"]).where("id", "=", originId).executeTakeFirst() : undefined;
        const origin = originRow ? { modelId: originRow.id, name: originRow.name } : null;
        // the reward model's accuracy beside the labelers' own agreement on the same held-out items (decision 0067)
        const accuracy = rm?.["eval_accuracy"];
        const rmHeldOut = accuracy === undefined ? null : { accuracy, pairs: rm?.["eval_pairs"] ?? 0, labelerAgreement: await heldOutAgreement(trx, round.data_snapshot) };
        const heldOut = heldOutReport(file.data, rmHeldOut, origin);
        await trx.updateTable("rounds").set({ report: JSON.stringify({ ...(round.report ?? {}), heldOut }), updated_at: new Date() }).where("id", "=", round.id).execute();
      } else if (job.kind === "sample") {
        const spec = job.spec as { model: { modelId?: string }; baselineModel?: { modelId: string } };
        const text = await readIfPresent(path.join(staging, "samples.jsonl"));
        const baselineText = spec.baselineModel ? await readIfPresent(path.join(staging, "baseline-samples.jsonl")) : null;
        if (text === null || (spec.baselineModel && baselineText === null)) {
          throw new AppError("conflict", `Upload samples.jsonl${spec.baselineModel ? " and baseline-samples.jsonl" : ""} before reporting the job complete.`);
        }
        samples = await storeSamples(
          trx, round, job,
          { modelId: spec.model.modelId ?? null, text },
          spec.baselineModel && baselineText !== null ? { modelId: spec.baselineModel.modelId, text: baselineText } : null,
        );
        evaluation = parseEvaluation(await readIfPresent(path.join(staging, "eval.json")));
        const judge = (job.spec as { rewardModel?: { modelId: string } }).rewardModel;
        const judged = judge ? parseEvaluation(await readIfPresent(path.join(staging, "reward-eval.json"))) : null;
        if (judge && judged && judged["eval_accuracy"] !== undefined) {
          rewardJudge = { rewardModelId: judge.modelId, winRate: judged["eval_accuracy"], pairs: judged["eval_pairs"] ?? 0, meanMargin: judged["eval_margin"] ?? null };
        }
      } else if (job.kind === "mix-search") {
        const snapshot = round.data_snapshot.corpus;
        if (!snapshot) throw new AppError("conflict", "This round has no corpus snapshot.");
        const text = await readIfPresent(path.join(staging, "mix-search.json"));
        if (text === null) throw new AppError("conflict", "Upload mix-search.json before reporting the job complete.");
        const mixSearch = await saveSearchResult(trx, round, snapshot, parseMixSearch(text, snapshot));
        await trx.updateTable("rounds").set({ report: JSON.stringify({ ...(round.report ?? {}), mixSearch }), updated_at: new Date() }).where("id", "=", round.id).execute();
      } else {
        if (job.kind === "pretrain" || job.kind === "midtrain") {
          // held-out loss per set, before and after: midtraining's forgetting shows on the replay set
          const lmEval = parseLmEval(await readIfPresent(path.join(staging, "lm-eval.json")));
          if (lmEval) await trx.updateTable("rounds").set({ report: JSON.stringify({ ...(round.report ?? {}), lmEval }), updated_at: new Date() }).where("id", "=", round.id).execute();
        }
        const manifestText = await readIfPresent(path.join(staging, "manifest.json"));
        const missing = [];
        if (manifestText === null) missing.push("manifest.json");
        // stat, not read: a model file can be larger than a string may be
        for (const name of ["model.safetensors", "tokenizer.json"]) if ((await fs.stat(path.join(staging, name)).catch(() => null)) === null) missing.push(name);
        if (missing.length > 0) throw new AppError("conflict", `Upload ${missing.join(", ")} before reporting the job complete.`);
        const manifest = checkpointManifestSchema.safeParse(parseJsonOr(manifestText!, null));
        if (!manifest.success) throw new AppError("validation_failed", "manifest.json is not a checkpoint manifest.");
        const storageKey = `round-${round.id}-job-${jobId}-${job.attempts}`;
        const parent = (job.spec as { model: { modelId?: string } }).model.modelId ?? null;
        const kind = MODEL_KIND[job.kind as keyof typeof MODEL_KIND];
        const row = await trx
          .insertInto("models")
          .values({
            project_id: round.project_id, round_id: round.id, parent_id: parent, name: `${round.name} · ${job.kind}`, kind,
            storage_key: storageKey, config: JSON.stringify(manifest.data), metrics: JSON.stringify(metrics), data_snapshot: JSON.stringify(round.data_snapshot),
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        modelId = row.id;
        const to = modelDir(dataDir, storageKey);
        await fs.mkdir(path.dirname(to), { recursive: true });
        await fs.rename(staging, to);
        moved.push({ from: staging, to });
        // LoRA adapters over the job's model: their base is that model's folder (base/ → it)
        if (manifest.data.lora && parent) await linkAdapterBase(trx, dataDir, to, parent);
      }
      await trx.updateTable("jobs").set({ state: "done", finished_at: new Date(), updated_at: new Date() }).where("id", "=", jobId).execute();
      const next = job.step_index + 1;
      if (next < round.steps.length) {
        await insertJob(trx, round, next, (job.spec as { leaseSeconds: number }).leaseSeconds);
        await trx.updateTable("rounds").set({ state: "queued", updated_at: new Date() }).where("id", "=", round.id).execute();
      } else {
        const report = await roundReport(trx, round, samples, evaluation, rewardJudge);
        await trx.updateTable("rounds").set({ state: "done", report: JSON.stringify(report), finished_at: new Date(), updated_at: new Date() }).where("id", "=", round.id).execute();
        // rounds that start from this one's policy start now
        await startFollowers(trx, round.id, (job.spec as { leaseSeconds: number }).leaseSeconds);
      }
      return { roundId: round.id, modelId, samples, roundDone: next >= round.steps.length };
    });
  } catch (error) {
    for (const { from, to } of moved) await fs.rename(to, from).catch(() => undefined);
    throw error;
  }
  // Committed: what is left on disk for this job is no longer needed (a failure here is harmless),
  // and once the round is done, neither are the checkpoints its failed or cancelled jobs left.
  await removeDir(resumeDir(dataDir, jobId)).catch(() => undefined);
  if (result.roundDone) {
    for (const old of await db.selectFrom("jobs").select("id").where("round_id", "=", result.roundId).execute()) await removeDir(resumeDir(dataDir, old.id)).catch(() => undefined);
  }
  await removeDir(stagingDir(dataDir, jobId, lease.attempt)).catch(() => undefined);
  return result;
}

/** What a finished round produced: its models with their final metrics, and the new labeling work. */
/**
 * The reward model's verdict on the sampled prompts: how often it scored the new policy's answer
 * above the previous policy's (ties ½), and the mean score margin (new − previous).
 */
type RewardJudgement = { rewardModelId: string; winRate: number; pairs: number; meanMargin: number | null };

async function roundReport(
  trx: Transaction<Database>, round: { id: string; spec: RoundSpec; report: Record<string, unknown> | null },
  samples: SampleSummary | null, evaluation: Record<string, number> | null, rewardJudge: RewardJudgement | null,
) {
  const models = await trx.selectFrom("models").select(["id", "name", "kind", "metrics"]).where("round_id", "=", round.id).orderBy("id").execute();
  // the evaluate step left the held-out scores in the report (the row is re-read: it wrote them in an earlier transaction)
  const stored = (await trx.selectFrom("rounds").select("report").where("id", "=", round.id).executeTakeFirst())?.report ?? round.report;
  const heldOut = (stored?.["heldOut"] as HeldOutReport | undefined) ?? null;
  // steps a KL guard stopped: their early_stop events, from the attempt that finished
  const stops = await trx
    .selectFrom("job_events").innerJoin("jobs", "jobs.id", "job_events.job_id")
    .select(["jobs.kind", "job_events.payload"])
    .where("job_events.round_id", "=", round.id).where("job_events.type", "=", EARLY_STOP_EVENT).where("jobs.state", "=", "done")
    .whereRef("job_events.attempt", "=", "jobs.attempts")
    .orderBy("jobs.step_index").execute();
  const earlyStops = stops.flatMap(({ kind, payload }) => {
    const stop = earlyStopEventSchema.omit({ type: true }).safeParse(payload); // events are stored without their type
    return stop.success ? [{ kind, kl: stop.data.kl, klTarget: stop.data.klTarget, step: stop.data.step, keptStep: stop.data.keptStep }] : [];
  });
  const trained = models.at(-1)?.metrics as Record<string, unknown> | undefined;
  // after an early stop the registered model's metrics are the kept step's (metricsOfKeptStep), whose KL is not the one
  // that stopped training: kl_guard_stopped says that one
  const lastKl = earlyStops.length > 0 ? null : ((["kl_guard/kl", "objective/kl", "kl"].map((k) => trained?.[k]).find((v) => typeof v === "number") as number | undefined) ?? null);
  const kl =
    heldOut?.kl != null ? { value: heldOut.kl, where: "on held-out prompts" }
    : evaluation?.["eval_kl"] !== undefined ? { value: evaluation["eval_kl"], where: "on the round's training prompts" }
    : lastKl !== null ? { value: lastKl, where: "in the last training step" }
    : null;
  const warnings = roundWarnings({ klTarget: reportKlTarget(round.spec), heldOut, kl, earlyStops });
  // corpus rounds' own results, written by their step (decision 0050, 0051)
  const corpus = Object.fromEntries(["lmEval", "mixSearch"].filter((k) => stored?.[k] !== undefined).map((k) => [k, stored![k]]));
  return { models, samples, evaluation, rewardJudge, heldOut, warnings, ...corpus };
}

/**
 * An adapter model's folder gets `base` → its base model's folder (relative, so the data folder
 * can move), which is where the trainer's loader looks first: serving and later jobs load
 * base + adapter, and a chain of adapters resolves link by link.
 */
export async function linkAdapterBase(trx: Transaction<Database> | Db, dataDir: string, adapterDir: string, baseModelId: string): Promise<void> {
  const base = await trx.selectFrom("models").select("storage_key").where("id", "=", baseModelId).executeTakeFirstOrThrow();
  await fs.rm(path.join(adapterDir, "base"), { recursive: true, force: true });
  await fs.symlink(path.relative(adapterDir, modelDir(dataDir, base.storage_key)), path.join(adapterDir, "base"), "dir");
}

/** The eval CLI's eval.json → its finite numeric metrics (eval_kl, eval_rewards/accuracies …), or null. */
function parseEvaluation(text: string | null): Record<string, number> | null {
  if (text === null) return null;
  try {
    const metrics = (JSON.parse(text) as { metrics?: Record<string, unknown> }).metrics ?? {};
    return Object.fromEntries(Object.entries(metrics).filter((e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1])));
  } catch {
    throw new AppError("validation_failed", "eval.json is not the eval command's output.");
  }
}

export async function failJob(db: Db, dataDir: string, jobId: string, lease: Lease, message: string, step?: number) {
  const result = await held(db, jobId, lease, async (trx, job) => {
    const where = step !== undefined ? ` at training step ${step}` : "";
    const error = `step ${job.step_index + 1} (${job.kind}) failed${where}: ${message}`;
    await trx.updateTable("jobs").set({ state: "failed", error, finished_at: new Date(), updated_at: new Date() }).where("id", "=", jobId).execute();
    await failRoundRow(trx, job.round_id, error);
    return { roundId: job.round_id, attempts: job.attempts, error };
  });
  await removeDir(stagingDir(dataDir, jobId, result.attempts));
  // The last periodic checkpoint stays: a retry of the round resumes from it (retryRound).
  return result;
}

async function failRoundRow(trx: Transaction<Database>, roundId: string, error: string) {
  await failFollowers(trx, roundId, "failed");
  await trx
    .updateTable("rounds")
    .set({ state: "failed", error, finished_at: new Date(), updated_at: new Date() })
    .where("id", "=", roundId)
    .where("state", "not in", ["done", "cancelled"])
    .execute();
}
