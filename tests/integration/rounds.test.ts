/**
 * The loop through the API only: labelers rank and demonstrate, a researcher launches an
 * SFT → DPO round, a real trainer service (a child process with a trainer token, talking
 * HTTP) trains it, registers the models and samples the next batch, and new ranking tasks
 * from the new policy reach a labeler. Also: refused specs, leases held by someone else,
 * expiry and re-claim, cancel and retry.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { strFromU8, unzipSync } from "fflate";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { insertPrompts } from "../../server/labeling/prompts.server.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { runTrainerService as runService } from "../support/trainer-service.ts";

const LEASE_SECONDS = 5;
let server: TestServer;
let dataDir = "";
before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-rounds-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_JOB_LEASE_SECONDS: String(LEASE_SECONDS) });
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const tiny = {
  base: { init: { vocabSize: 300, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: 1 },
  sft: { steps: 3, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 1, totalSteps: 3 } },
  dpo: { steps: 2, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 1, totalSteps: 2 } },
  reward: { steps: 2, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 1 } },
  ppo: { rolloutBatchSize: 2, miniBatchSize: 2, ppoEpochs: 1, rollouts: 1, responseLength: 4 },
  next: { prompts: 3, maxNewTokens: 6, temperature: 1, seed: 7 },
};

/** Six questions; the first three come with k answers to rank (the right one, then wrong ones). */
async function seededProject(researcher: HttpClient, k: 2 | 3 = 2): Promise<string> {
  const created = await researcher.json("POST", "/api/v1/projects", { name: "Loop", settings: projectSettingsSchema.parse({ k, overlap: { rank: 1, demonstrate: 1 } }) });
  const projectId = ((await created.json()) as { id: string }).id;
  const project = await getProject(server.db, projectId);
  const questions = ["What is 2 + 3?", "What is 7 - 4?", "What is 3 × 3?", "What is 10 / 2?", "What is 6 + 6?", "What is 9 - 1?"];
  await server.db.transaction().execute((trx) =>
    insertPrompts(
      trx,
      projectId,
      project.settings,
      questions.map((q, i) => ({
        messages: [{ role: "user" as const, content: q }],
        completions: i < 3 ? [{ text: `The answer is ${i + 5}.`, model: "seed" }, { text: "I do not know.", model: "seed" }, ...(k === 3 ? [{ text: "Maybe 4.", model: "seed" }] : [])] : [],
        source: null, metadata: {}, contentHash: `loop-${projectId}-${i}`, minhash: "", status: "active" as const,
      })),
      null,
    ),
  );
  return projectId;
}

async function labelEverything(labeler: HttpClient, projectId: string): Promise<number> {
  let done = 0;
  for (;;) {
    const claim = (await (await labeler.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
    if (!claim) return done;
    const view = (await (await labeler.json("GET", `/api/v1/assignments/${claim.assignmentId}`)).json()) as { taskType: string; completions: Array<{ id: string; text: string }> };
    const sorted = [...view.completions].sort((a, b) => Number(b.text.startsWith("The answer")) - Number(a.text.startsWith("The answer")));
    const payload = view.taskType === "rank" ? { ranking: { tiers: sorted.map((c) => [c.id]) } } : { text: "The answer is 12." };
    const response = await labeler.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `loop-key-${claim.assignmentId}`, payload, timings: {} });
    assert.equal(response.status, 200, await response.clone().text());
    done++;
  }
}

/** The real trainer service, as its own process, until the queue is empty. */
const runTrainerService = (token: string) => runService(server.url, token, { backend: "wasm" });

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** Set by the first test, continued by the third: the project and the policy round 1 made. */
const first = { projectId: "", policyId: "", researcher: null as HttpClient | null };

test("launch → train (SFT, DPO) → registered models → sampled ranking tasks, all over HTTP", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher);
  const labeler = await server.newMember(projectId, "labeler");
  assert.equal(await labelEverything(labeler.client, projectId), 6);

  // A spec that fails validation is refused with the field named, and nothing is launched.
  const bad = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "bad", path: "sft-dpo", ...tiny, sft: { steps: -1 } });
  assert.equal(bad.status, 422);
  const problem = (await bad.json()) as { errors: Array<{ path: string }> };
  assert.ok(problem.errors.some((e) => e.path === "sft.steps"), JSON.stringify(problem));
  const scratchDpo = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "bad", path: "dpo", ...tiny });
  assert.equal(scratchDpo.status, 422);
  assert.ok(((await scratchDpo.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "base"));
  assert.equal((await server.db.selectFrom("rounds").select("id").where("project_id", "=", projectId).execute()).length, 0);

  const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Round 1", path: "sft-dpo", ...tiny });
  assert.equal(launched.status, 201, await launched.clone().text());
  const round = (await launched.json()) as { id: string; steps: string[]; dataSnapshot: { counts: Record<string, number>; hash: string; ranges: number[][] } };
  assert.deepEqual(round.steps, ["sft", "dpo", "sample"]);
  assert.deepEqual(round.dataSnapshot.counts, { demonstrate: 3, rank: 3, review: 0, compare: 0 });
  assert.match(round.dataSnapshot.hash, /^[0-9a-f]{64}$/);

  // A trainer token is not a person: it cannot take labeling work.
  const trainerA = await server.newToken("trainer");
  const asTrainer = await server.client().json("POST", `/api/v1/projects/${projectId}/next-task`, undefined, bearer(trainerA));
  assert.equal(asTrainer.status, 403);

  // Trainer A claims the SFT job and goes silent; trainer B, not holding it, is refused everything.
  const claimed = (await (await server.client().json("POST", "/api/v1/trainer/claim", { worker: "silent" }, bearer(trainerA))).json()) as { jobId: string; kind: string; dataUrl: string; attempt: number };
  assert.equal(claimed.kind, "sft");
  assert.equal(claimed.attempt, 1);
  const trainerB = await server.newToken("trainer");
  const other = server.client();
  const upload = await other.request("PUT", `/api/v1/trainer/jobs/${claimed.jobId}/files/manifest.json?attempt=1`, { body: "{}", headers: { "content-type": "application/octet-stream", ...bearer(trainerB) } });
  assert.equal(upload.status, 409);
  assert.equal((await other.json("POST", `/api/v1/trainer/jobs/${claimed.jobId}/complete?attempt=1`, {}, bearer(trainerB))).status, 409);
  assert.equal((await other.json("POST", `/api/v1/trainer/jobs/${claimed.jobId}/heartbeat?attempt=1`, undefined, bearer(trainerB))).status, 409);
  // The lease is the claim, not only the token: the same token naming another attempt is refused too.
  assert.equal((await other.json("POST", `/api/v1/trainer/jobs/${claimed.jobId}/heartbeat?attempt=2`, undefined, bearer(trainerA))).status, 409);
  assert.equal((await other.json("POST", `/api/v1/trainer/jobs/${claimed.jobId}/heartbeat`, undefined, bearer(trainerA))).status, 422, "the attempt is required");
  assert.equal((await other.json("POST", `/api/v1/trainer/jobs/${claimed.jobId}/heartbeat?attempt=1`, undefined, bearer(trainerA))).status, 200);
  assert.ok(!fs.existsSync(path.join(dataDir, "staging", `job-${claimed.jobId}-1`)), "a refused upload writes nothing");
  // The dataset comes from the researcher's own export endpoint, with the snapshot's cut-off.
  assert.match(claimed.dataUrl, new RegExp(`^/api/v1/projects/${projectId}/exports/sft\\.jsonl\\?until=`));
  assert.equal((await other.get(claimed.dataUrl, bearer(trainerA))).status, 200);

  // Once A's lease runs out, B's service re-claims the job (attempt 2) and runs the whole round.
  await new Promise((resolve) => setTimeout(resolve, (LEASE_SECONDS + 0.5) * 1000));
  const { code, output } = await runTrainerService(trainerB);
  assert.equal(code, 0, output);

  const detail = (await (await researcher.get(`/api/v1/rounds/${round.id}`)).json()) as {
    state: string; error: string | null; jobs: Array<{ kind: string; state: string; attempts: number }>; models: Array<{ id: string; kind: string; parent_id: string | null }>;
    report: { samples: { prompts: number; tasks: number; completions: number }; evaluation: Record<string, number> | null };
  };
  assert.equal(detail.state, "done", `${detail.error}\n${output}`);
  assert.deepEqual(detail.jobs.map((j) => [j.kind, j.state]), [["sft", "done"], ["dpo", "done"], ["sample", "done"]]);
  assert.equal(detail.jobs[0]!.attempts, 2, "the abandoned SFT job was re-claimed after its lease expired");
  const [sftModel, policy] = detail.models;
  assert.equal(sftModel?.kind, "sft");
  assert.equal(policy?.kind, "policy");
  assert.equal(policy?.parent_id, sftModel?.id, "the DPO policy descends from the SFT model");

  // The report evaluates the policy against its DPO reference (the SFT model) on the round's preferences.
  assert.ok(detail.report.evaluation, "the round has an evaluation");
  assert.ok(Number.isFinite(detail.report.evaluation["eval_kl"]), JSON.stringify(detail.report.evaluation));
  assert.ok(detail.report.evaluation["eval_rewards/accuracies"]! >= 0 && detail.report.evaluation["eval_rewards/accuracies"]! <= 1);

  // Metrics were streamed and stored with TRL's names.
  const events = (await (await researcher.get(`/api/v1/rounds/${round.id}/events`)).json()) as Array<{ kind: string; type: string; payload: Record<string, number> }>;
  const sftLoss = events.filter((e) => e.kind === "sft" && e.type === "metrics").map((e) => e.payload["loss"]);
  assert.equal(sftLoss.length, 3);
  assert.ok(sftLoss.every((l) => Number.isFinite(l)));
  const dpoFirst = events.find((e) => e.kind === "dpo" && e.type === "metrics");
  assert.ok(Math.abs(Number(dpoFirst?.payload["loss"]) - Math.LN2) < 1e-3, "DPO starts at ln 2 from its reference");
  assert.ok("rewards/accuracies" in (dpoFirst?.payload ?? {}));

  // The registered policy downloads as Hugging Face–named safetensors with its manifest.
  const manifest = (await (await researcher.get(`/api/v1/models/${policy!.id}/files/manifest.json`)).json()) as { modelConfig: { nEmbd: number } };
  assert.equal(manifest.modelConfig.nEmbd, 16);
  const weights = Buffer.from(await (await researcher.get(`/api/v1/models/${policy!.id}/files/model.safetensors`)).arrayBuffer());
  assert.match(weights.subarray(8, 8 + Number(weights.readBigUInt64LE(0))).toString(), /"transformer\.wte\.weight"|"wte\.weight"/);

  // The loop closes: ranking tasks of the new policy's completions, with decoding and seed kept.
  const tasks = await server.db.selectFrom("tasks").select(["id", "completion_ids", "prompt_id"]).where("round_id", "=", round.id).execute();
  assert.equal(tasks.length, detail.report.samples.tasks);
  assert.ok(tasks.length >= 1, JSON.stringify(detail.report));
  const completions = await server.db.selectFrom("completions").select(["model_id", "decoding"]).where("id", "in", tasks.flatMap((t) => t.completion_ids)).execute();
  assert.ok(completions.every((c) => c.model_id === policy!.id && typeof c.decoding?.["seed"] === "number" && c.decoding["temperature"] === 1));
  const newWork = (await (await labeler.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
  assert.ok(newWork, "the labeler has new ranking work from the round");
  Object.assign(first, { projectId, policyId: policy!.id, researcher });

  // The registered policy answers on the OpenAI-compatible endpoint (a researcher's token) and in the playground.
  const apiToken = bearer(await server.newToken("researcher"));
  const openai = server.client();
  const listed = (await (await openai.get("/v1/models", apiToken)).json()) as { object: string; data: Array<{ id: string }> };
  assert.equal(listed.object, "list");
  assert.ok(listed.data.some((m) => m.id === `tandem-${policy!.id}`));
  assert.equal((await openai.get("/v1/models", bearer(await server.newToken("labeler")))).status, 403);
  assert.equal((await openai.get("/v1/models")).status, 401);
  const ask = { model: `tandem-${policy!.id}`, messages: [{ role: "user", content: "What is 2 + 3?" }], max_tokens: 5, seed: 3, temperature: 1, presence_penalty: 0 };
  const answer = await openai.json("POST", "/v1/chat/completions", ask, apiToken);
  assert.equal(answer.status, 200, await answer.clone().text());
  const chat = (await answer.json()) as { object: string; choices: Array<{ message: { role: string; content: string }; finish_reason: string }>; usage: { prompt_tokens: number; completion_tokens: number } };
  assert.equal(chat.object, "chat.completion");
  assert.equal(chat.choices[0]!.message.role, "assistant");
  assert.ok(chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens <= 5);
  const again = (await (await openai.json("POST", "/v1/chat/completions", ask, apiToken)).json()) as typeof chat;
  assert.equal(again.choices[0]!.message.content, chat.choices[0]!.message.content, "the same seed gives the same answer");
  const streamed = await openai.json("POST", "/v1/chat/completions", { ...ask, stream: true }, apiToken);
  assert.match(streamed.headers.get("content-type") ?? "", /text\/event-stream/);
  const sse = (await streamed.text()).trim().split("\n\n");
  assert.equal(sse.at(-1), "data: [DONE]");
  // token by token: the pieces add up to the answer (tests/integration/chat-streaming.test.ts has the rest)
  const pieces = sse.slice(0, -1).map((e) => (JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "");
  assert.equal(pieces.join(""), chat.choices[0]!.message.content);
  const invalid = await openai.json("POST", "/v1/chat/completions", { model: ask.model }, apiToken);
  assert.equal(invalid.status, 422);
  assert.match(((await invalid.json()) as { error: { message: string } }).error.message, /messages/);
  assert.equal((await openai.json("POST", "/v1/chat/completions", { ...ask, model: "gpt-4" }, apiToken)).status, 404);
  const page = await researcher.postForm("/playground", { modelId: policy!.id, system: "", message: "What is <b>7</b> - 4?", maxNewTokens: "4", temperature: "0.7", topP: "1", n: "2", seed: "0" });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /data-testid="answers"/);
});

test("a round from the previous policy opens A/B compares against it and reports the reward model's and the humans' win rates", { timeout: 300_000 }, async () => {
  assert.ok(first.researcher, "runs after the first test");
  const researcher = first.researcher;
  const launched = await researcher.json("POST", `/api/v1/projects/${first.projectId}/rounds`, {
    name: "Round 2", path: "reward-ppo", base: { modelId: first.policyId }, reward: tiny.reward, ppo: tiny.ppo, next: { ...tiny.next, prompts: 2 },
  });
  assert.equal(launched.status, 201, await launched.clone().text());
  const round = (await launched.json()) as { id: string };
  const { code, output } = await runTrainerService(await server.newToken("trainer"));
  assert.equal(code, 0, output);
  type Detail = { state: string; error: string | null; models: Array<{ id: string; kind: string; parent_id: string }>; report: { samples: { compares: number }; rewardJudge: { rewardModelId: string; winRate: number; pairs: number } | null } };
  const detail = (await (await researcher.get(`/api/v1/rounds/${round.id}`)).json()) as Detail;
  assert.equal(detail.state, "done", `${detail.error}\n${output}`);
  const policy = detail.models.at(-1)!;
  assert.equal(policy.parent_id, first.policyId);
  assert.equal(detail.report.samples.compares, 2);
  // The round's own reward model judged the new policy's answers against the previous policy's on both prompts.
  const judge = detail.report.rewardJudge;
  assert.ok(judge, `a reward-model verdict in the report\n${output}`);
  assert.equal(judge.rewardModelId, detail.models.find((m) => m.kind === "reward")!.id);
  assert.equal(judge.pairs, 2);
  assert.ok(Number.isInteger(judge.winRate * judge.pairs * 2) && judge.winRate >= 0 && judge.winRate <= 1, `a win rate over 2 pairs with ties ½: ${judge.winRate}`);

  const compares = await server.db.selectFrom("tasks").select(["id", "completion_ids"]).where("round_id", "=", round.id).where("type", "=", "compare").execute();
  assert.equal(compares.length, 2);
  const models = await server.db.selectFrom("completions").select(["id", "model_id"]).where("id", "in", compares.flatMap((t) => t.completion_ids)).execute();
  for (const task of compares) assert.deepEqual(task.completion_ids.map((id) => models.find((m) => m.id === id)?.model_id), [policy.id, first.policyId]);

  // A labeler prefers the new policy once and calls the other a tie: win rate (1 + ½) / 2.
  const labeler = await server.newMember(first.projectId, "labeler");
  const choices: string[] = [];
  for (;;) {
    const claim = (await (await labeler.client.json("POST", `/api/v1/projects/${first.projectId}/next-task`)).json()) as { assignmentId: string } | null;
    if (!claim) break;
    const view = (await (await labeler.client.json("GET", `/api/v1/assignments/${claim.assignmentId}`)).json()) as { taskType: string; completions: Array<{ id: string }> };
    let payload: Record<string, unknown>;
    if (view.taskType === "compare") {
      const newSide = models.find((m) => m.id === view.completions[0]!.id)?.model_id === policy.id ? "A" : "B";
      payload = choices.length === 0 ? { choice: newSide, strength: 2 } : { choice: "tie" };
      choices.push(String(payload["choice"]));
    } else if (view.taskType === "rank") payload = { ranking: { tiers: view.completions.map((c) => [c.id]) } };
    else payload = { text: "The answer is 12." };
    const response = await labeler.client.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `r2-key-${claim.assignmentId}`, payload, timings: {} });
    assert.equal(response.status, 200, await response.clone().text());
  }
  assert.equal(choices.length, 2);
  const judged = (await (await researcher.get(`/api/v1/rounds/${round.id}`)).json()) as { humanEval: { judged: number; newWins: number; ties: number; winRate: number } };
  assert.deepEqual(judged.humanEval, { judged: 2, newWins: 1, previousWins: 0, ties: 1, winRate: 0.75 });

  // The export filtered by round holds exactly the pairs from this round's tasks: one per ranking (K = 2) and the won compare.
  const roundTasks = await server.db.selectFrom("tasks").select(["type", "completion_ids"]).where("round_id", "=", round.id).execute();
  const roundTexts = new Set((await server.db.selectFrom("completions").select("text").where("id", "in", roundTasks.flatMap((t) => t.completion_ids)).execute()).map((c) => c.text));
  const exported = (await (await researcher.get(`/api/v1/projects/${first.projectId}/exports/preferences.jsonl?format=standard&round=${round.id}`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { chosen: string; rejected: string });
  assert.equal(exported.length, roundTasks.filter((t) => t.type === "rank").length + 1);
  assert.ok(exported.every((p) => roundTexts.has(p.chosen) && roundTexts.has(p.rejected)));
  const everything = (await (await researcher.get(`/api/v1/projects/${first.projectId}/exports/preferences.jsonl?format=standard`)).text()).trim().split("\n");
  assert.ok(everything.length > exported.length, "without the filter, earlier rankings are there too");
});

test("a trainer killed mid-step: its lease expires, another trainer resumes from the last uploaded checkpoint and the loss curve continues", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher);
  await labelEverything((await server.newMember(projectId, "labeler")).client, projectId);
  const STEPS = 60;
  const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, {
    name: "Killed", path: "sft", base: { init: { preset: "nano" }, vocabSize: 300 }, sft: { steps: STEPS, batchSize: 4, checkpointEvery: 5 }, next: { prompts: 0 },
  });
  assert.equal(launched.status, 201, await launched.clone().text());
  const round = (await launched.json()) as { id: string };
  const job = await server.db.selectFrom("jobs").select("id").where("round_id", "=", round.id).executeTakeFirstOrThrow();
  const latest = path.join(dataDir, "resume", `job-${job.id}`, "latest", "manifest.json");

  // Trainer A runs until its first checkpoint reached the server, then dies without a word (SIGKILL, with its CLI child).
  const a = spawn(process.execPath, ["--import", "tsx", "trainer/cli.ts", "serve", "--server", server.url, "--poll", "1", "--backend", "wasm"], {
    env: { ...process.env, TANDEM_TRAINER_TOKEN: await server.newToken("trainer") },
    stdio: "ignore",
    detached: true,
  });
  const died = new Promise((resolve) => a.on("close", resolve));
  for (let i = 0; i < 1200 && !fs.existsSync(latest); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fs.existsSync(latest), "trainer A uploaded a checkpoint");
  process.kill(-a.pid!, "SIGKILL");
  await died;
  const resumedFrom = (JSON.parse(fs.readFileSync(latest, "utf8")) as { step: number }).step;
  assert.ok(resumedFrom >= 5 && resumedFrom < STEPS, `checkpoint at step ${resumedFrom}`);

  await new Promise((resolve) => setTimeout(resolve, (LEASE_SECONDS + 0.5) * 1000));
  const { code, output } = await runTrainerService(await server.newToken("trainer"));
  assert.equal(code, 0, output);
  const detail = (await (await researcher.get(`/api/v1/rounds/${round.id}`)).json()) as { state: string; error: string | null; jobs: Array<{ attempts: number }> };
  assert.equal(detail.state, "done", `${detail.error}\n${output}`);
  assert.equal(detail.jobs[0]!.attempts, 2);

  const metrics = (await server.db.selectFrom("job_events").select(["attempt", "payload"]).where("job_id", "=", job.id).where("type", "=", "metrics").orderBy("id").execute()).map(
    (e) => ({ attempt: e.attempt, step: Number(e.payload["step"]), loss: Number(e.payload["loss"]) }),
  );
  const second = metrics.filter((m) => m.attempt === 2);
  assert.equal(second[0]!.step, resumedFrom + 1, "attempt 2 starts right after the checkpoint, not at step 1");
  assert.deepEqual(second.map((m) => m.step), Array.from({ length: STEPS - resumedFrom }, (_, i) => resumedFrom + 1 + i));
  // Steps both attempts ran give the same loss: the resume restored weights, optimizer and data order exactly.
  const firstByStep = new Map(metrics.filter((m) => m.attempt === 1).map((m) => [m.step, m.loss]));
  const overlap = second.filter((m) => firstByStep.has(m.step));
  for (const m of overlap) assert.ok(Math.abs(m.loss - firstByStep.get(m.step)!) < 1e-4, `step ${m.step}: ${m.loss} vs ${firstByStep.get(m.step)}`);
  assert.ok(!fs.existsSync(path.join(dataDir, "resume", `job-${job.id}`)), "resume checkpoints are removed once the step is done");
});

test("two trainer services at once: each job runs exactly once and both rounds finish", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher);
  await labelEverything((await server.newMember(projectId, "labeler")).client, projectId);
  const rounds = [];
  for (const name of ["Parallel A", "Parallel B"]) {
    const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name, path: "sft", ...tiny, next: { prompts: 0 } });
    rounds.push(((await launched.json()) as { id: string }).id);
  }
  const results = await Promise.all([runTrainerService(await server.newToken("trainer")), runTrainerService(await server.newToken("trainer"))]);
  for (const { code, output } of results) assert.equal(code, 0, output);
  const jobs = await server.db.selectFrom("jobs").select(["round_id", "state", "attempts"]).where("round_id", "in", rounds).execute();
  assert.deepEqual(jobs.map((j) => [j.state, j.attempts]), [["done", 1], ["done", 1]]);
  const states = await server.db.selectFrom("rounds").select("state").where("id", "in", rounds).execute();
  assert.deepEqual(states.map((r) => r.state), ["done", "done"]);
});

test("cancel stops a queued round and registers nothing; retry queues its step again", async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher);
  await labelEverything((await server.newMember(projectId, "labeler")).client, projectId);
  const launched = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "To cancel", path: "sft", ...tiny })).json()) as { id: string };
  const trainer = await server.newToken("trainer");
  const client = server.client();
  const job = (await (await client.json("POST", "/api/v1/trainer/claim", { worker: "w" }, bearer(trainer))).json()) as { jobId: string; attempt: number };

  const cancel = await researcher.json("POST", `/api/v1/rounds/${launched.id}/cancel`);
  assert.equal(cancel.status, 200);
  assert.deepEqual(await (await client.json("POST", `/api/v1/trainer/jobs/${job.jobId}/heartbeat?attempt=${job.attempt}`, undefined, bearer(trainer))).json(), { state: "cancelled" });
  const late = await client.json("POST", `/api/v1/trainer/jobs/${job.jobId}/complete?attempt=${job.attempt}`, {}, bearer(trainer));
  assert.equal(late.status, 409);
  assert.equal((await server.db.selectFrom("models").select("id").where("round_id", "=", launched.id).execute()).length, 0);
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${launched.id}/cancel`)).status, 409, "already cancelled");

  const retry = await researcher.json("POST", `/api/v1/rounds/${launched.id}/retry`);
  assert.deepEqual(await retry.json(), { state: "queued", step: 0, resumeStep: null }, "nothing to resume from: the cancelled attempt uploaded no checkpoint");
  const again = (await (await client.json("POST", "/api/v1/trainer/claim", { worker: "w" }, bearer(trainer))).json()) as { jobId: string; roundId: string; kind: string; attempt: number };
  assert.equal(again.roundId, launched.id);
  assert.equal(again.kind, "sft");
  assert.notEqual(again.jobId, job.jobId);
  // A failure names the step and reaches the round.
  const failed = await client.json("POST", `/api/v1/trainer/jobs/${again.jobId}/fail?attempt=${again.attempt}`, { message: "non-finite SFT loss NaN at step 2", step: 2 }, bearer(trainer));
  assert.equal(failed.status, 200);
  const round = (await (await researcher.get(`/api/v1/rounds/${launched.id}`)).json()) as { state: string; error: string };
  assert.equal(round.state, "failed");
  assert.match(round.error, /step 1 \(sft\) failed at training step 2: non-finite SFT loss/);
});

test("retry after a failure resumes from the failed job's last checkpoint; cancel removes half-uploaded outputs", async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher);
  await labelEverything((await server.newMember(projectId, "labeler")).client, projectId);
  const launched = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Fails at step 3", path: "sft", ...tiny, next: { prompts: 0 } })).json()) as { id: string };
  const trainer = await server.newToken("trainer");
  const client = server.client();
  const claim = async () => (await (await client.json("POST", "/api/v1/trainer/claim", { worker: "w" }, bearer(trainer))).json()) as { jobId: string; roundId: string; attempt: number; resume?: { step: number } };
  const job = await claim();
  assert.equal(job.roundId, launched.id);
  // The trainer's periodic checkpoint at step 2 (the server stores the files as they come), then a NaN.
  const upload = (name: string, body: string) =>
    client.request("PUT", `/api/v1/trainer/jobs/${job.jobId}/resume/${name}?attempt=${job.attempt}`, { body, headers: { ...bearer(trainer), "content-type": "application/octet-stream" } });
  for (const name of ["model.safetensors", "optimizer.safetensors", "tokenizer.json"]) assert.equal((await upload(name, `bytes of ${name}`)).status, 200);
  assert.equal((await upload("manifest.json", JSON.stringify({ step: 2 }))).status, 200);
  assert.equal((await client.json("POST", `/api/v1/trainer/jobs/${job.jobId}/resume-ready?attempt=${job.attempt}`, { step: 2 }, bearer(trainer))).status, 200);
  assert.equal((await client.json("POST", `/api/v1/trainer/jobs/${job.jobId}/fail?attempt=${job.attempt}`, { message: "loss is NaN at step 3", step: 3 }, bearer(trainer))).status, 200);

  const retried = await researcher.json("POST", `/api/v1/rounds/${launched.id}/retry`);
  assert.deepEqual(await retried.json(), { state: "queued", step: 0, resumeStep: 2 });
  const next = await claim();
  assert.notEqual(next.jobId, job.jobId, "a retry is a new job");
  assert.deepEqual(next.resume, { step: 2 }, "…that resumes from the failed job's checkpoint");
  const file = await client.request("GET", `/api/v1/trainer/jobs/${next.jobId}/resume/optimizer.safetensors?attempt=${next.attempt}`, { headers: bearer(trainer) });
  assert.equal(await file.text(), "bytes of optimizer.safetensors");
  assert.ok(!fs.existsSync(path.join(dataDir, "resume", `job-${job.jobId}`, "latest")), "the checkpoint moved, it was not copied");

  // A half-uploaded output of the running attempt is removed on cancel; the checkpoint stays for the next retry.
  assert.equal((await client.request("PUT", `/api/v1/trainer/jobs/${next.jobId}/files/samples.jsonl?attempt=${next.attempt}`, { body: "{}\n", headers: { ...bearer(trainer), "content-type": "application/octet-stream" } })).status, 200);
  const staging = path.join(dataDir, "staging", `job-${next.jobId}-${next.attempt}`);
  assert.ok(fs.existsSync(staging));
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${launched.id}/cancel`)).status, 200);
  assert.ok(!fs.existsSync(staging), "cancel removed the half-uploaded files");
  assert.ok(fs.existsSync(path.join(dataDir, "resume", `job-${next.jobId}`, "latest", "manifest.json")));
});

test("a round over two projects: the snapshot counts both, the trainer reads both, the bundle holds both; unknown sources are refused", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const [a, b] = [await seededProject(researcher), await seededProject(researcher)];
  const person = await server.newMember(a, "labeler");
  await server.addMembers(b, [person]);
  const labeler = person.client;
  await labelEverything(labeler, a);
  await labelEverything(labeler, b);
  const refused = await researcher.json("POST", `/api/v1/projects/${a}/rounds`, { name: "Nowhere", path: "sft", ...tiny, data: { projects: ["999999"], rounds: ["888888"] } });
  assert.equal(refused.status, 422);
  assert.match(JSON.stringify(await refused.json()), /data\.projects.*no such project: 999999/);
  const launched = await researcher.json("POST", `/api/v1/projects/${a}/rounds`, { name: "Both", path: "sft", ...tiny, data: { projects: [b] }, next: { prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id, dataSnapshot } = (await launched.json()) as { id: string; dataSnapshot: { counts: { demonstrate: number }; sources: { projects: string[] } } };
  assert.deepEqual(dataSnapshot.sources.projects, [a, b]);
  const demos = await server.db.selectFrom("submissions").innerJoin("tasks", "tasks.id", "submissions.task_id").select("submissions.id").where("tasks.type", "=", "demonstrate").where("tasks.project_id", "in", [a, b]).execute();
  assert.equal(dataSnapshot.counts.demonstrate, demos.length);
  const job = await server.db.selectFrom("jobs").select(["id", "spec"]).where("round_id", "=", id).executeTakeFirstOrThrow();
  assert.deepEqual((job.spec as { moreDataUrls: string[] }).moreDataUrls.map((u) => u.split("?")[0]), [`/api/v1/projects/${b}/exports/sft.jsonl`]);

  const { code, output } = await runTrainerService(await server.newToken("trainer"));
  assert.equal(code, 0, output);
  assert.equal((await server.db.selectFrom("rounds").select("state").where("id", "=", id).executeTakeFirstOrThrow()).state, "done", output);
  const start = await server.db.selectFrom("job_events").select("payload").where("job_id", "=", job.id).where("type", "=", "start").executeTakeFirstOrThrow();
  assert.equal(start.payload["examples"], demos.length, "the trainer trained on both projects' demonstrations");

  const bundle = unzipSync(new Uint8Array(await (await researcher.get(`/api/v1/rounds/${id}/bundle.zip`)).arrayBuffer()));
  const shards = Object.keys(bundle).filter((name) => name.startsWith("datasets/sft/data/")).sort();
  assert.equal(shards.length, 2, shards.join(", "));
  const rows = shards.reduce((n, name) => n + strFromU8(bundle[name]!).trim().split("\n").length, 0);
  assert.equal(rows, demos.length);
  assert.match(strFromU8(bundle["datasets/sft/README.md"]!), /path: data\/train-00001-of-00002\.jsonl/);
});

test("a PPO step resumes too: its checkpoint carries the value model, and attempt 2 starts at the uploaded rollout", { timeout: 300_000 }, async () => {
  assert.ok(first.researcher, "runs after the first test");
  // long enough that trainer A is still training when its first checkpoint lands: a checkpoint's upload (policy,
  // value and reward models) can take as long as dozens of these tiny rollouts, and with 40 the job could finish
  // between the first manifest and the kill (a CI flake: attempts 1)
  const ROLLOUTS = 300;
  const launched = await first.researcher.json("POST", `/api/v1/projects/${first.projectId}/rounds`, {
    name: "PPO, killed", path: "reward-ppo", base: { modelId: first.policyId }, reward: tiny.reward,
    ppo: { ...tiny.ppo, rollouts: ROLLOUTS, checkpointEvery: 2 }, next: { prompts: 0 },
  });
  assert.equal(launched.status, 201, await launched.clone().text());
  const round = (await launched.json()) as { id: string };
  const a = spawn(process.execPath, ["--import", "tsx", "trainer/cli.ts", "serve", "--server", server.url, "--poll", "1", "--backend", "wasm"], {
    env: { ...process.env, TANDEM_TRAINER_TOKEN: await server.newToken("trainer") },
    stdio: "ignore",
    detached: true,
  });
  const died = new Promise((resolve) => a.on("close", resolve));
  // Wait for the PPO job (step 2) to have a checkpoint on the server, then kill the trainer.
  let latest = "";
  for (let i = 0; i < 2400 && !(latest && fs.existsSync(latest)); i++) {
    const ppo = await server.db.selectFrom("jobs").select("id").where("round_id", "=", round.id).where("kind", "=", "ppo").executeTakeFirst();
    if (ppo) latest = path.join(dataDir, "resume", `job-${ppo.id}`, "latest", "manifest.json");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(latest && fs.existsSync(latest), "trainer A uploaded a PPO checkpoint");
  process.kill(-a.pid!, "SIGKILL");
  await died;
  assert.ok(fs.existsSync(path.join(path.dirname(latest), "value-model.safetensors")), "the value model came with it");
  const rollout = (JSON.parse(fs.readFileSync(latest, "utf8")) as { resumeState: { rollouts: number } }).resumeState.rollouts;
  assert.ok(rollout >= 2 && rollout < ROLLOUTS, `checkpoint at rollout ${rollout}`);

  await new Promise((resolve) => setTimeout(resolve, (LEASE_SECONDS + 0.5) * 1000));
  const { code, output } = await runTrainerService(await server.newToken("trainer"));
  assert.equal(code, 0, output);
  const detail = (await (await first.researcher.get(`/api/v1/rounds/${round.id}`)).json()) as { state: string; error: string | null };
  assert.equal(detail.state, "done", `${detail.error}\n${output}`);
  const ppo = await server.db.selectFrom("jobs").select(["id", "attempts"]).where("round_id", "=", round.id).where("kind", "=", "ppo").executeTakeFirstOrThrow();
  assert.equal(ppo.attempts, 2);
  const events = await server.db.selectFrom("job_events").select(["type", "payload"]).where("job_id", "=", ppo.id).where("attempt", "=", 2).orderBy("id").execute();
  assert.equal(events.find((e) => e.type === "start")?.payload["resumedAtRollout"], rollout, "attempt 2 picked up at the uploaded rollout");
  assert.equal(events.filter((e) => e.type === "metrics").length, ROLLOUTS - rollout, "and ran only the rollouts left");
});

test("a round can recompute activations: every training job gets recompute, the trainer says it used it; anything but a boolean is refused", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher);
  await labelEverything((await server.newMember(projectId, "labeler")).client, projectId);
  const refused = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Bad", path: "sft", ...tiny, recompute: "yes" });
  assert.equal(refused.status, 422);
  assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "recompute"));
  const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Recompute", path: "sft", ...tiny, recompute: true, next: { prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id } = (await launched.json()) as { id: string };
  const job = await server.db.selectFrom("jobs").select(["id", "spec"]).where("round_id", "=", id).executeTakeFirstOrThrow();
  assert.equal((job.spec as { recompute?: boolean }).recompute, true);

  const { code, output } = await runTrainerService(await server.newToken("trainer"));
  assert.equal(code, 0, output);
  assert.equal((await server.db.selectFrom("rounds").select("state").where("id", "=", id).executeTakeFirstOrThrow()).state, "done", output);
  const backend = await server.db.selectFrom("job_events").select("payload").where("job_id", "=", job.id).where("type", "=", "backend").executeTakeFirstOrThrow();
  assert.equal(backend.payload["recompute"], true);
});

test("a round chooses which pairs each ranking yields (data.pairs): its DPO job trains on those; an unknown mode is refused", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher, 3);
  // three rankings, each of three tiers (right answer, "I do not know.", "Maybe 4."): every pair across tiers is
  // three per ranking, adjacent tiers or the best against the rest two
  assert.equal(await labelEverything((await server.newMember(projectId, "labeler")).client, projectId), 6);
  const refused = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Bad", path: "sft-dpo", ...tiny, next: { prompts: 0 }, data: { pairs: "best" } });
  assert.equal(refused.status, 422);
  assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "data.pairs"));
  assert.equal((await server.db.selectFrom("rounds").select("id").where("project_id", "=", projectId).execute()).length, 0, "nothing launched");

  const launch = async (pairs: string | undefined) => {
    const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: `Pairs ${pairs}`, path: "sft-dpo", ...tiny, next: { prompts: 0 }, ...(pairs ? { data: { pairs } } : {}) });
    assert.equal(launched.status, 201, await launched.clone().text());
    return ((await launched.json()) as { id: string }).id;
  };
  const rounds = { all: await launch(undefined), adjacent: await launch("adjacent"), best_vs_rest: await launch("best_vs_rest") };
  const { code, output } = await runTrainerService(await server.newToken("trainer"));
  assert.equal(code, 0, output);
  const dpoPairs = async (roundId: string) => {
    const job = await server.db.selectFrom("jobs").select(["id", "spec"]).where("round_id", "=", roundId).where("kind", "=", "dpo").executeTakeFirstOrThrow();
    const start = await server.db.selectFrom("job_events").select("payload").where("job_id", "=", job.id).where("type", "=", "start").executeTakeFirstOrThrow();
    return { dataUrl: String((job.spec as { dataUrl?: string }).dataUrl), pairs: start.payload["pairs"] };
  };
  const all = await dpoPairs(rounds.all);
  assert.equal(all.pairs, 9);
  assert.doesNotMatch(all.dataUrl, /pairs=/, "the default asks the export for its own default");
  for (const mode of ["adjacent", "best_vs_rest"] as const) {
    const { dataUrl, pairs } = await dpoPairs(rounds[mode]);
    assert.match(dataUrl, new RegExp(`[?&]pairs=${mode}(&|$)`));
    assert.equal(pairs, 6, mode);
    assert.equal((await server.db.selectFrom("rounds").select("state").where("id", "=", rounds[mode]).executeTakeFirstOrThrow()).state, "done");
  }
});

test("a DPO step its KL guard stopped says so in the round report and on the page (decision 0066)", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const projectId = await seededProject(researcher, 3);
  await labelEverything((await server.newMember(projectId, "labeler")).client, projectId);
  // a learning rate that leaves the reference within a few steps, checked every 2 steps against a target of 1 nat
  const dpo = { steps: 30, batchSize: 3, beta: 0.1, klCheck: { every: 2, samples: 8, maxNewTokens: 8 }, optim: { lr: 0.02, warmupSteps: 0 } };
  const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Guarded", path: "sft-dpo", ...tiny, dpo, klTarget: 1, next: { prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const roundId = ((await launched.json()) as { id: string }).id;
  const { code, output } = await runTrainerService(await server.newToken("trainer"));
  assert.equal(code, 0, output);
  const round = await server.db.selectFrom("rounds").select(["state", "report"]).where("id", "=", roundId).executeTakeFirstOrThrow();
  assert.equal(round.state, "done", output);
  const stop = await server.db.selectFrom("job_events").select("payload").where("round_id", "=", roundId).where("type", "=", "early_stop").executeTakeFirstOrThrow();
  const warning = ((round.report as { warnings: Array<{ code: string; message: string; value: number; threshold: number }> }).warnings).find((w) => w.code === "kl_guard_stopped");
  assert.ok(warning, JSON.stringify(round.report));
  assert.deepEqual([warning.value, warning.threshold], [stop.payload["kl"], 1]);
  assert.match(warning.message, new RegExp(`^The DPO step stopped early: .* at step ${stop.payload["step"]}, above its target 1, so it kept the weights of step ${stop.payload["keptStep"]}`));
  const page = await (await researcher.get(`/rounds/${roundId}`)).text();
  assert.match(page, /data-code="kl_guard_stopped"[^>]*>The DPO step stopped early/);
  // the model registered holds the kept weights, and its metrics are theirs: not the rejected check's
  const dpoModel = await server.db.selectFrom("models").select("metrics").where("round_id", "=", roundId).where("kind", "=", "policy").executeTakeFirstOrThrow();
  const metrics = dpoModel.metrics as Record<string, number>;
  assert.notEqual(metrics["kl_guard/kl"], stop.payload["kl"]);
  if (Number(stop.payload["keptStep"]) === 0) assert.deepEqual(metrics, {});
  else assert.ok(metrics["step"] === stop.payload["keptStep"] && Number(metrics["kl_guard/kl"]) <= 1, JSON.stringify(metrics));
});
