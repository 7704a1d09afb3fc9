// Runs one job claimed from the server, top to bottom:
//   1. fetch its inputs (model files, the dataset export, prompts) into a work folder;
//   2. fit a tokenizer first when the model is new;
//   3. run the trainer CLI on a local job spec in a child process, forwarding its JSON lines as
//      events and sending heartbeats meanwhile (training loops are synchronous, so the child
//      keeps them from starving the lease; cancelling is a kill);
//   4. upload the output files and report completion, or report the failure with its reason.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { type z } from "zod";
import { RESUME_FILES, resumeFilesOf, VALUE_RESUME_FILES, type RemoteJob, type ResumeFile } from "../contract/round.ts";
import { type JobSpecInput, type samplingSchema } from "../contract/job.ts";
import { EARLY_STOP_EVENT } from "../contract/kl-guard.ts";
import { toolCallText } from "../tokenizer/chat-template.ts";
import { ServerError, type JobRef, type ServerApi } from "./server-api.ts";
import { rewardComparisonPairs } from "./reward-comparison.ts";

const CLI = resolve(import.meta.dirname, "../cli.ts");

export type JobOutcome = "done" | "failed" | "cancelled" | "lost";

type Log = (message: string, fields?: Record<string, unknown>) => void;
type SamplingInput = z.input<typeof samplingSchema>;

/** `signal` stops the job (the service is shutting down): the child is killed, the lease left to expire. */
export async function runRemoteJob(api: ServerApi, job: RemoteJob, options: { workRoot: string; log: Log; backend?: string; signal?: AbortSignal }): Promise<JobOutcome> {
  // The pid keeps two trainer services on one machine (against two servers, whose job ids overlap)
  // out of each other's folders.
  const work = join(options.workRoot, `job-${job.jobId}-${job.attempt}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const out = join(work, "out");
  const forwarder = createEventForwarder(api, job);
  const checkpoints = createCheckpointUploader(api, job, options.log);
  // Every CLI line is forwarded; a periodic checkpoint is also uploaded, so a re-claim can resume from it.
  const events: EventForwarder = {
    push: (event) => {
      forwarder.push(event);
      const resumable = job.kind !== "sample" && job.kind !== "evaluate";
      if (resumable && event["type"] === "checkpoint" && event["final"] !== true && typeof event["step"] === "number" && typeof event["dir"] === "string") {
        checkpoints.offer(event["step"], event["dir"]);
      }
    },
    flush: forwarder.flush,
  };
  let child: ChildProcess | null = null;
  let stopped: JobOutcome | null = null;
  // Heartbeats from the first moment: fetching a large model can take longer than a lease.
  const beat = setInterval(() => {
    api.heartbeat(job).then(
      (state) => {
        if (state === "cancelled") stop("cancelled");
      },
      (error: unknown) => {
        if (error instanceof ServerError && error.status === 409) stop("lost");
        else options.log("heartbeat failed; retrying", { jobId: job.jobId, error: String(error) });
      },
    );
  }, (job.leaseSeconds * 1000) / 3);
  const stop = (why: JobOutcome) => {
    stopped ??= why;
    child?.kill("SIGTERM");
  };
  const onShutdown = () => stop("lost");
  options.signal?.addEventListener("abort", onShutdown, { once: true });

  try {
    // 1. inputs
    const spec = await materialize(api, job, work, out, options.backend);
    if (stopped) return stopped;
    // 2. a new model gets a tokenizer fitted to the job's own text first (a resumed one has it already)
    if ("init" in job.model && !job.resume) {
      const corpus = join(work, "corpus.txt");
      // a corpus round fits it to the text it trains on (a mix search: all of its sources), others to their dataset
      const texts = job.corpus ? corpusFiles(work, job).trainingFiles : [join(work, "data.jsonl")];
      writeFileSync(corpus, texts.map((file) => textOf(readFileSync(file, "utf8"))).join("\n"));
      // Explicit dimensions name their vocabulary; a preset takes the round's vocabSize.
      const vocabSize = "vocabSize" in job.model.init && job.model.init.vocabSize ? job.model.init.vocabSize : job.model.vocabSize;
      const tokenizerJob = { schemaVersion: 1, kind: "train-tokenizer", corpus: [corpus], vocabSize, out: join(work, "tokenizer") };
      const fitted = await runCli(tokenizerJob, join(work, "tokenizer-job.json"), events.push, (c) => (child = c));
      if (stopped) return stopped;
      if (fitted.code !== 0) return await failWith(api, job, fitted.failure ?? "fitting the tokenizer failed", events);
      // A small corpus runs out of merges before the asked-for size: the model follows the tokenizer.
      const fittedSize = fitted.done?.["vocabSize"];
      if ("vocabSize" in job.model.init && typeof fittedSize === "number") (spec as { model: { init: { vocabSize: number } } }).model.init.vocabSize = fittedSize;
    }
    // 3. the job itself
    const result = await runCli(spec, join(work, "job.json"), events.push, (c) => (child = c));
    await events.flush();
    if (stopped) return stopped;
    if (result.code !== 0) return await failWith(api, job, result.failure ?? `the trainer exited with code ${result.code}`, events, result.lastCheckpoint);
    // 3b. sampling with a baseline: the previous policy answers the same prompts once, for A/B compares
    if (job.kind === "sample" && job.baselineModel) {
      const dir = join(work, "baseline");
      await fetchModel(api, job.baselineModel.modelId, dir);
      const baselineSpec = { ...spec, out: join(work, "out-baseline"), tokenizer: join(dir, "tokenizer.json"), model: { checkpoint: dir }, sampling: { ...samplingOf(job), n: 1 } };
      const baseline = await runCli(baselineSpec, join(work, "baseline-job.json"), events.push, (c) => (child = c));
      await events.flush();
      if (stopped) return stopped;
      if (baseline.code !== 0) return await failWith(api, job, `sampling the previous policy: ${baseline.failure ?? "failed"}`, events);
      await api.upload(job, "baseline-samples.jsonl", join(work, "out-baseline", "samples.jsonl"));
    }
    // 3c. the round's evaluation: the policy against its reference on the round's preferences.
    //     It informs the report; a failure is reported as an event and does not cost the samples.
    if (job.kind === "sample" && job.evaluation && "modelId" in job.model) {
      const evaluation = job.evaluation;
      try {
        const refDir = await fetchModel(api, evaluation.referenceModelId, join(work, "reference"));
        await api.download(evaluation.dataUrl, join(work, "eval-data.jsonl"));
        const evalSpec = {
          schemaVersion: 1, kind: "eval", out: join(work, "out-eval"), backend: spec.backend ?? "auto", data: join(work, "eval-data.jsonl"),
          model: { checkpoint: join(work, "model") }, reference: { checkpoint: refDir }, beta: evaluation.beta,
        };
        const evaluated = await runCli(evalSpec, join(work, "eval-job.json"), events.push, (c) => (child = c));
        if (stopped) return stopped;
        if (evaluated.code === 0) await api.upload(job, "eval.json", join(work, "out-eval", "eval.json"));
        else events.push({ type: "eval_failed", message: evaluated.failure ?? "evaluation failed" });
      } catch (error) {
        if (stopped) return stopped;
        if (error instanceof ServerError && error.status === 409) throw error; // the lease is gone: stop
        events.push({ type: "eval_failed", message: error instanceof Error ? error.message : String(error) });
      }
      await events.flush();
    }
    // 3d. the reward model's verdict: new vs previous policy on the prompts both answered (its win rate).
    if (job.kind === "sample" && job.rewardModel && job.baselineModel) {
      try {
        const pairs = rewardComparisonPairs(
          readFileSync(join(work, "prompts.jsonl"), "utf8"), readFileSync(join(out, "samples.jsonl"), "utf8"), readFileSync(join(work, "out-baseline", "samples.jsonl"), "utf8"),
        );
        if (pairs === "") throw new Error("no prompt has an answer from both policies");
        writeFileSync(join(work, "rm-pairs.jsonl"), pairs);
        const rewardDir = await fetchModel(api, job.rewardModel.modelId, join(work, "judge"));
        const judgeSpec = { schemaVersion: 1, kind: "eval", out: join(work, "out-judge"), backend: spec.backend ?? "auto", data: join(work, "rm-pairs.jsonl"), model: { checkpoint: rewardDir } };
        const judged = await runCli(judgeSpec, join(work, "judge-job.json"), events.push, (c) => (child = c));
        if (stopped) return stopped;
        if (judged.code === 0) await api.upload(job, "reward-eval.json", join(work, "out-judge", "eval.json"));
        else events.push({ type: "eval_failed", message: `reward model comparison: ${judged.failure ?? "failed"}` });
      } catch (error) {
        if (stopped) return stopped;
        if (error instanceof ServerError && error.status === 409) throw error;
        events.push({ type: "eval_failed", message: `reward model comparison: ${error instanceof Error ? error.message : String(error)}` });
      }
      await events.flush();
    }
    // 3e. held-out evaluation: the report, then the round's reward model on the pairs it did not train on
    if (job.kind === "evaluate") {
      await api.upload(job, "heldout.json", join(out, "heldout.json"));
      const rm = job.heldOut?.rewardAccuracy;
      if (rm) {
        try {
          await api.download(rm.dataUrl, join(work, "rm-heldout.jsonl"));
          const rmDir = await fetchModel(api, rm.modelId, join(work, "rm"));
          const rmSpec = { schemaVersion: 1, kind: "eval", out: join(work, "out-rm"), backend: spec.backend ?? "auto", data: join(work, "rm-heldout.jsonl"), model: { checkpoint: rmDir } };
          const judged = await runCli(rmSpec, join(work, "rm-job.json"), events.push, (c) => (child = c));
          if (stopped) return stopped;
          if (judged.code === 0) await api.upload(job, "rm-heldout.json", join(work, "out-rm", "eval.json"));
          else events.push({ type: "eval_failed", message: `reward model on held-out pairs: ${judged.failure ?? "failed"}` });
        } catch (error) {
          if (stopped) return stopped;
          if (error instanceof ServerError && error.status === 409) throw error;
          events.push({ type: "eval_failed", message: `reward model on held-out pairs: ${error instanceof Error ? error.message : String(error)}` });
        }
        await events.flush();
      }
    }
    await checkpoints.drain();
    // 4. outputs, then completion (the server registers the model only now)
    const files =
      job.kind === "sample" ? ["samples.jsonl"]
      : job.kind === "evaluate" ? []
      : job.kind === "mix-search" ? ["mix-search.json"]
      : ["model.safetensors", "manifest.json", "tokenizer.json", ...(existsSync(join(out, "lm-eval.json")) ? ["lm-eval.json"] : [])];
    for (const name of files) await api.upload(job, name, join(out, name));
    await api.complete(job, result.lastMetrics);
    return "done";
  } catch (error) {
    if (stopped) return stopped;
    if (error instanceof ServerError && error.status === 409) return "lost";
    await events.flush().catch(() => undefined);
    return failWith(api, job, error instanceof Error ? error.message : String(error), events);
  } finally {
    options.signal?.removeEventListener("abort", onShutdown);
    clearInterval(beat);
    rmSync(work, { recursive: true, force: true });
  }
}

async function failWith(api: ServerApi, job: RemoteJob, message: string, events: EventForwarder, lastCheckpoint?: number): Promise<JobOutcome> {
  await events.flush().catch(() => undefined);
  const step = /step (\d+)/.exec(message)?.[1];
  const checkpoint = lastCheckpoint !== undefined ? `Last good checkpoint: step ${lastCheckpoint}.` : "No checkpoint was kept.";
  await api.fail(job, `${message.replace(/\.?$/, ".")} ${checkpoint}`, step !== undefined ? Number(step) : undefined).catch(() => undefined);
  return "failed";
}

/** Downloads what the job needs and writes the local job spec the CLI runs. */
async function materialize(api: ServerApi, job: RemoteJob, work: string, out: string, backend = "auto"): Promise<JobSpecInput> {
  if (job.dataUrl) await api.download(job.dataUrl, join(work, "data.jsonl"));
  // A round over several projects or rounds: every part, one after another, in one file.
  for (const [i, url] of (job.moreDataUrls ?? []).entries()) {
    const part = join(work, `data-part-${i + 1}.jsonl`);
    await api.download(url, part);
    appendFileSync(join(work, "data.jsonl"), readFileSync(part));
  }
  if (job.promptsUrl) await api.download(job.promptsUrl, join(work, "prompts.jsonl"));
  // corpus parts, each its own JSONL file of {"text"} documents
  const parts = corpusFiles(work, job);
  for (const { url, file } of parts.downloads) await api.download(url, file);
  const policyDir = "modelId" in job.model ? await fetchModel(api, job.model.modelId, join(work, "model")) : null;
  const tokenizer = policyDir ? join(policyDir, "tokenizer.json") : join(work, "tokenizer", "tokenizer.json");
  const model =
    "modelId" in job.model
      ? { checkpoint: policyDir! }
      : { init: job.model.init, seed: job.model.seed };
  const common = { schemaVersion: 1 as const, out, backend: backend as "auto", tokenizer, ...(job.lora && job.kind !== "sample" ? { lora: job.lora } : {}), ...(job.recompute ? { recompute: true } : {}) };
  switch (job.kind) {
    case "sft":
    case "dpo":
    case "kto":
    case "reward": {
      const spec = { ...common, kind: job.kind, data: join(work, "data.jsonl"), model, ...(job.train ? { train: job.train } : {}) };
      return resumeFrom(api, job, work, spec, tokenizer);
    }
    case "ppo": {
      const rewardDir = await fetchModel(api, job.rewardModel!.modelId, join(work, "reward-model")); // required for ppo (remoteJobSchema)
      const spec = {
        ...common, kind: "ppo", prompts: join(work, "prompts.jsonl"), model: { checkpoint: policyDir! }, rewardModel: { checkpoint: rewardDir },
        ...(job.reward ? { reward: job.reward } : {}), ...(job.tools ? { tools: job.tools } : {}), ...(job.train ? { train: job.train } : {}),
      };
      if (!job.resume) return spec as JobSpecInput;
      // An earlier attempt's checkpoint: the policy and its AdamW state, the value model, the counters.
      const dir = join(work, "resume");
      mkdirSync(join(dir, "value"), { recursive: true });
      for (const name of resumeFilesOf("ppo")) await api.downloadResume(job, name, join(dir, localResumePath(name)));
      return { ...spec, resume: dir } as JobSpecInput;
    }
    case "grpo":
    case "rloo": {
      // prompts with metadata, the reward spec as given, the optional reward model and tools
      if (!policyDir || !job.reward) throw new Error(`a ${job.kind} job needs a registered model and its reward spec`);
      const rewardDir = job.rewardModel ? await fetchModel(api, job.rewardModel.modelId, join(work, "reward-model")) : null;
      const spec = {
        ...common, kind: job.kind, prompts: join(work, "prompts.jsonl"), model: { checkpoint: policyDir }, reward: job.reward,
        ...(rewardDir ? { rewardModel: { checkpoint: rewardDir } } : {}), ...(job.tools ? { tools: job.tools } : {}), ...(job.train ? { train: job.train } : {}),
      };
      if (!job.resume) return spec as JobSpecInput;
      // An earlier attempt's checkpoint: the policy, its AdamW state and the rollout counters.
      const dir = join(work, "resume");
      mkdirSync(dir, { recursive: true });
      for (const name of resumeFilesOf(job.kind)) await api.downloadResume(job, name, join(dir, name));
      return { ...spec, resume: dir } as JobSpecInput;
    }
    case "sample":
      return { ...common, kind: "sample", prompts: join(work, "prompts.jsonl"), model: { checkpoint: policyDir! }, sampling: samplingOf(job) };
    case "pretrain":
    case "midtrain": {
      // midtraining is pretraining from a registered checkpoint; both on weighted sources with held-out sets
      const spec = {
        ...common, kind: "pretrain", model, mix: parts.train.map((p) => ({ name: p.name, files: [p.file], weight: p.weight })),
        eval: parts.eval.map((p) => ({ name: p.name, files: [p.file] })), ...(job.train ? { train: job.train } : {}),
      };
      // A resumed pretrain reads its windows with the checkpoint's tokenizer, so the seeded draw and its hash repeat;
      // held-out loss "before" is still the model as the job names it (the same init seed, or the midtrain base).
      return resumeFrom(api, job, work, spec, tokenizer);
    }
    case "mix-search": {
      const tasks = job.corpus?.tasks;
      if (!("init" in job.model) || (!parts.target && !tasks)) throw new Error("a mix-search job needs a fresh model and its target");
      // a task set's prompts (with the metadata its checker reads) came with promptsUrl
      const target = tasks ? { tasks: { ...tasks, prompts: join(work, "prompts.jsonl") } } : { target: { name: parts.target!.name, files: [parts.target!.file] } };
      const spec = {
        ...common, kind: "mix-search", model: { init: job.model.init, seed: job.model.seed }, sources: parts.sources.map((p) => ({ name: p.name, files: [p.file] })),
        ...target, candidates: job.corpus?.candidates ?? [], ...(job.train ? { train: job.train } : {}),
      };
      if (!job.resume) return spec as JobSpecInput;
      // An earlier attempt's candidates (decision 0056): their results, and the tokenizer and model size they used
      // (the tokenizer is not fitted again; the model follows its vocabulary as it did then).
      const dir = join(work, "resume");
      mkdirSync(dir, { recursive: true });
      for (const name of resumeFilesOf("mix-search")) await api.downloadResume(job, name, join(dir, name));
      const { modelConfig } = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { modelConfig: object };
      return { ...spec, resume: dir, tokenizer: join(dir, "tokenizer.json"), model: { init: modelConfig, seed: job.model.seed } } as JobSpecInput;
    }
    case "evaluate": {
      // each model brings its own tokenizer (a round from scratch fits a new one)
      const h = job.heldOut;
      const other = async (modelId: string | undefined, name: string) => (modelId ? { checkpoint: await fetchModel(api, modelId, join(work, name)) } : undefined);
      const [previous, reference, origin, rewardModel] = [
        await other(h?.previousModelId, "previous"), await other(h?.referenceModelId, "reference"), await other(h?.originModelId, "origin"), await other(h?.rewardModelId, "judge"),
      ];
      return {
        schemaVersion: 1, kind: "heldout", out, backend: backend as "auto", prompts: join(work, "prompts.jsonl"), model: { checkpoint: policyDir! },
        ...(previous ? { previous } : {}), ...(reference ? { reference } : {}), ...(origin ? { origin } : {}), ...(rewardModel ? { rewardModel } : {}),
        ...(h?.checker ? { checker: h.checker } : {}), tools: h?.tools ?? [], ...(h?.decoding ? { decoding: h.decoding } : {}),
        ...(h?.showSamples !== undefined ? { showSamples: h.showSamples } : {}),
      };
    }
  }
}

/**
 * The spec of a job that trains in runTrainLoop (pretrain, midtrain, SFT, reward, DPO, KTO), resuming from an earlier
 * attempt's checkpoint when the claim names one: its weights, optimizer state, step and tokenizer. A model trained
 * from scratch is rebuilt from the checkpoint's own config (the tokenizer fitted then sized it) with the job's seed.
 */
async function resumeFrom(api: ServerApi, job: RemoteJob, work: string, spec: Record<string, unknown>, tokenizer: string): Promise<JobSpecInput> {
  if (!job.resume) return spec as JobSpecInput;
  const dir = join(work, "resume");
  mkdirSync(dir, { recursive: true });
  for (const name of RESUME_FILES) await api.downloadResume(job, name, join(dir, name));
  const fresh = "init" in job.model ? { init: (JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { modelConfig: object }).modelConfig, seed: job.model.seed } : null;
  return { ...spec, resume: dir, tokenizer: fresh ? join(dir, "tokenizer.json") : tokenizer, ...(fresh ? { model: fresh } : {}) } as JobSpecInput;
}

/** Where a corpus job's parts land in the work folder (…/corpus-N.jsonl: the trainer reads .jsonl files as {"text"} documents). */
function corpusFiles(work: string, job: RemoteJob) {
  const c = job.corpus ?? {};
  let n = 0;
  const place = <T extends { url: string }>(p: T) => ({ ...p, file: join(work, `corpus-${n++}.jsonl`) });
  const train = (c.train ?? []).map(place);
  const evalSets = (c.eval ?? []).map(place);
  const sources = (c.sources ?? []).map(place);
  const target = c.target ? place(c.target) : null;
  const all = [...train, ...evalSets, ...sources, ...(target ? [target] : [])];
  return { train, eval: evalSets, sources, target, downloads: all, trainingFiles: [...train, ...sources].map((p) => p.file) };
}

/** The job's sampling, with the project's tools unless the sampling names its own. */
function samplingOf(job: RemoteJob): SamplingInput {
  const tools = job.sampling?.tools ?? job.tools;
  return { ...job.sampling, ...(tools ? { tools } : {}) };
}

/** Where a checkpoint file lives in the local checkpoint folder (value-model.safetensors → value/model.safetensors). */
const localResumePath = (name: ResumeFile): string => (name in VALUE_RESUME_FILES ? VALUE_RESUME_FILES[name as keyof typeof VALUE_RESUME_FILES] : name);

/**
 * A registered model's files, fetched into a local checkpoint folder. LoRA adapters (manifest.lora)
 * also need their base: the registry's parent, fetched into <dir>/base (and so on down a chain),
 * where the trainer's loader looks first.
 */
async function fetchModel(api: ServerApi, modelId: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  for (const name of ["model.safetensors", "manifest.json", "tokenizer.json"]) await api.download(`/api/v1/models/${modelId}/files/${name}`, join(dir, name));
  if ((JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { lora?: unknown }).lora) {
    const { parent_id: parent } = (await api.getJson(`/api/v1/models/${modelId}`)) as { parent_id: string | null };
    if (!parent) throw new Error(`model ${modelId} holds LoRA adapters but the registry names no base model`);
    await fetchModel(api, parent, join(dir, "base"));
  }
  return dir;
}

/**
 * Every string in a JSONL file (message contents, prompts, completions): the tokenizer's corpus.
 * A tool call counts as the text the template writes for it, so its JSON gets merges too.
 */
export function textOf(jsonl: string): string {
  const strings: string[] = [];
  const walk = (value: unknown): void => {
    const call = asToolCall(value);
    if (call) strings.push(toolCallText(call));
    else if (typeof value === "string") strings.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") for (const [key, v] of Object.entries(value)) if (key !== "role") walk(v);
  };
  for (const line of jsonl.split("\n")) if (line.trim()) walk(JSON.parse(line));
  return strings.join("\n");
}

function asToolCall(value: unknown): { function: { name: string; arguments: Record<string, unknown> } } | null {
  const fn = value !== null && typeof value === "object" ? (value as { function?: { name?: unknown; arguments?: unknown } }).function : undefined;
  if (!fn || typeof fn.name !== "string") return null;
  let args = fn.arguments;
  if (typeof args === "string") {
    try {
      args = JSON.parse(args) as unknown; // OpenAI's form
    } catch {
      return null;
    }
  }
  return args !== null && typeof args === "object" && !Array.isArray(args) ? { function: { name: fn.name, arguments: args as Record<string, unknown> } } : null;
}

type CliResult = { code: number; failure: string | null; lastMetrics: Record<string, number>; lastCheckpoint?: number; done?: Record<string, unknown> };

/**
 * After a KL guard put back the weights of step `keptStep`: the last metrics line written when training stood at or
 * before that step (each line's `step` counts the optimizer steps taken by then), leaving out the line of the check
 * or rollout the guard rejected, which is the last one and can carry the same step (a resumed run over the target at
 * once, a rollout that trained no rows); none when no earlier line exists. For DPO and KTO that is the kept check's
 * own line; for GRPO, RLOO and PPO the rollout whose updates ended at the kept step.
 */
export function metricsOfKeptStep(lines: ReadonlyArray<Record<string, number>>, keptStep: number): Record<string, number> {
  return lines.slice(0, -1).findLast((m) => typeof m["step"] === "number" && m["step"] <= keptStep) ?? {};
}

/** Runs `trainer/cli.ts <kind> --config <file>` and turns its stdout JSON lines into events. */
function runCli(spec: object, configPath: string, onEvent: (event: Record<string, unknown>) => void, onSpawn: (child: ChildProcess) => void): Promise<CliResult> {
  writeFileSync(configPath, JSON.stringify(spec));
  const kind = (spec as { kind: string }).kind;
  // The same Node and loader flags as this process (tsx), so the child runs TypeScript too.
  const child = spawn(process.execPath, [...process.execArgv, CLI, kind, "--config", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  onSpawn(child);
  const result: CliResult = { code: 1, failure: null, lastMetrics: {} };
  const lines: Array<Record<string, number>> = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not one of the CLI's JSON lines
    }
    if (event["type"] === "failed") result.failure = String(event["message"] ?? "failed");
    if (event["type"] === "done") result.done = event;
    if (event["type"] === "checkpoint" && typeof event["step"] === "number") result.lastCheckpoint = event["step"];
    if (event["type"] === "metrics") {
      result.lastMetrics = Object.fromEntries(Object.entries(event).filter((e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1])));
      lines.push(result.lastMetrics);
    }
    // a KL guard put back earlier weights: the model registered is those, so its metrics are their line's, not the
    // rejected line's that came last
    if (event["type"] === EARLY_STOP_EVENT && typeof event["keptStep"] === "number") result.lastMetrics = metricsOfKeptStep(lines, event["keptStep"]);
    onEvent(event);
  });
  return new Promise((resolveRun) => {
    // A failed spawn reports here (and then "close"), instead of crashing the service.
    child.on("error", (error) => (result.failure ??= `could not run the trainer CLI: ${error.message}`));
    child.on("close", (code) => {
      result.code = code ?? 1;
      if (result.code !== 0 && !result.failure) result.failure = stderr.trim().split("\n").slice(-5).join("\n") || `exit code ${result.code}`;
      resolveRun(result);
    });
  });
}

type EventForwarder = { push: (event: Record<string, unknown>) => void; flush: () => Promise<void> };

/**
 * Uploads periodic checkpoints one at a time while training goes on; only the newest waiting one
 * is kept (an older one is worth nothing once a newer exists). A failed upload is logged, not fatal.
 */
function createCheckpointUploader(api: ServerApi, job: JobRef & { kind: string }, log: Log) {
  let waiting: { step: number; dir: string } | null = null;
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  const drainLoop = async () => {
    busy = true;
    while (waiting) {
      const { step, dir } = waiting;
      waiting = null;
      try {
        for (const name of resumeFilesOf(job.kind)) await api.upload(job, name, join(dir, localResumePath(name)), "resume");
        await api.resumeReady(job, step);
      } catch (error) {
        log("checkpoint upload failed; training goes on", { jobId: job.jobId, step, error: String(error) });
      }
    }
    busy = false;
  };
  return {
    offer(step: number, dir: string) {
      waiting = { step, dir };
      if (!busy) running = drainLoop();
    },
    drain: () => running,
  };
}

/** Batches events and posts them about once a second, in order, so a fast loop is not one request per step. */
function createEventForwarder(api: ServerApi, job: JobRef): EventForwarder {
  const pending: Array<Record<string, unknown>> = [];
  let sending: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = pending.splice(0, pending.length);
    if (batch.length > 0) {
      sending = sending.then(async () => {
        for (let i = 0; i < batch.length; i += 500) await api.events(job, batch.slice(i, i + 500)).catch(() => undefined);
      });
    }
    return sending;
  };
  return {
    push(event) {
      pending.push(event);
      timer ??= setTimeout(() => void flush(), 1000);
    },
    flush,
  };
}

export const workRootDefault = (): string => resolve(existsSync(".tandem") ? ".tandem/trainer-work" : join(process.env.TMPDIR ?? "/tmp", "tandem-trainer"));
