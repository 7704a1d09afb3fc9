/**
 * Fault injection (issue 12, item 7): concurrent labelers claim and submit over HTTP against
 * `npm start` while the test kills, with SIGKILL, the server, then PostgreSQL, then the trainer,
 * and brings them back the way a person would (running the same start command; nothing at all for
 * PostgreSQL and the trainer, which Tandem restarts itself). Afterwards:
 *   - every acknowledged submission is stored exactly once, and idempotent retries record nothing new;
 *   - a lease held at the crash by a labeler who never came back expires into the queue and the
 *     task is labeled by someone else;
 *   - no task exceeds its overlap, and every task reaches it;
 *   - no process is orphaned; each start after a kill is ready without a manual step.
 * Sized by FAULT_LABELERS / FAULT_PROMPTS (defaults keep it to about a minute and a half;
 * bench/fault-bench.ts runs it at 200 labelers).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import pg from "pg";
import { findFreePort } from "../../server/db/embedded-postgres.server.ts";
import { HttpClient } from "../support/test-server.ts";

const LABELERS = Number(process.env.FAULT_LABELERS ?? 8);
const PROMPTS = Number(process.env.FAULT_PROMPTS ?? 30);
const OVERLAP = 2;
const tsx = path.resolve("node_modules/.bin/tsx");
const { DATABASE_URL: _ignored, ...baseEnv } = process.env;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Started = { child: ChildProcess; output: () => string; ready: Promise<void>; exited: Promise<number | null> };
function start(dataDir: string, port: number): Started {
  let output = "";
  const child = spawn(tsx, ["server/cli/start.ts"], {
    env: { ...baseEnv, TANDEM_DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", TANDEM_DEMO: "off" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Press Ctrl-C")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => reject(new Error(`exited with ${code} before ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  return { child, output: () => output, ready, exited };
}

const pgrep = (pattern: string) => spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).map(Number);
const parentOf = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
};
async function waitFor<T>(probe: () => T | Promise<T>, what: string, tries = 300, everyMs = 200): Promise<NonNullable<T>> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    await sleep(everyMs);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test("labelers keep labeling through kill -9 of the server, PostgreSQL and the trainer; nothing lost, nothing doubled", { timeout: Number(process.env.FAULT_TIMEOUT_MS ?? 300_000) }, async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-faults-"));
  fs.chmodSync(dataDir, 0o755);
  const clusterDir = path.join(dataDir, "pg");
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const trainers = () => pgrep(`trainer/cli.ts serve --server ${url}`);
  const postmasters = () => pgrep(`postgres -D ${clusterDir}`);
  const servers: Started[] = [];
  let stop = false;
  let db: pg.Client | undefined;
  try {
    // --- setup through the API, as an admin would
    let server = start(dataDir, port);
    servers.push(server);
    await server.ready;
    const password = /Password:\s+(\S+)/.exec(server.output())?.[1];
    assert.ok(password);
    const admin = new HttpClient(url);
    assert.equal((await admin.postForm("/login", { email: "admin@tandem.local", password })).status, 302);
    const created = await admin.json("POST", "/api/v1/projects", { access: "open", name: "Faults", settings: { overlap: { rank: OVERLAP } } });
    assert.equal(created.status, 201, await created.clone().text());
    const projectId = ((await created.json()) as { id: string }).id;
    const lines = Array.from({ length: PROMPTS }, (_, i) => JSON.stringify({ prompt: `Question ${i}: what is ${i} + ${i}?`, completions: [`${2 * i}`, `${2 * i + 1}`] }));
    const imported = await admin.json("POST", `/api/v1/projects/${projectId}/imports`, { content: lines.join("\n"), filename: "faults.jsonl", commit: true });
    assert.equal(imported.status, 200, await imported.clone().text());

    const people: HttpClient[] = [];
    for (let i = 0; i <= LABELERS; i++) {
      const email = `labeler${i}-${Date.now()}@example.test`;
      const made = await admin.json("POST", "/api/v1/users", { email, name: `Labeler ${i}`, role: "labeler", password: "labeler-password-123" });
      assert.equal(made.status, 201, await made.clone().text());
      const client = new HttpClient(url);
      assert.equal((await client.postForm("/login", { email, password: "labeler-password-123" })).status, 302);
      people.push(client);
    }
    const quitter = people.pop()!;

    // --- labelers: claim, submit, retry the same key until acknowledged, then retry once more
    const acked = new Set<string>();
    let idempotentRetries = 0;
    const unexpected: string[] = [];
    const labeler = async (client: HttpClient) => {
      while (!stop) {
        try {
          const claim = await client.json("POST", `/api/v1/projects/${projectId}/next-task`);
          if (claim.status !== 200) {
            if (claim.status < 500) unexpected.push(`claim ${claim.status}`);
            await sleep(100);
            continue;
          }
          const next = (await claim.json()) as { assignmentId: string } | null;
          if (!next) {
            await sleep(150);
            continue;
          }
          const opened = await client.get(`/api/v1/assignments/${next.assignmentId}`);
          if (opened.status !== 200) continue; // the next claim resumes the same lease
          const view = (await opened.json()) as { assignmentId: string; completions: Array<{ id: string }> };
          const key = `faults-${view.assignmentId}`;
          const body = { idempotencyKey: key, payload: { ranking: { tiers: view.completions.map((c) => [c.id]) } } };
          while (!stop) {
            const response = await client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, body).catch(() => null);
            if (response?.status === 200) {
              acked.add(key);
              const again = await client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, body).catch(() => null);
              if (again?.status === 200) idempotentRetries++;
              break;
            }
            if (response && response.status < 500) {
              unexpected.push(`submit ${response.status}: ${await response.text()}`);
              break;
            }
            await sleep(150);
          }
        } catch {
          await sleep(150); // the server is down: try again
        }
      }
    };
    const workers = people.map(labeler);

    // A labeler who claims a task and never comes back.
    const held = (await (await quitter.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string };
    assert.ok(held?.assignmentId);

    // --- fault 1: kill -9 of the server process
    await waitFor(() => acked.size >= Math.min(10, PROMPTS / 3), "first submissions");
    await waitFor(() => trainers().length > 0, "the trainer");
    const [postmaster] = postmasters();
    const serverPid = parentOf(postmaster!);
    process.kill(serverPid, "SIGKILL");
    await server.exited;
    await waitFor(() => trainers().length === 0, "the orphaned trainer to end itself");
    server = start(dataDir, port);
    servers.push(server);
    await server.ready; // no manual step: the orphaned postmaster is stopped by the start itself

    // Time passes for the quitter's lease (backdated rather than waited for).
    const dbPort = /-p\0(\d+)/.exec(fs.readFileSync(`/proc/${postmasters()[0]}/cmdline`, "utf8"))?.[1];
    const dbPassword = fs.readFileSync(path.join(dataDir, "postgres-password"), "utf8").trim();
    db = new pg.Client({ connectionString: `postgres://tandem:${encodeURIComponent(dbPassword)}@127.0.0.1:${dbPort}/tandem` });
    db.on("error", () => undefined);
    await db.connect();
    await db.query("update assignments set lease_expires_at = now() - interval '1 second' where id = $1 and state = 'active'", [held.assignmentId]);

    // --- fault 2: kill -9 of PostgreSQL (Tandem's supervisor restarts it; the server stays up)
    const before = acked.size;
    await waitFor(() => acked.size >= before + Math.min(10, PROMPTS / 3), "submissions after the restart");
    await db.end().catch(() => undefined);
    db = undefined;
    process.kill(postmasters()[0]!, "SIGKILL");
    await waitFor(async () => (await fetch(url + "/healthz").catch(() => null))?.status === 503, "the outage to show");
    await waitFor(async () => (await fetch(url + "/healthz").catch(() => null))?.status === 200, "PostgreSQL to come back");
    db = new pg.Client({ connectionString: `postgres://tandem:${encodeURIComponent(dbPassword)}@127.0.0.1:${dbPort}/tandem` });
    db.on("error", () => undefined);
    await db.connect();

    // --- fault 3: kill -9 of the trainer (restarted by the server)
    const [trainer] = await waitFor(() => (trainers().length > 0 ? trainers() : null), "the trainer");
    process.kill(trainer!, "SIGKILL");
    await waitFor(() => trainers().length > 0 && !trainers().includes(trainer!), "a new trainer");

    // --- everything labeled
    const totalNeeded = PROMPTS * OVERLAP;
    await waitFor(async () => Number((await db!.query("select count(*) from submissions")).rows[0].count) >= totalNeeded, `${totalNeeded} submissions`, Math.max(600, totalNeeded * 2));
    stop = true;
    await Promise.all(workers);

    // --- the figures
    const keys = await db.query<{ idempotency_key: string; n: string }>("select idempotency_key, count(*) as n from submissions group by 1");
    const stored = new Map(keys.rows.map((r) => [r.idempotency_key, Number(r.n)]));
    for (const key of acked) assert.equal(stored.get(key), 1, `acknowledged ${key} stored exactly once`);
    assert.equal([...stored.values()].filter((n) => n !== 1).length, 0, "no idempotency key stored twice");
    assert.ok(idempotentRetries > 0, "idempotent retries were exercised");
    const perTask = await db.query<{ id: string; overlap_target: number; submitted: string; submissions: string }>(
      `select t.id, t.overlap_target,
              (select count(*) from assignments a where a.task_id = t.id and a.state = 'submitted') as submitted,
              (select count(*) from submissions s where s.task_id = t.id) as submissions
         from tasks t where t.project_id = $1`,
      [projectId],
    );
    assert.equal(perTask.rows.length, PROMPTS);
    for (const row of perTask.rows) {
      assert.equal(Number(row.submitted), row.overlap_target, `task ${row.id} reached its overlap, and not more`);
      assert.equal(Number(row.submissions), row.overlap_target, `task ${row.id}: one submission per submitted assignment`);
    }
    const quitterTask = await db.query("select a.state, (select count(*) from assignments b where b.task_id = a.task_id and b.state = 'submitted') as others from assignments a where a.id = $1", [held.assignmentId]);
    assert.notEqual(quitterTask.rows[0].state, "submitted");
    assert.equal(Number(quitterTask.rows[0].others), OVERLAP, "the abandoned lease went back into the queue and someone else labeled the task");
    assert.deepEqual(unexpected, [], "no refusals other than retries");
    await db.end();
    db = undefined;

    // --- a clean stop leaves nothing behind
    server.child.kill("SIGTERM");
    assert.equal(await server.exited, 0, server.output().slice(-3000));
    assert.deepEqual(postmasters(), [], "no postgres left");
    assert.deepEqual(trainers(), [], "no trainer left");
    t.diagnostic(`fault injection: ${LABELERS} labelers, ${acked.size} acknowledged submissions, ${idempotentRetries} idempotent retries, ${totalNeeded} stored`);
  } finally {
    stop = true;
    await db?.end().catch(() => undefined);
    for (const s of servers) s.child.kill("SIGKILL");
    for (const pid of postmasters()) process.kill(pid, "SIGQUIT");
    for (const pid of trainers()) process.kill(pid, "SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
