/**
 * `npm start` as a new user runs it: embedded PostgreSQL in a fresh data directory, the
 * printed admin login works, SIGTERM stops everything (postgres included), and a second
 * start reuses the data. A bad environment variable stops the process before anything runs.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { HttpClient } from "../support/test-server.ts";

const tsx = path.resolve("node_modules/.bin/tsx");
const { DATABASE_URL: _ignored, ...baseEnv } = process.env;

function start(dataDir: string): { child: ChildProcess; output: () => string; ready: Promise<string> } {
  let output = "";
  const child = spawn(tsx, ["server/cli/start.ts"], {
    env: { ...baseEnv, TANDEM_DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Tandem is running at (http:\/\/\S+)/.exec(output)?.[1];
      if (url && output.includes("Press Ctrl-C")) resolve(url);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited with ${code} before ready:\n${output}`)));
  });
  return { child, output: () => output, ready };
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });

const postgresRunningOn = (dir: string) => spawnSync("pgrep", ["-f", `postgres -D ${dir}`]).status === 0;
const trainerRunningFor = (url: string) => spawnSync("pgrep", ["-f", `trainer/cli.ts serve --server ${url.replace("localhost", "127.0.0.1")}`]).status === 0;

test("start → login with the printed password → SIGTERM leaves no process → restart reuses data", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-start-"));
  fs.chmodSync(dataDir, 0o755);
  try {
    const first = start(dataDir);
    const url = await first.ready;
    const password = /Password:\s+(\S+)/.exec(first.output())?.[1];
    assert.ok(password, first.output());
    assert.match(first.output(), /Demo: +"Demo: mental math with a calculator"/, "the first start seeds the demo");
    const client = new HttpClient(url);
    const login = await client.postForm("/login", { email: "admin@tandem.local", password });
    assert.equal(login.status, 302);
    assert.equal((await client.get("/admin/users")).status, 200);
    // The embedded trainer service runs beside the server, and stops with it.
    for (let i = 0; i < 50 && !trainerRunningFor(url); i++) await new Promise((r) => setTimeout(r, 200));
    assert.ok(trainerRunningFor(url), "npm start runs one trainer service");
    assert.equal(await stop(first.child), 0);
    assert.equal(postgresRunningOn(path.join(dataDir, "pg")), false, "embedded postgres stopped");
    assert.equal(trainerRunningFor(url), false, "the trainer service stopped");

    const second = start(dataDir);
    const url2 = await second.ready;
    assert.doesNotMatch(second.output(), /Password:/, "no new admin on a second start");
    assert.doesNotMatch(second.output(), /Demo:/, "and no second demo");
    const again = await new HttpClient(url2).postForm("/login", { email: "admin@tandem.local", password });
    assert.equal(again.status, 302, "the first admin still exists");
    assert.equal(await stop(second.child), 0);
    assert.equal(postgresRunningOn(path.join(dataDir, "pg")), false);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a bad environment variable stops the start and is named", () => {
  const result = spawnSync(tsx, ["server/cli/start.ts"], {
    env: { ...baseEnv, PORT: "not-a-port", TANDEM_SOCKET_ADAPTER: "redis" },
    encoding: "utf8",
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /PORT/);
  assert.match(result.stderr, /TANDEM_SOCKET_ADAPTER/);
});
