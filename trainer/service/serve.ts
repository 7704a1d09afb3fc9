// `npm run trainer -- serve --server <url>`: the trainer service. It claims jobs from the
// server with a trainer token (TANDEM_TRAINER_TOKEN, never on the command line where `ps`
// shows it), runs them one at a time, and polls again. Several services may run at once,
// on this machine or others: each claim is a lease, so no job runs twice.
import { hostname } from "node:os";
import { createServerApi } from "./server-api.ts";
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

export async function serve(options: ServeOptions): Promise<void> {
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
