/**
 * Logs a person reads (issue 14, item 8): at the default level a browsing session writes no
 * request lines; at debug each request has one; the trainer's idle polling is never logged;
 * no line carries a key twice.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { startTestServer, type TestServer } from "../support/test-server.ts";

function captureStream(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
}

/** Keys that appear twice in one JSON object of the line (JSON.parse would silently keep the last). */
function duplicateKeys(jsonLine: string): string[] {
  const duplicates: string[] = [];
  const stack: Array<Set<string> | null> = []; // null: an array level
  let i = 0;
  const readString = () => {
    let out = "";
    i++; // opening quote
    while (jsonLine[i] !== '"') {
      if (jsonLine[i] === "\\") i++;
      out += jsonLine[i];
      i++;
    }
    i++;
    return out;
  };
  while (i < jsonLine.length) {
    const c = jsonLine[i]!;
    if (c === "{" || c === "[" || c === "}" || c === "]") {
      if (c === "{") stack.push(new Set());
      else if (c === "[") stack.push(null);
      else stack.pop();
      i++;
    } else if (c === '"') {
      const text = readString();
      const keys = stack[stack.length - 1];
      let j = i;
      while (jsonLine[j] === " ") j++;
      if (keys && jsonLine[j] === ":") {
        if (keys.has(text)) duplicates.push(text);
        keys.add(text);
      }
    } else i++;
  }
  return duplicates;
}

async function browse(server: TestServer): Promise<void> {
  const researcher = await server.newUser("researcher");
  assert.equal((await researcher.client.get("/projects", { accept: "text/html" })).status, 200);
  assert.equal((await researcher.client.get("/api/v1/me")).status, 200);
  assert.equal((await researcher.client.get("/api/v1/projects/999999999")).status, 404);
}

test("the default level: browsing writes no request lines", async () => {
  const lines: string[] = [];
  const server = await startTestServer({ LOG_LEVEL: "info" }, { logDestination: captureStream(lines) });
  try {
    await browse(server);
  } finally {
    await server.stop();
  }
  const requestLines = lines.map((l) => JSON.parse(l) as { msg: string }).filter((l) => /request/.test(l.msg));
  assert.deepEqual(requestLines, []);
});

test("slow requests show at the default level, marked slow", async () => {
  const lines: string[] = [];
  // Every request counts as slow at 1 ms: the rule, not the clock, is under test.
  const server = await startTestServer({ LOG_LEVEL: "info", TANDEM_SLOW_REQUEST_MS: "1" }, { logDestination: captureStream(lines) });
  try {
    await browse(server);
  } finally {
    await server.stop();
  }
  const slow = lines.map((l) => JSON.parse(l) as { level: number; msg: string; path: string; slow?: boolean }).filter((l) => l.msg === "slow request");
  assert.ok(slow.some((l) => l.path === "/api/v1/me" && l.level === 30 && l.slow === true), JSON.stringify(slow));
});

test("at debug: one line per request, none for the trainer's idle polls, and no line with a key twice", async () => {
  const lines: string[] = [];
  const server = await startTestServer({ LOG_LEVEL: "debug" }, { logDestination: captureStream(lines) });
  let claimed: unknown;
  try {
    await browse(server);
    const trainer = `Bearer ${await server.newToken("trainer")}`;
    for (let i = 0; i < 3; i++) {
      const claim = await server.client().json("POST", "/api/v1/trainer/claim", { worker: "idle-test" }, { authorization: trainer });
      assert.equal(claim.status, 200);
      claimed = await claim.json();
      if (claimed !== null) break; // another test's job on the shared database: that claim is real work
    }
  } finally {
    await server.stop();
  }
  const parsed = lines.map((l) => JSON.parse(l) as { level: number; msg: string; path?: string });
  const requests = parsed.filter((l) => l.msg === "request");
  assert.ok(requests.some((l) => l.path === "/api/v1/me" && l.level === 20));
  assert.ok(requests.some((l) => l.path === "/projects" && l.level === 20));
  const claims = requests.filter((l) => l.path === "/api/v1/trainer/claim");
  assert.equal(claims.length, claimed === null ? 0 : 1, "idle claims (no job) are not logged");
  assert.deepEqual(lines.flatMap(duplicateKeys), []);
});

test("the duplicate-key check itself finds duplicates", () => {
  assert.deepEqual(duplicateKeys('{"name":"tandem","a":{"name":"x"},"name":"trainer"}'), ["name"]);
  assert.deepEqual(duplicateKeys('{"a":[{"b":1},{"b":2}],"msg":"ok \\" b\\":"}'), []);
});
