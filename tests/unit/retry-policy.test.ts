/**
 * The retry policy, pure and through the client against a local HTTP server that plays a
 * third-party model API (the real ones are outside this machine).
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { chatCompletion, ExternalRequestError, type EndpointConnection } from "../../server/bridges/external/openai-client.server.ts";
import { backoffMs, DEFAULT_RETRY_TIMING, isRetryable, parseRetryAfter } from "../../server/bridges/external/retry-policy.server.ts";

test("what is retried: timeouts, connection failures, 408, 429, 5xx except 501/505; never 4xx or malformed answers", () => {
  for (const kind of ["timeout", "connection", "rate_limited"] as const) assert.equal(isRetryable(kind, null), true, kind);
  for (const status of [408, 500, 502, 503, 504, 599]) assert.equal(isRetryable("http", status), true, String(status));
  for (const status of [400, 401, 403, 404, 422, 501, 505]) assert.equal(isRetryable("http", status), false, String(status));
  assert.equal(isRetryable("malformed", 200), false);
  assert.equal(isRetryable("cancelled", null), false);
});

test("Retry-After: seconds or an HTTP date; garbage is ignored", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter("0.5"), 500);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", now), 10_000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon"), null);
  assert.equal(parseRetryAfter(null), null);
});

test("backoff doubles from the minimum, jitter multiplies by 1–2, capped at the maximum", () => {
  const t = { ...DEFAULT_RETRY_TIMING, minTimeoutMs: 100, maxTimeoutMs: 1000, factor: 2 };
  assert.deepEqual([1, 2, 3].map((r) => backoffMs(r, t, 0)), [100, 200, 400]);
  assert.deepEqual([1, 2, 3].map((r) => backoffMs(r, t, 0.999)), [200, 400, 800]);
  assert.equal(backoffMs(10, t, 0.5), 1000);
});

// --- the loop, against a scripted local server ---------------------------------------------
type Step = (res: http.ServerResponse) => void;
let script: Step[] = [];
const seen: Array<{ at: number; auth: string | undefined }> = [];
let server: http.Server;
let base = "";
const ok: Step = (res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ model: "m", choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }] }));
const status = (code: number, headers: Record<string, string> = {}): Step => (res) => res.writeHead(code, { "content-type": "application/json", ...headers }).end(JSON.stringify({ error: { message: `status ${code} for key sk-test-secret-key-9876` } }));

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ at: Date.now(), auth: req.headers.authorization });
      (script.shift() ?? status(500))(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const connection = (over: Partial<EndpointConnection> = {}): EndpointConnection => ({
  key: `t-${Math.random()}`, baseUrl: base, model: "m", apiKey: "sk-test-secret-key-9876", stream: false, timeoutMs: 2000, maxRetries: 3, requestsPerMinute: null, ...over,
});
const fast = { ...DEFAULT_RETRY_TIMING, minTimeoutMs: 10, maxTimeoutMs: 40 };
const ask = { messages: [{ role: "user" as const, content: "hi" }] };

test("two 503s then success: three attempts, waits grow, the key travels only in the header", async () => {
  script = [status(503), status(503), ok];
  seen.length = 0;
  const waits: number[] = [];
  const result = await chatCompletion(connection(), ask, { timing: fast, random: () => 0, onRetry: (r) => waits.push(r.waitMs) });
  assert.equal(result.attempts, 3);
  assert.equal(result.choices[0]?.text, "hello");
  assert.deepEqual(waits, [10, 20]);
  assert.ok(seen.every((s) => s.auth === "Bearer sk-test-secret-key-9876"));
});

test("429 with Retry-After: 1 waits at least a second, whatever the backoff says", async () => {
  script = [status(429, { "retry-after": "1" }), ok];
  seen.length = 0;
  const result = await chatCompletion(connection(), ask, { timing: fast, random: () => 0 });
  assert.equal(result.attempts, 2);
  assert.ok(seen[1]!.at - seen[0]!.at >= 950, `waited ${seen[1]!.at - seen[0]!.at} ms`);
});

test("a Retry-After beyond the client's limit fails now, naming the wait", async () => {
  script = [status(429, { "retry-after": "3600" })];
  await assert.rejects(chatCompletion(connection(), ask, { timing: fast }), (e: unknown) => e instanceof ExternalRequestError && e.kind === "rate_limited" && e.attempts === 1 && /3600 s/.test(e.message));
});

test("500s exhaust the retries: maxRetries + 1 attempts, the last error reported with the key scrubbed", async () => {
  script = [status(500), status(500), status(500)];
  seen.length = 0;
  await assert.rejects(chatCompletion(connection({ maxRetries: 2 }), ask, { timing: fast }), (e: unknown) => {
    assert.ok(e instanceof ExternalRequestError);
    assert.equal(e.kind, "http");
    assert.equal(e.status, 500);
    assert.equal(e.attempts, 3);
    assert.ok(!e.message.includes("sk-test-secret-key-9876"), e.message);
    assert.match(e.message, /\[redacted\]/);
    return true;
  });
  assert.equal(seen.length, 3);
});

test("a 400 is not retried", async () => {
  script = [status(400), ok];
  seen.length = 0;
  await assert.rejects(chatCompletion(connection(), ask, { timing: fast }), (e: unknown) => e instanceof ExternalRequestError && e.status === 400 && e.attempts === 1);
  assert.equal(seen.length, 1);
  script = [];
});

test("a timeout is retried; cancelling stops at once without more attempts", async () => {
  script = [(res) => setTimeout(() => ok(res), 600), ok];
  const result = await chatCompletion(connection({ timeoutMs: 200 }), ask, { timing: fast });
  assert.equal(result.attempts, 2);
  script = [(res) => setTimeout(() => ok(res), 2000)];
  seen.length = 0;
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(chatCompletion(connection({ timeoutMs: 5000 }), ask, { timing: fast, signal: controller.signal }), (e: unknown) => e instanceof ExternalRequestError && e.kind === "cancelled");
  assert.equal(seen.length, 1);
});

test("rate limit: requests to one endpoint are spaced by 60 s / requestsPerMinute", async () => {
  script = [ok, ok, ok];
  seen.length = 0;
  const c = connection({ requestsPerMinute: 600 }); // one per 100 ms
  const start = Date.now();
  await Promise.all([chatCompletion(c, ask), chatCompletion(c, ask), chatCompletion(c, ask)]);
  const times = seen.map((s) => s.at).sort((a, b) => a - b);
  // The gate lets the three out at +0, +100 and +200 ms, so the last cannot arrive before +200 ms; a
  // loaded machine only delays arrivals further. (Gaps between arrivals are not a fair measure: a late
  // first arrival shrinks them.) Without the limit the last arrives within a few ms, at twice the rate at +100.
  assert.ok(times[2]! - start >= 195, `the third request arrived ${times[2]! - start} ms after the first was asked for`);
});
