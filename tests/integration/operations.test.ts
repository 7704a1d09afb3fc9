/**
 * Operations over real HTTP on a real Postgres: /metrics figures follow what happens in the
 * database (tasks, submissions, agreement, rounds, jobs, trainer events), who may scrape them,
 * and the audit log (what is recorded, who may read it, and that no secret lands in it).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { apiEndpoints } from "../../server/api/all-endpoints.server.ts";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { takeTask } from "../support/take-task.ts";

const METRICS_TOKEN = `scrape-${Date.now()}-only-for-prometheus-xyz`;
let server: TestServer;
let dataDir = "";
let admin: Awaited<ReturnType<TestServer["newUser"]>>;
let researcher: Awaited<ReturnType<TestServer["newUser"]>>;
let projectId = "";
let roundId = "";

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-ops-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_METRICS_TOKEN: METRICS_TOKEN, TANDEM_METRICS_AGREEMENT_REFRESH_SECONDS: "0" });
  admin = await server.newUser("admin");
  researcher = await server.newUser("researcher");
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Parses the Prometheus text format (the subset prom-client writes). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!.replace(/\\(.)/g, (_m, c: string) => (c === "n" ? "\n" : c));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(from: TestServer = server) {
  const response = await from.client().get("/metrics", { authorization: `Bearer ${METRICS_TOKEN}` });
  assert.equal(response.status, 200);
  const samples = parseMetrics(await response.text());
  /** The value of the one series with these labels, or undefined when there is none. */
  return (name: string, labels: Record<string, string> = {}): number | undefined => {
    const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} series`);
    return found[0]?.value;
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function audit(query = ""): Promise<Array<{ id: string; action: string; target: string | null; details: Record<string, unknown>; actor: { id: string; email: string } | null }>> {
  const response = await admin.client.get(`/api/v1/audit${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { entries: never[] }).entries;
}

test("/metrics: the metrics token, admins and admin tokens only; the metrics token opens nothing else", async () => {
  const anonymous = server.client();
  assert.equal((await anonymous.get("/metrics")).status, 401);
  assert.equal((await anonymous.get("/metrics", bearer("not-the-metrics-token-at-all-000000"))).status, 401);
  assert.equal((await anonymous.get("/metrics", bearer(await server.newToken("researcher")))).status, 403);
  assert.equal((await researcher.client.get("/metrics")).status, 403);
  assert.equal((await anonymous.get("/metrics", bearer(await server.newToken("admin")))).status, 200);
  assert.equal((await admin.client.get("/metrics")).status, 200);
  const metricsOnly = await anonymous.get("/metrics", bearer(METRICS_TOKEN));
  assert.equal(metricsOnly.status, 200);
  assert.equal(metricsOnly.headers.get("cache-control"), "no-store");
  assert.equal((await anonymous.get("/api/v1/me", bearer(METRICS_TOKEN))).status, 401);
  assert.equal((await anonymous.get("/api/v1/projects", bearer(METRICS_TOKEN))).status, 401);
  const value = await scrape();
  assert.equal(value("tandem_ops_database_up"), 1);
  assert.ok((value("tandem_db_pool_connections", { state: "total" }) ?? 0) >= 1);
});

test("queue depth, submissions and agreement follow the labeling", async () => {
  const created = await researcher.client.json("POST", "/api/v1/projects", {
    name: "Ops metrics",
    settings: projectSettingsSchema.parse({ k: 2, overlap: { rank: 2, demonstrate: 1 } }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  projectId = ((await created.json()) as { id: string }).id;
  const lines = [
    { prompt: "What is 2 + 3?", completions: ["The answer is 5.", "I do not know."] },
    { prompt: "Name a colour of the sky.", completions: ["Blue.", "Loud."] },
    { prompt: "How many legs has a spider?", completions: ["Eight.", "Three."] },
    { prompt: "Write a haiku about tea." },
    { prompt: "Explain why ice floats on water." },
  ];
  const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content: lines.map((l) => JSON.stringify(l)).join("\n"), filename: "ops.jsonl", commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());

  let value = await scrape();
  const p = { project: projectId };
  assert.equal(value("tandem_queue_open_tasks", { ...p, task_type: "rank" }), 3);
  assert.equal(value("tandem_queue_open_tasks", { ...p, task_type: "demonstrate" }), 2);
  assert.equal(value("tandem_submissions_total", { ...p, task_type: "rank" }), undefined);
  assert.equal(value("tandem_project_info", { ...p, name: "Ops metrics" }), 1);
  assert.equal(value("tandem_agreement_overlapping_items", p), undefined);

  // Labeler A: the good answer first everywhere. Labeler B agrees on two items, not on the spider.
  const rankAll = async (client: HttpClient, disagreeOn: string | null) => {
    for (let task = await takeTask(client, projectId); task; task = await takeTask(client, projectId)) {
      const good = (text: string) => ["The answer is 5.", "Blue.", "Eight."].includes(text);
      const flip = disagreeOn !== null && task.messages.some((m) => m.content.includes(disagreeOn));
      const ordered = [...task.completions].sort((a, b) => Number(good(b.text)) - Number(good(a.text)));
      if (flip) ordered.reverse();
      const payload = task.taskType === "rank" ? { ranking: { tiers: ordered.map((c) => [c.id]) } } : { text: "A demonstration." };
      const submitted = await client.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `ops-key-${task.assignmentId}`, payload, timings: {} });
      assert.equal(submitted.status, 200, await submitted.clone().text());
    }
  };
  const labelerA = await server.newMember(projectId, "labeler");
  // A claimed, unsubmitted task is work in progress.
  const claimed = await takeTask(labelerA.client, projectId);
  assert.ok(claimed);
  value = await scrape();
  assert.equal(value("tandem_queue_active_assignments", { ...p, task_type: claimed.taskType }), 1);
  const skipped = await labelerA.client.json("POST", `/api/v1/assignments/${claimed.assignmentId}/skip`, { reason: "test" });
  assert.equal(skipped.status, 200);
  // A does not see the skipped task again; a third labeler (C) gives it its second ranking below.
  await rankAll(labelerA.client, null);

  value = await scrape();
  assert.equal(value("tandem_queue_active_assignments", { ...p, task_type: claimed.taskType }), undefined);
  const rankByA = 3 - (claimed.taskType === "rank" ? 1 : 0);
  const demoByA = 2 - (claimed.taskType === "demonstrate" ? 1 : 0);
  assert.equal(value("tandem_submissions_total", { ...p, task_type: "rank" }), rankByA);
  assert.equal(value("tandem_submissions_total", { ...p, task_type: "demonstrate" }) ?? 0, demoByA);
  assert.equal(value("tandem_queue_open_tasks", { ...p, task_type: "demonstrate" }) ?? 0, 2 - demoByA);

  const labelerB = await server.newMember(projectId, "labeler");
  await rankAll(labelerB.client, "spider");
  const labelerC = await server.newMember(projectId, "labeler");
  await rankAll(labelerC.client, null);

  value = await scrape();
  // Every ranking task has its two rankings (overlap 2) and every demonstration its one.
  assert.equal(value("tandem_queue_open_tasks", { ...p, task_type: "rank" }) ?? 0, 0);
  assert.equal(value("tandem_queue_open_tasks", { ...p, task_type: "demonstrate" }) ?? 0, 0);
  assert.equal(value("tandem_submissions_total", { ...p, task_type: "rank" }), 6);
  assert.equal(value("tandem_submissions_total", { ...p, task_type: "demonstrate" }), 2);
  // B ranks all three items (none has two rankings when B starts), so exactly one item (the
  // spider) has a disagreeing pair, whoever its other ranker is: 2 of 3 compared pairs agree,
  // and Kendall's τ is 1, 1 and −1.
  assert.equal(value("tandem_agreement_overlapping_items", p), 3);
  assert.ok(Math.abs(value("tandem_agreement_pairwise", p)! - 2 / 3) < 1e-9, String(value("tandem_agreement_pairwise", p)));
  assert.ok(Math.abs(value("tandem_agreement_kendall_tau", p)! - 1 / 3) < 1e-9, String(value("tandem_agreement_kendall_tau", p)));
  const alpha = value("tandem_agreement_krippendorff_alpha", p);
  assert.ok(alpha !== undefined && alpha < 1, String(alpha));
});

test("agreement is recomputed when rankings change, but not more often than the refresh interval", async () => {
  assert.ok(projectId, "runs after the labeling test");
  // A second instance on the same database with an hour's refresh interval.
  const slow = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_METRICS_TOKEN: METRICS_TOKEN, TANDEM_METRICS_AGREEMENT_REFRESH_SECONDS: "3600" });
  try {
    const p = { project: projectId };
    assert.ok(Math.abs((await scrape(slow))("tandem_agreement_pairwise", p)! - 2 / 3) < 1e-9, "a first scrape computes at once");
    const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "What does a spider spin?", completions: ["A web.", "A car."] }), commit: true });
    assert.equal(imported.status, 200);
    // Two new labelers disagree on the new item: 2 of 4 compared pairs now agree.
    for (const first of ["A web.", "A car."]) {
      const labeler = await server.newMember(projectId, "labeler");
      const task = await takeTask(labeler.client, projectId);
      assert.ok(task && task.taskType === "rank");
      const ordered = [...task.completions].sort((a, b) => Number(b.text === first) - Number(a.text === first));
      const submitted = await labeler.client.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `ops-key-${task.assignmentId}`, payload: { ranking: { tiers: ordered.map((c) => [c.id]) } }, timings: {} });
      assert.equal(submitted.status, 200);
    }
    const fresh = await scrape();
    assert.equal(fresh("tandem_agreement_pairwise", p), 0.5);
    assert.equal(fresh("tandem_agreement_overlapping_items", p), 4);
    const cached = await scrape(slow);
    assert.equal(cached("tandem_submissions_total", { ...p, task_type: "rank" }), 8, "counts are never cached");
    assert.ok(Math.abs(cached("tandem_agreement_pairwise", p)! - 2 / 3) < 1e-9, "agreement waits for the refresh interval");
  } finally {
    await slow.stop();
  }
});

test("rounds, jobs and trainer throughput follow a launch, a claim, metrics lines and a cancel", async () => {
  assert.ok(projectId, "runs after the labeling test");
  let value = await scrape();
  const roundsQueued = value("tandem_rounds", { state: "queued" })!;
  const sftQueued = value("tandem_jobs", { kind: "sft", state: "queued" })!;
  const sftRunning = value("tandem_jobs", { kind: "sft", state: "running" })!;
  const cancelled = value("tandem_rounds", { state: "cancelled" })!;
  assert.equal(typeof roundsQueued, "number", "known states report 0 rather than nothing");
  assert.equal(value("tandem_ray_rounds", { status: "RUNNING" }), 0);

  const launched = await researcher.client.json("POST", `/api/v1/projects/${projectId}/rounds`, {
    name: "Ops round",
    path: "sft-dpo",
    base: { init: { vocabSize: 300, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: 1 },
    sft: { steps: 3, batchSize: 2 },
    dpo: { steps: 2, batchSize: 2 },
  });
  assert.equal(launched.status, 201, await launched.clone().text());
  roundId = ((await launched.json()) as { id: string }).id;
  value = await scrape();
  assert.equal(value("tandem_rounds", { state: "queued" }), roundsQueued + 1);
  assert.equal(value("tandem_jobs", { kind: "sft", state: "queued" }), sftQueued + 1);

  const trainer = await server.newToken("trainer");
  const claim = await server.client().json("POST", "/api/v1/trainer/claim", { worker: "ops-test" }, bearer(trainer));
  assert.equal(claim.status, 200);
  const job = (await claim.json()) as { jobId: string; attempt: number; kind: string };
  assert.equal(job.kind, "sft");
  value = await scrape();
  assert.equal(value("tandem_jobs", { kind: "sft", state: "queued" }), sftQueued);
  assert.equal(value("tandem_jobs", { kind: "sft", state: "running" }), sftRunning + 1);
  // Running, but no metrics line yet: no rate to report.
  assert.equal(value("tandem_trainer_tokens_per_second", { project: projectId, kind: "sft" }), undefined);

  // Five metrics lines one second apart (trainer time), 120 target tokens each, steps 1..5:
  // over the four seconds between the first and the last line, 480 tokens and 4 steps.
  const start = Date.now() - 10_000;
  const events = [1, 2, 3, 4, 5].map((step, i) => ({ type: "metrics", time: new Date(start + i * 1000).toISOString(), step, loss: 2 - step / 10, tokens: 120 }));
  const posted = await server.client().json("POST", `/api/v1/trainer/jobs/${job.jobId}/events?attempt=${job.attempt}`, { events }, bearer(trainer));
  assert.equal(posted.status, 200, await posted.clone().text());
  value = await scrape();
  const labels = { project: projectId, kind: "sft" };
  assert.equal(value("tandem_trainer_tokens_per_second", labels), 120);
  assert.equal(value("tandem_trainer_steps_per_second", labels), 1);
  assert.equal(value("tandem_trainer_step", labels), 5);
  const age = value("tandem_trainer_last_event_age_seconds", labels)!;
  assert.ok(age >= 6 && age < 120, String(age));

  const cancel = await researcher.client.json("POST", `/api/v1/rounds/${roundId}/cancel`);
  assert.equal(cancel.status, 200, await cancel.clone().text());
  value = await scrape();
  assert.equal(value("tandem_rounds", { state: "cancelled" }), cancelled + 1);
  assert.equal(value("tandem_jobs", { kind: "sft", state: "running" }), sftRunning);
  assert.equal(value("tandem_trainer_tokens_per_second", labels), undefined, "only running jobs have a rate");
});

test("the audit log records role changes, tokens, imports, exports (with filters) and rounds", async () => {
  assert.ok(roundId, "runs after the rounds test");
  const someone = await server.newUser("labeler");
  const promoted = await admin.client.json("PATCH", `/api/v1/users/${someone.id}`, { role: "reviewer" });
  assert.equal(promoted.status, 200);
  const roleChanges = await audit(`?action=user.role_change&actor=${encodeURIComponent(admin.email.toUpperCase())}`);
  assert.equal(roleChanges.length, 1);
  assert.equal(roleChanges[0]!.target, `user:${someone.id}`);
  assert.deepEqual(roleChanges[0]!.details, { from: "labeler", to: "reviewer" });
  assert.equal(roleChanges[0]!.actor?.id, admin.id);

  const created = await admin.client.json("POST", "/api/v1/tokens", { name: "ops token", role: "researcher" });
  const { token, secret } = (await created.json()) as { token: { id: string }; secret: string };
  assert.equal((await admin.client.request("DELETE", `/api/v1/tokens/${token.id}`)).status, 204);
  const tokenEntries = await audit(`?action=token&actor=${admin.id}`);
  assert.deepEqual(tokenEntries.map((e) => [e.action, e.target]), [["token.revoke", `token:${token.id}`], ["token.create", `token:${token.id}`]]);
  assert.equal(tokenEntries[1]!.details["name"], "ops token");

  // An export through a researcher token: the filters used and the token are recorded.
  const exporter = await server.newToken("researcher");
  const exported = await server.client().get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?minAgreement=0.5&since=2020-01-01T00:00:00Z`, bearer(exporter));
  assert.equal(exported.status, 200);
  await exported.text();
  const [exportEntry] = await audit(`?action=export&limit=1`);
  assert.equal(exportEntry?.action, "export.preferences");
  assert.equal(exportEntry.target, `project:${projectId}`);
  assert.equal(exportEntry.details["minAgreement"], 0.5);
  assert.ok(String(exportEntry.details["since"]).startsWith("2020-01-01"), JSON.stringify(exportEntry.details));
  assert.equal((exportEntry.details["via"] as { role: string }).role, "researcher");

  const forProject = (await audit(`?actor=${researcher.id}&limit=200`)).filter((e) => e.target === `round:${roundId}` || e.target === `project:${projectId}`);
  const actions = forProject.map((e) => e.action);
  for (const expected of ["round.cancel", "round.launch", "prompts.import", "project.create"]) assert.ok(actions.includes(expected), `${expected} in ${actions.join(", ")}`);
  const launch = forProject.find((e) => e.action === "round.launch")!;
  assert.equal(launch.details["path"], "sft-dpo");
  const imported = forProject.find((e) => e.action === "prompts.import" && e.details["filename"] === "ops.jsonl")!;
  assert.ok(imported, "the first import is recorded with its file name");
  assert.equal(imported.details["prompts"], 5);

  // No secret anywhere in the log: token plaintexts, passwords, the metrics token.
  const everything = JSON.stringify(await server.db.selectFrom("audit_log").selectAll().execute());
  for (const secretValue of [secret, exporter, METRICS_TOKEN, someone.password, "owner-password-123"]) {
    assert.ok(!everything.includes(secretValue), "a secret is in the audit log");
  }
  const userCreated = await admin.client.json("POST", "/api/v1/users", { email: `ops-${Date.now()}@example.test`, name: "Ops", role: "labeler", password: "a-long-new-password-42" });
  assert.equal(userCreated.status, 201);
  assert.ok(!JSON.stringify(await server.db.selectFrom("audit_log").select("details").execute()).includes("a-long-new-password-42"));
});

test("the audit log pages newest first and filters by date; only admins can read it", async () => {
  const first = await audit("?limit=2");
  assert.equal(first.length, 2);
  assert.ok(BigInt(first[0]!.id) > BigInt(first[1]!.id));
  const page = (await (await admin.client.get("/api/v1/audit?limit=2")).json()) as { nextBefore: string | null };
  assert.equal(page.nextBefore, first[1]!.id);
  const second = await audit(`?limit=2&before=${page.nextBefore}`);
  assert.ok(second.every((e) => BigInt(e.id) < BigInt(first[1]!.id)));
  const today = new Date().toISOString().slice(0, 10);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  assert.ok((await audit(`?from=${today}&to=${today}&limit=5`)).length > 0);
  assert.equal((await audit(`?from=${tomorrow}`)).length, 0);
  assert.equal((await audit(`?to=${yesterday}`)).length, 0);
  const bad = await admin.client.get("/api/v1/audit?from=yesterday&limit=9999");
  assert.equal(bad.status, 422);
  const problem = (await bad.json()) as { errors: Array<{ path: string }> };
  assert.deepEqual(problem.errors.map((e) => e.path).sort(), ["from", "limit"]);

  for (const role of ["labeler", "reviewer", "researcher"] as const) {
    const person = await server.newUser(role);
    assert.equal((await person.client.get("/api/v1/audit")).status, 403, role);
    assert.equal((await person.client.get("/admin/audit")).status, 403, role);
    assert.equal((await server.client().get("/api/v1/audit", bearer(await server.newToken(role)))).status, 403, role);
  }
  assert.equal((await server.client().get("/api/v1/audit", bearer(await server.newToken("trainer")))).status, 403);
  assert.equal((await server.client().get("/api/v1/audit")).status, 401);
  assert.equal((await server.client().get("/admin/audit")).status, 302);

  const html = await (await admin.client.get(`/admin/audit?action=user.role_change`)).text();
  assert.match(html, /user\.role_change/);
  assert.doesNotMatch(html, /<td class="py-2 pr-3 font-mono">token\.create<\/td>/);
  assert.match(html, /href="\/admin\/audit"/, "the admin nav links the page");
  const older = await admin.client.get(`/admin/audit?before=${first[0]!.id}`);
  assert.equal(older.status, 200);
  assert.equal((await admin.client.get("/admin/audit?from=not-a-day")).status, 200, "a bad filter is shown, not a crash");
});

test("every export endpoint records who exported what, with the filters", async () => {
  // Downloads of a project's or a round's data: /projects/:id/exports/…, /rounds/:id/bundle.zip, …
  const isExport = (path: string) => /^\/(projects|rounds)\/:id\/(exports?\/|[\w-]*(bundle|export|dataset)[\w.-]*$)/.test(path);
  const exports = apiEndpoints.filter((ep) => ep.method === "get" && isExport(ep.path));
  assert.ok(exports.length >= 4, exports.map((e) => e.path).join(", "));
  let audited = 0;
  for (const ep of exports) {
    const [kind, id] = ep.path.startsWith("/projects/") ? ["project", projectId] : ["round", roundId];
    const before = await server.db.selectFrom("audit_log").select((eb) => eb.fn.max("id").as("max")).executeTakeFirstOrThrow();
    const response = await researcher.client.get(`/api/v1${ep.path.replace(":id", id)}?until=2100-01-01T00:00:00Z`);
    await response.arrayBuffer();
    if (response.status >= 400) continue; // refused before anything was exported
    const entries = await server.db.selectFrom("audit_log").selectAll().where("id", ">", before.max ?? "0").execute();
    const entry = entries.find((e) => e.action.startsWith("export.") && e.target === `${kind}:${id}`);
    assert.ok(entry, `GET ${ep.path} exported without an audit entry`);
    assert.equal(entry.actor_user_id, researcher.id);
    if (kind === "project") assert.ok(String(entry.details["until"]).startsWith("2100-01-01"), `${ep.path}: ${JSON.stringify(entry.details)}`);
    audited++;
  }
  assert.ok(audited >= 4, `only ${audited} export endpoints answered`);
});
