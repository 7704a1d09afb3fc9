/**
 * With an external DATABASE_URL (issue 12, finding 6): `npm start` waits for a database that is
 * not reachable yet instead of failing, and a running server answers 503 while the database is
 * unreachable and recovers on its own when it is back. The "network" to PostgreSQL is a TCP
 * forwarder the test opens and cuts.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { findFreePort } from "../../server/db/embedded-postgres.server.ts";

const tsx = path.resolve("node_modules/.bin/tsx");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP forwarder to the real database that can be cut (every connection dropped) and restored. */
function forwarder(listenPort: number, target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  return {
    open: () =>
      new Promise<void>((resolve) => {
        server = net.createServer((client) => {
          const upstream = net.connect(target.port, target.host);
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on("error", () => undefined);
            s.on("close", () => sockets.delete(s));
          }
          client.pipe(upstream).pipe(client);
        });
        server.listen(listenPort, "127.0.0.1", resolve);
      }),
    cut: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server?.close(() => resolve());
      }),
  };
}

test("an external database: start waits for it; an outage answers 503 and the server reconnects", async () => {
  const real = new URL(process.env.DATABASE_URL!);
  const port = await findFreePort();
  const via = new URL(real);
  via.hostname = "127.0.0.1";
  via.port = String(port);
  const link = forwarder(port, { host: real.hostname, port: Number(real.port || 5432) });

  let output = "";
  const child = spawn(tsx, ["server/cli/start.ts"], {
    env: { ...process.env, DATABASE_URL: via.toString(), PORT: "0", LOG_LEVEL: "warn", TANDEM_DEMO: "off", TANDEM_TRAINER: "off", TANDEM_ADMIN_PASSWORD: "external-admin-password" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve((exitCode = code))));
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  try {
    // Nothing listens yet: the start waits (and says so) instead of failing.
    for (let i = 0; i < 100 && !output.includes("database not reachable yet"); i++) await sleep(100);
    assert.match(output, /database not reachable yet; waiting/);
    assert.equal(exitCode, undefined, "still starting");
    await link.open();
    for (let i = 0; i < 300 && !output.includes("Press Ctrl-C"); i++) await sleep(100);
    const url = /Tandem is running at (http:\/\/\S+)/.exec(output)?.[1];
    assert.ok(url, output);
    assert.equal((await fetch(url + "/healthz")).status, 200);

    await link.cut();
    let api: Response | undefined;
    for (let i = 0; i < 100 && !api; i++) {
      const response = await fetch(url + "/api/v1/me", { headers: { authorization: "Bearer tdm_unknown" } });
      assert.notEqual(response.status, 500);
      if (response.status === 503) api = response;
      else await sleep(100);
    }
    assert.ok(api, "503 while the database is unreachable");
    assert.ok(Number(api.headers.get("retry-after")) > 0);
    assert.equal((await fetch(url + "/healthz")).status, 503);

    await link.open();
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      back = (await fetch(url + "/healthz")).status === 200;
      if (!back) await sleep(200);
    }
    assert.ok(back, "reconnected without a restart");
    assert.equal((await fetch(url + "/api/v1/me", { headers: { authorization: "Bearer tdm_unknown" } })).status, 401, "requests reach the database again");
    assert.equal(exitCode, undefined, "the server never exited");
    child.kill("SIGTERM");
    assert.equal(await exited, 0, output.slice(-2000));
  } finally {
    if (exitCode === undefined) child.kill("SIGKILL");
    await link.cut();
  }
});
