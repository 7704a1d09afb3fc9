/**
 * Model-judge suggestions with an anchoring audit (issue 16 item 1, decision 0035), end to end
 * through the real server, its judge runner and PostgreSQL. The judge model is outside this
 * machine, so a local HTTP server stands in for an OpenAI-compatible endpoint: it prefers the
 * answer with the higher "score:N" in its text (the same verdict in both orders), always says
 * "A" for case:first, rambles for case:garbage, answers too late for case:slow and fails with
 * 500 for case:broken.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { Z95 } from "../../server/labeling/judge/anchoring.ts";
import type { QualityReport } from "../../server/labeling/quality-report.server.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let fake: http.Server;
let fakeUrl = "";

before(async () => {
  fake = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const prompt = (JSON.parse(raw) as { messages: Array<{ content: string }> }).messages.at(-1)!.content;
      const reply = (content: string) =>
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ model: "fake-judge", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] }));
      if (prompt.includes("case:slow")) return void setTimeout(() => reply("A"), 3000);
      if (prompt.includes("case:broken")) return void res.writeHead(500).end("boom");
      if (prompt.includes("case:garbage")) return reply("Both answers have merit, but I lean towards A.");
      if (prompt.includes("case:first")) return reply("A");
      const scores = [...prompt.matchAll(/\[Answer ([A-Z])\]\n[^\n]*score:(\d+)/g)].map((m) => Number(m[2]));
      reply(scores[0]! > scores[1]! ? "A" : scores[0]! < scores[1]! ? "B" : "TIE");
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/v1`;
  server = await startTestServer({ TANDEM_JUDGE_POLL_MS: "100" });
});
after(async () => {
  await server.stop();
  await new Promise<void>((resolve) => fake.close(() => resolve()));
});

type Settings = Record<string, unknown>;
async function projectWithJudge(researcher: HttpClient, settings: Settings, records: Array<{ prompt: string; completions: string[] }>, judge: Settings = {}) {
  const created = await researcher.json("POST", "/api/v1/projects", { access: "open", name: `Judge ${Date.now()}`, settings: { nearDuplicateThreshold: 0.99, goldRate: 0, ...settings } });
  assert.equal(created.status, 201, await created.clone().text());
  const project = (await created.json()) as { id: string; name: string };
  const endpoint = await researcher.json("POST", `/api/v1/projects/${project.id}/external-endpoints`, { name: "judge", baseUrl: fakeUrl, model: "fake-judge", timeoutMs: 1000, maxRetries: 0 });
  assert.equal(endpoint.status, 201, await endpoint.clone().text());
  const endpointId = ((await endpoint.json()) as { id: string }).id;
  const imported = await researcher.json("POST", `/api/v1/projects/${project.id}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  const fullSettings = { ...(await getSettings(researcher, project.id)), judge: { source: { kind: "endpoint", endpointId }, suggestions: "shown", ...judge } };
  const put = await researcher.json("PUT", `/api/v1/projects/${project.id}`, { name: project.name, settings: fullSettings });
  assert.equal(put.status, 200, await put.clone().text());
  return { projectId: project.id, name: project.name, endpointId };
}

async function getSettings(client: HttpClient, projectId: string): Promise<Settings> {
  return ((await (await client.get(`/api/v1/projects/${projectId}`)).json()) as { settings: Settings }).settings;
}

async function setJudge(client: HttpClient, projectId: string, change: Settings) {
  const project = (await (await client.get(`/api/v1/projects/${projectId}`)).json()) as { name: string; settings: Settings & { judge: Settings } };
  const put = await client.json("PUT", `/api/v1/projects/${projectId}`, { name: project.name, settings: { ...project.settings, judge: { ...project.settings.judge, ...change } } });
  assert.equal(put.status, 200, await put.clone().text());
}

async function quality(client: HttpClient, projectId: string): Promise<QualityReport> {
  const response = await client.get(`/api/v1/projects/${projectId}/quality`);
  assert.equal(response.status, 200);
  return (await response.json()) as QualityReport;
}

async function waitForJudge(client: HttpClient, projectId: string, finished: number) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { status } = (await quality(client, projectId)).judge;
    if (status.done + status.failed.timeout + status.failed.unparseable + status.failed.error >= finished && status.running === 0) return status;
    if (Date.now() > deadline) throw new Error(`the judge is still at ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("arms are drawn at the first claim at the configured share, and every labeler of a task is in its arm", { timeout: 180_000 }, async () => {
  const { client: researcher } = await server.newUser("researcher");
  const words = "amber basil cedar delta ember fjord gravel harbor indigo juniper kelp lumen".split(" ");
  const N = 250;
  const records = Array.from({ length: N }, (_, i) => ({
    prompt: `case:first ${words[i % 12]} ${words[Math.floor(i / 12) % 12]} ${words[Math.floor(i / 144) % 12]} ${i}`,
    completions: [`yes ${i}`, `no ${i}`],
  }));
  const share = 0.3;
  const { projectId } = await projectWithJudge(researcher, { k: 2, overlap: { rank: 2 } }, records, { withheldShare: share });
  const labelers = [await server.newUser("labeler"), await server.newUser("labeler")];
  for (const labeler of labelers) {
    for (let i = 0; i < N; i++) {
      const view = await takeTask(labeler.client, projectId);
      assert.ok(view, `task ${i}`);
      // Skipping ends the lease; the next claim takes the next task.
      assert.equal((await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/skip`, { reason: "arm test" })).status, 200);
    }
  }
  const tasks = await server.db.selectFrom("tasks").select(["suggestion_arm"]).where("project_id", "=", projectId).execute();
  assert.equal(tasks.length, N);
  assert.ok(tasks.every((t) => t.suggestion_arm !== null), "every claimed task has its arm");
  const withheld = tasks.filter((t) => t.suggestion_arm === "withheld").length;
  // Binomial(250, 0.3): mean 75, sd √(250·0.3·0.7) ≈ 7.25. Five sd either side fails a fair draw
  // less than once in a million runs, and a share of 0.2 or 0.4 would sit near its edge.
  const sd = Math.sqrt(N * share * (1 - share));
  assert.ok(Math.abs(withheld - N * share) <= 5 * sd, `withheld ${withheld} of ${N}, expected ${N * share} ± ${(5 * sd).toFixed(1)}`);
  // Two labelers claimed every task: the arm was drawn once (the second claim kept it).
  const skipped = await server.db.selectFrom("assignments").innerJoin("tasks", "tasks.id", "assignments.task_id").select(["assignments.task_id"]).where("tasks.project_id", "=", projectId).execute();
  assert.equal(skipped.length, 2 * N);
  const report = await quality(researcher, projectId);
  assert.deepEqual(report.judge.status.arms, { shown: N - withheld, withheld });
});

test("the anchoring report matches hand-computed values; reveals are recorded; withheld tasks offer nothing; judge output is its own annotator", { timeout: 180_000 }, async () => {
  const { client: researcher } = await server.newUser("researcher");
  const topics = ["rivers", "volcanoes", "glaciers", "deserts"];
  const records = topics.map((t) => ({ prompt: `Tell me about ${t}.`, completions: [`alpha on ${t} score:3`, `beta on ${t} score:2`, `gamma on ${t} score:1`] }));
  const { projectId } = await projectWithJudge(researcher, { k: 3, overlap: { rank: 1 } }, records, { withheldShare: 0 });
  const status = await waitForJudge(researcher, projectId, 4);
  assert.equal(status.done, 4);

  const labeler = await server.newUser("labeler");
  const submit = async (order: string[], msOnTask: number, arm: "reveal" | "shown" | "withheld") => {
    const view = await takeTask(labeler.client, projectId);
    assert.ok(view);
    const idOf = (word: string) => view.completions.find((c) => c.text.startsWith(word))!.id;
    const letterOf = (word: string) => view.completions.find((c) => c.text.startsWith(word))!.label;
    const page = (await (await labeler.client.get(`/api/v1/assignments/${view.assignmentId}`)).json()) as { suggestion: { state: string; revealed: unknown } };
    if (arm === "shown") assert.deepEqual(page.suggestion, { state: "available", revealed: null });
    else if (arm === "reveal") {
      assert.deepEqual(page.suggestion, { state: "available", revealed: null }, "the ranking is not sent before the reveal");
      const revealed = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/suggestion`, {});
      assert.equal(revealed.status, 200);
      assert.deepEqual(((await revealed.json()) as { tiers: string[][] }).tiers, [[letterOf("alpha")], [letterOf("beta")], [letterOf("gamma")]], "in the labeler's own letters");
      const again = (await (await labeler.client.get(`/api/v1/assignments/${view.assignmentId}`)).json()) as { suggestion: { revealed: unknown } };
      assert.ok(again.suggestion.revealed, "a reload shows what was revealed");
    } else {
      assert.deepEqual(page.suggestion, { state: "none", revealed: null }, "a withheld task looks like a project without suggestions");
      assert.equal((await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/suggestion`, {})).status, 409);
    }
    const submitted = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
      idempotencyKey: `anchor-${view.assignmentId}`,
      payload: { ranking: { tiers: order.map((w) => [idOf(w)]) } },
      timings: { msOnTask },
    });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  };
  // Shown arm (share 0): the judge's order (3/3 pairs), and one swap (2/3); the first is revealed.
  await submit(["alpha", "beta", "gamma"], 1000, "reveal");
  await submit(["alpha", "gamma", "beta"], 3000, "shown");
  // Withheld arm (share 1): one swap (2/3) and the reverse (0/3).
  await setJudge(researcher, projectId, { withheldShare: 1 });
  await submit(["beta", "alpha", "gamma"], 2000, "withheld");
  await submit(["gamma", "beta", "alpha"], 4000, "withheld");

  const report = await quality(await server.newUser("reviewer").then((r) => r.client), projectId);
  const p = report.judge.project;
  const close = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-9, `${a} ≈ ${b}`);
  assert.deepEqual([p.shown.submissions, p.shown.compared, p.shown.revealed, p.withheld.submissions, p.withheld.revealed], [2, 2, 1, 2, 0]);
  close(p.shown.meanAgreement, 5 / 6);
  close(p.withheld.meanAgreement, 1 / 3);
  // s²(1, 2/3) = 1/18, s²(2/3, 0) = 2/9: se = √(1/36 + 1/9).
  const se = Math.sqrt(1 / 36 + 1 / 9);
  close(p.effect.difference, 0.5);
  close(p.effect.low, 0.5 - Z95 * se);
  close(p.effect.high, 0.5 + Z95 * se);
  assert.equal(p.effect.method, "welch-normal-95");
  assert.deepEqual([p.shown.meanMsOnTask, p.withheld.meanMsOnTask], [2000, 3000]);
  assert.deepEqual([p.shown.agreedPairs, p.shown.comparedPairs, p.withheld.agreedPairs, p.withheld.comparedPairs], [5, 6, 2, 6]);
  // A judge that answers on the merits: half of its 24 answers (6 per task) favour the first-read answer.
  assert.deepEqual(report.judge.positionBias, { applies: true, firstWon: 12, decided: 24, rate: 0.5, expectedRate: 0.5, consistency: { agreed: 12, compared: 12, rate: 1 } });
  assert.equal(report.judge.labelers.length, 1);
  assert.deepEqual({ ...report.judge.labelers[0], labelerId: undefined, name: undefined }, { ...p, labelerId: undefined, name: undefined });

  const html = (await (await researcher.get(`/projects/${projectId}/quality`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(html, new RegExp(`data-testid="anchoring-effect"[^>]*>50.0 pts \\[${((0.5 - Z95 * se) * 100).toFixed(1)}, ${((0.5 + Z95 * se) * 100).toFixed(1)}\\]<`));

  // The judge's verdicts: their own file and annotator; the human exports hold only the four humans' rankings.
  const judgeLines = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/judge.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(judgeLines.length, 4);
  assert.ok(judgeLines.every((l) => (l.annotator as { kind: string }).kind === "judge" && (l.annotator as { name: string }).name === "endpoint:judge/fake-judge" && l.state === "done"));
  const rankings = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/rankings.jsonl`)).text()).trim().split("\n");
  assert.equal(rankings.length, 4);
  assert.ok(rankings.every((l) => !l.includes("judge")));
});

test("a judge that times out, fails or answers unparseably leaves tasks without a suggestion, counted, and never blocks the queue", { timeout: 120_000 }, async () => {
  const { client: researcher } = await server.newUser("researcher");
  const records = ["slow", "garbage", "broken"].map((c) => ({ prompt: `Which is better? case:${c}`, completions: [`left ${c}`, `right ${c}`] }));
  const { projectId } = await projectWithJudge(researcher, { k: 2, overlap: { rank: 1 } }, records, { withheldShare: 0, timeoutSeconds: 5 });
  // The queue serves at once, whatever the judge is doing.
  const labeler = await server.newUser("labeler");
  const first = await takeTask(labeler.client, projectId);
  assert.ok(first);
  const status = await waitForJudge(researcher, projectId, 3);
  assert.deepEqual({ done: status.done, failed: status.failed }, { done: 0, failed: { timeout: 1, unparseable: 1, error: 1 } });
  const view = (await (await labeler.client.get(`/api/v1/assignments/${first.assignmentId}`)).json()) as { suggestion: { state: string } };
  assert.equal(view.suggestion.state, "none");
  assert.equal((await labeler.client.json("POST", `/api/v1/assignments/${first.assignmentId}/suggestion`, {})).status, 409);
  const page = (await (await researcher.get(`/projects/${projectId}`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(page, /data-testid="judge-failed"[^>]*>3 \(1 timed out, 1 unparseable, 1 other errors\)/);
  const lines = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/judge.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { failure: string; ranking: unknown });
  assert.deepEqual(lines.map((l) => l.failure).sort(), ["error", "timeout", "unparseable"]);
  assert.ok(lines.every((l) => l.ranking === null));
});

test("judge settings out of range, or a judge from elsewhere, are refused with the field named and change nothing", async () => {
  const { client: researcher } = await server.newUser("researcher");
  const { projectId, name, endpointId } = await projectWithJudge(researcher, { k: 2 }, [{ prompt: "Anything?", completions: ["one", "two"] }]);
  const before = await getSettings(researcher, projectId);
  const other = await projectWithJudge(researcher, { k: 2 }, [{ prompt: "Something else?", completions: ["three", "four"] }]);
  // a chat model of the other project: its data, not this project's to judge with (decision 0031)
  const foreignModel = await server.db.insertInto("models").values({ project_id: other.projectId, name: "theirs", kind: "sft", storage_key: `judge-foreign-${other.projectId}`, config: "{}" }).returning("id").executeTakeFirstOrThrow();
  // Reward models as judges (decision 0053): the same rule — this project's or one for every project — and a reward model it must be.
  const model = (projectId: string | null, kind: "reward" | "sft", key: string, externalUri: string | null = null) =>
    server.db.insertInto("models").values({ project_id: projectId, name: key, kind, storage_key: `judge-${key}-${projectId}-${Date.now()}`, config: "{}", external_uri: externalUri }).returning("id").executeTakeFirstOrThrow().then((m) => m.id);
  const foreignRm = await model(other.projectId, "reward", "their-rm");
  const ownRm = await model(projectId, "reward", "our-rm");
  const ownSft = await model(projectId, "sft", "our-sft");
  const outsideRm = await model(projectId, "reward", "outside-rm", "hf://someone/rm");
  const sharedRm = await model(null, "reward", "shared-rm");
  const cases: Array<[Settings, string]> = [
    [{ withheldShare: 1.5 }, "settings.judge.withheldShare"],
    [{ timeoutSeconds: 0 }, "settings.judge.timeoutSeconds"],
    [{ mode: "triples" }, "settings.judge.mode"],
    [{ prompt: "Rank these." }, "settings.judge.prompt"],
    [{ source: { kind: "endpoint", endpointId: other.endpointId } }, "settings.judge.source.endpointId"],
    [{ source: { kind: "model", modelId: "999999999" } }, "settings.judge.source.modelId"],
    [{ source: { kind: "model", modelId: foreignModel.id } }, "settings.judge.source.modelId"],
    [{ source: { kind: "reward-model", modelId: foreignRm } }, "settings.judge.source.modelId"],
    [{ source: { kind: "reward-model", modelId: ownSft } }, "settings.judge.source.modelId"],
    [{ source: { kind: "reward-model", modelId: outsideRm } }, "settings.judge.source.modelId"],
    [{ source: { kind: "reward-model", modelId: "999999999" } }, "settings.judge.source.modelId"],
    [{ source: { kind: "reward-model", modelId: "rm" } }, "settings.judge.source.modelId"],
    [{ source: { kind: "model", modelId: ownRm } }, "settings.judge.source.modelId"],
  ];
  for (const [change, path] of cases) {
    const response = await researcher.json("PUT", `/api/v1/projects/${projectId}`, { name, settings: { ...before, judge: { ...(before.judge as Settings), ...change } } });
    assert.equal(response.status, 422, `${JSON.stringify(change)}: ${await response.clone().text()}`);
    const problem = (await response.json()) as { errors: Array<{ path: string; message: string }> };
    assert.ok(problem.errors.some((e) => e.path === path), `${path} named in ${JSON.stringify(problem.errors)}`);
  }
  assert.deepEqual(await getSettings(researcher, projectId), before);
  assert.equal((before.judge as { source: { endpointId: string } }).source.endpointId, endpointId);

  // This project's reward model, or one registered for every project, may judge.
  for (const modelId of [ownRm, sharedRm]) {
    const saved = await researcher.json("PUT", `/api/v1/projects/${projectId}`, { name, settings: { ...before, judge: { ...(before.judge as Settings), source: { kind: "reward-model", modelId } } } });
    assert.equal(saved.status, 200, await saved.clone().text());
    assert.deepEqual(((await getSettings(researcher, projectId)).judge as Settings).source, { kind: "reward-model", modelId });
  }
});
