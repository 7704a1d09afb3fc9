/**
 * The labelers' agreement on a round's held-out preference items (decision 0067): the figure the round report puts
 * beside its reward model's held-out accuracy. Real rankings through HTTP, real PostgreSQL; the expected figures are
 * counted by hand from how the rankings were written.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { heldOutAgreement } from "../../server/rounds/heldout-agreement.server.ts";
import { inEvalSplit } from "../../server/labeling/eval-split.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

test("agreement on the held-out side only, from the snapshot's submissions only; no split, no figure", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Held-out agreement", settings: { k: 3, overlap: { rank: 3 } } });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;
  const questions = Array.from({ length: 8 }, (_, i) => `What is ${i} + ${i}?`);
  const content = questions.map((q, i) => JSON.stringify({ prompt: q, completions: [String(2 * i), String(2 * i + 1), String(2 * i + 2)] })).join("\n");
  assert.equal((await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);

  // a seed that puts some prompts on each side of a half-and-half split
  const prompts = await server.db.selectFrom("prompts").select(["id", "messages"]).where("project_id", "=", projectId).execute();
  const idOf = new Map(prompts.map((p) => [p.messages.at(-1)!.content, p.id]));
  const seed = Array.from({ length: 50 }, (_, i) => `s${i}`).find((s) => {
    const held = questions.filter((q) => inEvalSplit(idOf.get(q)!, s, 0.5)).length;
    return held > 0 && held < questions.length;
  })!;
  const heldOut = (q: string) => inEvalSplit(idOf.get(q)!, seed, 0.5);

  // Three labelers rank every item best first by the number. On held-out items the third reverses the order, so of
  // each item's 3 labeler pairs × 3 answer pairs only the first two labelers' 3 agree; on the training side all 9 do.
  const labelers = [await server.newMember(projectId, "labeler"), await server.newMember(projectId, "labeler"), await server.newMember(projectId, "labeler")];
  for (const [i, labeler] of labelers.entries()) {
    for (let view = await takeTask(labeler.client, projectId); view; view = await takeTask(labeler.client, projectId)) {
      const question = view.messages.at(-1)!.content;
      const order = [...view.completions].sort((a, b) => Number(a.text) - Number(b.text));
      if (i === 2 && heldOut(question)) order.reverse();
      const submitted = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
        idempotencyKey: `held-agreement-${view.assignmentId}`,
        payload: { ranking: { tiers: order.map((c) => [c.id]) } },
      });
      assert.equal(submitted.status, 200, await submitted.clone().text());
    }
  }
  const rows = await server.db
    .selectFrom("submissions").innerJoin("tasks", "tasks.id", "submissions.task_id")
    .select(["submissions.id", "submissions.user_id"]).where("tasks.project_id", "=", projectId).orderBy("submissions.id").execute();
  assert.equal(rows.length, 3 * questions.length);
  const ids = rows.map((r) => Number(r.id));
  const held = questions.filter(heldOut).length;

  const all = await heldOutAgreement(server.db, { promptSplit: { seed, share: 0.5 }, ranges: [[ids[0]!, ids.at(-1)!]] });
  assert.deepEqual(all, { rate: 1 / 3, compared: 9 * held }, "the training side (every pair agreed) is left out");

  // a snapshot without the third labeler's submissions (as a labeler filter would make it): the two who agree
  const third = new Set(rows.filter((r) => r.user_id === labelers[2]!.id).map((r) => Number(r.id)));
  const ranges = ids.filter((id) => !third.has(id)).map((id): [number, number] => [id, id]);
  assert.deepEqual(await heldOutAgreement(server.db, { promptSplit: { seed, share: 0.5 }, ranges }), { rate: 1, compared: 3 * held });

  // no split: the reward model was not held out from anything
  assert.equal(await heldOutAgreement(server.db, { promptSplit: null, ranges: [[ids[0]!, ids.at(-1)!]] }), null);
  // a split over a snapshot with no submissions: nothing compared
  assert.deepEqual(await heldOutAgreement(server.db, { promptSplit: { seed, share: 0.5 }, ranges: [] }), { rate: null, compared: 0 });
});
