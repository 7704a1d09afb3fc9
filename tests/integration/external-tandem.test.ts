/**
 * External models against Tandem's own OpenAI-compatible endpoint over real HTTP: a tiny policy
 * is registered, served by /v1/chat/completions (the trainer's inference worker), and reached
 * the way any external model is — a registered endpoint with a base URL and an API key (a
 * researcher API token). One endpoint asks plainly, one streams (server-sent events); a
 * generation run fills ranking tasks from both, a compare run pits an endpoint against the
 * registered policy, and a labeler gets and ranks the task.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { registerTinyPolicy } from "../support/tiny-policy.ts";

let server: TestServer;
let dataDir = "";
before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-external-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_GENERATION_POLL_MS: "200" });
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

type Run = { state: string; error: string | null; progress: Record<string, number>; errors: Array<{ kind: string; message: string; promptId: string }> };
async function waitForRun(client: HttpClient, runId: string, timeoutMs = 240_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = (await (await client.get(`/api/v1/generation-runs/${runId}`)).json()) as Run;
    if (!["queued", "running"].includes(run.state)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.state}: ${JSON.stringify(run.progress)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test("ranking and compare tasks filled from Tandem's /v1 endpoint (plain and streaming) reach a labeler", { timeout: 400_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const settings = projectSettingsSchema.parse({ k: 2, overlap: { rank: 1, compare: 1 }, taskWeights: { demonstrate: 0 } });
  const projectId = ((await (await researcher.json("POST", "/api/v1/projects", { name: "External", settings })).json()) as { id: string }).id;
  const content = ["What is 2 + 3?", "What is 7 - 4?", "What is 3 × 3?"].map((prompt) => JSON.stringify({ prompt })).join("\n");
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  const prompts = await server.db.selectFrom("prompts").select("id").where("project_id", "=", projectId).orderBy("id").execute();
  assert.equal(prompts.length, 3);

  const modelId = await registerTinyPolicy(server.db, dataDir, projectId);
  const apiKey = await server.newToken("researcher");
  const register = async (name: string, stream: boolean) => {
    const response = await researcher.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, {
      name, baseUrl: `${server.url}/v1`, model: `tandem-${modelId}`, apiKey, stream, decoding: { max_tokens: 8, temperature: 1 }, timeoutMs: 120_000, maxRetries: 1,
    });
    assert.equal(response.status, 201, await response.clone().text());
    const body = (await response.json()) as { id: string; hasApiKey: boolean; apiKeyHint: string };
    assert.equal(body.hasApiKey, true);
    assert.ok(!JSON.stringify(body).includes(apiKey));
    return body.id;
  };
  const plain = await register("tandem-plain", false);
  const streaming = await register("tandem-stream", true);

  for (const id of [plain, streaming]) {
    const tested = (await (await researcher.json("POST", `/api/v1/external-endpoints/${id}/test`)).json()) as { ok: boolean; model: string; error: unknown };
    assert.equal(tested.ok, true, JSON.stringify(tested));
    assert.equal(tested.model, `tandem-${modelId}`);
  }

  // Ranking: K = 4 from the two endpoints (two each), at least 2 distinct needed, for the first two prompts.
  const started = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, {
    kind: "rank", sources: [{ endpointId: plain }, { endpointId: streaming }], prompts: { ids: [prompts[0]!.id, prompts[1]!.id] }, k: 4, minCompletions: 2,
  });
  assert.equal(started.status, 201, await started.clone().text());
  const rankRun = await waitForRun(researcher, ((await started.json()) as { id: string }).id);
  assert.equal(rankRun.state, "done", JSON.stringify(rankRun));
  assert.equal(rankRun.progress.tasks, 2, JSON.stringify(rankRun));

  const tasks = await server.db.selectFrom("tasks").select(["id", "prompt_id", "completion_ids"]).where("project_id", "=", projectId).where("type", "=", "rank").execute();
  assert.equal(tasks.length, 2);
  const completions = await server.db.selectFrom("completions").select(["id", "model_name", "model_id", "decoding", "text"]).where("id", "in", tasks.flatMap((t) => t.completion_ids)).execute();
  const names = new Set(completions.map((c) => c.model_name));
  assert.deepEqual([...names].sort(), [`endpoint:tandem-plain/tandem-${modelId}`, `endpoint:tandem-stream/tandem-${modelId}`]);
  const streamed = completions.filter((c) => c.decoding?.["streamed"] === true);
  assert.ok(streamed.length >= 1 && streamed.length < completions.length, "both the streamed and the plain endpoint supplied completions");
  assert.ok(streamed.every((c) => c.model_name === `endpoint:tandem-stream/tandem-${modelId}`), "what arrived as server-sent events came from the streaming endpoint");
  for (const c of completions) {
    assert.equal(typeof c.decoding?.["seed"], "number", "the seed is stored with each completion");
    assert.equal(c.decoding?.["max_tokens"], 8);
    assert.equal(c.model_id, null);
  }

  // Compare: the streaming endpoint (A) against the registered policy itself (B), on the third prompt.
  const compareStart = await researcher.json("POST", `/api/v1/projects/${projectId}/generation-runs`, {
    kind: "compare", sources: [{ endpointId: streaming }, { modelId }], prompts: { ids: [prompts[2]!.id] }, decoding: { max_tokens: 8 },
  });
  assert.equal(compareStart.status, 201, await compareStart.clone().text());
  const compareRun = await waitForRun(researcher, ((await compareStart.json()) as { id: string }).id);
  assert.equal(compareRun.state, "done", JSON.stringify(compareRun));
  const compare = await server.db.selectFrom("tasks").select("completion_ids").where("project_id", "=", projectId).where("type", "=", "compare").execute();
  // A near-duplicate pair makes no task (recorded as such); otherwise one task with A and B.
  if (compareRun.progress.tasks === 1) {
    const pair = await server.db.selectFrom("completions").select(["model_name", "model_id"]).where("id", "in", compare[0]!.completion_ids).orderBy("id").execute();
    assert.deepEqual(pair.map((p) => p.model_id), [null, modelId]);
  } else assert.match(compareRun.errors[0]!.message, /near-duplicate/);

  // The ranking tasks reach a labeler's queue and can be ranked (the compare task too, judged a tie; the imported prompts' demonstrations are written).
  const labeler = await server.newMember(projectId, "labeler");
  const seen: string[] = [];
  for (;;) {
    const claim = (await (await labeler.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
    if (!claim) break;
    const view = (await (await labeler.client.get(`/api/v1/assignments/${claim.assignmentId}`)).json()) as { taskType: string; completions: Array<{ id: string; text: string }> };
    seen.push(view.taskType);
    if (view.taskType === "rank") assert.ok(view.completions.every((c) => completions.some((d) => d.id === c.id)), "the task shows the endpoint's completions");
    const payload = view.taskType === "rank" ? { ranking: { tiers: view.completions.map((c) => [c.id]) } } : view.taskType === "compare" ? { choice: "tie" } : { text: "Five." };
    const submitted = await labeler.client.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `external-key-${claim.assignmentId}`, payload, timings: {} });
    assert.equal(submitted.status, 200, await submitted.clone().text());
    assert.ok(seen.length <= 6, "3 demonstrations, 2 rankings and at most 1 compare");
  }
  assert.deepEqual(seen.filter((t) => t === "rank").length, 2, `the labeler got ${seen.join(", ")}`);
});
