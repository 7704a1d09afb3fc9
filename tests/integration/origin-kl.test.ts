/**
 * KL from the chain's origin policy (issue #11 item 4, decision 0058) over HTTP, with a real Postgres and the real
 * trainer service: round 0 trains an SFT policy, round 1 a GRPO step from it, round 2 a GRPO step from round 1's
 * policy. Each round's own KL is to the policy it started from; round 2's report also carries the KL from round 0's
 * SFT policy, named, and round 1's none (its reference is that SFT policy). The lineage walk that finds the origin
 * stops at cycles, at its depth bound and at models trained outside Tandem. Tiny model, a few steps.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { runTrainerService } from "../support/trainer-service.ts";
import { takeTask } from "../support/take-task.ts";
import { originOf } from "../../server/rounds/rounds.server.ts";
import type { ModelKind } from "../../server/db/schema.ts";

let server: TestServer;
let dataDir = "";
let researcher: HttpClient;
let projectId = "";

const tiny = {
  base: { init: { vocabSize: 320, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: 1 },
  sft: { steps: 3, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 1 } },
  // a high learning rate and a length term (answers of a 3-step SFT policy are all wrong: the checker alone gives
  // every answer the same reward, no advantage, no update): each GRPO round moves its policy
  grpo: { rollouts: 2, promptsPerRollout: 2, numGenerations: 4, maxCompletionLength: 8, optim: { lr: 3e-2 } },
  evaluation: { maxNewTokens: 8 },
  next: { prompts: 0 },
};
const sums = Array.from({ length: 10 }, (_, i) => [10 + i, 3 + (i % 5)] as const);

type HeldOut = { kl: number | null; klFromOrigin?: number | null; klFromOriginStderr?: number | null; origin?: { modelId: string; name: string } | null };
type RoundDetail = {
  state: string; error: string | null;
  jobs: Array<{ kind: string }>;
  models: Array<{ id: string; name: string; kind: string; parent_id: string | null }>;
  report: { heldOut: HeldOut | null; warnings: Array<{ code: string; message: string }> } | null;
};
const detailOf = async (id: string) => (await (await researcher.get(`/api/v1/rounds/${id}`)).json()) as RoundDetail;
async function launch(body: Record<string, unknown>): Promise<string> {
  const response = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, body);
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-origin-kl-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_JOB_LEASE_SECONDS: "60" });
  researcher = (await server.newUser("researcher")).client;
  const created = await researcher.json("POST", "/api/v1/projects", { name: "Chained rounds", settings: { k: 2, overlap: { demonstrate: 1 }, goldRate: 0, checker: { kind: "numeric" } } });
  projectId = ((await created.json()) as { id: string }).id;
  // prompts to demonstrate (and for GRPO's rollouts), and an eval set with the answers
  const records = [
    ...sums.slice(0, 6).map(([a, b]) => ({ prompt: `What is ${a} + ${b}?`, metadata: { answer: a + b } })),
    ...sums.slice(6).map(([a, b]) => ({ prompt: `What is ${a} + ${b}?`, metadata: { answer: a + b }, split: "eval" })),
  ];
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  const labeler = (await server.newMember(projectId, "labeler")).client;
  for (let task = await takeTask(labeler, projectId), n = 0; task && n < 6; task = await takeTask(labeler, projectId), n++) {
    const [a, b] = task.messages.at(-1)!.content.match(/\d+/g)!.map(Number) as [number, number];
    const submitted = await labeler.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `origin-kl-${task.assignmentId}`, payload: { text: `The answer is ${a + b}.` } });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test("a chain SFT → GRPO → GRPO: the third round reports KL from round 0's SFT policy, named; the second, whose reference is it, none; an sft-grpo round from round 0, from round 0's policy too", { timeout: 600_000 }, async () => {
  const round0 = await launch({ name: "Round 0", path: "sft", ...tiny });
  const round1 = await launch({ name: "Round 1", path: "grpo", ...tiny, base: { afterRound: round0 }, klTarget: 50, rewards: { checker: {}, length: { target: 4 } } });
  const round2 = await launch({ name: "Round 2", path: "grpo", ...tiny, base: { afterRound: round1 }, klTarget: 50, rewards: { checker: {}, length: { target: 4 } } });
  // its GRPO's reference is the round's own SFT; the round started from round 0's policy (decision 0069)
  const round3 = await launch({ name: "Round 3", path: "sft-grpo", ...tiny, base: { afterRound: round0 }, klTarget: 50, rewards: { checker: {}, length: { target: 4 } } });

  const { code, output } = await runTrainerService(server.url, await server.newToken("trainer"), { backend: "wasm", timeoutMs: 540_000 });
  assert.equal(code, 0, output.slice(-3000));
  const [done0, done1, done2, done3] = [await detailOf(round0), await detailOf(round1), await detailOf(round2), await detailOf(round3)];
  for (const done of [done0, done1, done2, done3]) assert.equal(done.state, "done", `${done.error}\n${output.slice(-3000)}`);
  const sft = done0.models[0]!;
  const [policy1, policy2] = [done1.models[0]!, done2.models[0]!];
  assert.deepEqual([sft.kind, policy1.parent_id, policy2.parent_id], ["sft", sft.id, policy1.id], "the lineage: round 2 ← round 1 ← round 0's SFT");

  // what the evaluate jobs were sent: an origin only where it is not the reference
  const heldOutSpec = async (roundId: string) =>
    ((await server.db.selectFrom("jobs").select("spec").where("round_id", "=", roundId).where("kind", "=", "evaluate").executeTakeFirstOrThrow()).spec as { heldOut: Record<string, unknown> }).heldOut;
  assert.equal((await heldOutSpec(round1))["referenceModelId"], sft.id);
  assert.equal("originModelId" in (await heldOutSpec(round1)), false, "round 1's reference is the origin: no second KL sent");
  assert.deepEqual([(await heldOutSpec(round2))["referenceModelId"], (await heldOutSpec(round2))["originModelId"]], [policy1.id, sft.id]);
  const ownSft = done3.models.find((m) => m.kind === "sft")!;
  assert.deepEqual([(await heldOutSpec(round3))["referenceModelId"], (await heldOutSpec(round3))["originModelId"]], [ownSft.id, sft.id], "round 3: its own SFT, and round 0's policy it started from");
  const held3 = done3.report?.heldOut;
  assert.ok(held3 && typeof held3.klFromOrigin === "number" && Number.isFinite(held3.klFromOrigin), JSON.stringify(done3.report));
  assert.deepEqual(held3.origin, { modelId: sft.id, name: sft.name });

  const held1 = done1.report?.heldOut;
  assert.ok(held1 && Number.isFinite(held1.kl), JSON.stringify(done1.report));
  assert.equal(held1.klFromOrigin, null);
  assert.equal(held1.origin, null);

  const held2 = done2.report?.heldOut;
  assert.ok(held2 && Number.isFinite(held2.kl), JSON.stringify(done2.report));
  assert.ok(typeof held2.klFromOrigin === "number" && Number.isFinite(held2.klFromOrigin), JSON.stringify(held2));
  assert.ok(typeof held2.klFromOriginStderr === "number" && held2.klFromOriginStderr >= 0);
  assert.notEqual(held2.klFromOrigin, held2.kl, "to round 0's SFT policy, not to round 1's");
  assert.deepEqual(held2.origin, { modelId: sft.id, name: sft.name });
  // the warning follows the round's KL target (50 here: far above a few tiny steps)
  assert.equal(done2.report?.warnings.some((w) => w.code === "kl_from_origin_above_target"), held2.klFromOrigin > 50);

  // the round page shows it beside the round's own KL, with the origin named
  const page = (await (await researcher.get(`/rounds/${round2}`, { accept: "text/html" })).text()).replace(/<!-- -->/g, "");
  assert.match(page, /KL from Round 0 · sft \(model \d+\), where this chain of rounds started: -?\d+\.\d\d ± \d+\.\d\d nats per answer\./);
});

test("the lineage walk: nearest SFT up from the reference, else the root; none through a cycle, past the depth bound or outside Tandem", async () => {
  const add = async (kind: ModelKind, parent: string | null, externalUri: string | null = null) =>
    (await server.db.insertInto("models").values({ project_id: projectId, round_id: null, parent_id: parent, name: `walk ${kind}`, kind, storage_key: `walk-${Math.random()}`, config: JSON.stringify({}), external_uri: externalUri }).returning("id").executeTakeFirstOrThrow()).id;
  const base = await add("base", null);
  const sft = await add("sft", base);
  const p1 = await add("policy", sft);
  const p2 = await add("policy", p1);
  assert.equal(await originOf(server.db, p2), sft, "nearest SFT up the lineage");
  assert.equal(await originOf(server.db, sft), sft, "the reference itself when it is SFT");
  const q = await add("policy", base);
  assert.equal(await originOf(server.db, await add("policy", q)), base, "no SFT: the root");
  // a cycle (only a corrupt registry has one): no origin rather than a loop
  const a = await add("policy", null);
  const b = await add("policy", a);
  await server.db.updateTable("models").set({ parent_id: b }).where("id", "=", a).execute();
  assert.equal(await originOf(server.db, b), null);
  // a lineage longer than the bound
  let tip = await add("policy", null);
  for (let i = 0; i < 260; i++) tip = await add("policy", tip);
  assert.equal(await originOf(server.db, tip), null);
  // a root trained outside Tandem has no files here to measure against
  assert.equal(await originOf(server.db, await add("policy", await add("base", null, "s3://elsewhere/ckpt"))), null);
});
