/**
 * The round page's history: every event of a short run, and for a long one the metrics thinned
 * evenly over the whole run (each attempt's last point kept) with every other event kept.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { roundEventsForPage } from "../../server/rounds/rounds.server.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import { takeTask } from "../support/take-task.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

test("a long run's curves span the whole run on the page: metrics thinned per attempt, last point and other events kept", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Long run", settings: { k: 2 } });
  const projectId = ((await created.json()) as { id: string }).id;
  await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content: JSON.stringify({ prompt: "p", completions: ["a", "b"] }), commit: true });
  const model = await server.db.insertInto("models").values({ project_id: projectId, name: "base", kind: "base", storage_key: `events-${projectId}`, config: JSON.stringify({}) }).returning("id").executeTakeFirstOrThrow();
  const rank = await server.db.selectFrom("tasks").select("id").where("project_id", "=", projectId).executeTakeFirstOrThrow();
  // A ranking, so a DPO round may launch (the events below stand in for its trainer's).
  const labeler = await server.newMember(projectId, "labeler");
  const claim = (await takeTask(labeler.client, projectId))!;
  const submitted = await labeler.client.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `round-events-${rank.id}`, payload: { ranking: { tiers: claim.completions.map((c) => [c.id]) } } });
  assert.equal(submitted.status, 200, await submitted.clone().text());
  const launched = await researcher.client.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Long", path: "dpo", base: { modelId: model.id }, next: { prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const roundId = ((await launched.json()) as { id: string }).id;
  const job = await server.db.selectFrom("jobs").select("id").where("round_id", "=", roundId).executeTakeFirstOrThrow();

  const rows = [];
  for (const [attempt, steps] of [[1, 230], [2, 410]] as const) {
    rows.push({ job_id: job.id, round_id: roundId, attempt, type: "start", payload: JSON.stringify({ kind: "dpo" }) });
    for (let step = 1; step <= steps; step++) rows.push({ job_id: job.id, round_id: roundId, attempt, type: "metrics", payload: JSON.stringify({ step, loss: 1 / step }) });
    rows.push({ job_id: job.id, round_id: roundId, attempt, type: "checkpoint", payload: JSON.stringify({ step: steps }) });
  }
  await server.db.insertInto("job_events").values(rows).execute();

  const all = await roundEventsForPage(server.db, roundId);
  assert.equal(all.length, rows.length, "under the limit: everything");
  const thinned = await roundEventsForPage(server.db, roundId, 100);
  const metrics = thinned.filter((e) => e.type === "metrics");
  assert.ok(metrics.length <= 100 + 2 && metrics.length >= 90, `${metrics.length} points for 640 steps`);
  for (const [attempt, steps] of [[1, 230], [2, 410]] as const) {
    const mine = metrics.filter((e) => e.attempt === attempt).map((e) => Number(e.payload["step"]));
    assert.equal(mine.at(-1), steps, `attempt ${attempt}'s last point is there`);
    assert.ok(mine[0]! <= 10, "and the curve starts near its beginning");
  }
  assert.deepEqual(thinned.filter((e) => e.type !== "metrics").map((e) => e.type), ["start", "checkpoint", "start", "checkpoint"], "every other event kept");
  assert.deepEqual(thinned.map((e) => Number(e.id)), [...thinned.map((e) => Number(e.id))].sort((a, b) => a - b), "in order");
  assert.equal((await researcher.client.get(`/rounds/${roundId}`)).status, 200);
  assert.equal((await researcher.client.json("POST", `/api/v1/rounds/${roundId}/cancel`)).status, 200, "leave no job for another file's trainer");
});
