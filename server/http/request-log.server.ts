import type { Logger } from "pino";

export type RequestLine = { method: string; path: string; status: number; ms: number };

/**
 * One access-log line per request, at a level a person can live with (decision 0027): routine
 * requests at debug; server errors (5xx) and requests slower than `slowMs` at info, so the
 * default level shows what needs a look and nothing else. An endpoint marks an idle poll (the
 * trainer asking for work every few seconds and getting none) in `res.locals.idlePoll`: that is
 * not logged at any level; the request metrics still count it.
 */
export function logRequest(log: Logger, line: RequestLine, slowMs: number, locals: Record<string, unknown>): void {
  if (locals.idlePoll === true) return;
  if (line.status >= 500) log.info(line, "request failed");
  else if (line.ms >= slowMs) log.info({ ...line, slow: true }, "slow request");
  else log.debug(line, "request");
}
