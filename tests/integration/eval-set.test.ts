/**
 * The held-out eval set over real HTTP (issue #11): prompts join it at import or by selection,
 * never become labeling tasks, never appear in a training export, and come back out with
 * `heldOut=only`; a round's prompt split partitions the preference export deterministically.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { takeTask } from "../support/take-task.ts";
import { inEvalSplit } from "../../server/labeling/eval-split.ts";

let server: TestServer;
let researcher: HttpClient;
let labeler: HttpClient;
let labelerId = "";
let projectId = "";

const lines = async (client: HttpClient, url: string) => {
  const response = await client.get(url);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
};
// A conversational prompt is a list of messages (its last is the question); a standard one is a string.
const promptTexts = (records: Array<Record<string, unknown>>) =>
  records.map((r) => {
    const prompt = (r.prompt ?? r.messages) as string | Array<{ content: string }>;
    return typeof prompt === "string" ? prompt : prompt.at(-1)!.content;
  }).sort();
const evalSet = async () => (await (await researcher.get(`/api/v1/projects/${projectId}/eval-set`)).json()) as { count: number; withReference: number | null; labeled: number; prompts: Array<{ id: string; text: string }> };

before(async () => {
  server = await startTestServer();
  researcher = (await server.newUser("researcher")).client;
  const created = await researcher.json("POST", "/api/v1/projects", {
    name: "Held out", settings: { k: 2, overlap: { rank: 1, demonstrate: 1 }, goldRate: 0, checker: { kind: "numeric" } },
  });
  projectId = ((await created.json()) as { id: string }).id;
  const person = await server.newMember(projectId, "labeler");
  labeler = person.client;
  labelerId = person.id;
});
after(() => server.stop());

test("an import puts split=eval records in the eval set: stored with metadata, no task, counted in the report", async () => {
  const records = [
    { prompt: "What is 2 + 2?", completions: ["4", "5"], metadata: { answer: 4 } },
    { prompt: "What is 3 + 3?", metadata: { answer: 6 }, split: "eval" },
    { prompt: "What is 4 + 4?", metadata: { answer: 8 }, split: "eval" },
    { prompt: "What is 5 + 5?", split: "eval" },
    { prompt: "What is 6 + 6?", metadata: { answer: 12 }, split: "train" },
  ];
  const response = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(response.status, 200, await response.clone().text());
  const report = (await response.json()) as { committed: { prompts: number; heldOut: number; tasks: Record<string, number> } };
  assert.equal(report.committed.prompts, 5);
  assert.equal(report.committed.heldOut, 3);
  assert.deepEqual(report.committed.tasks, { demonstrate: 1, rank: 1, review: 0, compare: 0 });

  const summary = await evalSet();
  assert.equal(summary.count, 3);
  assert.equal(summary.withReference, 2, "5 + 5 has no answer for the numeric checker");
  assert.deepEqual(summary.prompts.map((p) => p.text), ["What is 3 + 3?", "What is 4 + 4?", "What is 5 + 5?"]);

  // The queue serves only the two training prompts.
  const seen: string[] = [];
  for (let task = await takeTask(labeler, projectId); task; task = await takeTask(labeler, projectId)) {
    seen.push(task.messages.at(-1)!.content);
    const payload = task.taskType === "rank" ? { ranking: { tiers: task.completions.map((c) => [c.id]) } } : { text: "The answer is 12." };
    const submitted = await labeler.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `eval-set-${task.assignmentId}`, payload });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
  assert.deepEqual(seen.sort(), ["What is 2 + 2?", "What is 6 + 6?"]);
});

test("training exports leave the eval set out; heldOut=only exports it with its reference answers", async () => {
  const prompts = await lines(researcher, `/api/v1/projects/${projectId}/exports/trl/prompts.jsonl`);
  assert.deepEqual(promptTexts(prompts), ["What is 2 + 2?", "What is 6 + 6?"]);
  const held = await lines(researcher, `/api/v1/projects/${projectId}/exports/trl/prompts.jsonl?heldOut=only`);
  assert.deepEqual(promptTexts(held), ["What is 3 + 3?", "What is 4 + 4?", "What is 5 + 5?"]);
  assert.ok(JSON.stringify(held).includes('"answer":8'), "the metadata (reference answers) travels with them");
  const rejected = await researcher.get(`/api/v1/projects/${projectId}/exports/trl/prompts.jsonl?heldOut=maybe`);
  assert.equal(rejected.status, 422);
  assert.match(await rejected.text(), /heldOut/);
});

test("holding out a labeled prompt closes its tasks and removes its labels from training exports; releasing it reopens them", async () => {
  // A fresh prompt with an open ranking task, and the labeled 2 + 2.
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "What is 7 + 7?", completions: ["14", "15"], metadata: { answer: 14 } }), commit: true });
  assert.equal(imported.status, 200);
  const ids = Object.fromEntries((await server.db.selectFrom("prompts").select(["id", "messages"]).where("project_id", "=", projectId).execute()).map((p) => [p.messages.at(-1)!.content, p.id]));
  assert.equal((await lines(researcher, `/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).length, 1, "2 + 2's ranking");

  const added = await researcher.json("POST", `/api/v1/projects/${projectId}/eval-set`, { add: [ids["What is 2 + 2?"], ids["What is 7 + 7?"]] });
  assert.equal(added.status, 200, await added.clone().text());
  const body = (await added.json()) as { added: number; count: number; labeled: number };
  assert.deepEqual([body.added, body.count, body.labeled], [2, 5, 1]);
  assert.equal((await lines(researcher, `/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).length, 0, "held out: no longer trained on");
  assert.equal(await takeTask(labeler, projectId), null, "7 + 7's open task is closed");

  const removed = await researcher.json("POST", `/api/v1/projects/${projectId}/eval-set`, { remove: [ids["What is 7 + 7?"], ids["What is 5 + 5?"]] });
  assert.equal(removed.status, 200, await removed.clone().text());
  assert.equal(((await removed.json()) as { removed: number }).removed, 2);
  const reopened: string[] = [];
  for (let task = await takeTask(labeler, projectId); task; task = await takeTask(labeler, projectId)) {
    reopened.push(`${task.taskType}:${task.messages.at(-1)!.content}`);
    await labeler.json("POST", `/api/v1/assignments/${task.assignmentId}/skip`, { reason: "test" });
  }
  assert.deepEqual(reopened.sort(), ["demonstrate:What is 5 + 5?", "rank:What is 7 + 7?"], "the closed task reopens; an eval-only import gets the task an import would make");
});

test("a change naming a prompt of another project, or adding and removing the same one, changes nothing", async () => {
  const before = await evalSet();
  const other = ((await (await researcher.json("POST", "/api/v1/projects", { name: "Other" })).json()) as { id: string }).id;
  await server.addMembers(other, [{ id: labelerId }]);
  await researcher.json("POST", `/api/v1/projects/${other}/imports`, { content: JSON.stringify({ prompt: "elsewhere" }), commit: true });
  const foreign = (await server.db.selectFrom("prompts").select("id").where("project_id", "=", other).executeTakeFirstOrThrow()).id;
  const mine = before.prompts[0]!.id;
  for (const [body, path] of [
    [{ add: [foreign] }, "add"],
    [{ add: [mine], remove: [mine] }, "remove"],
    [{ sample: { share: 0.9 } }, "sample.share"],
    [{ sample: { share: 0.1, count: 2 } }, "sample.share"],
    [{}, "add"],
  ] as const) {
    const response = await researcher.json("POST", `/api/v1/projects/${projectId}/eval-set`, body);
    assert.equal(response.status, 422, JSON.stringify(body));
    const problem = (await response.json()) as { errors?: Array<{ path: string }> };
    assert.ok(problem.errors?.some((e) => e.path === path), `${JSON.stringify(body)} names ${path}: ${JSON.stringify(problem)}`);
  }
  assert.deepEqual(await evalSet(), before);
  const labelerTry = await labeler.json("POST", `/api/v1/projects/${projectId}/eval-set`, { add: [mine] });
  assert.equal(labelerTry.status, 403);
});

test("a seeded sample holds out the same unlabeled prompts every time, never labeled ones", async () => {
  const project = ((await (await researcher.json("POST", "/api/v1/projects", { name: "Sampled", settings: { goldRate: 0 } })).json()) as { id: string }).id;
  await server.addMembers(project, [{ id: labelerId }]);
  const content = Array.from({ length: 40 }, (_, i) => JSON.stringify({ prompt: `Question number ${i} about sampling ${"xyz".repeat(i % 7)}`, metadata: { answer: i } })).join("\n");
  assert.equal((await researcher.json("POST", `/api/v1/projects/${project}/imports`, { content, commit: true, includeNearDuplicates: true })).status, 200);
  const first = await takeTask(labeler, project);
  await labeler.json("POST", `/api/v1/assignments/${first!.assignmentId}/submit`, { idempotencyKey: `sampled-${first!.assignmentId}`, payload: { text: "an answer" } });

  const sample = async () => (await (await researcher.json("POST", `/api/v1/projects/${project}/eval-set`, { sample: { count: 10, seed: 7 } })).json()) as { added: number };
  assert.equal((await sample()).added, 10);
  const held = (await server.db.selectFrom("prompts").select("id").where("project_id", "=", project).where("held_out", "=", true).orderBy("id").execute()).map((r) => r.id);
  assert.ok(!held.some((id) => id === first!.taskId), "the labeled prompt is never drawn");
  // Release them and draw again with the same seed: the same ten.
  await researcher.json("POST", `/api/v1/projects/${project}/eval-set`, { remove: held });
  assert.equal((await sample()).added, 10);
  const again = (await server.db.selectFrom("prompts").select("id").where("project_id", "=", project).where("held_out", "=", true).orderBy("id").execute()).map((r) => r.id);
  assert.deepEqual(again, held);
});

test("promptSplit=train|eval partitions the preference export by a seeded hash of the prompt id (same rule in SQL and JS)", async () => {
  const project = ((await (await researcher.json("POST", "/api/v1/projects", { name: "Split", settings: { k: 2, overlap: { rank: 1 }, goldRate: 0 } })).json()) as { id: string }).id;
  await server.addMembers(project, [{ id: labelerId }]);
  const content = Array.from({ length: 30 }, (_, i) => JSON.stringify({ prompt: `Pick the better answer, case ${i} ${"ab".repeat(i)}`, completions: [`good ${i}`, `bad ${i}`] })).join("\n");
  assert.equal((await researcher.json("POST", `/api/v1/projects/${project}/imports`, { content, commit: true, includeNearDuplicates: true })).status, 200);
  for (let task = await takeTask(labeler, project); task; task = await takeTask(labeler, project)) {
    const submitted = await labeler.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `split-key-${task.assignmentId}`, payload: { ranking: { tiers: task.completions.map((c) => [c.id]) } } });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
  const idOf = new Map((await server.db.selectFrom("prompts").select(["id", "messages"]).where("project_id", "=", project).execute()).map((p) => [p.messages.at(-1)!.content, p.id]));
  const query = "format=standard&promptSplitSeed=round-9&promptSplitShare=0.3";
  const all = promptTexts(await lines(researcher, `/api/v1/projects/${project}/exports/preferences.jsonl?format=standard`));
  const train = promptTexts(await lines(researcher, `/api/v1/projects/${project}/exports/preferences.jsonl?${query}&promptSplit=train`));
  const evalSide = promptTexts(await lines(researcher, `/api/v1/projects/${project}/exports/preferences.jsonl?${query}&promptSplit=eval`));
  assert.equal(all.length, 30);
  assert.deepEqual([...train, ...evalSide].sort(), all, "the two sides partition the pairs");
  assert.ok(evalSide.length > 0 && train.length > evalSide.length, `${evalSide.length} eval, ${train.length} train`);
  for (const text of evalSide) assert.ok(inEvalSplit(idOf.get(text)!, "round-9", 0.3), text);
  for (const text of train) assert.ok(!inEvalSplit(idOf.get(text)!, "round-9", 0.3), text);
});
