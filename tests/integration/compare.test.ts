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

test("A/B compare: random sides per person, stored by completion, exported as winner ≻ loser with the strength", async () => {
  const created = await researcher.json("POST", "/api/v1/projects", { name: "A/B" });
  const projectId = ((await created.json()) as { id: string }).id;
  const content = JSON.stringify({ prompt: "Name a prime.", completions: [{ text: "7", model: "policy-v2" }, { text: "8", model: "policy-v1" }] });
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true, purpose: "compare" });
  assert.equal(imported.status, 200);
  assert.equal(((await imported.json()) as { committed: { tasks: { compare: number } } }).committed.tasks.compare, 1);

  // Three people (the default compare overlap); the third calls it a tie.
  const choices: Array<"better" | "tie"> = ["better", "better", "tie"];
  for (const [i, kind] of choices.entries()) {
    const person = await server.newMember(projectId, "labeler");
    const claim = (await (await person.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string };
    const view = (await (await person.client.json("GET", `/api/v1/assignments/${claim.assignmentId}`)).json()) as { taskType: string; completions: Array<{ label: string; text: string }> };
    assert.equal(view.taskType, "compare");
    const sideOfSeven = view.completions.find((c) => c.text === "7")!.label;
    const payload = kind === "tie" ? { choice: "tie" } : { choice: sideOfSeven, strength: 2 };
    const bad = await person.client.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `compare-bad-${i}-${claim.assignmentId}`, payload: { choice: "tie", strength: 3 } });
    assert.equal(bad.status, 422, "a tie has no strength");
    const ok = await person.client.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `compare-ok-${i}-${claim.assignmentId}`, payload });
    assert.equal(ok.status, 200, await ok.clone().text());
  }

  const lines = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines, [
    { prompt: "Name a prime.", chosen: "7", rejected: "8", margin: 2, weight: 1 },
    { prompt: "Name a prime.", chosen: "7", rejected: "8", margin: 2, weight: 1 },
  ]);
});

test("a compare import needs two completions from two named, different models", async () => {
  const created = await researcher.json("POST", "/api/v1/projects", { name: "A/B lines" });
  const projectId = ((await created.json()) as { id: string }).id;
  const content = [
    JSON.stringify({ prompt: "Q", completions: [{ text: "a", model: "m1" }, { text: "b", model: "m1" }] }),
    JSON.stringify({ prompt: "R", completions: ["only one"], model: "m1" }),
  ].join("\n");
  const refused = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true, purpose: "compare" });
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { errors: Array<{ path: string; message: string }> };
  assert.deepEqual(problem.errors.map((e) => e.path), ["line 1", "line 2"]);
});
