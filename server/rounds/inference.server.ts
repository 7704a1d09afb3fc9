/**
 * Generation for the playground and the OpenAI-compatible endpoint. The server does not load
 * TensorFlow.js (web code imports only trainer/contract): it starts the trainer's `infer`
 * worker on first use and exchanges JSON lines with it. One worker, requests in order; a worker
 * that dies fails its pending requests and is started again on the next one. A streamed request
 * (decision 0052) hears each step's pieces as they are sampled, and a caller that aborts it frees
 * the worker at its next step instead of leaving it to sample for nobody.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import { modelDir } from "./model-files.server.ts";
import type { GenerationDelta, GenerationRequest, GenerationResult, ScoringRequest } from "../../trainer/contract/inference.ts";

/** Ends the child when this server dies without stopping it (decision 0023). */
const EXIT_WITH_PARENT = pathToFileURL(path.resolve(import.meta.dirname, "../lib/exit-with-parent.mjs")).href;
const CLI = path.resolve(import.meta.dirname, "../../trainer/cli.ts");
const TIMEOUT_MS = 120_000;

// The worker's request and answer, tools included (decision 0019).
export type { GenerationRequest, GenerationResult, ScoringRequest } from "../../trainer/contract/inference.ts";

/** How a streamed generation reaches its caller. */
export type GenerationStream = {
  /** The worker accepted the request and starts sampling: errors before this are plain errors. */
  onStart: () => void;
  /** Pieces of the answers, in the order they were sampled. */
  onDeltas: (deltas: GenerationDelta[]) => void;
  /** Aborted: the worker drops the request (queued or at its next step) and generate rejects with GenerationCancelled. */
  signal: AbortSignal;
};

export class GenerationCancelled extends Error {}

export type Inference = {
  /** With `stream`, the answer is also handed out as it is sampled; the promise still ends with all of it. */
  generate: (db: Db, modelId: string, request: GenerationRequest, stream?: GenerationStream) => Promise<GenerationResult>;
  /** A registered reward model's score of each completion after the prompt (its scalar head). */
  score: (db: Db, modelId: string, request: ScoringRequest) => Promise<number[]>;
  close: () => void;
};

type WorkerAnswer = {
  id?: string;
  ok?: boolean;
  error?: string;
  scores?: number[];
  started?: boolean;
  deltas?: GenerationDelta[];
  cancelled?: boolean;
  tokens?: number;
} & Partial<GenerationResult>;

type Pending = { resolve: (r: WorkerAnswer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; stream: GenerationStream | undefined };

export function createInference(dataDir: string, log: Logger): Inference {
  let worker: ChildProcess | null = null;
  let counter = 0;
  const pending = new Map<string, Pending>();

  const failAll = (error: AppError) => {
    for (const [id, waiting] of pending) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
      pending.delete(id);
    }
  };
  const start = (): ChildProcess => {
    const child = spawn(process.execPath, [...process.execArgv, "--import", EXIT_WITH_PARENT, CLI, "infer"], { stdio: ["pipe", "pipe", "pipe"] });
    // A failed spawn or a write to a dying worker (EPIPE) fails the requests, never the server.
    child.on("error", (error) => {
      log.error({ err: error }, "inference worker failed");
      failAll(new AppError("internal", "The inference worker failed."));
    });
    child.stdin!.on("error", (error) => log.warn({ err: error }, "inference worker input closed"));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let message: WorkerAnswer;
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return;
      }
      const waiting = message.id ? pending.get(message.id) : undefined;
      if (!waiting || !message.id) return;
      if (message.started || message.deltas) return relay(waiting, message);
      pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.ok) waiting.resolve(message);
      else if (message.cancelled) {
        log.debug({ request: message.id, tokens: message.tokens }, "generation stopped: its client left");
        waiting.reject(new GenerationCancelled("The client left."));
      }
      // Server paths stay on the server.
      else waiting.reject(new AppError("validation_failed", `The model could not answer: ${(message.error ?? "unknown error").replaceAll(dataDir, "<data>")}`));
    });
    createInterface({ input: child.stderr! }).on("line", (line) => log.debug({ line }, "inference worker stderr"));
    child.once("exit", (code) => {
      if (worker === child) worker = null;
      failAll(new AppError("internal", `The inference worker exited (${code}).`));
    });
    return child;
  };

  // A streamed request's progress; the caller's handlers must not take the worker's reader down.
  const relay = (waiting: Pending, message: WorkerAnswer) => {
    try {
      if (message.started) waiting.stream?.onStart();
      if (message.deltas) waiting.stream?.onDeltas(message.deltas);
    } catch (error) {
      log.error({ err: error }, "a streamed answer's reader failed");
    }
  };

  /** One request to the worker (started if need be), answered in order; times out at TIMEOUT_MS. */
  const ask = (line: Record<string, unknown>, stream?: GenerationStream): Promise<WorkerAnswer> => {
    if (stream?.signal.aborted) return Promise.reject(new GenerationCancelled("The client left."));
    worker ??= start();
    const child = worker;
    const id = String(++counter);
    const cancel = () => {
      if (pending.has(id)) child.stdin!.write(JSON.stringify({ cancel: id }) + "\n");
    };
    stream?.signal.addEventListener("abort", cancel, { once: true });
    return new Promise<WorkerAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new AppError("internal", "The model took too long to answer."));
        // The worker is still busy with it; a fresh one serves the next request sooner.
        worker?.kill("SIGKILL");
        worker = null;
      }, TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer, stream });
      child.stdin!.write(JSON.stringify({ ...line, id, ...(stream ? { stream: true } : {}) }) + "\n");
    }).finally(() => stream?.signal.removeEventListener("abort", cancel));
  };
  const modelRow = async (db: Db, modelId: string) => {
    const model = await db.selectFrom("models").select(["storage_key", "kind", "external_uri"]).where("id", "=", modelId).executeTakeFirst();
    if (!model) throw new AppError("not_found", `No model ${modelId}.`);
    if (model.external_uri) throw new AppError("validation_failed", `Model ${modelId} was trained outside Tandem (${model.external_uri}); serve it with its engine and register that endpoint instead.`);
    return model;
  };

  return {
    async generate(db, modelId, request, stream) {
      const model = await modelRow(db, modelId);
      if (model.kind === "reward") throw new AppError("validation_failed", "A reward model scores text; it does not write it. Choose a policy.");
      const answer = await ask({ checkpoint: modelDir(dataDir, model.storage_key), ...request }, stream);
      return { promptTokens: answer.promptTokens ?? 0, choices: answer.choices ?? [] };
    },
    async score(db, modelId, request) {
      const model = await modelRow(db, modelId);
      if (model.kind !== "reward") throw new AppError("validation_failed", `Model ${modelId} is a ${model.kind} model; only a reward model scores answers.`);
      const answer = await ask({ task: "score", checkpoint: modelDir(dataDir, model.storage_key), messages: request.messages, completions: request.completions });
      const scores = answer.scores ?? [];
      if (scores.length !== request.completions.length) throw new AppError("internal", `The reward model returned ${scores.length} scores for ${request.completions.length} answers.`);
      return scores;
    },
    close() {
      worker?.kill("SIGTERM");
    },
  };
}
