/**
 * What an external endpoint's failure means for the next attempt (decision 0014). Pure
 * functions, so the policy is unit-tested without a network.
 */

/** How a request to an external endpoint failed, as shown per request in a run's errors. */
export type ExternalErrorKind =
  | "timeout" // no complete answer within the endpoint's timeout
  | "connection" // refused, reset, DNS: nothing answered
  | "rate_limited" // HTTP 429
  | "http" // any other HTTP error status
  | "malformed" // an answer that is not the OpenAI chat-completion shape
  | "cancelled"; // the run was cancelled while the request was in flight

export type RetryTiming = {
  /** First backoff; each next one is `factor` times longer, times a random 1–2 (jitter). */
  minTimeoutMs: number;
  maxTimeoutMs: number;
  factor: number;
  /** A Retry-After longer than this is not waited for: the request fails with the wait named. */
  maxRetryAfterMs: number;
};

export const DEFAULT_RETRY_TIMING: RetryTiming = { minTimeoutMs: 500, maxTimeoutMs: 15_000, factor: 2, maxRetryAfterMs: 60_000 };

/**
 * Worth another attempt: timeouts, connection failures, 408, 429 and server errors (except 501
 * Not Implemented and 505, which will not change). A 4xx is the request's or the key's fault and
 * a malformed answer is the server's steady behaviour: retrying either only repeats it.
 */
export function isRetryable(kind: ExternalErrorKind, status: number | null): boolean {
  if (kind === "timeout" || kind === "connection" || kind === "rate_limited") return true;
  if (kind === "http" && status !== null) return status === 408 || (status >= 500 && status !== 501 && status !== 505);
  return false;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** The backoff before retry number `retry` (1-based) for a given jitter draw in [0, 1). */
export function backoffMs(retry: number, timing: RetryTiming, random: number): number {
  return Math.min(timing.maxTimeoutMs, Math.round(timing.minTimeoutMs * (1 + random) * timing.factor ** (retry - 1)));
}
