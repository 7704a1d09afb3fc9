/**
 * Whether PostgreSQL is reachable, as the server last saw it (issue 12, finding 6).
 * A connection-level error anywhere (a pool or client `'error'` event, a failed query, a failed
 * health check) marks the database down; while it is down a probe runs every second and the
 * first success marks it up again. The HTTP layer answers 503 with Retry-After meanwhile
 * instead of letting every request wait for a connect timeout. No restart is needed: pg's pool
 * drops broken clients and opens new ones once the server answers again.
 */
import type pg from "pg";
import type { Logger } from "pino";

/** SQLSTATE classes and codes that mean "the connection or the server", not "this query". */
const CONNECTION_CODES = new Set(["57P01", "57P02", "57P03", "53300", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "EAI_AGAIN"]);
const CONNECTION_MESSAGES = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|terminating connection|the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)|Client was closed/i;

export function isConnectionError(error: unknown): boolean {
  if (!error || typeof error !== "object") return false;
  const { code, message, cause } = error as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof code === "string" && (CONNECTION_CODES.has(code) || code.startsWith("08"))) return true;
  if (typeof message === "string" && CONNECTION_MESSAGES.test(message)) return true;
  // AggregateError (connect to several addresses) and wrapped errors.
  const nested = (error as { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.some(isConnectionError)) return true;
  return cause !== undefined && cause !== error && isConnectionError(cause);
}

export type DbHealth = {
  readonly down: boolean;
  /** Notes an error; true when it was a connection error (the database is then marked down). */
  noteError: (error: unknown) => boolean;
  noteOk: () => void;
  stop: () => void;
};

export function createDbHealth(pool: pg.Pool, log: Logger, probeEveryMs = 1000): DbHealth {
  let down = false;
  let since = 0;
  let probe: NodeJS.Timeout | undefined;
  let stopped = false;

  const markUp = () => {
    if (!down) return;
    down = false;
    clearInterval(probe);
    probe = undefined;
    log.warn({ downForMs: Date.now() - since }, "database reachable again");
  };
  const health: DbHealth = {
    get down() {
      return down;
    },
    noteError(error) {
      if (!isConnectionError(error)) return false;
      if (!down && !stopped) {
        down = true;
        since = Date.now();
        log.error({ err: error }, "database unreachable; answering 503 and reconnecting");
        let probing = false;
        probe = setInterval(() => {
          if (probing) return;
          probing = true;
          pool
            .query("select 1")
            .then(markUp, () => undefined)
            .finally(() => (probing = false));
        }, probeEveryMs);
        probe.unref();
      }
      return true;
    },
    noteOk: markUp,
    stop() {
      stopped = true;
      clearInterval(probe);
    },
  };
  return health;
}
