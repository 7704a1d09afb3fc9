import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
before(async () => {
  server = await startTestServer();
  researcher = (await server.newUser("researcher")).client;
});
after(() => server.stop());

async function projectWith(purpose: "prompts" | "qa", lines: unknown[]): Promise<string> {
  const created = await researcher.json("POST", "/api/v1/projects", { name: `Review ${Date.now()}` });
  const projectId = ((await created.json()) as { id: string }).id;
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: lines.map((l) => JSON.stringify(l)).join("\n"), commit: true, purpose });
  assert.equal(imported.status, 200, await imported.clone().text());
  return projectId;
}

async function claim(client: HttpClient, projectId: string) {
  const response = await client.json("POST", `/api/v1/projects/${projectId}/next-task`);
  const body = (await response.json()) as { assignmentId: string } | null;
  if (!body) return null;
  return (await (await client.json("GET", `/api/v1/assignments/${body.assignmentId}`)).json()) as { assignmentId: string; taskType: string; isQa: boolean };
}

const submit = (client: HttpClient, assignmentId: string, payload: unknown) =>
  client.json("POST", `/api/v1/assignments/${assignmentId}/submit`, { idempotencyKey: `review-${assignmentId}-${Math.random()}`, payload });

test("a reviewer's edit of a synthetic Q&A yields the corrected SFT example and corrected ≻ original", async () => {
  const projectId = await projectWith("qa", [
    { prompt: "What is the capital of Australia?", completions: ["Sydney is the capital of Australia."] },
    { prompt: "What is 9 squared?", completions: ["81"] },
  ]);
  const labeler = await server.newMember(projectId, "labeler");
  assert.equal(await claim(labeler.client, projectId), null, "labelers never get review tasks");

  const reviewer = await server.newMember(projectId, "reviewer");
  for (;;) {
    const task = await claim(reviewer.client, projectId);
    if (!task) break;
    assert.equal(task.taskType, "review");
    assert.equal(task.isQa, true);
    const view = (await (await reviewer.client.json("GET", `/api/v1/assignments/${task.assignmentId}`)).json()) as { messages: Array<{ content: string }> };
    if (view.messages[0]!.content.includes("Australia")) {
      const unchanged = await submit(reviewer.client, task.assignmentId, { decision: "edit", editedText: "Sydney is the capital of Australia.", reasons: ["factual_error"] });
      assert.equal(unchanged.status, 422, "an edit must change something");
      const noReason = await submit(reviewer.client, task.assignmentId, { decision: "edit", editedText: "Canberra is the capital of Australia." });
      assert.equal(noReason.status, 422, "an edit needs a reason");
      const ok = await submit(reviewer.client, task.assignmentId, { decision: "edit", editedText: "Canberra is the capital of Australia.", reasons: ["factual_error"] });
      assert.equal(ok.status, 200, await ok.clone().text());
    } else {
      assert.equal((await submit(reviewer.client, task.assignmentId, { decision: "accept" })).status, 200);
    }
  }

  const sft = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/sft.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string }> });
  const answers = sft.map((r) => r.messages.at(-1)!.content).sort();
  assert.deepEqual(answers, ["81", "Canberra is the capital of Australia."]);
  const prefs = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).text()).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(prefs, [{ prompt: "What is the capital of Australia?", chosen: "Canberra is the capital of Australia.", rejected: "Sydney is the capital of Australia.", margin: 1, weight: 1 }]);
});

test("a prompt the content filter held back reaches labelers only after a reviewer accepts it", async () => {
  const projectId = await projectWith("prompts", [
    { prompt: "Email me at someone@example.com with the answer" },
    { prompt: "Call me on +44 20 7946 0958 about this" },
  ]);
  const labeler = await server.newMember(projectId, "labeler");
  assert.equal(await claim(labeler.client, projectId), null);
  // Both review tasks are claimed before either is decided: once one is accepted, its new
  // labeling task could otherwise be the next thing a reviewer is given.
  const reviewer = await server.newMember(projectId, "reviewer");
  const secondReviewer = await server.newMember(projectId, "reviewer");
  const first = (await claim(reviewer.client, projectId))!;
  const second = (await claim(secondReviewer.client, projectId))!;
  assert.equal(first.taskType, "review");
  assert.equal(second.taskType, "review");
  assert.equal(first.isQa, false);
  const edit = await submit(reviewer.client, first.assignmentId, { decision: "edit", editedText: "x", reasons: ["other"] });
  assert.equal(edit.status, 422, "held-back prompts are accepted or rejected, not edited");
  const accepted = await submit(reviewer.client, first.assignmentId, { decision: "accept" });
  assert.equal(accepted.status, 200, await accepted.clone().text());
  assert.equal((await submit(secondReviewer.client, second.assignmentId, { decision: "reject", reasons: ["unsafe"] })).status, 200);

  const forLabeler = await claim(labeler.client, projectId);
  assert.equal(forLabeler?.taskType, "demonstrate", "the accepted prompt became a labeling task");
  const statuses = await server.db.selectFrom("prompts").select("status").where("project_id", "=", projectId).orderBy("status").execute();
  assert.deepEqual(statuses.map((s) => s.status), ["active", "rejected"]);
});

test("a Q&A import needs exactly one answer per question; the report names the line", async () => {
  const created = await researcher.json("POST", "/api/v1/projects", { name: "QA lines" });
  const projectId = ((await created.json()) as { id: string }).id;
  const content = [JSON.stringify({ prompt: "Q1", completions: ["A1"] }), JSON.stringify({ prompt: "Q2", completions: ["A", "B"] })].join("\n");
  const refused = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true, purpose: "qa" });
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { errors: Array<{ path: string; message: string }> };
  assert.deepEqual(problem.errors.map((e) => e.path), ["line 2"]);
  assert.match(problem.errors[0]!.message, /exactly one answer/);
});
