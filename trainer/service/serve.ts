// `npm run trainer -- serve --server <url>`: the trainer service. It claims jobs from the
// server with a trainer token (TANDEM_TRAINER_TOKEN, never on the command line where `ps`
// shows it), runs them one at a time, and polls again. Several services may run at once,
// on this machine or others: each claim is a lease, so no job runs twice.
import { hostname } from "node:os";
import { createServerApi, ServerError } from "./server-api.ts";
import { runRemoteJob, workRootDefault } from "./run-remote-job.ts";

export type ServeOptions = {
  server: string;
  token: string;
  /** Seconds between claims while the queue is empty. */
  pollSeconds: number;
  /** Exit once the queue is empty (tests, batch runs) instead of polling forever. */
  exitWhenIdle: boolean;
  workRoot?: string;
  backend?: string;
};

/** How the service ended: asked to stop (or idle with --exit-when-idle), or its token was refused. */
export type ServeOutcome = "stopped" | "token-refused";

export async function serve(options: ServeOptions): Promise<ServeOutcome> {
  const api = createServerApi(options.server, options.token);
  const worker = `${hostname()}:${process.pid}`;
  const log = (message: string, fields: Record<string, unknown> = {}) =>
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), type: "service", message, ...fields }) + "\n");
  // A signal stops the loop and the running job; its lease expires and another trainer resumes it.
  const shutdown = new AbortController();
  let stopping = false;
  const stop = () => {
    stopping = true;
    shutdown.abort();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  log("trainer service started", { server: options.server, worker });
  while (!stopping) {
    let job;
    try {
      job = await api.claim(worker);
    } catch (error) {
      // A refused token (revoked, its owner deactivated or no longer an admin) will not work on
      // the next try either: stop and say so, instead of polling with it forever.
      if (error instanceof ServerError && (error.status === 401 || error.status === 403)) {
        log("the server refused this trainer's token; stopping", { status: error.status, error: error.message });
        return "token-refused";
      }
      log("could not reach the server; retrying", { error: String(error) });
      await sleep(options.pollSeconds * 1000, shutdown.signal);
      continue;
    }
    if (!job) {
      if (options.exitWhenIdle) break;
      await sleep(options.pollSeconds * 1000, shutdown.signal);
      continue;
    }
    log("job claimed", { jobId: job.jobId, roundId: job.roundId, kind: job.kind, attempt: job.attempt });
    const outcome = await runRemoteJob(api, job, {
      workRoot: options.workRoot ?? workRootDefault(),
      log,
      signal: shutdown.signal,
      ...(options.backend ? { backend: options.backend } : {}),
    });
    log("job finished", { jobId: job.jobId, outcome });
  }
  log("trainer service stopped");
  return "stopped";
}

/** Waits, but wakes early when the service is asked to stop. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", wake);
      resolve();
    }, ms);
    signal?.addEventListener("abort", wake, { once: true });
  });
