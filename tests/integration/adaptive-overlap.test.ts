/**
 * Adaptive overlap (issue 16 item 2, decision 0038) under concurrency: ranking tasks start with
 * two labelers; agreeing items complete at two, disagreeing ones grow one labeler at a time up
 * to the cap, and no task ever gets more labels than its final overlap.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { itemAgreement } from "../../server/labeling/adaptive-overlap.ts";
import type { Ranking } from "../../server/labeling/quality/ranking.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer({ TANDEM_JUDGE_POLL_MS: "0" });
});
after(() => server.stop());

test("overlap grows on disagreement up to the cap and stops at the start when labels agree, with eight labelers at once", { timeout: 120_000 }, async () => {
  const { client: researcher } = await server.newUser("researcher");
  const adaptiveOverlap = { enabled: true, start: 2, max: 4, agreementBelow: 0.75 };
  const created = await researcher.json("POST", "/api/v1/projects", { access: "open", name: `Adaptive ${Date.now()}`, settings: { k: 3, overlap: { rank: 3 }, goldRate: 0, adaptiveOverlap } });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;
  const records = ["agree-1", "split-1", "agree-2", "split-2", "agree-3", "split-3"].map((name) => ({ prompt: `Item ${name}: rank these`, completions: [`${name} first`, `${name} second`, `${name} third`] }));
  assert.equal((await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true })).status, 200);
  const tasks = await server.db.selectFrom("tasks").select("overlap_target").where("project_id", "=", projectId).execute();
  assert.ok(tasks.every((t) => t.overlap_target === 2), "new ranking tasks start at `start`");

  // Everyone ranks "agree" items first > second > third; on "split" items odd labelers reverse it.
  const labelers = await Promise.all(Array.from({ length: 8 }, () => server.newUser("labeler")));
  // Passes until one finds nothing: a labeler who found no task may leave just before another's
  // submission grows an item's overlap, and the next pass serves that growth.
  let claimed = 1;
  for (let pass = 0; pass < 6 && claimed > 0; pass++) {
    claimed = 0;
    await Promise.all(
      labelers.map(async (labeler, i) => {
        for (;;) {
          const claim = await labeler.client.json("POST", `/api/v1/projects/${projectId}/next-task`);
          const body = (await claim.json()) as { assignmentId: string } | null;
          if (!body) return;
          claimed++;
          const view = (await (await labeler.client.get(`/api/v1/assignments/${body.assignmentId}`)).json()) as { messages: Array<{ content: string }>; completions: Array<{ id: string; text: string }> };
          const order = ["first", "second", "third"].map((w) => view.completions.find((c) => c.text.endsWith(w))!.id);
          const split = view.messages[0]!.content.includes("split");
          const tiers = (split && i % 2 === 1 ? [...order].reverse() : order).map((id) => [id]);
          const submitted = await labeler.client.json("POST", `/api/v1/assignments/${body.assignmentId}/submit`, { idempotencyKey: `adaptive-${body.assignmentId}`, payload: { ranking: { tiers } } });
          assert.equal(submitted.status, 200, await submitted.clone().text());
        }
      }),
    );
  }
  const final = await server.db
    .selectFrom("tasks").innerJoin("prompts", "prompts.id", "tasks.prompt_id")
    .select(["tasks.id", "tasks.overlap_target", "tasks.state", "prompts.messages"])
    .where("tasks.project_id", "=", projectId).execute();
  for (const t of final) {
    const labels = (await server.db.selectFrom("submissions").select("payload").where("task_id", "=", t.id).orderBy("id").execute()).map((r) => r.payload.ranking as Ranking);
    assert.equal(t.state, "complete");
    assert.equal(labels.length, t.overlap_target, "exactly the final overlap's labels: none over-assigned");
    // The rule, checked on the labels in the order they came: it grew at every size below the
    // final one because those labels disagreed, and stopped because they agreed or at the cap.
    for (let m = adaptiveOverlap.start; m < t.overlap_target; m++) assert.ok(itemAgreement(labels.slice(0, m))! < 0.75, `grew at ${m}`);
    assert.ok(t.overlap_target === adaptiveOverlap.max || itemAgreement(labels)! >= 0.75, "stopped for a reason");
    if (!t.messages[0]!.content.includes("split")) assert.equal(t.overlap_target, 2, "agreeing labels stop at the start");
  }
  const labels = (await server.db.selectFrom("submissions").innerJoin("tasks", "tasks.id", "submissions.task_id").select("submissions.id").where("tasks.project_id", "=", projectId).execute()).length;
  const page = (await (await researcher.get(`/projects/${projectId}`, { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(page, new RegExp(`data-testid="adaptive-savings"[^>]*>6 finished rankings took ${labels} labels against 18 at a fixed overlap of 3`));
});

test("a disagreeing item grows one labeler at a time to the cap, then completes", async () => {
  const { client: researcher } = await server.newUser("researcher");
  const created = await researcher.json("POST", "/api/v1/projects", { access: "open", name: `Adaptive cap ${Date.now()}`, settings: { k: 3, goldRate: 0, adaptiveOverlap: { enabled: true, start: 2, max: 4 } } });
  const projectId = ((await created.json()) as { id: string }).id;
  const content = JSON.stringify({ prompt: "Rank the fruit", completions: ["apple", "pear", "plum"] });
  assert.equal((await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);
  const target = async () => (await server.db.selectFrom("tasks").select(["overlap_target", "state"]).where("project_id", "=", projectId).executeTakeFirstOrThrow());
  const rank = async (client: HttpClient, reversed: boolean) => {
    const claim = (await (await client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
    if (!claim) return false;
    const view = (await (await client.get(`/api/v1/assignments/${claim.assignmentId}`)).json()) as { completions: Array<{ id: string; text: string }> };
    const order = ["apple", "pear", "plum"].map((w) => view.completions.find((c) => c.text === w)!.id);
    const tiers = (reversed ? [...order].reverse() : order).map((id) => [id]);
    assert.equal((await client.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `adaptive-cap-${claim.assignmentId}`, payload: { ranking: { tiers } } })).status, 200);
    return true;
  };
  const people = await Promise.all(Array.from({ length: 5 }, () => server.newUser("labeler")));
  assert.ok(await rank(people[0]!.client, false));
  assert.deepEqual(await target(), { overlap_target: 2, state: "open" });
  assert.ok(await rank(people[1]!.client, true)); // full disagreement: one more
  assert.deepEqual(await target(), { overlap_target: 3, state: "open" });
  assert.ok(await rank(people[2]!.client, false)); // pooled 1/3: one more
  assert.deepEqual(await target(), { overlap_target: 4, state: "open" });
  assert.ok(await rank(people[3]!.client, true)); // still split, but at the cap
  assert.deepEqual(await target(), { overlap_target: 4, state: "complete" });
  assert.equal(await rank(people[4]!.client, false), false, "nothing left to claim");
});

test("adaptive settings out of range are refused with the field named", async () => {
  const { client: researcher } = await server.newUser("researcher");
  for (const [adaptiveOverlap, path] of [
    [{ enabled: true, start: 4, max: 3 }, "settings.adaptiveOverlap.max"],
    [{ agreementBelow: 1.5 }, "settings.adaptiveOverlap.agreementBelow"],
    [{ start: 0 }, "settings.adaptiveOverlap.start"],
  ] as const) {
    const refused = await researcher.json("POST", "/api/v1/projects", { name: "Adaptive bad", settings: { adaptiveOverlap } });
    assert.equal(refused.status, 422);
    assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === path), path);
  }
});
