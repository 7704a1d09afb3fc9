/**
 * Crash recovery without a person (issue 12, finding 5; decision 0023). `npm start`, then
 * `kill -9` of the server process: its embedded PostgreSQL and trainer are left behind. The next
 * start recognises the orphaned postmaster (pid file, data directory, command line, owner) and
 * stops it, and the trainer child ends itself; a postmaster whose Tandem is alive is still refused.
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

function start(dataDir: string): { child: ChildProcess; output: () => string; ready: Promise<string>; exited: Promise<number | null> } {
  let output = "";
  const child = spawn(tsx, ["server/cli/start.ts"], {
    env: { ...baseEnv, TANDEM_DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "warn", TANDEM_DEMO: "off" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Tandem is running at (http:\/\/\S+)/.exec(output)?.[1];
      if (url && output.includes("Press Ctrl-C")) resolve(url);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => reject(new Error(`exited with ${code} before ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  return { child, output: () => output, ready, exited };
}

const pgrep = (pattern: string) => spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" }).stdout.trim();
const postmasterOn = (dir: string) => pgrep(`postgres -D ${dir}`);
const trainerFor = (url: string) => pgrep(`trainer/cli.ts serve --server ${url.replace("localhost", "127.0.0.1")}`);
async function waitFor(check: () => boolean, what: string, tries = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting: ${what}`);
}

test("kill -9 of the server: the next start stops the orphaned PostgreSQL and is ready; a live Tandem is still refused", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-crash-"));
  fs.chmodSync(dataDir, 0o755);
  const clusterDir = path.join(dataDir, "pg");
  const running: ChildProcess[] = [];
  try {
    const first = start(dataDir);
    running.push(first.child);
    const url = await first.ready;
    const password = /Password:\s+(\S+)/.exec(first.output())?.[1];
    assert.ok(password);
    await waitFor(() => trainerFor(url) !== "", "the trainer service runs");

    // A second start while the first is alive: refused with the old message, nothing touched.
    const second = start(dataDir);
    assert.notEqual(await second.exited, 0);
    assert.match(second.output(), /another PostgreSQL \(pid \d+\) is running on .*is Tandem already started\?/);
    assert.equal((await new HttpClient(url).get("/healthz")).status, 200, "the first Tandem still serves");

    // kill -9 of the server process itself (the postmaster's parent), not its tsx wrapper.
    const postmaster = postmasterOn(clusterDir);
    assert.ok(postmaster, "postgres runs");
    const stat = fs.readFileSync(`/proc/${postmaster}/stat`, "utf8");
    const serverPid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    assert.match(fs.readFileSync(`/proc/${serverPid}/cmdline`, "utf8"), /server\/cli\/start\.ts/);
    process.kill(serverPid, "SIGKILL");
    await first.exited;
    assert.equal(postmasterOn(clusterDir), postmaster, "the postmaster survived the kill (the situation to recover from)");
    await waitFor(() => trainerFor(url) === "", "the orphaned trainer ends itself");

    const third = start(dataDir);
    running.push(third.child);
    const url3 = await third.ready;
    const login = await new HttpClient(url3).postForm("/login", { email: "admin@tandem.local", password });
    assert.equal(login.status, 302, "same data, same admin");
    assert.notEqual(postmasterOn(clusterDir), postmaster, "a fresh postmaster");
    third.child.kill("SIGTERM");
    assert.equal(await third.exited, 0);
    assert.equal(postmasterOn(clusterDir), "", "no postgres left");
    assert.equal(trainerFor(url3), "", "no trainer left");
  } finally {
    for (const child of running) child.kill("SIGKILL");
    const left = postmasterOn(clusterDir);
    for (const pid of left.split("\n").filter(Boolean)) process.kill(Number(pid), "SIGQUIT");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
