/**
 * A database outage is survived (issue 12, finding 6; decision 0023): `kill -9` of the embedded
 * postmaster under a running `npm start`. The server stays up, /healthz says the database is
 * unreachable, the API answers 503 problem documents with Retry-After and pages a 503 page;
 * Tandem's supervisor restarts PostgreSQL and the same server process serves again, sessions and
 * sockets included, without a restart. The socket.io Postgres adapter runs, so its dedicated
 * LISTEN connection dies too (the unhandled `'error'` event that used to end the server).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { io as connect } from "socket.io-client";
import { HttpClient } from "../support/test-server.ts";

const tsx = path.resolve("node_modules/.bin/tsx");
const { DATABASE_URL: _ignored, ...baseEnv } = process.env;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("kill -9 of PostgreSQL: 503 with Retry-After while it is down, then recovery without a restart", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-outage-"));
  fs.chmodSync(dataDir, 0o755);
  const clusterDir = path.join(dataDir, "pg");
  let output = "";
  const child = spawn(tsx, ["server/cli/start.ts"], {
    env: { ...baseEnv, TANDEM_DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "info", TANDEM_DEMO: "off", TANDEM_TRAINER: "off", TANDEM_SOCKET_ADAPTER: "postgres" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve((exitCode = code))));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Tandem is running at (http:\/\/\S+)/.exec(output)?.[1];
      if (url && output.includes("Press Ctrl-C")) resolve(url);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
  const socket = { current: undefined as ReturnType<typeof connect> | undefined };
  try {
    const url = await ready;
    const password = /Password:\s+(\S+)/.exec(output)?.[1];
    assert.ok(password);
    const client = new HttpClient(url);
    assert.equal((await client.postForm("/login", { email: "admin@tandem.local", password })).status, 302);
    assert.equal((await client.get("/api/v1/me")).status, 200);
    const s = connect(url, { transports: ["websocket"], extraHeaders: { cookie: `tandem_session=${client.cookies.get("tandem_session")}`, origin: url } });
    socket.current = s;
    await new Promise<void>((resolve, reject) => {
      s.once("connect", () => resolve());
      s.once("connect_error", reject);
    });

    const postmaster = spawnSync("pgrep", ["-f", `postgres -D ${clusterDir}`], { encoding: "utf8" }).stdout.trim();
    assert.match(postmaster, /^\d+$/);
    process.kill(Number(postmaster), "SIGKILL");

    // The supervisor waits a second before its first restart: the outage is visible meanwhile.
    let health: Response | undefined;
    let api: Response | undefined;
    let page: Response | undefined;
    for (let i = 0; i < 100 && !(health && api && page); i++) {
      const h = await fetch(url + "/healthz");
      if (h.status === 503) health ??= h;
      const a = await client.get("/api/v1/me");
      if (a.status === 503) api ??= a;
      const p = await client.get("/projects", { accept: "text/html" });
      if (p.status === 503) page ??= p;
      assert.ok(![a.status, p.status].includes(500), `no 500 during the outage (api ${a.status}, page ${p.status})`);
    }
    assert.ok(health, "/healthz reported the outage");
    assert.deepEqual(await health.json(), { status: "unavailable", database: "unreachable" });
    assert.ok(api, "the API answered 503");
    assert.equal(api.headers.get("content-type"), "application/problem+json; charset=utf-8");
    assert.ok(Number(api.headers.get("retry-after")) > 0, "with Retry-After");
    assert.equal(((await api.json()) as { code: string }).code, "service_unavailable");
    assert.ok(page, "pages answered 503");
    assert.match(await page.text(), /database is unreachable/);

    // Recovery: the same process, the same session.
    let recovered = false;
    for (let i = 0; i < 300 && !recovered; i++) {
      recovered = (await fetch(url + "/healthz")).status === 200;
      if (!recovered) await sleep(200);
    }
    assert.ok(recovered, "the database came back:\n" + output.slice(-3000));
    assert.equal((await client.get("/api/v1/me")).status, 200, "the session still works");
    assert.equal(exitCode, undefined, "the server never exited");
    assert.match(output, /embedded PostgreSQL restarted/);
    assert.notEqual(spawnSync("pgrep", ["-f", `postgres -D ${clusterDir}`], { encoding: "utf8" }).stdout.trim(), postmaster);
    for (let i = 0; i < 100 && !s.connected; i++) await sleep(100);
    assert.ok(s.connected, "the socket is connected (kept or reconnected)");
    s.close();

    child.kill("SIGTERM");
    assert.equal(await exited, 0, output.slice(-4000));
    assert.equal(spawnSync("pgrep", ["-f", `postgres -D ${clusterDir}`]).status, 1, "no postgres left");
  } finally {
    socket.current?.close();
    if (exitCode === undefined) child.kill("SIGKILL");
    for (const pid of spawnSync("pgrep", ["-f", `postgres -D ${clusterDir}`], { encoding: "utf8" }).stdout.split("\n").filter(Boolean)) process.kill(Number(pid), "SIGQUIT");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
