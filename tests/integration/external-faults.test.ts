/**
 * External endpoints that misbehave, and secrets that must stay secret. The third-party model
 * APIs (vLLM, a hosted API …) are outside this machine, so a local HTTP server stands in for
 * them here: it answers per prompt with malformed JSON, the wrong shape, a timeout, 429 with
 * Retry-After then success, 500s until the retries run out, or a normal answer (once with only
 * one choice, as Ollama and llama.cpp do for n > 1). A refused connection is a port nobody
 * listens on. Everything else — Tandem's server, its runner, PostgreSQL — is real.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { sql } from "kysely";
import { after, before, test } from "node:test";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { HttpClient, startTestServer, type TestServer } from "../support/test-server.ts";

const SECRET = `sk-tandem-test-${Date.now().toString(36)}-DISTINCTIVE-9f3e`;
const logLines: string[] = [];
const responses: string[] = [];
let server: TestServer;
let dataDir = "";
let fake: http.Server;
let fakeUrl = "";
let refusedUrl = "";
const requestsByCase = new Map<string, number>();

/** Records the text of every API response this test receives. */
class RecordingClient extends HttpClient {
  override async request(method: string, urlPath: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Response> {
    const response = await super.request(method, urlPath, init);
    responses.push(`${method} ${urlPath} ${response.status} ${JSON.stringify([...response.headers])} ${await response.clone().text()}`);
    return response;
  }
}

function answer(res: http.ServerResponse, texts: string[]) {
  res.writeHead(200, { "content-type": "application/json" }).end(
    JSON.stringify({ id: "x", object: "chat.completion", model: "fake-model", choices: texts.map((content, index) => ({ index, message: { role: "assistant", content }, finish_reason: "stop" })) }),
  );
}

before(async () => {
  fake = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const body = JSON.parse(raw) as { messages: Array<{ content: string }>; n?: number };
      const prompt = body.messages.at(-1)?.content ?? "";
      const which = /case:(\w+)/.exec(prompt)?.[1] ?? "ok";
      const count = (requestsByCase.get(which) ?? 0) + 1;
      requestsByCase.set(which, count);
      const n = body.n ?? 1;
      const distinct = (i: number) => `Answer ${i} to ${prompt}: ${["apples", "rivers", "mountains", "clouds"][i % 4]} are ${["red", "long", "tall", "white"][(i + count) % 4]} #${count}`;
      switch (which) {
        case "malformed":
          return void res.writeHead(200, { "content-type": "application/json" }).end('{"choices": [ {"message": ');
        case "shape":
          return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ result: "not a chat completion" }));
        case "timeout":
          return void setTimeout(() => answer(res, ["too late"]), 3000);
        case "limited":
          if (count === 1) return void res.writeHead(429, { "retry-after": "1", "content-type": "application/json" }).end(JSON.stringify({ error: { message: "slow down" } }));
          return answer(res, Array.from({ length: n }, (_, i) => distinct(i)));
        case "broken":
          // A careless upstream that echoes the caller's credentials in its error text.
          return void res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `internal error for ${req.headers.authorization}` } }));
        case "single":
          return answer(res, [distinct(count)]);
        default:
          return answer(res, Array.from({ length: n }, (_, i) => distinct(i)));
      }
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/v1`;
  // A port that was free a moment ago and now has no listener: connection refused.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  refusedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/v1`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-faults-"));
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_GENERATION_POLL_MS: "200", LOG_LEVEL: "debug" }, { logDestination: capture });
});
after(async () => {
  await server.stop();
  await new Promise<void>((resolve) => fake.close(() => resolve()));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

type Run = { state: string; error: string | null; progress: Record<string, number>; errors: Array<{ kind: string; status: number | null; attempts: number; message: string; promptId: string; source: string }> };
async function waitForRun(client: HttpClient, runId: string): Promise<Run> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const run = (await (await client.get(`/api/v1/generation-runs/${runId}`)).json()) as Run;
    if (!["queued", "running"].includes(run.state)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.state}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function researcherWithProject(cases: string[]) {
  const user = await server.newUser("researcher");
  const researcher = new RecordingClient(server.url);
  for (const [k, v] of user.client.cookies) researcher.cookies.set(k, v);
  const settings = projectSettingsSchema.parse({ k: 2, overlap: { rank: 1 } });
  const projectId = ((await (await researcher.json("POST", "/api/v1/projects", { name: `Faults ${Date.now()}`, settings })).json()) as { id: string }).id;
  const content = cases.map((c) => JSON.stringify({ prompt: `Tell me something, case:${c}` })).join("\n");
  assert.equal((await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);
  const prompts = await server.db.selectFrom("prompts").select(["id", "messages"]).where("project_id", "=", projectId).orderBy("id").execute();
  const idOf = (c: string) => prompts.find((p) => p.messages[0]!.content.endsWith(`case:${c}`))!.id;
  return { researcher, projectId, idOf };
}

test("per-request faults are recorded per prompt, the run finishes, other prompts get tasks, the server stays up", { timeout: 120_000 }, async () => {
  const cases = ["ok", "malformed", "shape", "timeout", "limited", "broken", "single", "ok2"];
  const { researcher, projectId, idOf } = await researcherWithProject(cases);
  const created = await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, {
    name: "flaky", baseUrl: fakeUrl, model: "fake-model", apiKey: SECRET, timeoutMs: 1000, maxRetries: 2, decoding: { temperature: 0.7, max_tokens: 32 },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const endpoint = (await created.json()) as { id: string; hasApiKey: boolean; apiKeyHint: string };
  assert.deepEqual([endpoint.hasApiKey, endpoint.apiKeyHint], [true, `…${SECRET.slice(-4)}`]);

  const started = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { kind: "rank", sources: [{ endpointId: endpoint.id }], prompts: { withoutCompletions: true } });
  assert.equal(started.status, 201, await started.clone().text());
  const runId = ((await started.json()) as { id: string }).id;
  const run = await waitForRun(researcher, runId);
  assert.equal(run.state, "done", JSON.stringify(run));
  assert.deepEqual(run.progress, { prompts: 8, next: 8, completions: 8, tasks: 4, failedRequests: 4, skippedPrompts: 4 });

  const byPrompt = new Map(run.errors.filter((e) => e.kind !== "too_few").map((e) => [e.promptId, e]));
  assert.equal(byPrompt.get(idOf("malformed"))?.kind, "malformed");
  assert.match(byPrompt.get(idOf("malformed"))!.message, /not JSON/);
  assert.equal(byPrompt.get(idOf("malformed"))?.attempts, 1, "a malformed answer is not retried");
  assert.equal(byPrompt.get(idOf("shape"))?.kind, "malformed");
  assert.match(byPrompt.get(idOf("shape"))!.message, /choices/);
  assert.equal(byPrompt.get(idOf("timeout"))?.kind, "timeout");
  assert.equal(byPrompt.get(idOf("timeout"))?.attempts, 3);
  assert.deepEqual([byPrompt.get(idOf("broken"))?.kind, byPrompt.get(idOf("broken"))?.status, byPrompt.get(idOf("broken"))?.attempts], ["http", 500, 3]);
  assert.equal(requestsByCase.get("broken"), 3, "500s are retried until maxRetries is spent");
  assert.ok(!byPrompt.has(idOf("limited")), "429 with Retry-After, then success: no error");
  assert.equal(requestsByCase.get("limited"), 2);
  assert.equal(requestsByCase.get("single"), 2, "an endpoint that ignores n is asked again for the missing completion");
  assert.equal(run.errors.filter((e) => e.kind === "too_few").length, 4, "every prompt without a task says why");

  const tasks = await server.db.selectFrom("tasks").select(["prompt_id", "completion_ids"]).where("project_id", "=", projectId).where("type", "=", "rank").execute();
  assert.deepEqual(tasks.map((t) => t.prompt_id).sort(), [idOf("ok"), idOf("limited"), idOf("single"), idOf("ok2")].sort());
  assert.ok(tasks.every((t) => t.completion_ids.length === 2));

  // Connection refused, beside a healthy endpoint: each prompt gets one completion, too few for a task.
  const refused = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "gone", baseUrl: refusedUrl, model: "m", apiKey: SECRET, maxRetries: 1 })).json()) as { id: string };
  const tested = (await (await researcher.json("POST", `/api/v1/external-endpoints/${refused.id}/test`)).json()) as { ok: boolean; error: { kind: string; message: string } };
  assert.deepEqual([tested.ok, tested.error.kind], [false, "connection"]);
  assert.match(tested.error.message, /ECONNREFUSED/);
  const mixed = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { sources: [{ endpointId: endpoint.id }, { endpointId: refused.id }], prompts: { ids: [idOf("ok"), idOf("ok2")] } });
  const mixedRun = await waitForRun(researcher, ((await mixed.json()) as { id: string }).id);
  assert.equal(mixedRun.state, "done");
  assert.deepEqual(mixedRun.errors.filter((e) => e.kind === "connection").map((e) => [e.source, e.attempts]), [["endpoint:gone/m", 2], ["endpoint:gone/m", 2]]);
  assert.equal(mixedRun.progress.tasks, 0);

  // An endpoint that only fails stops its run after maxConsecutiveFailures prompts instead of hammering on.
  const dead = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { sources: [{ endpointId: refused.id }], prompts: { ids: [idOf("ok"), idOf("ok2"), idOf("single")] }, maxConsecutiveFailures: 2 });
  const deadRun = await waitForRun(researcher, ((await dead.json()) as { id: string }).id);
  assert.equal(deadRun.state, "failed");
  assert.match(deadRun.error ?? "", /Stopped after 2 prompts in a row.*ECONNREFUSED/);
  assert.equal(deadRun.progress.next, 2);

  // The server never noticed.
  assert.equal((await researcher.get("/healthz")).status, 200);
  const labeler = await server.newMember(projectId, "labeler");
  const claim = await labeler.client.json("POST", `/api/v1/projects/${projectId}/next-task`);
  assert.equal(claim.status, 200);
});

test("cancelling a run stops it; a run can be listed with its errors", { timeout: 60_000 }, async () => {
  const { researcher, projectId, idOf } = await researcherWithProject(["timeout", "ok"]);
  const ep = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "slow", baseUrl: fakeUrl, model: "m", timeoutMs: 2500, maxRetries: 3 })).json()) as { id: string };
  const started = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { sources: [{ endpointId: ep.id }], prompts: { ids: [idOf("timeout"), idOf("ok")] } })).json()) as { id: string };
  await new Promise((r) => setTimeout(r, 700));
  const cancelled = await researcher.json("POST", `/api/v1/generation-runs/${started.id}/cancel`);
  assert.equal(cancelled.status, 200, await cancelled.clone().text());
  assert.equal(((await cancelled.json()) as { state: string }).state, "cancelled");
  assert.equal((await researcher.json("POST", `/api/v1/generation-runs/${started.id}/cancel`)).status, 409);
  await new Promise((r) => setTimeout(r, 1500));
  const detail = (await (await researcher.get(`/api/v1/generation-runs/${started.id}`)).json()) as Run;
  assert.equal(detail.state, "cancelled");
  assert.equal(detail.progress.next, 0, "nothing was stored after the cancel");
  const listed = (await (await researcher.get(`/api/v1/projects/${projectId}/generation-runs`)).json()) as Array<{ id: string; state: string }>;
  assert.deepEqual(listed.map((r) => [r.id, r.state]), [[started.id, "cancelled"]]);
});

test("bad input is refused with the field named and changes nothing; labelers cannot see endpoints", async () => {
  const { researcher, projectId } = await researcherWithProject(["ok"]);
  const bad = await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "x", baseUrl: "ftp://example.test", model: "m" });
  assert.equal(bad.status, 422);
  assert.deepEqual(((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["baseUrl"]);
  const creds = await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "x", baseUrl: `http://user:${SECRET}@example.test/v1`, model: "m" });
  assert.equal(creds.status, 422);
  const compareOne = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { kind: "compare", sources: [{ endpointId: "1" }], prompts: { withoutCompletions: true } });
  assert.equal(compareOne.status, 422);
  const foreign = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { sources: [{ endpointId: "999999999" }], prompts: { withoutCompletions: true } });
  assert.equal(foreign.status, 422);
  assert.equal((await server.db.selectFrom("external_endpoints").select("id").where("project_id", "=", projectId).execute()).length, 0);
  assert.equal((await server.db.selectFrom("generation_runs").select("id").where("project_id", "=", projectId).execute()).length, 0);
  const labeler = await server.newUser("labeler");
  assert.equal((await labeler.client.get(`/api/v1/projects/${projectId}/external-endpoints`)).status, 403);

  // A stored key is not sent to a new server unless it is typed again: moving the base URL elsewhere
  // without the key is refused and changes nothing; the same server under another path is fine.
  const ep = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "keyed", baseUrl: "http://127.0.0.1:9/v1", model: "m", apiKey: "sk-keyed-0000" })).json()) as { id: string };
  const moved = await researcher.json("PATCH", `/api/v1/external-endpoints/${ep.id}`, { baseUrl: "http://attacker.example.test/v1" });
  assert.equal(moved.status, 422);
  assert.deepEqual(((await moved.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["apiKey"]);
  assert.equal((await server.db.selectFrom("external_endpoints").select("base_url").where("id", "=", ep.id).executeTakeFirstOrThrow()).base_url, "http://127.0.0.1:9/v1");
  assert.equal((await researcher.json("PATCH", `/api/v1/external-endpoints/${ep.id}`, { baseUrl: "http://127.0.0.1:9/openai/v1" })).status, 200);
  assert.equal((await researcher.json("PATCH", `/api/v1/external-endpoints/${ep.id}`, { baseUrl: "http://other.example.test/v1", apiKey: "sk-new-1111" })).status, 200);
  await server.db.deleteFrom("external_endpoints").where("id", "=", ep.id).execute();
});

test("the API key is nowhere: not in logs, API responses, the database or the exports", { timeout: 60_000 }, async () => {
  // Earlier tests registered SECRET, ran with it, tested connections and hit an upstream that echoes it.
  const { researcher, projectId } = await researcherWithProject(["ok"]);
  const ep = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "sec", baseUrl: fakeUrl, model: "m", apiKey: SECRET })).json()) as { id: string };
  await researcher.json("PATCH", `/api/v1/external-endpoints/${ep.id}`, { apiKey: SECRET, name: "sec2" });
  await researcher.get(`/api/v1/external-endpoints/${ep.id}`);
  await researcher.get(`/api/v1/projects/${projectId}/external-endpoints`);
  await researcher.json("POST", `/api/v1/external-endpoints/${ep.id}/test`);
  const run = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { sources: [{ endpointId: ep.id }], prompts: { withoutCompletions: true } })).json()) as { id: string };
  assert.equal((await waitForRun(researcher, run.id)).state, "done");
  await researcher.get(`/api/v1/projects/${projectId}/generation-runs`);
  for (const kind of ["preferences", "sft", "rankings"]) await researcher.get(`/api/v1/projects/${projectId}/exports/${kind}.jsonl`);
  await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.parquet`);
  assert.equal((await researcher.get("/api/v1/openapi.json")).status, 200);
  // The page: register one through its form, test it, look at the list and the run's errors.
  const posted = await researcher.postForm(`/projects/${projectId}/endpoints`, { intent: "create", name: "from-the-page", baseUrl: fakeUrl, model: "m", apiKey: SECRET, timeoutSeconds: "5", maxRetries: "0" });
  assert.equal(posted.status, 200);
  assert.match(await posted.clone().text(), /Endpoint from-the-page registered/);
  const pageEndpoint = await server.db.selectFrom("external_endpoints").select("id").where("project_id", "=", projectId).where("name", "=", "from-the-page").executeTakeFirstOrThrow();
  const pageTest = await researcher.postForm(`/projects/${projectId}/endpoints`, { intent: "test", id: pageEndpoint.id });
  assert.match(await pageTest.clone().text(), /from-the-page answered in \d+ ms/);
  const page = await (await researcher.get(`/projects/${projectId}/endpoints?run=${run.id}`)).text();
  assert.ok(page.includes(`key …${SECRET.slice(-4)}`) && page.includes("from-the-page"));
  const refusedForm = await researcher.postForm(`/projects/${projectId}/endpoints`, { intent: "create", name: "bad", baseUrl: "not a url", model: "m", apiKey: SECRET });
  assert.equal(refusedForm.status, 422);

  // Did the key really travel? The fake upstream saw it (and echoed it in its 500s).
  assert.ok(requestsByCase.get("broken")! > 0);
  assert.ok(responses.length > 20, `recorded ${responses.length} responses`);
  assert.ok(logLines.length > 20, `captured ${logLines.length} log lines`);
  const inResponses = responses.filter((r) => r.includes(SECRET));
  assert.deepEqual(inResponses, [], "an API response contains the key");
  const inLogs = logLines.filter((l) => l.includes(SECRET));
  assert.deepEqual(inLogs, [], "the log contains the key");

  const stored = await server.db.selectFrom("external_endpoints").select("api_key_encrypted").where("api_key_encrypted", "is not", null).execute();
  assert.ok(stored.length >= 3);
  for (const row of stored) {
    assert.ok(!row.api_key_encrypted!.includes(SECRET));
    assert.ok(!Buffer.from(row.api_key_encrypted!.split(".").at(-1)!, "base64url").toString("latin1").includes(SECRET), "the column holds ciphertext, not an encoding of the key");
  }
  // Every table, every row, as text.
  const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(server.db);
  for (const { table_name } of tables.rows) {
    const hits = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table_name)} t where t::text like ${"%" + SECRET + "%"}`.execute(server.db);
    assert.equal(hits.rows[0]!.n, "0", `table ${table_name} holds the key in plain text`);
  }
  // The data directory holds the server key, not the endpoint's key.
  for (const file of fs.readdirSync(dataDir, { recursive: true }) as string[]) {
    const full = path.join(dataDir, file);
    if (fs.statSync(full).isFile()) assert.ok(!fs.readFileSync(full, "latin1").includes(SECRET), `${file} holds the key`);
  }
});

test("two server instances share the queue: each run is executed once, and a dead instance's run resumes where it stopped", { timeout: 90_000 }, async () => {
  const second = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_GENERATION_POLL_MS: "100" });
  try {
    const cases = Array.from({ length: 8 }, (_, i) => `shared${i}`);
    const { researcher, projectId, idOf } = await researcherWithProject(cases);
    const ep = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "shared", baseUrl: fakeUrl, model: "m", apiKey: SECRET })).json()) as { id: string };
    // Four runs of two prompts each, started at once; both instances poll for work.
    const runIds: string[] = [];
    for (let r = 0; r < 4; r++) {
      const started = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, { sources: [{ endpointId: ep.id }], prompts: { ids: [idOf(cases[2 * r]!), idOf(cases[2 * r + 1]!)] } });
      runIds.push(((await started.json()) as { id: string }).id);
    }
    for (const id of runIds) assert.equal((await waitForRun(researcher, id)).state, "done");
    assert.deepEqual(cases.map((c) => requestsByCase.get(c)), cases.map(() => 1), "every prompt was asked exactly once");
    assert.equal((await server.db.selectFrom("tasks").select("id").where("project_id", "=", projectId).where("type", "=", "rank").execute()).length, 8);

    // A run whose instance died after its first prompt: running, lease expired, cursor at 1.
    const resumeCases = ["resume0", "resume1", "resume2"];
    // Its own researcher: the first one is no member of this (members-only) project.
    const { researcher: researcher2, idOf: idOf2, projectId: p2 } = await researcherWithProject(resumeCases);
    const ep2 = (await (await researcher2.json("POST", `/api/v1/projects/${p2}/external-endpoints`, { name: "resume", baseUrl: fakeUrl, model: "m" })).json()) as { id: string };
    const spec = { sources: [{ endpointId: ep2.id }], promptIds: resumeCases.map(idOf2), k: 2, minCompletions: 2, decoding: {}, maxConsecutiveFailures: 10 };
    const orphan = await server.db
      .insertInto("generation_runs")
      .values({
        project_id: p2, kind: "rank", spec: JSON.stringify(spec), state: "running", lease_owner: "server-that-died", lease_expires_at: new Date(Date.now() - 1000),
        progress: JSON.stringify({ prompts: 3, next: 1, completions: 2, tasks: 1, failedRequests: 0, skippedPrompts: 0 }),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    const resumed = await waitForRun(researcher2, orphan.id);
    assert.equal(resumed.state, "done");
    assert.deepEqual(resumed.progress, { prompts: 3, next: 3, completions: 6, tasks: 3, failedRequests: 0, skippedPrompts: 0 });
    assert.deepEqual(resumeCases.map((c) => requestsByCase.get(c) ?? 0), [0, 1, 1], "the finished prompt is not asked again");
  } finally {
    await second.stop();
  }
});

test("a run whose endpoint was removed fails with that reason instead of hanging", { timeout: 30_000 }, async () => {
  const { researcher, projectId, idOf } = await researcherWithProject(["removed"]);
  const ep = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, { name: "short-lived", baseUrl: fakeUrl, model: "m" })).json()) as { id: string };
  assert.equal((await researcher.json("DELETE", `/api/v1/external-endpoints/${ep.id}`)).status, 204);
  const spec = { sources: [{ endpointId: ep.id }], promptIds: [idOf("removed")], k: 2, minCompletions: 2, decoding: {}, maxConsecutiveFailures: 10 };
  const run = await server.db.insertInto("generation_runs").values({ project_id: projectId, kind: "rank", spec: JSON.stringify(spec) }).returning("id").executeTakeFirstOrThrow();
  const finished = await waitForRun(researcher, run.id);
  assert.equal(finished.state, "failed");
  assert.match(finished.error ?? "", /was removed after the run was started/);
  assert.equal(requestsByCase.get("removed"), undefined);
});
