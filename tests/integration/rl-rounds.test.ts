/**
 * The new round paths over HTTP with a real trainer service (issue #11): an SFT → GRPO round on a
 * project with the calculator, a checker and an eval set (steps, held-out report, tool transcripts
 * in the samples), a GRPO round that waits for it and starts from its policy (the comparison with
 * the previous policy), a KTO round from unpaired labels, and what a launch refuses, field named.
 * DPO rounds launched from those policies get DPOP's λ by their lineage when they leave it blank (decision 0064).
 * A reward → PPO round on the same project runs the calculator in its rollouts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { runTrainerService } from "../support/trainer-service.ts";
import { takeTask } from "../support/take-task.ts";

let server: TestServer;
let dataDir = "";
let researcher: HttpClient;
let projectId = "";
/** The SFT → GRPO chain's rounds and models, for the DPOP λ test after it. */
const chain = { round0: "", round1: "", sft: "", grpo: "", policy1: "" };

const tiny = {
  base: { init: { vocabSize: 320, blockSize: 96, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: 1 },
  sft: { steps: 3, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 1 } },
  grpo: { rollouts: 2, promptsPerRollout: 2, numGenerations: 2, maxCompletionLength: 12 },
  kto: { steps: 2, batchSize: 2, klCheck: { every: 0 } },
  evaluation: { maxNewTokens: 12 },
  next: { prompts: 2, maxNewTokens: 12, temperature: 1, seed: 3 },
};
const sums = Array.from({ length: 16 }, (_, i) => [10 + i, 3 + (i % 5)] as const);
const calc = (a: number, b: number) => [
  { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: `${a} + ${b}` } } }] },
  { role: "tool", name: "calculator", content: String(a + b) },
  { role: "assistant", content: `The answer is ${a + b}.` },
];

type RoundDetail = {
  state: string; error: string | null; steps: string[];
  jobs: Array<{ kind: string; state: string }>;
  models: Array<{ id: string; kind: string; parent_id: string | null }>;
  report: {
    heldOut: {
      samples: number; checker: { new: number | null; previous: number | null; scored: number; gained: number | null; lost: number | null } | null;
      kl: number | null; examples: unknown[];
      toolUse: { new: number; previous: number | null; started: number | null; stopped: number | null } | null;
    } | null;
    warnings: Array<{ code: string }>;
    samples: { tasks: number } | null;
  } | null;
};
const detailOf = async (id: string) => (await (await researcher.get(`/api/v1/rounds/${id}`)).json()) as RoundDetail;
const launch = (body: Record<string, unknown>) => researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, body);
const refusedAt = async (body: Record<string, unknown>, field: string) => {
  const response = await launch(body);
  const text = await response.text();
  assert.equal(response.status, 422, text);
  assert.ok((JSON.parse(text) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === field), `${field}: ${text}`);
};

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-rl-rounds-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_JOB_LEASE_SECONDS: "30" });
  researcher = (await server.newUser("researcher")).client;
  const created = await researcher.json("POST", "/api/v1/projects", {
    name: "Calculator loop", settings: { k: 2, overlap: { rank: 1, demonstrate: 1 }, goldRate: 0, tools: ["calculator"], checker: { kind: "numeric" } },
  });
  projectId = ((await created.json()) as { id: string }).id;
  // demonstrations that call the calculator, ranked pairs for KTO, training prompts with answers, an eval set
  const records = [
    ...sums.slice(0, 6).map(([a, b]) => ({ prompt: `What is ${a} + ${b}?`, metadata: { answer: a + b } })),
    ...sums.slice(6, 10).map(([a, b]) => ({ prompt: `What is ${a} + ${b}?`, completions: [calc(a, b), `The answer is ${a + b + 3}.`], metadata: { answer: a + b } })),
    ...sums.slice(10, 12).map(([a, b]) => ({ prompt: `What is ${a} + ${b}?`, metadata: { answer: a + b } })),
    ...sums.slice(12).map(([a, b]) => ({ prompt: `What is ${a} + ${b}?`, metadata: { answer: a + b }, split: "eval" })),
  ];
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  const labeler = (await server.newMember(projectId, "labeler")).client;
  for (let task = await takeTask(labeler, projectId), n = 0; task && n < 10; task = await takeTask(labeler, projectId), n++) {
    const [a, b] = task.messages.at(-1)!.content.match(/\d+/g)!.map(Number) as [number, number];
    const payload = task.taskType === "rank"
      ? { ranking: { tiers: [...task.completions].sort((x, y) => Number(y.text.includes(String(a + b))) - Number(x.text.includes(String(a + b)))).map((c) => [c.id]) } }
      : { text: `The answer is ${a + b}.`, toolTurns: calc(a, b).slice(0, 2) };
    const submitted = await labeler.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `rl-round-${task.assignmentId}`, payload });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test("a launch refuses rewards that do not fit, a checker field no prompt has, and a required eval set that is missing", async () => {
  await refusedAt({ name: "dpo with rewards", path: "sft-dpo", ...tiny, rewards: { checker: {} } }, "rewards.checker");
  await refusedAt({ name: "checker on another field", path: "sft-grpo", ...tiny, rewards: { format: { pattern: "(" } } }, "rewards.format.pattern");
  await refusedAt({ name: "no such reward model", path: "sft-grpo", ...tiny, rewards: { rewardModel: { modelId: "999999" } } }, "rewards.rewardModel.modelId");
  await refusedAt({ name: "reward model without a source", path: "sft-grpo", ...tiny, rewards: { rewardModel: {} } }, "rewards.rewardModel");
  await refusedAt({ name: "wait for nothing", path: "grpo", ...tiny, base: { afterRound: "999999" } }, "base.afterRound");
  // A project whose prompts lack the checker's field, and one without an eval set.
  const other = ((await (await researcher.json("POST", "/api/v1/projects", { name: "No answers", settings: { tools: ["calculator"], checker: { kind: "numeric", field: "solution" } } })).json()) as { id: string }).id;
  await researcher.json("POST", `/api/v1/projects/${other}/imports`, { content: JSON.stringify({ prompt: "What is 1 + 1?", metadata: { answer: 2 } }), commit: true });
  const labeler = (await server.newMember(other, "labeler")).client;
  const task = await takeTask(labeler, other);
  await labeler.json("POST", `/api/v1/assignments/${task!.assignmentId}/submit`, { idempotencyKey: `rl-other-${task!.assignmentId}`, payload: { text: "2" } });
  const response = await researcher.json("POST", `/api/v1/projects/${other}/rounds`, { name: "x", path: "sft-grpo", ...tiny });
  const problem = (await response.json()) as { errors: Array<{ path: string; message: string }> };
  assert.equal(response.status, 422);
  assert.match(problem.errors.find((e) => e.path === "rewards.checker")?.message ?? "", /metadata\.solution/);
  // PPO's reward model scores every answer: its default checker is not held to the field, one it is asked for is.
  // A ranked pair first, so that only the rewards can be wrong.
  await researcher.json("POST", `/api/v1/projects/${other}/imports`, { content: JSON.stringify({ prompt: "What is 2 + 2?", completions: ["4", "5"], metadata: { answer: 4 } }), commit: true });
  const rank = await takeTask(labeler, other);
  assert.equal(rank?.taskType, "rank");
  const ranked = await labeler.json("POST", `/api/v1/assignments/${rank!.assignmentId}/submit`, { idempotencyKey: `rl-other-rank-${rank!.assignmentId}`, payload: { ranking: { tiers: rank!.completions.map((c) => [c.id]) } } });
  assert.equal(ranked.status, 200, await ranked.clone().text());
  const ppoLaunch = async (rewards: Record<string, unknown>) => {
    const r = await researcher.json("POST", `/api/v1/projects/${other}/rounds`, { name: "ppo", path: "sft-reward-ppo", ...tiny, rewards });
    return { status: r.status, paths: r.status === 422 ? ((await r.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path) : [] };
  };
  const asked = await ppoLaunch({ checker: {}, rewardModel: {} });
  assert.ok(asked.paths.includes("rewards.checker"), JSON.stringify(asked));
  const blank = await ppoLaunch({});
  assert.equal(blank.status, 201, JSON.stringify(blank));
  const launchedPpo = (await server.db.selectFrom("rounds").select("id").where("project_id", "=", other).execute()).map((r) => r.id);
  assert.equal(launchedPpo.length, 1);
  // cancelled, so the trainer runs of the tests below do not train it
  for (const id of launchedPpo) await researcher.json("POST", `/api/v1/rounds/${id}/cancel`);
  // a tool-result reward where the project has no tools: no answer could have a result to state
  // a project with one prompt and its demonstration, so that only the rewards can be wrong
  const projectWithDemonstration = async (name: string, settings: Record<string, unknown>) => {
    const id = ((await (await researcher.json("POST", "/api/v1/projects", { name, settings })).json()) as { id: string }).id;
    await researcher.json("POST", `/api/v1/projects/${id}/imports`, { content: JSON.stringify({ prompt: "What is 1 + 1?", metadata: { answer: 2 } }), commit: true });
    const member = (await server.newMember(id, "labeler")).client;
    const demo = await takeTask(member, id);
    const submitted = await member.json("POST", `/api/v1/assignments/${demo!.assignmentId}/submit`, { idempotencyKey: `rl-demonstration-${id}-${demo!.assignmentId}`, payload: { text: "2" } });
    assert.equal(submitted.status, 200, await submitted.clone().text());
    return id;
  };
  const toolless = await projectWithDemonstration("No tools", { checker: { kind: "numeric" } });
  const noTools = await researcher.json("POST", `/api/v1/projects/${toolless}/rounds`, { name: "x", path: "sft-grpo", ...tiny, rewards: { checker: {}, toolResult: { weight: 0.5 } } });
  const noToolsProblem = (await noTools.json()) as { errors: Array<{ path: string; message: string }> };
  assert.equal(noTools.status, 422);
  assert.match(noToolsProblem.errors.find((e) => e.path === "rewards.toolResult")?.message ?? "", /declares no tools/, JSON.stringify(noToolsProblem));
  // partial credit per digit reads the numeric checker's field: refused where no prompt has it, and without a numeric checker
  const noDigits = await researcher.json("POST", `/api/v1/projects/${other}/rounds`, { name: "x", path: "sft-grpo", ...tiny, rewards: { digits: {} } });
  assert.equal(noDigits.status, 422);
  assert.match(((await noDigits.json()) as { errors: Array<{ path: string; message: string }> }).errors.find((e) => e.path === "rewards.digits")?.message ?? "", /digits term reads metadata\.solution/);
  const exact = await projectWithDemonstration("Exact", { checker: { kind: "exact" } });
  const exactDigits = await researcher.json("POST", `/api/v1/projects/${exact}/rounds`, { name: "x", path: "sft-grpo", ...tiny, rewards: { checker: {}, digits: { weight: 0.5 } } });
  assert.equal(exactDigits.status, 422);
  assert.match(((await exactDigits.json()) as { errors: Array<{ path: string; message: string }> }).errors.find((e) => e.path === "rewards.digits")?.message ?? "", /numeric checker/);
  const required = await researcher.json("POST", `/api/v1/projects/${other}/rounds`, { name: "x", path: "sft", ...tiny, evaluation: { heldOut: "required" } });
  assert.equal(required.status, 422);
  assert.ok(((await required.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "evaluation.heldOut"));
  assert.equal((await server.db.selectFrom("rounds").select("id").where("project_id", "in", [projectId, other, toolless, exact]).where("id", "not in", launchedPpo).execute()).length, 0, "nothing else was launched");
});

test("SFT → GRPO with the calculator and the checker, then a GRPO round that waits for it and starts from its policy", { timeout: 600_000 }, async () => {
  const first = await launch({ name: "Round 0", path: "sft-grpo", ...tiny });
  assert.equal(first.status, 201, await first.clone().text());
  const round0 = (await first.json()) as { id: string; steps: string[]; dataSnapshot: { evalSet: { count: number } } };
  assert.deepEqual(round0.steps, ["sft", "grpo", "evaluate", "sample"]);
  assert.equal(round0.dataSnapshot.evalSet.count, 4);
  // round 1 adds credit for stating the calculator's result, and partial credit per digit, beside the checker
  const second = await launch({ name: "Round 1", path: "grpo", ...tiny, base: { afterRound: round0.id }, klTarget: 50, rewards: { checker: {}, toolResult: { weight: 0.5 }, digits: { weight: 0.25 } } });
  assert.equal(second.status, 201, await second.clone().text());
  const round1 = (await second.json()) as { id: string };
  assert.equal((await detailOf(round1.id)).jobs.length, 0, "it waits: no job before round 0 is done");

  const { code, output } = await runTrainerService(server.url, await server.newToken("trainer"), { backend: "wasm", timeoutMs: 540_000 });
  assert.equal(code, 0, output);
  const done0 = await detailOf(round0.id);
  assert.equal(done0.state, "done", `${done0.error}\n${output.slice(-3000)}`);
  assert.deepEqual(done0.jobs.map((j) => j.kind), ["sft", "grpo", "evaluate", "sample"]);
  const [sft, grpo] = done0.models;
  assert.deepEqual([sft?.kind, grpo?.kind, grpo?.parent_id], ["sft", "policy", sft?.id]);
  const held = done0.report?.heldOut;
  assert.ok(held, JSON.stringify(done0.report));
  assert.equal(held.samples, 4);
  assert.equal(held.checker?.scored, 4);
  assert.ok(held.checker!.new! >= 0 && held.checker!.new! <= 1);
  assert.equal(held.checker?.previous, null, "round 0 started from scratch: no previous policy");
  assert.equal(held.checker?.gained, null, "no previous policy: nothing to pair");
  assert.ok(Number.isFinite(held.kl), "KL of the GRPO policy to its SFT reference");
  assert.ok(Array.isArray(done0.report?.warnings));
  // the project has tools: the share of answers that call one, with nothing to pair it with yet
  assert.ok(held.toolUse && held.toolUse.new >= 0 && held.toolUse.new <= 1, JSON.stringify(held.toolUse));
  assert.deepEqual([held.toolUse.previous, held.toolUse.started, held.toolUse.stopped], [null, null, null]);

  // GRPO's metrics, with TRL's names, reached the round's events
  const events = (await (await researcher.get(`/api/v1/rounds/${round0.id}/events`)).json()) as Array<{ kind: string; type: string; payload: Record<string, unknown> }>;
  const grpoMetrics = events.filter((e) => e.kind === "grpo" && e.type === "metrics");
  assert.equal(grpoMetrics.length, 2);
  for (const key of ["reward", "reward_std", "rewards/checker/mean", "kl", "completions/mean_length", "tools/call_frac"]) assert.ok(key in grpoMetrics[0]!.payload, key);

  // the follower ran from round 0's policy and is compared with it on the same eval set
  const done1 = await detailOf(round1.id);
  assert.equal(done1.state, "done", `${done1.error}\n${output.slice(-3000)}`);
  assert.equal(done1.models[0]?.parent_id, grpo?.id, "round 1's policy descends from round 0's");
  Object.assign(chain, { round0: round0.id, round1: round1.id, sft: sft!.id, grpo: grpo!.id, policy1: done1.models[0]!.id });
  const events1 = (await (await researcher.get(`/api/v1/rounds/${round1.id}/events`)).json()) as Array<{ kind: string; type: string; payload: Record<string, unknown> }>;
  const start1 = events1.find((e) => e.kind === "grpo" && e.type === "start");
  assert.deepEqual(start1?.payload["rewardSources"], [{ name: "checker", weight: 1 }, { name: "tool_result", weight: 0.5 }, { name: "digits", weight: 0.25 }]);
  const metrics1 = events1.filter((e) => e.kind === "grpo" && e.type === "metrics");
  assert.ok(metrics1.length > 0);
  for (const m of metrics1) {
    const digits = m.payload["rewards/digits/mean"] as number;
    assert.ok(digits >= (m.payload["rewards/checker/mean"] as number) && digits <= 1, "a right answer has every digit right: the digits mean is at least the checker's");
  }
  assert.ok(done1.report?.heldOut?.checker?.previous !== null && done1.report?.heldOut?.checker?.previous === held.checker?.new, "previous = round 0's held-out score (same prompts, decoding, seeds)");
  // the paired counts account for the change in the share, prompt by prompt
  const paired = done1.report!.heldOut!.checker!;
  assert.ok(paired.gained !== null && paired.lost !== null);
  assert.equal(paired.gained - paired.lost, Math.round((paired.new! - paired.previous!) * paired.scored));
  // and so do the tool-use counts
  const toolUse = done1.report!.heldOut!.toolUse!;
  assert.equal(toolUse.previous, held.toolUse.new);
  assert.ok(toolUse.started !== null && toolUse.stopped !== null);
  assert.equal(toolUse.started - toolUse.stopped, Math.round((toolUse.new - toolUse.previous!) * done1.report!.heldOut!.samples));

  // eval prompts never became tasks; sampled completions keep their transcripts
  const heldIds = (await server.db.selectFrom("prompts").select("id").where("project_id", "=", projectId).where("held_out", "=", true).execute()).map((p) => p.id);
  assert.equal((await server.db.selectFrom("tasks").select("id").where("prompt_id", "in", heldIds).execute()).length, 0);
});

test("DPO left without DPOP's λ gets 10 when an RL step taught its policy, else 0.3; the spec, the job and the page show it", async (t) => {
  assert.ok(chain.grpo, "needs the SFT → GRPO chain above");
  const dpo = { steps: 2, batchSize: 2, klCheck: { every: 0 } };
  const launched: string[] = [];
  t.after(async () => {
    // cancelled, so the trainer runs of the tests below do not train them
    for (const id of launched.reverse()) await researcher.json("POST", `/api/v1/rounds/${id}/cancel`);
  });
  const lambdaOf = async (body: Record<string, unknown>) => {
    const response = await launch({ ...tiny, evaluation: { heldOut: "off" }, next: { prompts: 0 }, path: "dpo", ...body, dpo: { ...dpo, ...(body["dpo"] as object) } });
    assert.equal(response.status, 201, await response.clone().text());
    const { id } = (await response.json()) as { id: string };
    launched.push(id);
    const round = (await (await researcher.get(`/api/v1/rounds/${id}`)).json()) as { spec: { dpo: { dpopLambda?: number } } };
    return { id, lambda: round.spec.dpo.dpopLambda };
  };
  // after a GRPO round, by round and by model; through a DPO round that follows it; through a model without a round
  const afterGrpo = await lambdaOf({ name: "DPO after GRPO", base: { afterRound: chain.round0 } });
  assert.equal(afterGrpo.lambda, 10);
  const job = await server.db.selectFrom("jobs").select("spec").where("round_id", "=", afterGrpo.id).where("kind", "=", "dpo").executeTakeFirstOrThrow();
  assert.equal((job.spec as { train: { dpopLambda: number } }).train.dpopLambda, 10, "the trainer is sent the λ the spec shows");
  const page = (await (await researcher.get(`/rounds/${afterGrpo.id}`, { accept: "text/html" })).text()).replace(/<!-- -->/g, "");
  assert.match(page, /dpo \(DPOP λ 10\)/);
  assert.equal((await lambdaOf({ name: "DPO from the GRPO-from-GRPO policy", base: { modelId: chain.policy1 } })).lambda, 10);
  assert.equal((await lambdaOf({ name: "DPO after DPO after GRPO", base: { afterRound: afterGrpo.id } })).lambda, 10, "the round it waits for trains DPO; the walk goes on to its base");
  const copy = (await server.db.insertInto("models").values({ project_id: projectId, round_id: null, parent_id: chain.grpo, name: "a copy of the GRPO policy", kind: "policy", storage_key: `dpop-walk-${Date.now()}`, config: JSON.stringify({}) }).returning("id").executeTakeFirstOrThrow()).id;
  assert.equal((await lambdaOf({ name: "DPO from a copy", base: { modelId: copy } })).lambda, 10);
  // no RL step behind: the SFT policy, and an SFT step inside the round
  assert.equal((await lambdaOf({ name: "DPO from SFT", base: { modelId: chain.sft } })).lambda, 0.3);
  assert.equal((await lambdaOf({ name: "SFT then DPO", path: "sft-dpo" })).lambda, 0.3);
  // a λ given is kept, 0 included
  assert.equal((await lambdaOf({ name: "plain DPO after GRPO", base: { afterRound: chain.round0 }, dpo: { dpopLambda: 0 } })).lambda, 0);
  assert.equal((await lambdaOf({ name: "λ 1 after GRPO", base: { modelId: chain.grpo }, dpo: { dpopLambda: 1 } })).lambda, 1);
});

test("reward → PPO on a project with tools and a checker: its rollouts run the tools, and it rewards the reward model plus the checker", { timeout: 300_000 }, async () => {
  assert.ok(chain.sft, "needs the SFT → GRPO chain above");
  const ppoRound = { path: "reward-ppo", ...tiny, base: { modelId: chain.sft }, evaluation: { heldOut: "off" }, next: { prompts: 0 } };
  // PPO's reward model is the round's own: rewards that leave it out, or name another, are refused with nothing written
  const rounds = async () => (await server.db.selectFrom("rounds").select("id").where("project_id", "=", projectId).execute()).length;
  const before = await rounds();
  await refusedAt({ ...ppoRound, name: "PPO without its reward model", rewards: { checker: {} } }, "rewards.rewardModel");
  await refusedAt({ ...ppoRound, name: "PPO with another reward model", rewards: { checker: {}, rewardModel: { modelId: chain.sft } } }, "rewards.rewardModel.modelId");
  assert.equal(await rounds(), before);
  const launched = await launch({
    name: "PPO with the calculator", path: "reward-ppo", ...tiny, base: { modelId: chain.sft }, evaluation: { heldOut: "off" }, next: { prompts: 0 }, klTarget: 50,
    reward: { steps: 2, batchSize: 2 }, ppo: { rolloutBatchSize: 2, miniBatchSize: 2, ppoEpochs: 1, rollouts: 2, responseLength: 12 },
  });
  assert.equal(launched.status, 201, await launched.clone().text());
  const round = (await launched.json()) as { id: string; steps: string[] };
  assert.deepEqual(round.steps, ["reward", "ppo"]);
  const { code, output } = await runTrainerService(server.url, await server.newToken("trainer"), { backend: "wasm" });
  assert.equal(code, 0, output);
  const done = await detailOf(round.id);
  assert.equal(done.state, "done", `${done.error}\n${output.slice(-3000)}`);
  const job = await server.db.selectFrom("jobs").select("spec").where("round_id", "=", round.id).where("kind", "=", "ppo").executeTakeFirstOrThrow();
  assert.deepEqual((job.spec as { tools?: string[] }).tools, ["calculator"]);
  // the round's KL target is PPO's too, and PPO stops at it as the other steps do (decision 0066)
  assert.deepEqual([(job.spec as { train: { klTarget: number } }).train.klTarget, (job.spec as { train: { klControl: string } }).train.klControl], [50, "early_stop"]);
  // rewards left blank: the project's checker beside the reward model, as GRPO's default (decision 0065)
  const reward = (job.spec as { reward?: { checker?: { kind: string }; weights: unknown } }).reward;
  assert.deepEqual([reward?.checker?.kind, reward?.weights], ["numeric", { checker: 1, rewardModel: 1 }]);
  const events = (await (await researcher.get(`/api/v1/rounds/${round.id}/events`)).json()) as Array<{ kind: string; type: string; payload: Record<string, unknown> }>;
  const start = events.find((e) => e.kind === "ppo" && e.type === "start")?.payload;
  assert.deepEqual(start?.["tools"], ["calculator"]);
  assert.ok(start?.["reward"], JSON.stringify(start));
  // the tool-running sampler made these rollouts: it counts the answers that called (plain sampling reports no such share)
  const metrics = events.filter((e) => e.kind === "ppo" && e.type === "metrics");
  assert.equal(metrics.length, 2);
  for (const m of metrics) {
    const share = m.payload["tools/call_frac"] as number;
    assert.ok(share >= 0 && share <= 1, JSON.stringify(m.payload));
    assert.equal(m.payload["kl_guard/target"], 50);
    // each source's mean is logged; the score is their sum (the checker gives 0 or 1 per answer)
    for (const key of ["rewards/checker/mean", "rewards/reward_model/mean", "objective/scores"]) assert.ok(Number.isFinite(m.payload[key]), key);
    assert.ok(Math.abs((m.payload["objective/scores"] as number) - (m.payload["rewards/checker/mean"] as number) - (m.payload["rewards/reward_model/mean"] as number)) < 1e-4);
  }
});

test("KTO from unpaired labels: ranked best and worst become desirable and undesirable answers", { timeout: 300_000 }, async () => {
  const launched = await launch({ name: "KTO", path: "sft-kto", ...tiny, evaluation: { heldOut: "off" }, next: { ...tiny.next, prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const round = (await launched.json()) as { id: string; steps: string[] };
  assert.deepEqual(round.steps, ["sft", "kto"]);
  const { code, output } = await runTrainerService(server.url, await server.newToken("trainer"), { backend: "wasm" });
  assert.equal(code, 0, output);
  const done = await detailOf(round.id);
  assert.equal(done.state, "done", `${done.error}\n${output.slice(-3000)}`);
  const events = (await (await researcher.get(`/api/v1/rounds/${round.id}/events`)).json()) as Array<{ kind: string; type: string; payload: Record<string, number> }>;
  const kto = events.filter((e) => e.kind === "kto" && e.type === "metrics");
  assert.equal(kto.length, 2);
  for (const key of ["loss", "rewards/chosen", "rewards/rejected", "kl"]) assert.ok(Number.isFinite(kto[0]!.payload[key]), key);
});

test("a chain of waiting rounds fails link by link when its first round is cancelled; a follower is retried only after what it waits for", async () => {
  const a = ((await (await launch({ name: "A", path: "sft", ...tiny, evaluation: { heldOut: "off" }, next: { prompts: 0 } })).json()) as { id: string }).id;
  const b = ((await (await launch({ name: "B", path: "grpo", ...tiny, base: { afterRound: a } })).json()) as { id: string }).id;
  const c = ((await (await launch({ name: "C", path: "grpo", ...tiny, base: { afterRound: b } })).json()) as { id: string }).id;
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${a}/cancel`)).status, 200);
  const [doneB, doneC] = [await detailOf(b), await detailOf(c)];
  assert.deepEqual([doneB.state, doneC.state], ["failed", "failed"]);
  assert.match(doneC.error ?? "", new RegExp(`round ${b}, which this round starts from, failed before it started`));
  // B cannot start before A does: its retry is refused while A is cancelled, and waits (no job) once A is retried
  const refused = await researcher.json("POST", `/api/v1/rounds/${b}/retry`);
  assert.equal(refused.status, 409, await refused.clone().text());
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${a}/retry`)).status, 200);
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${b}/retry`)).status, 200);
  const waiting = await detailOf(b);
  assert.deepEqual([waiting.state, waiting.jobs.length], ["queued", 0]);
  for (const id of [a, b]) await researcher.json("POST", `/api/v1/rounds/${id}/cancel`);
});
