/**
 * Handing a round to a Ray cluster. The cluster is a local fake of the documented Ray Jobs REST
 * API subset (tests/support/fake-ray-jobs.ts): a real cluster is outside this machine. The fake
 * unzips the uploaded bundle and runs its real run.sh in dry-run mode.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { unzipSync, strFromU8 } from "fflate";
import { seedDemoProject } from "../../server/demo/demo-project.server.ts";
import type { KyselyPlugin } from "kysely";
import type { TandemContext } from "../../app/context.ts";
import { roundEndpoints } from "../../server/api/round-endpoints.server.ts";
import { cancelRound } from "../../server/rounds/rounds.server.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import { startFakeRay, type FakeRay } from "../support/fake-ray-jobs.ts";

let server: TestServer;
let ray: FakeRay;
let projectId = "";
before(async () => {
  ray = await startFakeRay({ hold: true });
  server = await startTestServer({ TANDEM_RAY_DASHBOARD_URL: ray.url, TANDEM_RAY_POLL_MS: "100", TANDEM_RAY_OUTPUT_DIR: "/shared/tandem/" });
  const admin = await server.db.selectFrom("users").select("id").where("role", "=", "admin").executeTakeFirstOrThrow();
  const seeded = await seedDemoProject(server.db, admin.id, 60, { demonstrations: 12, rankings: 6, pool: 20, eval: 0, sftSteps: 3, grpoRollouts: 0, nextPrompts: 4 });
  projectId = seeded.projectId;
  // The demo's own first round is for Tandem's trainer, which does not run here: cancel it, so
  // that no later test's trainer picks up its job.
  if (seeded.roundId) await cancelRound(server.db, admin.id, seeded.roundId);
});
after(async () => {
  await server.stop();
  await ray.close();
});

const spec = (name: string) => ({ name, path: "sft-dpo", base: { init: { preset: "nano" }, vocabSize: 512 }, sft: { steps: 30, batchSize: 4 }, dpo: { steps: 20, batchSize: 6, beta: 0.2 } });

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type RoundView = { state: string; error: string | null; steps: string[]; ray: { status: string; submissionId: string; logsTail: string; lastError: string | null; attempt: number; result: unknown } | null };

test("a round handed to Ray: the bundle is uploaded and submitted, status and logs are mirrored, the checkpoint is registered", { timeout: 60_000 }, async () => {
  const researcher = await server.newUser("researcher");
  const launched = await researcher.client.json("POST", `/api/v1/projects/${projectId}/rounds`, { ...spec("On the cluster"), handOff: { engine: "openrlhf", baseModel: "Qwen/Qwen2.5-0.5B-Instruct", numGpus: 2 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id, steps } = (await launched.json()) as { id: string; steps: string[] };
  assert.deepEqual(steps, ["sft", "dpo"], "an external engine trains; Tandem's sampling step is not part of it");
  assert.equal((await server.db.selectFrom("jobs").select("id").where("round_id", "=", id).execute()).length, 0, "no trainer job was queued");

  const view = () => researcher.client.get(`/api/v1/rounds/${id}`).then((r) => r.json() as Promise<RoundView>);
  const running = await until("RUNNING", view, (r) => r.ray?.status === "RUNNING");
  assert.equal(running.state, "running", "the round's state follows the cluster's");
  const sid = running.ray!.submissionId;
  assert.match(sid, new RegExp(`^tandem-round-${id}-1-[0-9a-f]{6}$`), "round, attempt and a random tail");

  // What reached the cluster: one package and one job, both as documented.
  assert.equal(ray.packages.size, 1);
  const files = unzipSync(new Uint8Array([...ray.packages.values()][0]!));
  for (const name of ["run.sh", "README.md", "tandem-round.json", "openrlhf/01-sft.sh", "openrlhf/02-dpo.sh", "trl/01-sft.sh", "trl/sft.yaml", "trl/dpo.yaml", "datasets/sft/data/train.jsonl", "datasets/preferences/data/train.jsonl", "datasets/prompts/data/train.jsonl", "datasets/sft/README.md"]) {
    assert.ok(files[name], `the bundle holds ${name}`);
  }
  const lines = (name: string) => strFromU8(files[name]!).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines("datasets/sft/data/train.jsonl").length, 12, "the 12 demonstrations of the snapshot");
  assert.equal(lines("datasets/preferences/data/train.jsonl").length, 36, "6 rankings × C(4,2) pairs");
  assert.ok(Array.isArray(lines("datasets/preferences/data/train.jsonl")[0]!["chosen"]), "conversational: chosen is a message list");
  const dpoScript = strFromU8(files["openrlhf/02-dpo.sh"]!);
  assert.match(dpoScript, /--model\.beta 0\.2/);
  assert.match(dpoScript, /--model\.model_name_or_path "\$TANDEM_OUTPUT_DIR\/01-sft"/, "DPO starts from the SFT step's output");
  assert.match(dpoScript, /--train\.max_epochs 3 /, "20 steps × 6 pairs over 36 pairs ≈ 3 epochs");
  assert.match(strFromU8(files["trl/dpo.yaml"]!), /^max_steps: 20$/m);
  const job = ray.jobs.get(sid)!;
  assert.equal(job.request["entrypoint"], "bash run.sh");
  assert.equal(job.request["entrypoint_num_gpus"], 2);
  assert.deepEqual((job.request["runtime_env"] as { env_vars: unknown }).env_vars, {
    TANDEM_ENGINE: "openrlhf", TANDEM_BASE_MODEL: "Qwen/Qwen2.5-0.5B-Instruct", TANDEM_OUTPUT_DIR: `/shared/tandem/${sid}`,
  });

  // The round page shows the mirrored status while the job runs.
  const page = await (await researcher.client.get(`/rounds/${id}`)).text();
  assert.match(page, /RUNNING/);
  assert.ok(page.includes(sid));

  ray.release(sid);
  const done = await until("done", view, (r) => r.state !== "running" && r.state !== "queued");
  assert.equal(done.state, "done", JSON.stringify(done));
  assert.equal(done.ray!.status, "SUCCEEDED");
  assert.match(done.ray!.logsTail, /TANDEM_STEP done 02-dpo/);
  assert.match(done.ray!.logsTail, /deepspeed --module openrlhf\.cli\.train_dpo/, "the dry run printed the real commands");
  const model = await server.db.selectFrom("models").selectAll().where("round_id", "=", id).executeTakeFirstOrThrow();
  assert.equal(model.external_uri, `/shared/tandem/${sid}/02-dpo`);
  assert.equal(model.kind, "policy");
  assert.equal((model.config as { engine: string }).engine, "openrlhf");
  const files409 = await researcher.client.get(`/api/v1/models/${model.id}/files/model.safetensors`);
  assert.equal(files409.status, 409, "an external checkpoint has no files here, and says where they are");
  assert.match(((await files409.json()) as { detail: string }).detail, /shared\/tandem/);
  const finalPage = await (await researcher.client.get(`/rounds/${id}`)).text();
  assert.match(finalPage, /SUCCEEDED/);
});

test("refused hand-offs change nothing: no cluster configured, a shell-unsafe model name, an engine that cannot run the path, a labeler", async () => {
  const researcher = await server.newUser("researcher");
  const count = async () => (await server.db.selectFrom("rounds").select("id").execute()).length;
  const before = await count();
  const refuse = async (body: unknown, path: string, client = researcher.client, status = 422) => {
    const response = await client.json("POST", `/api/v1/projects/${projectId}/rounds`, body);
    assert.equal(response.status, status, await response.clone().text());
    if (status === 422) assert.ok(((await response.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === path), path);
  };
  await refuse({ ...spec("Unsafe"), handOff: { baseModel: "x; rm -rf /" } }, "handOff.baseModel");
  await refuse({ ...spec("No such engine"), handOff: { engine: "verl", baseModel: "gpt2" } }, "handOff.engine");
  await refuse({ ...spec("TRL PPO"), path: "sft-reward-ppo", handOff: { engine: "trl", baseModel: "gpt2" } }, "handOff.engine");
  const labeler = await server.newUser("labeler");
  await refuse({ ...spec("Labeler"), handOff: { baseModel: "gpt2" } }, "", labeler.client, 403);

  const other = await startTestServer({});
  try {
    const person = await other.newUser("researcher");
    const response = await person.client.json("POST", `/api/v1/projects/${projectId}/rounds`, { ...spec("Nowhere"), handOff: { baseModel: "gpt2" } });
    assert.equal(response.status, 422);
    assert.match(JSON.stringify(await response.json()), /TANDEM_RAY_DASHBOARD_URL/);
  } finally {
    await other.stop();
  }
  assert.equal(await count(), before, "no round was written");
});

test("cancel stops the Ray job and registers nothing; retry submits a new attempt that finishes", { timeout: 60_000 }, async () => {
  const researcher = await server.newUser("researcher");
  const { id } = (await (await researcher.client.json("POST", `/api/v1/projects/${projectId}/rounds`, { ...spec("Stopped"), handOff: { baseModel: "gpt2", numGpus: 0 } })).json()) as { id: string };
  const view = () => researcher.client.get(`/api/v1/rounds/${id}`).then((r) => r.json() as Promise<RoundView>);
  const first = (await until("RUNNING", view, (r) => r.ray?.status === "RUNNING")).ray!.submissionId;
  assert.equal((await researcher.client.json("POST", `/api/v1/rounds/${id}/cancel`)).status, 200);
  // Until the cluster has stopped the job, a retry would race the old job's last word: refused.
  const early = await researcher.client.json("POST", `/api/v1/rounds/${id}/retry`);
  if (early.status !== 409) assert.equal((await view()).ray?.status, "STOPPED", "a retry before the stop was seen is refused");
  const stopped = await until("STOPPED", view, (r) => r.ray?.status === "STOPPED");
  assert.equal(stopped.state, "cancelled");
  assert.ok(ray.requests.some((r) => r.method === "POST" && r.path === `/api/jobs/${first}/stop`), "the stop call reached the cluster");
  assert.equal(ray.jobs.get(first)!.request["entrypoint_num_gpus"], undefined, "numGpus 0 reserves none");
  assert.equal((await server.db.selectFrom("models").select("id").where("round_id", "=", id).execute()).length, 0);

  const packages = ray.packages.size;
  assert.equal((await researcher.client.json("POST", `/api/v1/rounds/${id}/retry`)).status, 200);
  const second = await until("attempt 2 RUNNING", view, (r) => r.ray?.attempt === 2 && r.ray.status === "RUNNING");
  assert.match(second.ray!.submissionId, new RegExp(`^tandem-round-${id}-2-[0-9a-f]{6}$`));
  assert.equal(ray.packages.size, packages, "the same round and data make the same package: uploaded once");
  ray.release(second.ray!.submissionId);
  assert.equal((await until("done", view, (r) => r.state === "done" || r.state === "failed")).state, "done");
});

test("the cluster away, refusing or failing: shown per call, retried where it makes sense, never a crash", { timeout: 60_000 }, async () => {
  const researcher = await server.newUser("researcher");
  const launch = async (name: string) => ((await (await researcher.client.json("POST", `/api/v1/projects/${projectId}/rounds`, { ...spec(name), handOff: { baseModel: "gpt2" } })).json()) as { id: string }).id;
  const viewOf = (id: string) => () => researcher.client.get(`/api/v1/rounds/${id}`).then((r) => r.json() as Promise<RoundView>);

  // A 500 on submit is passing trouble: shown, then the next poll submits.
  ray.failNext("POST", "/api/jobs/", 503, Infinity);
  const flaky = await launch("Flaky");
  const shown = await until("the error shown", viewOf(flaky), (r) => r.ray?.lastError !== null && r.ray?.lastError !== undefined);
  assert.match(shown.ray!.lastError!, /submit: HTTP 503/);
  assert.equal(shown.state, "queued");
  assert.equal(shown.ray!.status, "submitting");
  ray.clearFailures();
  const submitted = await until("submitted after all", viewOf(flaky), (r) => r.ray?.status === "RUNNING");
  ray.release(submitted.ray!.submissionId);

  // A 400 is Ray refusing the job: final, with Ray's words.
  ray.failNext("POST", "/api/jobs/", 400, 1);
  const submitsBefore = ray.requests.filter((r) => r.method === "POST" && r.path === "/api/jobs/").length;
  const refused = await launch("Refused");
  const failed = await until("failed", viewOf(refused), (r) => r.state === "failed");
  assert.equal(failed.ray!.status, "FAILED");
  assert.match(failed.error ?? "", /Ray refused the job: submit: HTTP 400/);
  assert.equal(ray.requests.filter((r) => r.method === "POST" && r.path === "/api/jobs/").length, submitsBefore + 1, "a refusal is final: submitted once");

  // The job fails on the cluster: the round fails with the cluster's message.
  const crashing = await launch("Crashing");
  const crashingId = (await until("RUNNING", viewOf(crashing), (r) => r.ray?.status === "RUNNING")).ray!.submissionId;
  const job = ray.jobs.get(crashingId)!;
  job.status = "FAILED";
  job.message = "Job entrypoint command failed with exit code 1: CUDA out of memory";
  const crashed = await until("failed", viewOf(crashing), (r) => r.state === "failed");
  assert.match(crashed.error ?? "", /CUDA out of memory/);

  // The server is still serving.
  assert.equal((await researcher.client.get(`/api/v1/projects/${projectId}/rounds`)).status, 200);
});

test("the round view reads one snapshot: a commit to the round and its submission landing between its reads shows on neither", { timeout: 60_000 }, async () => {
  const researcher = await server.newUser("researcher");
  ray.failNext("POST", "/api/jobs/", 400, 1);
  const { id } = (await (await researcher.client.json("POST", `/api/v1/projects/${projectId}/rounds`, { ...spec("Snapshot"), handOff: { baseModel: "gpt2" } })).json()) as { id: string };
  const view = () => researcher.client.get(`/api/v1/rounds/${id}`).then((r) => r.json() as Promise<RoundView>);
  await until("failed", view, (r) => r.state === "failed" && r.ray?.status === "FAILED");

  // Right after the view's first read returns, a retry commits attempt 2 ("submitting") and the round's "queued" together.
  let retried: number | null = null;
  const retryBetween: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      if (retried === null) retried = (await researcher.client.json("POST", `/api/v1/rounds/${id}/retry`)).status;
      return args.result;
    },
  };
  const get = roundEndpoints.find((e) => e.method === "get" && e.path === "/rounds/:id")!;
  const ctx = { db: server.db.withPlugin(retryBetween) } as unknown as TandemContext;
  const mid = (await get.handler({ ctx, params: { id }, body: undefined, query: {}, actor: null })) as RoundView;
  assert.equal(retried, 200, "the retry committed between the view's reads");
  assert.deepEqual({ state: mid.state, status: mid.ray?.status, attempt: mid.ray?.attempt }, { state: "failed", status: "FAILED", attempt: 1 }, "both from before the retry");

  const second = await until("attempt 2 RUNNING", view, (r) => r.ray?.attempt === 2 && r.ray.status === "RUNNING");
  ray.release(second.ray!.submissionId);
  assert.equal((await until("done", view, (r) => r.state === "done" || r.state === "failed")).state, "done");
});
