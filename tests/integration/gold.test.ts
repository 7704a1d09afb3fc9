/**
 * Gold tasks over real HTTP: imported with a known answer, mixed into every labeler's queue,
 * never showing the answer, never completing, left out of training exports, and measured on
 * the quality dashboard as each labeler's agreement with gold.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { qualityReport } from "../../server/labeling/quality-report.server.ts";
import { takeTask, type TaskView } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

type View = TaskView;


/** Ranks the shown completions by the order of `texts` (best first). */
async function rank(client: HttpClient, view: View, texts: string[]): Promise<void> {
  const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
  const response = await client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
    idempotencyKey: `gold-key-${view.assignmentId}`,
    payload: { ranking: { tiers: texts.map((text) => [byText[text]]) } },
  });
  assert.equal(response.status, 200, await response.clone().text());
}

test("gold tasks: imported with the answer, served first at goldRate 1, answer hidden, never complete, measured, not exported as pairs", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Calibration", settings: { k: 3, overlap: { rank: 2 }, goldRate: 1 } });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;

  const content = [
    JSON.stringify({ prompt: "Arithmetic: 2 + 2?", completions: ["4", "four-ish", "5"], gold: [1, 2, 3] }),
    JSON.stringify({ prompt: "Ordinary: capital of France?", completions: ["Paris", "Lyon", "Nice"] }),
    JSON.stringify({ prompt: "Bad answer key", completions: ["a", "b"], gold: [1] }),
    JSON.stringify({ prompt: "Too many for K", completions: ["a", "b", "c", "d"], gold: [1, 2, 3, 4] }),
  ].join("\n");
  const preview = (await (await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content })).json()) as { issues: Array<{ line: number; reason: string }> };
  assert.deepEqual(preview.issues.map((i) => i.line), [3, 4]);
  assert.match(preview.issues[0]!.reason, /gold: has 1 ranks for 2 completions/);
  assert.match(preview.issues[1]!.reason, /K = 3 \(found 4\)/);
  const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true, importValidLines: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  assert.deepEqual(((await imported.json()) as { committed: unknown }).committed, { prompts: 2, tasks: { demonstrate: 0, rank: 2, review: 0, compare: 0 }, gold: 1, heldOut: 0 });
  const goldTask = await server.db.selectFrom("tasks").select(["id", "gold", "completion_ids"]).where("project_id", "=", projectId).where("gold", "is not", null).executeTakeFirstOrThrow();
  assert.equal(goldTask.gold!.tiers.length, 3, "the ranks became a three-tier ranking of completion ids");
  assert.deepEqual(goldTask.gold!.tiers.flat().sort(), [...goldTask.completion_ids].sort());

  // Three labelers; the second ranks the gold item upside down.
  const labelers = [await server.newMember(projectId, "labeler"), await server.newMember(projectId, "labeler"), await server.newMember(projectId, "labeler")];
  const goldOrders = [["4", "four-ish", "5"], ["5", "four-ish", "4"], ["4", "four-ish", "5"]];
  let ordinaryDone = 0;
  for (const [i, labeler] of labelers.entries()) {
    const first = await takeTask(labeler.client, projectId);
    assert.ok(first);
    assert.equal(first.taskId, goldTask.id, "goldRate 1: the gold task comes first");
    const json = JSON.stringify(first);
    assert.ok(!/gold/i.test(json), `the view says nothing about gold: ${json}`);
    await rank(labeler.client, first, goldOrders[i]!);
    const next = await takeTask(labeler.client, projectId);
    if (next) {
      assert.equal(next.messages[0]!.content, "Ordinary: capital of France?");
      const ordinaryKeys = Object.keys(next).sort();
      assert.deepEqual(Object.keys(first).sort(), ordinaryKeys, "a gold view has the same shape as any other");
      await rank(labeler.client, next, ["Paris", "Lyon", "Nice"]);
      ordinaryDone++;
      assert.equal(await takeTask(labeler.client, projectId), null, "each task at most once, gold included");
    }
  }
  assert.equal(ordinaryDone, 2, "the ordinary task reached its overlap of 2; the third labeler found nothing left");

  const states = await server.db.selectFrom("tasks").select(["id", "state"]).where("project_id", "=", projectId).execute();
  assert.equal(states.find((t) => t.id === goldTask.id)?.state, "open", "three submissions, yet the gold task stays open for the next labeler");
  const counters = (await (await researcher.client.get(`/api/v1/projects/${projectId}/counters`)).json()) as { rank: { open: number; complete: number } };
  assert.deepEqual(counters.rank, { open: 0, complete: 1 }, "gold tasks are not counted as work waiting");

  const report = await qualityReport(server.db, projectId);
  const byId = Object.fromEntries(report.labelers.map((l) => [l.labelerId, l]));
  assert.deepEqual(byId[labelers[0]!.id]!.vsGold, { rate: 1, agreed: 3, compared: 3, comparisons: 1 });
  assert.deepEqual(byId[labelers[1]!.id]!.vsGold, { rate: 0, agreed: 0, compared: 3, comparisons: 1 });
  assert.equal(byId[labelers[1]!.id]!.goldSubmissions, 1);
  assert.equal(report.project.overlappingItems, 1, "only the ordinary item counts toward project agreement");
  const page = await (await researcher.client.get(`/projects/${projectId}/quality`, { accept: "text/html" })).text();
  assert.match(page, /Agreement with gold/);

  const prefs = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).text()).trim().split("\n");
  assert.equal(prefs.length, 2 * 3, "two labelers × three pairs of the ordinary item; gold gives none");
  assert.ok(prefs.every((line) => (JSON.parse(line) as { prompt: string }).prompt.startsWith("Ordinary")));
  const raw = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/rankings.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { gold_task: boolean });
  assert.deepEqual(raw.map((r) => r.gold_task).sort(), [false, false, true, true, true], "raw rankings keep gold submissions, marked");
});

test("goldRate is validated: 0..1", async () => {
  const researcher = await server.newUser("researcher");
  const refused = await researcher.client.json("POST", "/api/v1/projects", { name: "Bad rate", settings: { goldRate: 1.5 } });
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { errors: Array<{ path: string }> };
  assert.ok(problem.errors.some((e) => e.path.includes("goldRate")), JSON.stringify(problem));
});

test("concurrent claims: every labeler gets the gold task once, and it stays open", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Calibration rush", settings: { k: 2, goldRate: 1 } });
  const projectId = ((await created.json()) as { id: string }).id;
  const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, {
    content: JSON.stringify({ prompt: "Which is larger?", completions: ["10", "9"], gold: [1, 2] }),
    commit: true,
  });
  assert.equal(imported.status, 200);
  const labelers = await Promise.all(Array.from({ length: 30 }, () => server.newMember(projectId, "labeler")));
  const claims = await Promise.all(labelers.map((l) => l.client.json("POST", `/api/v1/projects/${projectId}/next-task`)));
  assert.ok(claims.every((c) => c.status === 200));
  const bodies = (await Promise.all(claims.map((c) => c.json()))) as Array<{ assignmentId: string } | null>;
  assert.equal(bodies.filter(Boolean).length, 30, "no overlap limit on gold: all 30 got it");
  const rows = await server.db
    .selectFrom("assignments")
    .innerJoin("tasks", "tasks.id", "assignments.task_id")
    .select(["assignments.user_id", "tasks.state"])
    .where("tasks.project_id", "=", projectId)
    .execute();
  assert.equal(new Set(rows.map((r) => r.user_id)).size, 30);
  assert.ok(rows.every((r) => r.state === "open"));
});

test("a round's gold filter: rankings only from labelers who agree with gold, frozen at launch and applied by the export the trainer reads", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Gold-filtered round", settings: { k: 2, overlap: { rank: 2 }, goldRate: 1 } });
  const projectId = ((await created.json()) as { id: string }).id;
  const content = [
    JSON.stringify({ prompt: "Gold: 3 + 3?", completions: ["6", "7"], gold: [1, 2] }),
    JSON.stringify({ prompt: "Ordinary: 10 - 4?", completions: ["6", "5"] }),
  ].join("\n");
  assert.equal((await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);
  const careful = await server.newMember(projectId, "labeler");
  const careless = await server.newMember(projectId, "labeler");
  for (const [labeler, goldOrder] of [[careful, ["6", "7"]], [careless, ["7", "6"]]] as const) {
    await rank(labeler.client, (await takeTask(labeler.client, projectId))!, [...goldOrder]);
    await rank(labeler.client, (await takeTask(labeler.client, projectId))!, ["6", "5"]);
  }
  // A registered policy to start from (the launch checks only that it exists and is not a reward model).
  const model = await server.db
    .insertInto("models")
    .values({ project_id: projectId, name: "stand-in base", kind: "base", storage_key: `gold-test-${projectId}`, config: JSON.stringify({}) })
    .returning("id")
    .executeTakeFirstOrThrow();
  const launch = (minGoldAgreement: unknown) =>
    researcher.client.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Filtered", path: "dpo", base: { modelId: model.id }, data: { minGoldAgreement }, next: { prompts: 0 } });

  const refused = await launch(1.5);
  assert.equal(refused.status, 422);
  assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "data.minGoldAgreement"));

  const launched = await launch(0.5);
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id, dataSnapshot } = (await launched.json()) as { id: string; dataSnapshot: { gold: { labelers: string[]; measured: number }; counts: { rank: number } } };
  assert.deepEqual(dataSnapshot.gold.labelers, [careful.id], "the labeler who ranked gold upside down is left out");
  assert.equal(dataSnapshot.gold.measured, 2);
  assert.equal(dataSnapshot.counts.rank, 2, "the careful labeler's gold and ordinary rankings only");

  // The trainer's job downloads exactly the filtered preferences: one pair, the careful labeler's.
  const job = await server.db.selectFrom("jobs").select("spec").where("round_id", "=", id).executeTakeFirstOrThrow();
  const dataUrl = (job.spec as { dataUrl: string }).dataUrl;
  assert.match(dataUrl, new RegExp(`labelers=${careful.id}(&|$)`));
  const pairs = (await (await researcher.client.get(dataUrl)).text()).trim().split("\n");
  assert.equal(pairs.length, 1);
  const unfiltered = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl`)).text()).trim().split("\n");
  assert.equal(unfiltered.length, 2, "without the filter both labelers' pairs export");
  // No trainer runs here: cancel, so later test files' trainers do not pick up this job.
  assert.equal((await researcher.client.json("POST", `/api/v1/rounds/${id}/cancel`)).status, 200);
});
