/**
 * Reward-model scoring and the uncertainty-first queue (issue 16 item 2, decision 0048), over real
 * HTTP with real PostgreSQL and the trainer's inference worker: a tiny reward model trained here
 * (1) scores answers through POST /models/:id/score exactly as the trainer's own forward pass does;
 * (2) the background runner caches its scores per task, and claims serve the smallest margin first
 * ('uncertainty'), at random ('random') or in the normal order for unscored tasks ('fifo'), with the
 * rule stored on each assignment and no task over-assigned under concurrent claims; (3) settings
 * naming a model that is not this project's reward model are refused with the field named;
 * (4) adaptive overlap stops early on agreeing labels and a confident, agreeing reward model (0049);
 * (5) the disagreement rule (0053) serves first the tasks two successive rounds' reward models
 * disagree on most, measured from both models' scores, and keeps the normal order with one round.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { initBackend } from "../../trainer/backend/select-backend.ts";
import { readManifest } from "../../trainer/checkpoint/checkpoint.ts";
import { loadModel } from "../../trainer/checkpoint/load-model.ts";
import { disposeModel } from "../../trainer/model/lm.ts";
import { loadChatFormat } from "../../trainer/tokenizer/chat-format.ts";
import { scoreAnswers } from "../../trainer/service/inference-worker.ts";
import { scoreMargin } from "../../server/labeling/active/uncertainty-queue.ts";
import { rewardDisagreement } from "../../server/labeling/active/disagreement.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { BAD, GOOD, registerRewardModel, trainTinyRewardModel } from "../support/tiny-reward-model.ts";
import { registerTinyPolicy } from "../support/tiny-policy.ts";

let server: TestServer;
let dataDir = "";
let researcher: HttpClient;
let rm: { dir: string };

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-uncertainty-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_SCORE_POLL_MS: "100" });
  researcher = (await server.newUser("researcher")).client;
  rm = await trainTinyRewardModel(dataDir);
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

type Settings = Record<string, unknown>;
async function newProject(settings: Settings): Promise<string> {
  const created = await researcher.json("POST", "/api/v1/projects", { access: "open", name: `Uncertainty ${Date.now()}-${Math.random()}`, settings });
  assert.equal(created.status, 201, await created.clone().text());
  return ((await created.json()) as { id: string }).id;
}
async function putSettings(projectId: string, settings: Settings): Promise<Response> {
  const current = (await (await researcher.get(`/api/v1/projects/${projectId}`)).json()) as { name: string; settings: Settings };
  return researcher.json("PUT", `/api/v1/projects/${projectId}`, { name: current.name, settings: { ...current.settings, ...settings } });
}
const question = [{ role: "user", content: "question about the sky" }];

test("POST /models/:id/score: one reward per answer, the trainer's own forward pass, refused for a policy", { timeout: 300_000 }, async () => {
  const projectId = await newProject({});
  const modelId = await registerRewardModel(server.db, dataDir, rm.dir, projectId);
  const answers = [GOOD, BAD, "good answer", "the sea"];
  const response = await researcher.json("POST", `/api/v1/models/${modelId}/score`, { messages: question, completions: answers });
  assert.equal(response.status, 200, await response.clone().text());
  const { scores } = (await response.json()) as { scores: number[] };
  assert.equal(scores.length, answers.length);
  assert.ok(scores.every(Number.isFinite));
  assert.ok(scores[0]! > scores[1]!, `the trained preference: good ${scores[0]} > bad ${scores[1]}`);

  // The same numbers as the trainer's reward forward pass run here, in the test's own process.
  await initBackend({ prefer: "wasm" });
  const format = loadChatFormat(fs.readFileSync(path.join(rm.dir, "tokenizer.json"), "utf8"), readManifest(rm.dir).hf);
  const model = loadModel(rm.dir, { scalarHead: "reward", tokenizerHash: format.tokenizer.hash });
  try {
    const local = await scoreAnswers({ model, format }, { messages: question as never, completions: answers });
    local.forEach((s, i) => assert.ok(Math.abs(s - scores[i]!) < 1e-4, `answer ${i}: worker ${scores[i]} vs trainer ${s}`));
  } finally {
    disposeModel(model);
  }

  // Not a reward model, or a bad request: refused, the field named.
  const policyId = await registerTinyPolicy(server.db, dataDir, projectId);
  const refused = await researcher.json("POST", `/api/v1/models/${policyId}/score`, { messages: question, completions: answers });
  assert.equal(refused.status, 422);
  assert.match(((await refused.json()) as { detail: string }).detail, /only a reward model scores/);
  const empty = await researcher.json("POST", `/api/v1/models/${modelId}/score`, { messages: question, completions: [] });
  assert.equal(empty.status, 422);
  assert.ok(((await empty.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "completions"));
});

test("an answer that used tools is scored as its transcript, as the reward model read it in training: through the API and by the queue's runner", { timeout: 300_000 }, async () => {
  const projectId = await newProject({ k: 2, overlap: { rank: 1 }, goldRate: 0, tools: ["calculator"], taskWeights: { rank: 1, demonstrate: 0, compare: 0, review: 0 } });
  const modelId = await registerRewardModel(server.db, dataDir, rm.dir, projectId);
  // short enough for the tiny model's 64 tokens with its prompt
  const sky = [{ role: "user", content: "sky" }];
  const transcript = [
    { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: "1+1" } } }] },
    { role: "tool", name: "calculator", content: "2" },
    { role: "assistant", content: "good" },
  ];
  const response = await researcher.json("POST", `/api/v1/models/${modelId}/score`, { messages: sky, completions: [transcript, "good"] });
  assert.equal(response.status, 200, await response.clone().text());
  const [asTranscript, asFinalWords] = ((await response.json()) as { scores: number[] }).scores as [number, number];
  assert.ok(Math.abs(asTranscript - asFinalWords) > 1e-4, `the call and its result are read: ${asTranscript} vs the final words' ${asFinalWords}`);
  await initBackend({ prefer: "wasm" });
  const format = loadChatFormat(fs.readFileSync(path.join(rm.dir, "tokenizer.json"), "utf8"), readManifest(rm.dir).hf);
  const model = loadModel(rm.dir, { scalarHead: "reward", tokenizerHash: format.tokenizer.hash });
  try {
    const [local] = await scoreAnswers({ model, format }, { messages: sky as never, completions: [transcript as never] });
    assert.ok(Math.abs(local! - asTranscript) < 1e-4, `worker ${asTranscript} vs trainer ${local}`);
  } finally {
    disposeModel(model);
  }
  // an answer is assistant and tool messages: anything else is refused, the field named
  const refused = await researcher.json("POST", `/api/v1/models/${modelId}/score`, { messages: sky, completions: [[{ role: "user", content: "hi" }]] });
  assert.equal(refused.status, 422, await refused.clone().text());
  assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path.startsWith("completions.0")));

  // the queue's runner scores a ranking task whose answer used the calculator the same way
  const saved = await putSettings(projectId, { uncertaintyQueue: { enabled: true, rewardModelId: modelId, randomShare: 0 } });
  assert.equal(saved.status, 200, await saved.clone().text());
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "sky", completions: [transcript, "bad"] }), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  await waitForScores(projectId, 1);
  const cached = await server.db.selectFrom("reward_scores").innerJoin("tasks", "tasks.id", "reward_scores.task_id")
    .select(["reward_scores.scores", "tasks.completion_ids"]).where("reward_scores.project_id", "=", projectId).executeTakeFirstOrThrow();
  const withTools = await server.db.selectFrom("completions").select("id").where("id", "in", cached.completion_ids).where("messages", "is not", null).executeTakeFirstOrThrow();
  const scored = cached.scores![cached.completion_ids.indexOf(withTools.id)]!;
  assert.ok(Math.abs(scored - asTranscript) < 1e-4, `the runner's ${scored} is the transcript's ${asTranscript}, not the final words' ${asFinalWords}`);
});

test("settings: the queue's reward model must be a reward model of this project; randomShare in [0, 1]", { timeout: 120_000 }, async () => {
  const projectId = await newProject({});
  const otherProject = await newProject({});
  const otherRm = await server.db
    .insertInto("models")
    .values({ project_id: otherProject, round_id: null, parent_id: null, name: "other rm", kind: "reward", storage_key: `other-rm-${Date.now()}`, config: "{}" })
    .returning("id").executeTakeFirstOrThrow();
  const policy = await server.db
    .insertInto("models")
    .values({ project_id: projectId, round_id: null, parent_id: null, name: "a policy", kind: "policy", storage_key: `policy-${Date.now()}`, config: "{}" })
    .returning("id").executeTakeFirstOrThrow();
  const cases: Array<[Settings, string, RegExp]> = [
    [{ enabled: true, rewardModelId: policy.id }, "settings.uncertaintyQueue.rewardModelId", /choose a reward model/],
    [{ enabled: true, rewardModelId: otherRm.id }, "settings.uncertaintyQueue.rewardModelId", /another project/],
    [{ enabled: true, rewardModelId: "999999999" }, "settings.uncertaintyQueue.rewardModelId", /no such/],
    [{ enabled: true, rewardModelId: "rm-1" }, "settings.uncertaintyQueue.rewardModelId", /model id/],
    [{ enabled: true, randomShare: 1.5 }, "settings.uncertaintyQueue.randomShare", /./],
    // The disagreement rule's other model (decision 0053): the same checks, and not the model itself.
    [{ enabled: true, rule: "disagreement", previousRewardModelId: otherRm.id }, "settings.uncertaintyQueue.previousRewardModelId", /another project/],
    [{ enabled: true, rule: "disagreement", previousRewardModelId: policy.id }, "settings.uncertaintyQueue.previousRewardModelId", /choose a reward model/],
    [{ enabled: true, rule: "disagreement", rewardModelId: "12", previousRewardModelId: "12" }, "settings.uncertaintyQueue.previousRewardModelId", /another model/],
    [{ enabled: true, rule: "entropy" }, "settings.uncertaintyQueue.rule", /./],
  ];
  for (const [uncertaintyQueue, field, message] of cases) {
    const response = await putSettings(projectId, { uncertaintyQueue });
    assert.equal(response.status, 422, `${JSON.stringify(uncertaintyQueue)}: ${await response.clone().text()}`);
    const problem = (await response.json()) as { errors: Array<{ path: string; message: string }> };
    const named = problem.errors.find((e) => e.path === field);
    assert.ok(named, `${JSON.stringify(uncertaintyQueue)} names ${field}: ${JSON.stringify(problem.errors)}`);
    assert.match(named.message, message);
  }
  const stored = (await (await researcher.get(`/api/v1/projects/${projectId}`)).json()) as { settings: { uncertaintyQueue: Settings } };
  assert.deepEqual(stored.settings.uncertaintyQueue, { enabled: false, rule: "margin", rewardModelId: null, previousRewardModelId: null, randomShare: 0.3 }, "nothing saved; off by default");

  // Without a named model the queue uses the latest round's reward model.
  const round = await server.db.insertInto("rounds").values({ project_id: projectId, name: "r1", spec: "{}", steps: "[]", data_snapshot: "{}" }).returning("id").executeTakeFirstOrThrow();
  const roundRm = await server.db
    .insertInto("models")
    .values({ project_id: projectId, round_id: round.id, parent_id: null, name: "round rm", kind: "reward", storage_key: `round-rm-${Date.now()}`, config: "{}" })
    .returning("id").executeTakeFirstOrThrow();
  const state = (await (await researcher.get(`/api/v1/projects/${projectId}/uncertainty-queue`)).json()) as { rewardModelId: string | null; enabled: boolean };
  assert.equal(state.enabled, false);
  assert.equal(state.rewardModelId, roundRm.id);
});

type Claim = { assignmentId: string; taskId: string };
async function claimAndSubmit(labeler: HttpClient, projectId: string): Promise<Claim | null> {
  const claim = await labeler.json("POST", `/api/v1/projects/${projectId}/next-task`);
  assert.equal(claim.status, 200, await claim.clone().text());
  const body = (await claim.json()) as { assignmentId: string } | null;
  if (!body) return null;
  const view = (await (await labeler.get(`/api/v1/assignments/${body.assignmentId}`)).json()) as { taskId?: string; completions: Array<{ id: string }> };
  const submitted = await labeler.json("POST", `/api/v1/assignments/${body.assignmentId}/submit`, {
    idempotencyKey: `uncertainty-${body.assignmentId}`,
    payload: { ranking: { tiers: view.completions.map((c) => [c.id]) } },
  });
  assert.equal(submitted.status, 200, await submitted.clone().text());
  const row = await server.db.selectFrom("assignments").select("task_id").where("id", "=", body.assignmentId).executeTakeFirstOrThrow();
  return { assignmentId: body.assignmentId, taskId: row.task_id };
}

const items = [
  [GOOD, BAD],
  ["good answer", "bad answer"],
  ["good bad answer", "bad good answer"],
  ["the sky", "the sea"],
  ["one two three", "one three two"],
  ["fine so good", "so fine bad"],
];

async function importItems(projectId: string, tag: string): Promise<void> {
  const records = items.map((completions, i) => ({ prompt: `question ${tag} ${i} about the sky`, completions }));
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
}

type QueueState = { rewardModelId: string | null; scores: { done: number; running: number; failed: number; openUnscored: number }; servedBy: Record<string, number> };
async function waitForScores(projectId: string, done: number): Promise<QueueState> {
  for (let i = 0; i < 600; i++) {
    const state = (await (await researcher.get(`/api/v1/projects/${projectId}/uncertainty-queue`)).json()) as QueueState;
    assert.equal(state.scores.failed, 0, JSON.stringify(await server.db.selectFrom("reward_scores").select("message").where("state", "=", "failed").execute()));
    if (state.scores.done >= done && state.scores.running === 0) return state;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("the runner did not score the tasks");
}

test("uncertainty-first: smallest reward-model margin first, unscored tasks after in the normal order, the rule stored per claim", { timeout: 300_000 }, async () => {
  const projectId = await newProject({ k: 2, overlap: { rank: 1 }, goldRate: 0, taskWeights: { rank: 1, demonstrate: 0, compare: 0, review: 0 } });
  const modelId = await registerRewardModel(server.db, dataDir, rm.dir, projectId);
  const saved = await putSettings(projectId, { uncertaintyQueue: { enabled: true, rewardModelId: modelId, randomShare: 0 } });
  assert.equal(saved.status, 200, await saved.clone().text());
  await importItems(projectId, "u");
  const state = await waitForScores(projectId, items.length);
  assert.equal(state.rewardModelId, modelId);
  assert.equal(state.scores.openUnscored, 0);

  // The cache: one row per task, scores in completion order, margin = top − runner-up.
  const cached = await server.db.selectFrom("reward_scores").innerJoin("tasks", "tasks.id", "reward_scores.task_id")
    .select(["reward_scores.task_id", "reward_scores.scores", "reward_scores.margin", "tasks.completion_ids"])
    .where("reward_scores.project_id", "=", projectId).execute();
  assert.equal(cached.length, items.length);
  for (const row of cached) {
    assert.equal(row.scores!.length, row.completion_ids.length);
    assert.ok(Math.abs(row.margin! - scoreMargin(row.scores!)) < 1e-9);
  }
  // Two tasks lose their score (as if scored by nothing yet): they come after every scored one, oldest first.
  const byId = [...cached].sort((a, b) => Number(a.task_id) - Number(b.task_id));
  const unscored = [byId[1]!.task_id, byId[4]!.task_id];
  await server.db.updateTable("reward_scores").set({ state: "failed", message: "test: pretend unscored" }).where("task_id", "in", unscored).execute();
  const scored = cached.filter((r) => !unscored.includes(r.task_id)).sort((a, b) => a.margin! - b.margin! || Number(a.task_id) - Number(b.task_id));
  const expected = [...scored.map((r) => r.task_id), ...unscored];
  assert.notDeepEqual(expected, byId.map((r) => r.task_id), "the margins put the tasks out of their normal order (else this test shows nothing)");

  const labeler = (await server.newUser("labeler")).client;
  const served: string[] = [];
  for (let claim = await claimAndSubmit(labeler, projectId); claim; claim = await claimAndSubmit(labeler, projectId)) served.push(claim.taskId);
  assert.deepEqual(served, expected, "least certain first, then the unscored in id order");
  const rules = await server.db.selectFrom("assignments").select(["task_id", "served_by"]).where("task_id", "in", expected).execute();
  for (const r of rules) assert.equal(r.served_by, unscored.includes(r.task_id) ? "fifo" : "uncertainty", `task ${r.task_id}`);
  const after_ = (await (await researcher.get(`/api/v1/projects/${projectId}/uncertainty-queue`)).json()) as QueueState;
  assert.deepEqual(after_.servedBy, { uncertainty: items.length - 2, disagreement: 0, random: 0, fifo: 2, unrecorded: 0 });
});

test("randomShare 1 serves at random; eight labelers at once never over-assign a task", { timeout: 300_000 }, async () => {
  const projectId = await newProject({ k: 2, overlap: { rank: 2 }, goldRate: 0, taskWeights: { rank: 1, demonstrate: 0, compare: 0, review: 0 } });
  const modelId = await registerRewardModel(server.db, dataDir, rm.dir, projectId);
  assert.equal((await putSettings(projectId, { uncertaintyQueue: { enabled: true, rewardModelId: modelId, randomShare: 1 } })).status, 200);
  await importItems(projectId, "r");
  await importItems(projectId, "s");
  await waitForScores(projectId, 2 * items.length);

  const labelers = await Promise.all(Array.from({ length: 8 }, () => server.newUser("labeler")));
  await Promise.all(labelers.map(async (l) => {
    while (await claimAndSubmit(l.client, projectId));
  }));
  const tasks = await server.db.selectFrom("tasks").select(["id", "overlap_target", "state"]).where("project_id", "=", projectId).execute();
  for (const t of tasks) {
    const labels = await server.db.selectFrom("assignments").select(["user_id", "served_by", "state"]).where("task_id", "=", t.id).execute();
    assert.equal(labels.filter((a) => a.state === "submitted").length, t.overlap_target, `task ${t.id}: exactly its overlap`);
    assert.equal(new Set(labels.map((a) => a.user_id)).size, labels.length, `task ${t.id}: nobody twice`);
    assert.ok(labels.every((a) => a.served_by === "random"), `task ${t.id}: served at random`);
    assert.equal(t.state, "complete");
  }
});

test("adaptive overlap stops early when the first labels agree and the reward model is confident and agrees", { timeout: 300_000 }, async () => {
  const adaptiveOverlap = { enabled: true, start: 3, max: 3, agreementBelow: 0.75, earlyStop: { after: 2, confidentMargin: 1_000_000 } };
  const projectId = await newProject({ k: 2, goldRate: 0, adaptiveOverlap, taskWeights: { rank: 1, demonstrate: 0, compare: 0, review: 0 } });
  const modelId = await registerRewardModel(server.db, dataDir, rm.dir, projectId);
  // The queue stays in its normal order; the setting only names the reward model.
  assert.equal((await putSettings(projectId, { uncertaintyQueue: { enabled: false, rewardModelId: modelId, randomShare: 0.3 } })).status, 200);
  // Two clear items (the trained good-vs-bad contrast) and the rest.
  const records = [[GOOD, BAD], [GOOD, BAD], [GOOD, BAD], ...items.slice(1)].map((completions, i) => ({ prompt: `question early ${i} about the sea`, completions }));
  assert.equal((await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true })).status, 200);
  const done = await waitForScores(projectId, records.length);
  assert.equal(done.scores.done, records.length, "scored for early stop although the queue is not uncertainty-first");

  // The threshold between the two clear items and the rest.
  const rows = await server.db.selectFrom("reward_scores").innerJoin("tasks", "tasks.id", "reward_scores.task_id").innerJoin("prompts", "prompts.id", "tasks.prompt_id")
    .select(["reward_scores.task_id", "reward_scores.margin", "prompts.messages"]).where("reward_scores.project_id", "=", projectId).orderBy("reward_scores.task_id").execute();
  const clear = rows.slice(0, 3);
  const rest = rows.slice(3);
  const low = Math.min(...clear.map((r) => r.margin!));
  const high = Math.max(...rest.map((r) => r.margin!));
  assert.ok(low > high, `the clear items have the largest margins (${low} vs ${high})`);
  const confidentMargin = (low + high) / 2;
  const saved = await putSettings(projectId, { adaptiveOverlap: { ...adaptiveOverlap, earlyStop: { after: 2, confidentMargin } } });
  assert.equal(saved.status, 200, await saved.clone().text());

  // Two labelers agree everywhere: the clear items as the model does (GOOD first), except one against it.
  // A third labeler takes the oldest item between them: its lease is live when the second label comes.
  const held = clear[0]!.task_id;
  const first = clear[1]!.task_id;
  const against = clear[2]!.task_id;
  const rank = async (labeler: HttpClient) => {
    for (;;) {
      const claim = await labeler.json("POST", `/api/v1/projects/${projectId}/next-task`);
      const body = (await claim.json()) as { assignmentId: string } | null;
      if (!body) return;
      const row = await server.db.selectFrom("assignments").select("task_id").where("id", "=", body.assignmentId).executeTakeFirstOrThrow();
      const view = (await (await labeler.get(`/api/v1/assignments/${body.assignmentId}`)).json()) as { completions: Array<{ id: string; text: string }> };
      const good = view.completions.find((c) => c.text === GOOD);
      const ordered = good ? [good, ...view.completions.filter((c) => c !== good)] : [...view.completions].sort((a, b) => a.text.localeCompare(b.text));
      const tiers = (row.task_id === against ? [...ordered].reverse() : ordered).map((c) => [c.id]);
      const submitted = await labeler.json("POST", `/api/v1/assignments/${body.assignmentId}/submit`, { idempotencyKey: `early-${body.assignmentId}`, payload: { ranking: { tiers } } });
      assert.equal(submitted.status, 200, await submitted.clone().text());
    }
  };
  const [one, two, three] = [await server.newUser("labeler"), await server.newUser("labeler"), await server.newUser("labeler")];
  await rank(one.client);
  const third = (await (await three.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string };
  assert.equal((await server.db.selectFrom("assignments").select("task_id").where("id", "=", third.assignmentId).executeTakeFirstOrThrow()).task_id, held);
  await rank(two.client);
  const heldTask = await server.db.selectFrom("tasks").select(["state", "overlap_target"]).where("id", "=", held).executeTakeFirstOrThrow();
  assert.deepEqual([heldTask.state, heldTask.overlap_target], ["open", 3], "someone is labeling it now: no early stop, their label counts");
  assert.equal((await three.client.json("POST", `/api/v1/assignments/${third.assignmentId}/skip`, { reason: "done with the check" })).status, 200);

  const tasks = await server.db.selectFrom("tasks").select(["id", "state", "overlap_target"]).where("project_id", "=", projectId).execute();
  for (const t of tasks) {
    const labels = await server.db.selectFrom("submissions").select("id").where("task_id", "=", t.id).execute();
    assert.equal(labels.length, 2, `task ${t.id}: two labels so far`);
    if (t.id === held) continue;
    if (t.id === first) assert.deepEqual([t.state, t.overlap_target], ["complete", 2], "agreeing labels, a confident model that agrees: stopped at two");
    else if (t.id === against) assert.deepEqual([t.state, t.overlap_target], ["open", 3], "the confident model prefers the other answer: a third label");
    else assert.deepEqual([t.state, t.overlap_target], ["open", 3], `task ${t.id}: the model is not confident: a third label`);
  }

  // Settings out of range are refused with the field named.
  const bad = await putSettings(projectId, { adaptiveOverlap: { ...adaptiveOverlap, earlyStop: { after: 3, confidentMargin: 1 } } });
  assert.equal(bad.status, 422);
  assert.ok(((await bad.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "settings.adaptiveOverlap.earlyStop.after"));
});

test("disagreement rule: the largest disagreement between successive rounds' reward models first, as the pure measure computes it from their scores, the rule stored per claim", { timeout: 300_000 }, async () => {
  const onlyCurrent = { k: 2, overlap: { rank: 1 }, goldRate: 0, taskWeights: { rank: 1, demonstrate: 0, compare: 0, review: 0 } };
  const newRound = async (projectId: string, name: string) =>
    (await server.db.insertInto("rounds").values({ project_id: projectId, name, spec: "{}", steps: "[]", data_snapshot: "{}" }).returning("id").executeTakeFirstOrThrow()).id;

  // One round so far: nothing to disagree with, so claims keep the normal order.
  const single = await newProject(onlyCurrent);
  const onlyRm = await registerRewardModel(server.db, dataDir, rm.dir, single, await newRound(single, "r1"));
  assert.equal((await putSettings(single, { uncertaintyQueue: { enabled: true, rule: "disagreement", rewardModelId: null, previousRewardModelId: null, randomShare: 0 } })).status, 200);
  await importItems(single, "single");
  const alone = (await (await researcher.get(`/api/v1/projects/${single}/uncertainty-queue`)).json()) as QueueState & { rule: string; previousRewardModelId: string | null };
  assert.deepEqual([alone.rule, alone.rewardModelId, alone.previousRewardModelId], ["disagreement", onlyRm, null]);
  const lone = await claimAndSubmit((await server.newUser("labeler")).client, single);
  assert.equal((await server.db.selectFrom("assignments").select("served_by").where("id", "=", lone!.assignmentId).executeTakeFirstOrThrow()).served_by, "fifo");

  // Two rounds: the earlier reward model is another, weaker one (another seed, a few steps).
  const projectId = await newProject(onlyCurrent);
  const earlier = await trainTinyRewardModel(dataDir, { seed: 11, steps: 4 });
  const previousId = await registerRewardModel(server.db, dataDir, earlier.dir, projectId, await newRound(projectId, "r1"));
  const currentId = await registerRewardModel(server.db, dataDir, rm.dir, projectId, await newRound(projectId, "r2"));
  assert.equal((await putSettings(projectId, { uncertaintyQueue: { enabled: true, rule: "disagreement", rewardModelId: null, previousRewardModelId: null, randomShare: 0 } })).status, 200);
  await importItems(projectId, "d");
  type DisagreementState = QueueState & { previousRewardModelId: string | null; disagreements: number };
  const read = async () => (await (await researcher.get(`/api/v1/projects/${projectId}/uncertainty-queue`)).json()) as DisagreementState;
  let state = await read();
  for (let i = 0; i < 600 && state.disagreements < items.length; i++) {
    assert.equal(state.scores.failed, 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    state = await read();
  }
  assert.equal(state.disagreements, items.length, `measured: ${JSON.stringify(state)}`);
  assert.deepEqual([state.rewardModelId, state.previousRewardModelId], [currentId, previousId], "the latest round's model against the round before");

  // Each stored disagreement is the measure of the two models' scores, as POST /models/:id/score gives them.
  const rows = await server.db.selectFrom("reward_scores").innerJoin("tasks", "tasks.id", "reward_scores.task_id").innerJoin("prompts", "prompts.id", "tasks.prompt_id")
    .select(["reward_scores.task_id", "reward_scores.disagreement", "reward_scores.compared_model_id", "tasks.completion_ids", "prompts.messages"])
    .where("reward_scores.project_id", "=", projectId).where("reward_scores.model_id", "=", currentId).orderBy("reward_scores.task_id").execute();
  assert.equal(rows.length, items.length);
  const texts = new Map((await server.db.selectFrom("completions").select(["id", "text"]).where("id", "in", rows.flatMap((r) => r.completion_ids)).execute()).map((c) => [c.id, c.text]));
  const scoresOf = async (modelId: string, row: (typeof rows)[number]) => {
    const response = await researcher.json("POST", `/api/v1/models/${modelId}/score`, { messages: row.messages, completions: row.completion_ids.map((id) => texts.get(id)) });
    assert.equal(response.status, 200);
    return ((await response.json()) as { scores: number[] }).scores;
  };
  for (const row of rows) {
    assert.equal(row.compared_model_id, previousId);
    const expected = rewardDisagreement(await scoresOf(currentId, row), await scoresOf(previousId, row));
    assert.ok(Math.abs(row.disagreement! - expected) < 1e-6, `task ${row.task_id}: stored ${row.disagreement} vs ${expected}`);
  }

  // Two tasks lose their measure (the earlier model could not score them): they come after every measured one, oldest first.
  const unmeasured = [rows[0]!.task_id, rows[3]!.task_id];
  await server.db.updateTable("reward_scores").set({ state: "failed", message: "test: pretend unscored" }).where("task_id", "in", unmeasured).where("model_id", "=", previousId).execute();
  await server.db.updateTable("reward_scores").set({ disagreement: null, compared_model_id: null }).where("task_id", "in", unmeasured).where("model_id", "=", currentId).execute();
  const measured = rows.filter((r) => !unmeasured.includes(r.task_id)).sort((a, b) => b.disagreement! - a.disagreement! || Number(a.task_id) - Number(b.task_id));
  const expected = [...measured.map((r) => r.task_id), ...unmeasured];
  assert.notDeepEqual(expected, rows.map((r) => r.task_id), "the disagreements put the tasks out of their normal order (else this test shows nothing)");

  const labeler = (await server.newUser("labeler")).client;
  const served: string[] = [];
  for (let claim = await claimAndSubmit(labeler, projectId); claim; claim = await claimAndSubmit(labeler, projectId)) served.push(claim.taskId);
  assert.deepEqual(served, expected, "largest disagreement first, then the unmeasured in id order");
  const rules = await server.db.selectFrom("assignments").select(["task_id", "served_by"]).where("task_id", "in", expected).execute();
  for (const r of rules) assert.equal(r.served_by, unmeasured.includes(r.task_id) ? "fifo" : "disagreement", `task ${r.task_id}`);
  const after_ = (await (await researcher.get(`/api/v1/projects/${projectId}/uncertainty-queue`)).json()) as QueueState;
  assert.deepEqual(after_.servedBy, { uncertainty: 0, disagreement: items.length - 2, random: 0, fifo: 2, unrecorded: 0 });
});
