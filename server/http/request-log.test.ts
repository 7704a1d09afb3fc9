import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { pino } from "pino";
import { logRequest, type RequestLine } from "./request-log.server.ts";

/** A real pino logger at `level`, writing into an array of parsed lines. */
function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, stream), lines };
}

const line = (status: number, ms: number): RequestLine => ({ method: "GET", path: "/projects", status, ms });

test("at the default level (info) routine requests are quiet; server errors and slow requests show", () => {
  const { log, lines } = capture("info");
  logRequest(log, line(200, 12), 1000, {});
  logRequest(log, line(404, 3), 1000, {});
  logRequest(log, line(422, 3), 1000, {});
  assert.equal(lines.length, 0, JSON.stringify(lines));
  logRequest(log, line(500, 40), 1000, {});
  logRequest(log, line(200, 1500), 1000, {});
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.status, l.slow]),
    [
      [30, "request failed", 500, undefined],
      [30, "slow request", 200, true],
    ],
  );
});

test("at debug every request has a line; an idle poll has none at any level", () => {
  const { log, lines } = capture("trace");
  logRequest(log, line(200, 12), 1000, {});
  logRequest(log, { method: "POST", path: "/api/v1/trainer/claim", status: 200, ms: 4 }, 1000, { idlePoll: true });
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.path]), [[20, "request", "/projects"]]);
});
