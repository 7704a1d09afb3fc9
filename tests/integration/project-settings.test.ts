/**
 * Project settings the walkthrough found wanting (issue 14, item 8): a near-duplicate threshold
 * the import cannot use is refused with the reason (it used to be saved, and every later import
 * answered 500), saving confirms, and a changed overlap says which open tasks keep the old one.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
before(async () => {
  server = await startTestServer();
  researcher = (await server.newUser("researcher")).client;
});
after(() => server.stop());

type Problem = { code: string; detail: string; errors: Array<{ path: string; message: string }> };

async function newProject(name: string): Promise<string> {
  const created = await researcher.json("POST", "/api/v1/projects", { name });
  assert.equal(created.status, 201);
  return ((await created.json()) as { id: string }).id;
}

const storedThreshold = async (projectId: string) =>
  ((await server.db.selectFrom("projects").select("settings").where("id", "=", projectId).executeTakeFirstOrThrow()).settings as { nearDuplicateThreshold: number }).nearDuplicateThreshold;

/** The settings form as the page sends it, with some fields changed. */
function settingsForm(name: string, changes: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({ name, guidelines: "", k: "4", leaseMinutes: "30", maxPendingPerUser: "5", goldRate: "0.1", nearDuplicateThreshold: "0.8", flags: "fails_task: Fails", "checker.kind": "", ...changes });
}
const postSettings = (projectId: string, form: URLSearchParams) =>
  researcher.request("POST", `/projects/${projectId}/settings`, { body: form, headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" } });

test("a near-duplicate threshold of 1 is refused with the reason, over the API and on the page, and nothing changes", async () => {
  const projectId = await newProject("Threshold");
  for (const body of [
    { method: "PUT", path: `/api/v1/projects/${projectId}`, body: { name: "Threshold", settings: { nearDuplicateThreshold: 1 } } },
    { method: "POST", path: "/api/v1/projects", body: { name: "Threshold at creation", settings: { nearDuplicateThreshold: 1 } } },
  ]) {
    const refused = await researcher.json(body.method, body.path, body.body);
    assert.equal(refused.status, 422, body.method);
    const problem = (await refused.json()) as Problem;
    assert.deepEqual(problem.errors.map((e) => e.path), ["settings.nearDuplicateThreshold"]);
    assert.match(problem.errors[0]!.message, /below 1/);
    assert.match(problem.errors[0]!.message, /exact-duplicate check/, "the reason, not just the bound");
  }
  assert.equal(await storedThreshold(projectId), 0.8);
  assert.equal(await server.db.selectFrom("projects").select("id").where("name", "=", "Threshold at creation").executeTakeFirst(), undefined);
  // Out of range either way is refused too (0.5 is the floor).
  assert.equal((await researcher.json("PUT", `/api/v1/projects/${projectId}`, { name: "Threshold", settings: { nearDuplicateThreshold: 0.3 } })).status, 422);

  // The page: refused, the reason beside the field, what was typed kept, nothing saved.
  const page = await postSettings(projectId, settingsForm("Threshold", { nearDuplicateThreshold: "1" }));
  assert.equal(page.status, 422);
  const html = await page.text();
  assert.match(html, /role="alert"/);
  assert.match(html, /aria-invalid="true" aria-describedby="field-nearDuplicateThreshold-error"[^>]*value="1"/);
  assert.match(html, /id="field-nearDuplicateThreshold-error"[^>]*>must be below 1: at 1 a near duplicate would have to be identical/);
  assert.equal(await storedThreshold(projectId), 0.8);
  // 0.99 is the strictest usable value, and the import works with it.
  assert.equal((await researcher.json("PUT", `/api/v1/projects/${projectId}`, { name: "Threshold", settings: { nearDuplicateThreshold: 0.99 } })).status, 200);
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "Hello there" }), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
});

test("a threshold of 1 saved before this check: the import says what to change instead of a 500", async () => {
  const projectId = await newProject("Old threshold");
  const row = await server.db.selectFrom("projects").select("settings").where("id", "=", projectId).executeTakeFirstOrThrow();
  await server.db.updateTable("projects").set({ settings: JSON.stringify({ ...(row.settings as object), nearDuplicateThreshold: 1 }) }).where("id", "=", projectId).execute();
  const response = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "Hello there" }) });
  assert.equal(response.status, 422);
  const problem = (await response.json()) as Problem;
  assert.match(problem.detail, /change it in the project's settings/);
  assert.deepEqual(problem.errors.map((e) => e.path), ["settings.nearDuplicateThreshold"]);
  // The project still opens, and its settings page shows the value to fix.
  assert.equal((await researcher.get(`/projects/${projectId}/settings`, { accept: "text/html" })).status, 200);
});

test("saving settings confirms: back on the settings page with a status message and the stored values", async () => {
  const projectId = await newProject("Confirm");
  const saved = await postSettings(projectId, settingsForm("Confirm renamed", { k: "5" }));
  assert.equal(saved.status, 302);
  assert.equal(saved.headers.get("location"), `/projects/${projectId}/settings?saved=1`);
  const html = await (await researcher.get(`/projects/${projectId}/settings?saved=1`, { accept: "text/html" })).text();
  assert.match(html, /role="status"[^>]*>Settings saved\./);
  assert.match(html, /name="k" value="5"/, "the form shows what is now stored");
  // Without the marker (a later visit) there is no stale confirmation.
  const later = await (await researcher.get(`/projects/${projectId}/settings`, { accept: "text/html" })).text();
  assert.doesNotMatch(later, /Settings saved/);
});

test("a changed overlap says which open tasks keep the old one, and applies it to them on request", async () => {
  const created = await researcher.json("POST", "/api/v1/projects", { name: "Overlap", settings: { k: 2, overlap: { rank: 3 } } });
  const projectId = ((await created.json()) as { id: string }).id;
  const content = ["One?", "Two?", "Three?"].map((prompt) => JSON.stringify({ prompt, completions: ["yes", "no"] })).join("\n");
  assert.equal((await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);
  // Two labelers rank one task each (the queue gives them the same one or two different ones).
  for (let i = 0; i < 2; i++) {
    const labeler = await server.newMember(projectId, "labeler");
    const view = await takeTask(labeler.client, projectId);
    assert.ok(view);
    const submitted = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
      idempotencyKey: `overlap-${view.assignmentId}`,
      payload: { ranking: { tiers: view.completions.map((c) => [c.id]) } },
    });
    assert.equal(submitted.status, 200);
  }
  const tasks = async () =>
    server.db
      .selectFrom("tasks")
      .select(["id", "state", "overlap_target", (eb) => eb.selectFrom("assignments").whereRef("assignments.task_id", "=", "tasks.id").where("assignments.state", "=", "submitted").select(eb.fn.countAll<string>().as("n")).as("submitted")])
      .where("project_id", "=", projectId)
      .orderBy("id")
      .execute();
  const before = await tasks();
  assert.deepEqual(before.map((t) => [t.state, t.overlap_target]), [["open", 3], ["open", 3], ["open", 3]]);

  // Lowering the setting changes new tasks only, and the settings page says so.
  const put = await researcher.json("PUT", `/api/v1/projects/${projectId}`, { name: "Overlap", settings: { k: 2, overlap: { rank: 2 } } });
  assert.equal(put.status, 200);
  assert.deepEqual(await (await researcher.get(`/api/v1/projects/${projectId}/open-task-overlap`)).json(), [{ type: "rank", tasks: 3, overlaps: [3] }]);
  // React's text separators aside, the page's words.
  const page = (await (await researcher.get(`/projects/${projectId}/settings?saved=1`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  const says = (text: string) => assert.ok(page.includes(text), `the page says: ${text}`);
  says("Settings saved. 3 open tasks keep their earlier overlap");
  says("3 open rank tasks keep overlap 3; new ones get 2.");
  says("Lowering it completes those that already have enough submissions.");
  says("Apply 2 to the open rank tasks");
  assert.deepEqual((await tasks()).map((t) => t.overlap_target), [3, 3, 3], "saving changed no open task");

  // A bad task type is refused, naming the field, and changes nothing.
  const bad = await researcher.json("POST", `/api/v1/projects/${projectId}/open-task-overlap`, { taskType: "ranking" });
  assert.equal(bad.status, 422);
  assert.deepEqual(((await bad.json()) as Problem).errors.map((e) => e.path), ["taskType"]);

  // Applying it from the page: every open ranking task gets 2; those with two submissions complete.
  const applied = await researcher.postForm(`/projects/${projectId}/settings`, { intent: "apply-overlap", taskType: "rank" });
  assert.equal(applied.status, 302);
  const enough = before.filter((t) => Number(t.submitted) >= 2).length;
  assert.equal(applied.headers.get("location"), `/projects/${projectId}/settings?applied=rank&updated=3&completed=${enough}`);
  const confirmation = (await (await researcher.get(applied.headers.get("location")!, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.ok(confirmation.includes("3 open rank tasks now have overlap 2"), "the page confirms what changed");
  const after = await tasks();
  assert.deepEqual(after.map((t) => t.overlap_target), [2, 2, 2]);
  assert.deepEqual(after.map((t) => t.state), before.map((t) => (Number(t.submitted) >= 2 ? "complete" : "open")));
  assert.deepEqual(await (await researcher.get(`/api/v1/projects/${projectId}/open-task-overlap`)).json(), []);
  const audit = await server.db.selectFrom("audit_log").select(["action", "details"]).where("action", "=", "tasks.apply_overlap").where("target", "=", `project:${projectId}`).execute();
  assert.equal(audit.length, 1);
  // Applying again finds nothing to change.
  const again = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/open-task-overlap`, { taskType: "rank" })).json()) as { updated: number };
  assert.equal(again.updated, 0);
});

test("wellbeing settings on the page: an out-of-range cap is refused with the field named; a valid one is stored, an empty break time means none", async () => {
  const projectId = await newProject("Wellbeing form");
  const wellbeing = { "wellbeing.dailySensitiveCap": "-2", "wellbeing.breakAfterMinutes": "45", "wellbeing.sensitiveFlags": "violent_content, sexual_content", "wellbeing.classifierField": "sensitivity", "wellbeing.classifierThreshold": "0.7" };
  const refused = await postSettings(projectId, settingsForm("Wellbeing form", wellbeing));
  assert.equal(refused.status, 422);
  assert.match((await refused.text()).replaceAll("<!-- -->", ""), /settings\.wellbeing\.dailySensitiveCap: /);
  const stored = async () => ((await server.db.selectFrom("projects").select("settings").where("id", "=", projectId).executeTakeFirstOrThrow()).settings as { wellbeing: unknown }).wellbeing;
  const before = await stored();
  assert.deepEqual(before, { dailySensitiveCap: null, sensitiveFlags: ["sexual_content", "violent_content", "encourages_harm", "denigrates_protected_class"], classifierField: "sensitivity", classifierThreshold: 0.8, breakAfterMinutes: 60 });
  const saved = await postSettings(projectId, settingsForm("Wellbeing form", { ...wellbeing, "wellbeing.dailySensitiveCap": "4", "wellbeing.breakAfterMinutes": "" }));
  assert.equal(saved.status, 302);
  assert.deepEqual(await stored(), { dailySensitiveCap: 4, sensitiveFlags: ["violent_content", "sexual_content"], classifierField: "sensitivity", classifierThreshold: 0.7, breakAfterMinutes: null });
});

test("active learning and a reward-model judge on the page: out-of-range values refused with the field named beside it; valid ones stored", async () => {
  const projectId = await newProject("Active learning form");
  const rm = await server.db.insertInto("models").values({ project_id: projectId, name: "form rm", kind: "reward", storage_key: `form-rm-${projectId}-${Date.now()}`, config: "{}" }).returning("id").executeTakeFirstOrThrow();
  const stored = async () =>
    (await server.db.selectFrom("projects").select("settings").where("id", "=", projectId).executeTakeFirstOrThrow()).settings as { adaptiveOverlap: unknown; uncertaintyQueue: unknown; judge?: { source: unknown } };
  const before = await stored();
  const page = (await (await researcher.get(`/projects/${projectId}/settings`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(page, new RegExp(`<option value="reward-model:${rm.id}">Reward model form rm`), "a reward model is offered as a judge");
  assert.match(page, new RegExp(`<option value="${rm.id}">form rm \\(#${rm.id}\\)</option>`), "and as the queue's reward model");

  const fields = {
    "adaptiveOverlap.enabled": "on", "adaptiveOverlap.start": "3", "adaptiveOverlap.max": "4", "adaptiveOverlap.agreementBelow": "0.7", "adaptiveOverlap.extraLabelsCap": "",
    "adaptiveOverlap.earlyStop.after": "", "adaptiveOverlap.earlyStop.confidentMargin": "",
    "uncertaintyQueue.enabled": "on", "uncertaintyQueue.rule": "disagreement", "uncertaintyQueue.rewardModelId": "", "uncertaintyQueue.previousRewardModelId": "", "uncertaintyQueue.randomShare": "0.2",
    "judge.source": `reward-model:${rm.id}`, "judge.suggestions": "shown", "judge.withheldShare": "0.25", "judge.timeoutSeconds": "60",
  };
  const cases: Array<[Record<string, string>, string]> = [
    [{ "adaptiveOverlap.max": "2" }, "adaptiveOverlap.max"],
    [{ "adaptiveOverlap.agreementBelow": "1.5" }, "adaptiveOverlap.agreementBelow"],
    [{ "adaptiveOverlap.earlyStop.after": "3", "adaptiveOverlap.earlyStop.confidentMargin": "0.5" }, "adaptiveOverlap.earlyStop.after"],
    [{ "adaptiveOverlap.earlyStop.after": "2" }, "adaptiveOverlap.earlyStop.confidentMargin"],
    [{ "uncertaintyQueue.randomShare": "-0.1" }, "uncertaintyQueue.randomShare"],
    [{ "uncertaintyQueue.rule": "entropy" }, "uncertaintyQueue.rule"],
    [{ "uncertaintyQueue.rewardModelId": rm.id, "uncertaintyQueue.previousRewardModelId": rm.id }, "uncertaintyQueue.previousRewardModelId"],
    [{ "uncertaintyQueue.rewardModelId": "999999999" }, "uncertaintyQueue.rewardModelId"],
  ];
  for (const [change, field] of cases) {
    const refused = await postSettings(projectId, settingsForm("Active learning form", { ...fields, ...change }));
    assert.equal(refused.status, 422, `${JSON.stringify(change)} is refused`);
    const html = (await refused.text()).replaceAll("<!-- -->", "");
    assert.match(html, new RegExp(`settings\\.${field.replaceAll(".", "\\.")}: `), `${field} named in the list`);
    assert.match(html, new RegExp(`id="field-${field.replaceAll(".", "\\.")}-error"`), `${field}: the error beside its field`);
    assert.deepEqual(await stored(), before, "nothing saved");
  }

  const saved = await postSettings(projectId, settingsForm("Active learning form", fields));
  assert.equal(saved.status, 302);
  const after_ = await stored();
  assert.deepEqual(after_.adaptiveOverlap, { enabled: true, start: 3, max: 4, agreementBelow: 0.7, extraLabelsCap: null, earlyStop: null });
  assert.deepEqual(after_.uncertaintyQueue, { enabled: true, rule: "disagreement", rewardModelId: null, previousRewardModelId: null, randomShare: 0.2 });
  assert.deepEqual(after_.judge?.source, { kind: "reward-model", modelId: rm.id });
  const shown = (await (await researcher.get(`/projects/${projectId}/settings?saved=1`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(shown, new RegExp(`<option value="reward-model:${rm.id}" selected=""`), "the stored judge is selected");
  assert.match(shown, /<option value="disagreement" selected=""/);

  // Early stop with both fields; a form without the active-learning fields keeps what is stored.
  assert.equal((await postSettings(projectId, settingsForm("Active learning form", { ...fields, "adaptiveOverlap.earlyStop.after": "2", "adaptiveOverlap.earlyStop.confidentMargin": "0.5" }))).status, 302);
  assert.deepEqual(((await stored()).adaptiveOverlap as { earlyStop: unknown }).earlyStop, { after: 2, confidentMargin: 0.5 });
  assert.equal((await postSettings(projectId, settingsForm("Active learning form", { "judge.source": `reward-model:${rm.id}` }))).status, 302);
  assert.deepEqual((await stored()).uncertaintyQueue, after_.uncertaintyQueue);
});
