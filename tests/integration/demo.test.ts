/**
 * The teaching demo: seeded starter labels go through the real queue, the first round trains a
 * base policy from scratch with the real trainer service, and its samples come back as ranking
 * tasks scored by the reference-answer checker. Sizes are cut down; `npm start` uses DEMO_SIZES.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { seedDemoProject } from "../../server/demo/demo-project.server.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import { runTrainerService } from "../support/trainer-service.ts";

let server: TestServer;
let dataDir = "";
before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-demo-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir });
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test("the demo seeds starter labels, trains a base policy and sends its samples to labelers with checker scores", { timeout: 300_000 }, async () => {
  const admin = await server.db.selectFrom("users").select("id").where("role", "=", "admin").executeTakeFirstOrThrow();
  const { projectId, roundId } = await seedDemoProject(server.db, admin.id, 60, { demonstrations: 12, rankings: 6, pool: 20, sftSteps: 3, nextPrompts: 4 });

  assert.ok(roundId);
  const round = await server.db.selectFrom("rounds").select(["data_snapshot", "steps"]).where("id", "=", roundId).executeTakeFirstOrThrow();
  assert.deepEqual((round.data_snapshot as { counts: unknown }).counts, { demonstrate: 12, rank: 6, review: 0, compare: 0 });
  assert.deepEqual(round.steps, ["sft", "sample"]);
  const generator = await server.db.selectFrom("users").select(["active", "name"]).where("email", "=", "demo-data@tandem.local").executeTakeFirstOrThrow();
  assert.equal(generator.active, false, "the generated labels' account cannot sign in");

  // The starter rankings export as the rubric's pairs: 6 prompts × C(4,2) = 36, best answer always chosen over the guess.
  const researcher = await server.newUser("researcher");
  const prefs = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { chosen: string; rejected: string });
  assert.equal(prefs.length, 36);
  assert.ok(prefs.every((p) => !p.chosen.startsWith("I think")), "a guess is never chosen");

  const token = await server.newToken("trainer");
  const { code, output } = await runTrainerService(server.url, token, { backend: "wasm" });
  assert.equal(code, 0, output);

  const done = await server.db.selectFrom("rounds").select(["state", "error", "report"]).where("id", "=", roundId).executeTakeFirstOrThrow();
  assert.equal(done.state, "done", `${done.error}\n${output}`);
  const checker = (done.report as { samples: { checker: { policy: { scored: number; correct: number } } } }).samples.checker.policy;
  assert.equal(checker.scored, 4 * 4, "every sample of the 4 prompts × K = 4 is scored against its reference answer");
  assert.ok(checker.correct >= 0 && checker.correct <= checker.scored);
});
