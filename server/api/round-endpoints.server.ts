import { z } from "zod";
import { visibleProjects } from "../auth/project-access.server.ts";
import path from "node:path";
import { AppError } from "../lib/app-error.ts";
import { getProject } from "../labeling/projects.server.ts";
import { cancelRound, launchRound, listRounds, loadRound, retryRound, roundDetail, roundEvents } from "../rounds/rounds.server.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { buildRoundBundle } from "../bridges/ray/round-bundle.server.ts";
import { isRayRound, latestSubmission, rayExecutor, retryRayRound, submissionView } from "../bridges/ray/ray-handoff.server.ts";
import { listDataMixes } from "../rounds/corpus-rounds.server.ts";
import { publishRoundEvents, publishRoundState } from "../rounds/live-rounds.server.ts";
import { modelDir, MODEL_FILES } from "../rounds/model-files.server.ts";
import { hfImportSchema, importHfModel } from "../rounds/model-import.server.ts";
import { claimJob, completeJob, corpusLines, failJob, heartbeat, markResumeReady, promptLines, recordEvents, resumeFilePath, uploadFile, uploadResumeFile } from "../rounds/jobs.server.ts";
import { publishCounters } from "../labeling/live-counters.server.ts";
import { jobCompleteSchema, jobEventsBodySchema, jobFailSchema, RESUME_UPLOAD_FILES, resumeReadySchema } from "../../trainer/contract/round.ts";
import type { Actor } from "../auth/actor.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";
import { parseSize } from "../lib/size.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const json = z.record(z.string(), z.unknown());

/** The trainer token behind a call (admins may reach trainer endpoints but hold no leases). */
const tokenOf = (actor: Actor | null): string | null => (actor?.kind === "token" ? actor.tokenId : null);
/** Every call on a held job names the attempt its claim started (`?attempt=N`): that is the lease. */
const attemptQuery = z.object({ attempt: z.coerce.number().int().positive() });
const leaseOf = (actor: Actor | null, query: { attempt: number }) => ({ tokenId: tokenOf(actor), attempt: query.attempt });

export const roundEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/rounds",
    summary: "The project's training rounds, newest first",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => {
      await getProject(ctx.db, params.id);
      return listRounds(ctx.db, params.id);
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/rounds",
    summary:
      "Launch a round: path (sft-dpo, sft-reward-ppo, …), base model, data filters, hyperparameters, next-batch sampling. " +
      "With handOff {engine, baseModel, numGpus} the round runs on the configured Ray cluster instead of Tandem's trainer",
    access: "researcher",
    params: idParams,
    body: json,
    response: z.object({ id: z.string(), steps: z.array(z.string()), dataSnapshot: json }),
    status: 201,
    handler: async ({ ctx, params, body, actor }) => {
      const project = await getProject(ctx.db, params.id);
      const { handOff, ...spec } = body;
      return launchRound(ctx.db, actor!.user.id, project, spec, ctx.config.TANDEM_JOB_LEASE_SECONDS, handOff === undefined ? undefined : rayExecutor(ctx.config, handOff));
    },
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/data-mixes",
    summary: "Saved data mixes (a mix search's chosen mix with its table of candidates), newest first; a pretrain round reuses one as corpus.mix.mixId",
    access: "researcher",
    params: idParams,
    response: z.array(json),
    handler: async ({ ctx, params }) => {
      await getProject(ctx.db, params.id);
      return listDataMixes(ctx.db, params.id);
    },
  }),
  endpoint({
    method: "get",
    path: "/rounds/:id",
    project: "round",
    summary: "A round: spec, state, data snapshot, jobs, models, report, and its Ray submission when it was handed to a cluster",
    access: "researcher",
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      // one snapshot: a hand-off commits its submission and round together, and must not land between the two reads
      return ctx.db
        .transaction()
        .setIsolationLevel("repeatable read")
        .execute(async (trx) => ({ ...(await roundDetail(trx, params.id)), ray: submissionView(await latestSubmission(trx, params.id)) }));
    },
  }),
  endpoint({
    method: "get",
    path: "/rounds/:id/bundle.zip",
    project: "round",
    summary: "The round as a self-contained bundle for OpenRLHF or TRL: its datasets, one script per step, run.sh and a README",
    access: "researcher",
    params: idParams,
    response: z.any(),
    stream: { contentType: "application/zip", filename: (p: { id: string }) => `tandem-round-${p.id}.zip` },
    handler: async ({ ctx, params, actor }) => {
      const round = await loadRound(ctx.db, params.id);
      const bundle = await buildRoundBundle(ctx.db, round, null);
      await recordAudit(ctx.db, { actor, action: "export.round_bundle", target: `round:${params.id}`, details: { sha256: bundle.sha256, counts: bundle.counts } });
      return (async function* () {
        yield bundle.zip;
      })();
    },
  }),
  endpoint({
    method: "get",
    path: "/rounds/:id/events",
    project: "round",
    summary: "The round's stored trainer events (metrics, progress), oldest first; ?after=<event id> pages on",
    access: "researcher",
    params: idParams,
    query: z.object({ after: z.string().regex(/^\d{1,18}$/).default("0") }),
    response: z.array(json),
    handler: async ({ ctx, params, query }) => {
      await roundDetail(ctx.db, params.id);
      return roundEvents(ctx.db, params.id, query.after);
    },
  }),
  ...(["cancel", "retry"] as const).map((action) =>
    endpoint({
      method: "post",
      path: `/rounds/:id/${action}`,
      project: "round",
      summary: action === "cancel" ? "Cancel a round; a running step stops at its next heartbeat and registers nothing" : "Retry a failed or cancelled round from its unfinished step",
      access: "researcher",
      params: idParams,
      response: json,
      handler: async ({ ctx, params, actor }) => {
        const result =
          action === "cancel"
            ? await cancelRound(ctx.db, actor!.user.id, params.id, ctx.config.TANDEM_DATA_DIR)
            : (await isRayRound(ctx.db, params.id))
              ? await retryRayRound(ctx, actor!.user.id, params.id)
              : await retryRound(ctx.db, actor!.user.id, params.id, ctx.config.TANDEM_JOB_LEASE_SECONDS, ctx.config.TANDEM_DATA_DIR);
        void publishRoundState(ctx, params.id);
        return result;
      },
    }),
  ),
  endpoint({
    method: "get",
    path: "/models",
    summary: "The model registry: every registered checkpoint with its lineage (base models, and those of the projects you may enter)",
    access: ["researcher", "trainer"],
    response: z.array(json),
    handler: ({ ctx, actor }) =>
      ctx.db
        .selectFrom("models")
        .leftJoin("projects", "projects.id", "models.project_id")
        .select(["models.id", "models.name", "models.kind", "models.project_id", "models.round_id", "models.parent_id", "models.metrics", "models.created_at"])
        // A project's checkpoints are its data, as its exports are (decision 0031).
        .where((eb) => eb.or([eb("models.project_id", "is", null), visibleProjects(eb, actor!)]))
        .orderBy("models.id", "desc")
        .execute(),
  }),
  endpoint({
    method: "post",
    path: "/models/import",
    summary:
      "Register a Hugging Face model folder on the server's disk (under TANDEM_HF_IMPORT_DIR) as a base model: model_type llama, qwen2 or gpt2 " +
      "(safetensors, sharded or not; tokenizer.json and the chat template), or a PEFT LoRA adapter folder with baseModelId",
    access: "researcher",
    body: hfImportSchema,
    response: json,
    status: 201,
    handler: ({ ctx, body, actor }) => importHfModel(ctx.db, ctx.config, { actor }, body),
  }),
  endpoint({
    method: "get",
    path: "/models/:id",
    project: "model",
    summary: "One model: lineage (parent, round, data snapshot), config and metrics",
    access: ["researcher", "trainer"],
    params: idParams,
    response: json,
    handler: async ({ ctx, params }) => {
      const model = await ctx.db.selectFrom("models").selectAll().where("id", "=", params.id).executeTakeFirst();
      if (!model) throw new AppError("not_found", "No such model.");
      const { storage_key: _key, ...shown } = model;
      return shown;
    },
  }),
  endpoint({
    method: "get",
    path: "/models/:id/files/:name",
    project: "model",
    summary: "Download a model file: model.safetensors (Hugging Face names; LoRA adapters under PEFT's names), manifest.json or tokenizer.json",
    access: ["researcher", "trainer"],
    params: z.object({ id: idParams.shape.id, name: z.enum(MODEL_FILES) }),
    response: z.any(),
    file: { contentType: "application/octet-stream" },
    handler: async ({ ctx, params }) => {
      const model = await ctx.db.selectFrom("models").select(["storage_key", "external_uri"]).where("id", "=", params.id).executeTakeFirst();
      if (!model) throw new AppError("not_found", "No such model.");
      if (model.external_uri) throw new AppError("conflict", `This model was trained outside Tandem; its files are at ${model.external_uri} on the cluster.`);
      return { path: path.join(modelDir(ctx.config.TANDEM_DATA_DIR, model.storage_key), params.name), filename: `model-${params.id}-${params.name}` };
    },
  }),
];

export const trainerEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "post",
    path: "/trainer/claim",
    summary: "Claim the oldest queued job (or one whose trainer went silent) as a lease; null when there is none",
    access: "trainer",
    tokenOnly: true,
    // Trainers ask every few seconds while the queue is empty: those answers are not logged.
    idlePoll: true,
    body: z.strictObject({ worker: z.string().trim().min(1).max(120) }),
    response: json.nullable(),
    handler: async ({ ctx, body, actor }) => {
      const job = await claimJob(ctx.db, ctx.config.TANDEM_DATA_DIR, tokenOf(actor)!, body.worker, ctx.config.TANDEM_JOB_LEASE_SECONDS);
      if (job) void publishRoundState(ctx, job.roundId);
      return job;
    },
  }),
  endpoint({
    method: "post",
    path: "/trainer/jobs/:id/heartbeat",
    project: "none",
    summary: "Renew the job's lease; answers cancelled when the researcher cancelled the round",
    access: "trainer",
    params: idParams,
    query: attemptQuery,
    response: z.object({ state: z.enum(["running", "cancelled"]) }),
    handler: ({ ctx, params, actor, query }) => heartbeat(ctx.db, params.id, leaseOf(actor, query), ctx.config.TANDEM_JOB_LEASE_SECONDS),
  }),
  endpoint({
    method: "post",
    path: "/trainer/jobs/:id/events",
    project: "none",
    summary: "Store and broadcast trainer events (metrics lines with TRL's names, progress, checkpoints)",
    access: "trainer",
    params: idParams,
    query: attemptQuery,
    body: jobEventsBodySchema,
    response: z.object({ stored: z.number() }),
    handler: async ({ ctx, params, body, actor, query }) => {
      const { roundId, rows } = await recordEvents(ctx.db, params.id, leaseOf(actor, query), body.events);
      publishRoundEvents(ctx, roundId, rows);
      return { stored: rows.length };
    },
  }),
  endpoint({
    method: "get",
    path: "/trainer/jobs/:id/prompts.jsonl",
    project: "none",
    summary: "The prompts of a sampling, RL or evaluation job, one {prompt, metadata} record per line, in the order samples refer to",
    access: "trainer",
    params: idParams,
    query: attemptQuery,
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string }) => `job-${p.id}-prompts.jsonl` },
    handler: ({ ctx, params, actor, query }) => promptLines(ctx.db, params.id, leaseOf(actor, query)),
  }),
  endpoint({
    method: "get",
    path: "/trainer/jobs/:id/corpus/:part",
    project: "none",
    summary: "One corpus part of a pretrain, midtrain or mix-search job (`0.jsonl`, `1.jsonl`, …: the documents frozen in its round's snapshot), one {text} record per line",
    access: "trainer",
    params: z.object({ id: idParams.shape.id, part: z.string().regex(/^\d{1,3}\.jsonl$/, "a part number, e.g. 0.jsonl") }),
    query: attemptQuery,
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string; part: string }) => `job-${p.id}-corpus-${p.part}` },
    handler: ({ ctx, params, actor, query }) => corpusLines(ctx.db, params.id, leaseOf(actor, query), Number(params.part.replace(/\.jsonl$/, ""))),
  }),
  endpoint({
    method: "put",
    path: "/trainer/jobs/:id/files/:name",
    project: "none",
    summary: "Upload one output file of the job (application/octet-stream): model.safetensors, manifest.json, tokenizer.json or samples.jsonl",
    access: "trainer",
    params: z.object({ id: idParams.shape.id, name: z.string().regex(/^[\w.-]{1,64}$/) }),
    query: attemptQuery,
    body: z.any(),
    upload: true,
    response: z.object({ file: z.string(), bytes: z.number() }),
    handler: ({ ctx, params, actor, request, query }) => uploadFile(ctx.db, ctx.config.TANDEM_DATA_DIR, params.id, leaseOf(actor, query), params.name, request!, parseSize(ctx.config.TANDEM_MODEL_UPLOAD_LIMIT)),
  }),
  endpoint({
    method: "put",
    path: "/trainer/jobs/:id/resume/:name",
    project: "none",
    summary: "Upload one file of the job's latest periodic checkpoint (application/octet-stream), for resuming a re-claimed job",
    access: "trainer",
    params: z.object({ id: idParams.shape.id, name: z.string().regex(/^[\w.-]{1,64}$/) }),
    query: attemptQuery,
    body: z.any(),
    upload: true,
    response: z.object({ file: z.string(), bytes: z.number() }),
    handler: ({ ctx, params, actor, request, query }) => uploadResumeFile(ctx.db, ctx.config.TANDEM_DATA_DIR, params.id, leaseOf(actor, query), params.name, request!, parseSize(ctx.config.TANDEM_MODEL_UPLOAD_LIMIT)),
  }),
  endpoint({
    method: "post",
    path: "/trainer/jobs/:id/resume-ready",
    project: "none",
    summary: "The uploaded checkpoint is complete: it becomes the one a re-claimed job resumes from",
    access: "trainer",
    params: idParams,
    query: attemptQuery,
    body: resumeReadySchema,
    response: z.object({ step: z.number() }),
    handler: ({ ctx, params, body, actor, query }) => markResumeReady(ctx.db, ctx.config.TANDEM_DATA_DIR, params.id, leaseOf(actor, query), body.step),
  }),
  endpoint({
    method: "get",
    path: "/trainer/jobs/:id/resume/:name",
    project: "none",
    summary: "Download a file of the checkpoint a re-claimed job resumes from",
    access: "trainer",
    params: z.object({ id: idParams.shape.id, name: z.enum(RESUME_UPLOAD_FILES) }),
    query: attemptQuery,
    response: z.any(),
    file: { contentType: "application/octet-stream" },
    handler: async ({ ctx, params, actor, query }) => ({
      path: await resumeFilePath(ctx.db, ctx.config.TANDEM_DATA_DIR, params.id, leaseOf(actor, query), params.name),
      filename: `job-${params.id}-${params.name}`,
    }),
  }),
  endpoint({
    method: "post",
    path: "/trainer/jobs/:id/complete",
    project: "none",
    summary: "Report the job done: registers its model (or stores its samples as ranking tasks) and queues the next step",
    access: "trainer",
    params: idParams,
    query: attemptQuery,
    body: jobCompleteSchema,
    response: json,
    handler: async ({ ctx, params, body, actor, query }) => {
      const result = await completeJob(ctx.db, ctx.config.TANDEM_DATA_DIR, params.id, leaseOf(actor, query), body.metrics);
      void publishRoundState(ctx, result.roundId);
      if (result.samples) {
        const round = await ctx.db.selectFrom("rounds").select("project_id").where("id", "=", result.roundId).executeTakeFirstOrThrow();
        void publishCounters(ctx, round.project_id);
      }
      return result;
    },
  }),
  endpoint({
    method: "post",
    path: "/trainer/jobs/:id/fail",
    project: "none",
    summary: "Report the job failed (bad data, a NaN loss …): the round fails with the reason",
    access: "trainer",
    params: idParams,
    query: attemptQuery,
    body: jobFailSchema,
    response: json,
    handler: async ({ ctx, params, body, actor, query }) => {
      const result = await failJob(ctx.db, ctx.config.TANDEM_DATA_DIR, params.id, leaseOf(actor, query), body.message, body.step);
      void publishRoundState(ctx, result.roundId);
      return result;
    },
  }),
];
