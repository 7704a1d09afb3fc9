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

test("the demo seeds starter labels with calculator calls and an eval set, trains round 0, then GRPO on the checker from its policy, each scored on the held-out set", { timeout: 600_000 }, async () => {
  const admin = await server.db.selectFrom("users").select("id").where("role", "=", "admin").executeTakeFirstOrThrow();
  const { projectId, roundId, grpoRoundId } = await seedDemoProject(server.db, admin.id, 60, { demonstrations: 12, rankings: 6, pool: 20, eval: 6, sftSteps: 3, grpoRollouts: 1, nextPrompts: 4 });

  assert.ok(roundId && grpoRoundId);
  const round = await server.db.selectFrom("rounds").select(["data_snapshot", "steps"]).where("id", "=", roundId).executeTakeFirstOrThrow();
  assert.deepEqual((round.data_snapshot as { counts: unknown }).counts, { demonstrate: 12, rank: 6, review: 0, compare: 0 });
  assert.deepEqual(round.steps, ["sft", "evaluate", "sample"]);
  assert.equal((round.data_snapshot as { evalSet: { count: number } }).evalSet.count, 6);
  const generator = await server.db.selectFrom("users").select(["active", "name"]).where("email", "=", "demo-data@tandem.local").executeTakeFirstOrThrow();
  assert.equal(generator.active, false, "the generated labels' account cannot sign in");

  // Half of the demonstrations call the calculator; the server ran it, so each result is the calculator's own.
  const researcher = await server.newUser("researcher");
  const sft = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/sft.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string; tool_calls?: unknown[] }> });
  assert.equal(sft.length, 12);
  const withCalls = sft.filter((r) => r.messages.some((m) => m.tool_calls));
  assert.equal(withCalls.length, 6);
  for (const r of withCalls) {
    const [, x, op, y] = /^What is (\d+) (.) (\d+)\?$/.exec(r.messages[0]!.content)!;
    const expected = op === "+" ? Number(x) + Number(y) : op === "−" ? Number(x) - Number(y) : Number(x) * Number(y);
    assert.equal(r.messages.find((m) => m.role === "tool")?.content, String(expected));
  }
  // The starter rankings export as the rubric's pairs: 6 prompts × C(4,2) = 36, best answer always chosen over the guess.
  const prefs = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { chosen: string; rejected: string });
  assert.equal(prefs.length, 36);
  assert.ok(prefs.every((p) => !p.chosen.startsWith("I think")), "a guess is never chosen");

  const token = await server.newToken("trainer");
  const { code, output } = await runTrainerService(server.url, token, { backend: "wasm", timeoutMs: 540_000 });
  assert.equal(code, 0, output);

  type Report = { samples: { checker: { policy: { scored: number; correct: number } } }; heldOut: { samples: number; checker: { new: number; previous: number | null; scored: number } } };
  const done = await server.db.selectFrom("rounds").select(["state", "error", "report"]).where("id", "=", roundId).executeTakeFirstOrThrow();
  assert.equal(done.state, "done", `${done.error}\n${output}`);
  const report = done.report as Report;
  assert.equal(report.samples.checker.policy.scored, 4 * 4, "every sample of the 4 prompts × K = 4 is scored against its reference answer");
  assert.equal(report.heldOut.checker.scored, 6, "the 6 held-out questions, each scored");
  assert.equal(report.heldOut.checker.previous, null, "round 0 starts from scratch");

  const grpo = await server.db.selectFrom("rounds").select(["state", "error", "report", "steps"]).where("id", "=", grpoRoundId).executeTakeFirstOrThrow();
  assert.equal(grpo.state, "done", `${grpo.error}\n${output}`);
  assert.deepEqual(grpo.steps, ["grpo", "evaluate", "sample"]);
  const grpoReport = grpo.report as Report;
  assert.equal(grpoReport.heldOut.checker.previous, report.heldOut.checker.new, "round 1 is compared with round 0 on the same held-out prompts");
  // eval prompts are never labeling tasks
  const held = (await server.db.selectFrom("prompts").select("id").where("project_id", "=", projectId).where("held_out", "=", true).execute()).map((p) => p.id);
  assert.equal(held.length, 6);
  assert.equal((await server.db.selectFrom("tasks").select("id").where("prompt_id", "in", held).execute()).length, 0);
});
