/**
 * The labeling loop over real HTTP: a researcher creates a project, labelers take tasks
 * from the queue, rank with ties and write demonstrations, and the exports contain exactly
 * the pairs and examples implied by what was submitted.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { insertPrompts } from "../../server/labeling/prompts.server.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());



test("rank with ties → preference export holds exactly the implied pairs; demonstrations → SFT export", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", {
    name: "Arithmetic",
    guidelines: "Prefer correct answers.",
    settings: projectSettingsSchema.parse({ k: 3, overlap: { rank: 2, demonstrate: 1 } }),
  });
  assert.equal(created.status, 201);
  const projectId = ((await created.json()) as { id: string }).id;
  const project = await getProject(server.db, projectId);
  await server.db.transaction().execute((trx) =>
    insertPrompts(trx, projectId, project.settings, [
      {
        messages: [{ role: "user", content: "What is 2 + 2?" }],
        completions: [{ text: "4", model: "m" }, { text: "5", model: "m" }, { text: "four", model: "m" }],
        source: null, metadata: {}, contentHash: `flow-a-${Date.now()}`, minhash: "", status: "active",
      },
      { messages: [{ role: "user", content: "Say hi." }], completions: [], source: null, metadata: {}, contentHash: `flow-b-${Date.now()}`, minhash: "", status: "active" },
    ], null),
  );

  const alice = await server.newMember(projectId, "labeler");
  const bob = await server.newMember(projectId, "labeler");
  const expected = new Set<string>();
  for (const labeler of [alice, bob]) {
    for (;;) {
      const view = await takeTask(labeler.client, projectId);
      if (!view) break;
      const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
      const payload =
        view.taskType === "rank"
          ? // "4" and "four" tie at the top; "5" is worse than both.
            { ranking: { tiers: [[byText["4"], byText["four"]], [byText["5"]]] }, rationale: "5 is wrong" }
          : { text: "Hi there!" };
      const response = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
        idempotencyKey: `flow-${view.assignmentId}-key`,
        payload,
        timings: { msOnTask: 3000, orderChanged: true },
      });
      assert.equal(response.status, 200, await response.clone().text());
      if (view.taskType === "rank") {
        expected.add(JSON.stringify(["4", "5"]));
        expected.add(JSON.stringify(["four", "5"]));
      }
    }
  }

  const prefs = await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`);
  assert.equal(prefs.status, 200);
  assert.match(prefs.headers.get("content-type") ?? "", /ndjson/);
  const lines = (await prefs.text()).trim().split("\n").map((l) => JSON.parse(l) as { prompt: string; chosen: string; rejected: string; margin: number; weight: number });
  // Two labelers × two pairs (the tie gives none).
  assert.equal(lines.length, 4);
  for (const line of lines) {
    assert.equal(line.prompt, "What is 2 + 2?");
    assert.ok(expected.has(JSON.stringify([line.chosen, line.rejected])), JSON.stringify(line));
    assert.equal(line.margin, 1);
    assert.equal(line.weight, 0.5);
  }

  const conversational = await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl`);
  const first = JSON.parse((await conversational.text()).split("\n")[0]!) as { prompt: unknown; chosen: unknown };
  assert.deepEqual(first.prompt, [{ role: "user", content: "What is 2 + 2?" }]);
  assert.equal((first.chosen as Array<{ role: string }>)[0]!.role, "assistant");

  const sft = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/sft.jsonl`)).text()).trim().split("\n");
  assert.equal(sft.length, 1);
  assert.deepEqual(JSON.parse(sft[0]!), { messages: [{ role: "user", content: "Say hi." }, { role: "assistant", content: "Hi there!" }] });

  const raw = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/rankings.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { labeler: string; shown_order: string[]; rationale: string });
  assert.equal(raw.length, 2);
  assert.match(raw[0]!.labeler, /^labeler-[0-9a-f]{12}$/);
  assert.notEqual(raw[0]!.labeler, raw[1]!.labeler);
  assert.ok(!raw.some((r) => r.labeler === alice.id || r.labeler === bob.id), "pseudonymized");
  assert.equal(raw[0]!.rationale, "5 is wrong");

  const onlyAlice = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?labeler=${alice.id}`)).text()).trim().split("\n");
  assert.equal(onlyAlice.length, 2);
  const badFilter = await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?since=yesterday`);
  assert.equal(badFilter.status, 422);
});

test("the task page renders the prompt and completions with XSS payloads inert", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: `<img src=x onerror=alert(1)>`, guidelines: `<script>alert("g")</script> [click](javascript:alert(1))` });
  const projectId = ((await created.json()) as { id: string }).id;
  const project = await getProject(server.db, projectId);
  const payload = `<script>alert("p")</script><img src=x onerror="alert(2)">`;
  await server.db.transaction().execute((trx) =>
    insertPrompts(trx, projectId, project.settings, [
      { messages: [{ role: "user", content: payload }], completions: [{ text: payload, model: null }, { text: "**bold**", model: null }], source: null, metadata: {}, contentHash: `xss-${Date.now()}`, minhash: "", status: "active" },
    ], null),
  );
  const labeler = await server.newMember(projectId, "labeler");
  const view = await takeTask(labeler.client, projectId);
  assert.ok(view);
  const html = await (await labeler.client.get(`/tasks/${view.assignmentId}`, { accept: "text/html" })).text();
  assert.ok(!html.includes('<script>alert("p")'), "no live script tag from the prompt");
  assert.ok(!/<img[^>]*onerror/i.test(html), "no live onerror attribute");
  assert.ok(!html.includes('href="javascript:'), "no javascript: link");
  assert.ok(html.includes("<strong>bold</strong>"), "markdown still renders");
});

test("a continued demonstration: validated turn by turn, exported with every assistant turn", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Multi-turn" });
  const projectId = ((await created.json()) as { id: string }).id;
  const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "Teach me a word in Spanish." }), commit: true });
  assert.equal(imported.status, 200);
  const labeler = await server.newMember(projectId, "labeler");
  const view = await takeTask(labeler.client, projectId);
  assert.equal(view?.taskType, "demonstrate");
  const submit = (payload: unknown, key: string) =>
    labeler.client.json("POST", `/api/v1/assignments/${view!.assignmentId}/submit`, { idempotencyKey: `multi-turn-${key}-${view!.assignmentId}`, payload });

  const dangling = await submit({ text: "Hola: hello.", continuation: [{ role: "user", content: "Another?" }] }, "dangling");
  assert.equal(dangling.status, 422);
  const problem = (await dangling.json()) as { errors: Array<{ path: string; message: string }> };
  assert.deepEqual(problem.errors, [{ path: "continuation.0", message: "the conversation must end with the assistant's reply to the last user message" }]);

  const continuation = [
    { role: "user", content: "Another?" },
    { role: "assistant", content: "Gracias: thank you." },
    { role: "user", content: "One more." },
    { role: "assistant", content: "Adiós: goodbye." },
  ];
  const ok = await submit({ text: "Hola: hello.", continuation }, "ok");
  assert.equal(ok.status, 200, await ok.clone().text());
  const sft = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/sft.jsonl`)).text()).trim().split("\n");
  assert.deepEqual(JSON.parse(sft[0]!), {
    messages: [{ role: "user", content: "Teach me a word in Spanish." }, { role: "assistant", content: "Hola: hello." }, ...continuation],
  });
});
