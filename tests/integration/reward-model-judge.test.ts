/**
 * A registered reward model as the project's judge (issue 16 item 1, decision 0053), end to end
 * over real HTTP with real PostgreSQL, the judge runner and the trainer's inference worker: a tiny
 * reward model trained here scores each completion; its verdict ranks by those scores (equal texts
 * tie), pre-picks the A/B compare, goes through the same withheld-arm anchoring audit as a chat
 * judge (figures checked against hand-computed values), reports its position bias as not
 * applicable, and is exported as its own annotator.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Z95 } from "../../server/labeling/judge/anchoring.ts";
import { REWARD_TIE_EPSILON } from "../../server/labeling/judge/reward-model-judge.ts";
import type { QualityReport } from "../../server/labeling/quality-report.server.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { BAD, GOOD, registerRewardModel, trainTinyRewardModel } from "../support/tiny-reward-model.ts";

let server: TestServer;
let dataDir = "";
let researcher: HttpClient;
let rm: { dir: string };

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-rm-judge-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_JUDGE_POLL_MS: "100" });
  researcher = (await server.newUser("researcher")).client;
  rm = await trainTinyRewardModel(dataDir);
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

type Settings = Record<string, unknown>;
async function putSettings(projectId: string, change: (settings: Settings) => Settings) {
  const project = (await (await researcher.get(`/api/v1/projects/${projectId}`)).json()) as { name: string; settings: Settings };
  const put = await researcher.json("PUT", `/api/v1/projects/${projectId}`, { name: project.name, settings: change(project.settings) });
  assert.equal(put.status, 200, await put.clone().text());
}
async function quality(client: HttpClient, projectId: string): Promise<QualityReport> {
  const response = await client.get(`/api/v1/projects/${projectId}/quality`);
  assert.equal(response.status, 200);
  return (await response.json()) as QualityReport;
}

test("a reward-model judge ranks by its scores, ties equal scores, pre-picks compares, and goes through the anchoring audit", { timeout: 300_000 }, async () => {
  const created = await researcher.json("POST", "/api/v1/projects", {
    access: "open",
    name: `RM judge ${Date.now()}`,
    // Compares first (so the compare falls in the shown arm), then the rankings oldest first.
    settings: { k: 3, goldRate: 0, nearDuplicateThreshold: 0.99, overlap: { rank: 1, compare: 1 }, taskWeights: { rank: 0, compare: 1, demonstrate: 0, review: 0 } },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;
  const rmId = await registerRewardModel(server.db, dataDir, rm.dir, projectId);
  const rankRecords = [
    { prompt: "question one about the sky", completions: [GOOD, BAD, "good answer"] },
    // Two equal texts: equal scores, one tier.
    { prompt: "question two about the sea", completions: ["the sky", "the sea", "the sky"] },
    { prompt: "question three about a tree", completions: ["good bad answer", GOOD, BAD] },
    { prompt: "question four about the sky", completions: ["one two three", BAD, GOOD] },
  ];
  const ranks = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: rankRecords.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(ranks.status, 200, await ranks.clone().text());
  const compare = JSON.stringify({ prompt: "question five about the sea", completions: [{ text: BAD, model: "policy-v1" }, { text: GOOD, model: "policy-v2" }] });
  const compares = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: compare, commit: true, purpose: "compare" });
  assert.equal(compares.status, 200, await compares.clone().text());
  await putSettings(projectId, (s) => ({ ...s, judge: { source: { kind: "reward-model", modelId: rmId }, suggestions: "shown", withheldShare: 0 } }));

  for (let i = 0; ; i++) {
    const { status } = (await quality(researcher, projectId)).judge;
    assert.deepEqual(status.failed, { timeout: 0, unparseable: 0, error: 0 }, JSON.stringify(await server.db.selectFrom("judge_suggestions").select("message").execute()));
    if (status.done === 5) break;
    assert.ok(i < 600, `the judge is still at ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  // Every verdict is the ranking of the scores POST /models/:id/score gives for the same answers.
  const verdicts = await server.db
    .selectFrom("judge_suggestions").innerJoin("tasks", "tasks.id", "judge_suggestions.task_id").innerJoin("prompts", "prompts.id", "tasks.prompt_id")
    .select(["judge_suggestions.task_id", "judge_suggestions.judge", "judge_suggestions.ranking", "judge_suggestions.detail", "tasks.completion_ids", "tasks.type", "prompts.messages"])
    .where("judge_suggestions.project_id", "=", projectId).orderBy("tasks.id").execute();
  const texts = new Map((await server.db.selectFrom("completions").select(["id", "text"]).where("id", "in", verdicts.flatMap((v) => v.completion_ids)).execute()).map((c) => [c.id, c.text]));
  for (const v of verdicts) {
    assert.equal(v.judge, `reward-model:${rmId}/tiny test reward model`);
    const scored = await researcher.json("POST", `/api/v1/models/${rmId}/score`, { messages: v.messages, completions: v.completion_ids.map((id) => texts.get(id)) });
    assert.equal(scored.status, 200);
    const { scores } = (await scored.json()) as { scores: number[] };
    assert.equal(v.detail.mode, "reward-model");
    (v.detail.scores as number[]).forEach((s, i) => assert.ok(Math.abs(s - scores[i]!) < 1e-5, `stored ${s} vs scored ${scores[i]}`));
    const scoreOf = new Map(v.completion_ids.map((id, i) => [id, scores[i]!]));
    const tiers = v.ranking!.tiers;
    assert.deepEqual(tiers.flat().sort(), [...v.completion_ids].sort(), "every completion once");
    for (let t = 0; t < tiers.length; t++) {
      const inTier = tiers[t]!.map((id) => scoreOf.get(id)!);
      assert.ok(Math.max(...inTier) - Math.min(...inTier) <= REWARD_TIE_EPSILON, `tier ${t} holds equal scores`);
      if (t > 0) assert.ok(Math.min(...tiers[t - 1]!.map((id) => scoreOf.get(id)!)) - Math.max(...inTier) > REWARD_TIE_EPSILON * 0.999, "tiers best first, apart by more than ε");
    }
    const tierOf = (text: string) => tiers.findIndex((tier) => tier.some((id) => texts.get(id) === text));
    if (v.completion_ids.some((id) => texts.get(id) === GOOD)) assert.ok(tierOf(GOOD) < tierOf(BAD), "the trained preference: good above bad");
  }
  const sky = verdicts[1]!;
  const skyIds = sky.completion_ids.filter((id) => texts.get(id) === "the sky");
  assert.ok(sky.ranking!.tiers.some((tier) => skyIds.every((id) => tier.includes(id))), `equal texts tie: ${JSON.stringify(sky.ranking)}`);

  // The labeler: the compare (shown arm) revealed — the judge pre-picks good — then two rankings shown, two withheld.
  const labeler = await server.newUser("labeler");
  const view = await takeTask(labeler.client, projectId);
  assert.ok(view && view.taskType === "compare");
  const side = (text: string) => view.completions.find((c) => c.text === text)!.label;
  const revealed = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/suggestion`, {});
  assert.equal(revealed.status, 200, await revealed.clone().text());
  assert.deepEqual(((await revealed.json()) as { tiers: string[][] }).tiers, [[side(GOOD)], [side(BAD)]], "the compare is pre-picked in the labeler's letters");
  const picked = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, { idempotencyKey: `rm-judge-${view.assignmentId}`, payload: { choice: side(GOOD), strength: 2 }, timings: { msOnTask: 1000 } });
  assert.equal(picked.status, 200, await picked.clone().text());

  const judgeTiers = new Map(verdicts.map((v) => [v.task_id, v.ranking!.tiers]));
  const rank = async (order: "judge" | "reverse", msOnTask: number) => {
    const task = await takeTask(labeler.client, projectId);
    assert.ok(task && task.taskType === "rank");
    const flat = judgeTiers.get(task.taskId)!.flat();
    const tiers = (order === "judge" ? flat : [...flat].reverse()).map((id) => [id]);
    const submitted = await labeler.client.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `rm-judge-${task.assignmentId}`, payload: { ranking: { tiers } }, timings: { msOnTask } });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  };
  // Shown: the judge's order (agreement 1), its reverse (0: every pair the judge orders, the other way).
  await rank("judge", 2000);
  await rank("reverse", 3000);
  await putSettings(projectId, (s) => ({ ...s, judge: { ...(s.judge as Settings), withheldShare: 1 } }));
  await rank("judge", 4000);
  await rank("reverse", 6000);

  const report = await quality(researcher, projectId);
  const p = report.judge.project;
  const close = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-9, `${a} ≈ ${b}`);
  assert.deepEqual([p.shown.submissions, p.shown.compared, p.shown.revealed, p.withheld.submissions, p.withheld.compared, p.withheld.revealed], [3, 3, 1, 2, 2, 0]);
  // Shown (1, 1, 0): mean 2/3, s² = ((1/3)² + (1/3)² + (2/3)²) / 2 = 1/3. Withheld (1, 0): mean 1/2, s² = 1/2.
  close(p.shown.meanAgreement, 2 / 3);
  close(p.withheld.meanAgreement, 1 / 2);
  const se = Math.sqrt(1 / 3 / 3 + 1 / 2 / 2);
  close(p.effect.difference, 1 / 6);
  close(p.effect.low, 1 / 6 - Z95 * se);
  close(p.effect.high, 1 / 6 + Z95 * se);
  assert.deepEqual([p.shown.meanMsOnTask, p.withheld.meanMsOnTask], [2000, 5000]);
  assert.equal(report.judge.status.source, "reward-model");
  assert.deepEqual(report.judge.positionBias, { applies: false, firstWon: 0, decided: 0, rate: null, expectedRate: null, consistency: { agreed: 0, compared: 0, rate: null } });
  const html = (await (await researcher.get(`/projects/${projectId}/quality`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(html, /data-testid="judge-position"[^>]*>n\/a</);
  const page = (await (await researcher.get(`/projects/${projectId}`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(page, /data-testid="judge-source"[^>]*>a reward model/);

  // Its own annotator, with its scores; the human exports do not carry it.
  const lines = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/judge.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 5);
  for (const line of lines) {
    assert.deepEqual(line.annotator, { kind: "judge", name: `reward-model:${rmId}/tiny test reward model` });
    assert.equal((line.scores as number[]).length, line.task_type === "compare" ? 2 : 3);
    assert.deepEqual(line.answers, []);
  }
  const rankings = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/rankings.jsonl`)).text()).trim().split("\n");
  assert.equal(rankings.length, 4);
  assert.ok(rankings.every((l) => !l.includes("reward-model:")));
});

test("an answer that used tools is judged as its transcript, as the reward model read it in training", { timeout: 300_000 }, async () => {
  const created = await researcher.json("POST", "/api/v1/projects", {
    access: "open", name: `RM judge tools ${Date.now()}`,
    settings: { k: 2, goldRate: 0, tools: ["calculator"], overlap: { rank: 1 }, taskWeights: { rank: 1, compare: 0, demonstrate: 0, review: 0 } },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;
  const rmId = await registerRewardModel(server.db, dataDir, rm.dir, projectId);
  // short enough for the tiny model's 64 tokens with its prompt
  const transcript = [
    { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: "1+1" } } }] },
    { role: "tool", name: "calculator", content: "2" },
    { role: "assistant", content: "good" },
  ];
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "sky", completions: [transcript, "bad"] }), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  await putSettings(projectId, (s) => ({ ...s, judge: { source: { kind: "reward-model", modelId: rmId }, suggestions: "shown", withheldShare: 0 } }));
  for (let i = 0; (await quality(researcher, projectId)).judge.status.done < 1; i++) {
    assert.ok(i < 600, "the judge did not answer");
    await new Promise((r) => setTimeout(r, 200));
  }
  const verdict = await server.db.selectFrom("judge_suggestions").innerJoin("tasks", "tasks.id", "judge_suggestions.task_id")
    .select(["judge_suggestions.detail", "tasks.completion_ids"]).where("judge_suggestions.project_id", "=", projectId).executeTakeFirstOrThrow();
  const withTools = await server.db.selectFrom("completions").select("id").where("id", "in", verdict.completion_ids).where("messages", "is not", null).executeTakeFirstOrThrow();
  const scored = await researcher.json("POST", `/api/v1/models/${rmId}/score`, { messages: [{ role: "user", content: "sky" }], completions: [transcript, "good"] });
  assert.equal(scored.status, 200, await scored.clone().text());
  const [asTranscript, asFinalWords] = ((await scored.json()) as { scores: number[] }).scores as [number, number];
  const judged = (verdict.detail.scores as number[])[verdict.completion_ids.indexOf(withTools.id)]!;
  assert.ok(Math.abs(judged - asTranscript) < 1e-5 && Math.abs(judged - asFinalWords) > 1e-4, `judged ${judged}: transcript ${asTranscript}, final words ${asFinalWords}`);
});
