// The shared lease helpers (server/lib/leased-runner.server.ts) on real PostgreSQL: a claim whose
// lease ran out (its server died) is taken over once, a live one is left alone, and the lease-guarded
// finish of a job table changes nothing for an instance that no longer holds the lease.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { claimExpiredLease, jobTableLease, newLeaseOwner } from "../../server/lib/leased-runner.server.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  // the server's own generation runner stays off: these tests hold the leases themselves
  server = await startTestServer({ TANDEM_GENERATION_POLL_MS: "0" });
});
after(async () => {
  await server.stop();
});

async function projectWithTasks(n: number): Promise<{ projectId: string; taskIds: string[] }> {
  const researcher = (await server.newUser("researcher")).client;
  const created = await researcher.json("POST", "/api/v1/projects", { name: `Leases ${Date.now()}`, access: "open", settings: { k: 2, goldRate: 0 } });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `Lease question ${i}?`, completions: [`yes ${i}`, `no ${i}`] }));
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: lines.join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  const tasks = await server.db.selectFrom("tasks").select("id").where("project_id", "=", projectId).where("type", "=", "rank").orderBy("id").execute();
  assert.equal(tasks.length, n);
  return { projectId, taskIds: tasks.map((t) => t.id) };
}

test("an expired claim is taken over once by a new owner; a live claim and a finished one are left alone", async () => {
  const { projectId, taskIds } = await projectWithTasks(3);
  const past = new Date(Date.now() - 60_000);
  const future = new Date(Date.now() + 600_000);
  const rows = await server.db
    .insertInto("judge_suggestions")
    .values([
      { task_id: taskIds[0]!, project_id: projectId, judge: "", lease_owner: "dead-server", lease_expires_at: past },
      { task_id: taskIds[1]!, project_id: projectId, judge: "", lease_owner: "live-server", lease_expires_at: future },
      { task_id: taskIds[2]!, project_id: projectId, judge: "x", state: "done", lease_owner: null, lease_expires_at: past },
    ])
    .returning(["id", "task_id"])
    .execute();
  const owner = newLeaseOwner("test");
  // the test files share one database, and an earlier file's runner may have left a claim of its own to
  // expire (its server stopped mid-claim): those are fair game too, so claim until nothing expired is left
  const claimNext = () => claimExpiredLease<{ id: string; task_id: string }>(server.db, "judge_suggestions", owner, 30, "id, task_id");
  const taken: Array<{ id: string; task_id: string }> = [];
  for (let claim = await claimNext(); claim; claim = await claimNext()) taken.push(claim);
  const ours = taken.filter((t) => rows.some((r) => r.id === t.id));
  assert.deepEqual(ours, [{ id: rows[0]!.id, task_id: taskIds[0] }], "the expired claim once; never the live or the finished one");
  const row = await server.db.selectFrom("judge_suggestions").select(["lease_owner", "lease_expires_at"]).where("id", "=", rows[0]!.id).executeTakeFirstOrThrow();
  assert.equal(row.lease_owner, owner);
  assert.ok(row.lease_expires_at!.getTime() > Date.now(), "the new lease runs into the future");
  // nothing else is expired now: the live claim and the finished row stay as they are
  assert.equal(await claimExpiredLease(server.db, "judge_suggestions", newLeaseOwner("test"), 30, "id"), null);
  const live = await server.db.selectFrom("judge_suggestions").select("lease_owner").where("id", "=", rows[1]!.id).executeTakeFirstOrThrow();
  assert.equal(live.lease_owner, "live-server");
});

test("job tables: one claim per queued job, renew and finish only while the lease is this owner's", async () => {
  const { projectId } = await projectWithTasks(1);
  const researcher = await server.db.selectFrom("users").select("id").where("role", "=", "researcher").orderBy("id", "desc").executeTakeFirstOrThrow();
  const job = await server.db
    .insertInto("generation_runs")
    .values({ project_id: projectId, kind: "rank", spec: JSON.stringify({}), progress: JSON.stringify({}), created_by: researcher.id })
    .returning("id")
    .executeTakeFirstOrThrow();
  const mine = jobTableLease(server.db, "generation_runs", newLeaseOwner("test"), 30);
  const theirs = jobTableLease(server.db, "generation_runs", newLeaseOwner("test"), 30);
  assert.deepEqual(await mine.claim<{ id: string }>("id"), { id: job.id });
  assert.equal(await theirs.claim("id"), null, "a running job with a live lease is not claimed twice");
  assert.equal(await theirs.renew(job.id), false);
  assert.equal(await mine.renew(job.id), true);
  await theirs.finish(job.id, "failed", "not mine to finish");
  assert.equal((await server.db.selectFrom("generation_runs").select("state").where("id", "=", job.id).executeTakeFirstOrThrow()).state, "running");
  await mine.finish(job.id, "done", null);
  const done = await server.db.selectFrom("generation_runs").select(["state", "lease_owner", "finished_at"]).where("id", "=", job.id).executeTakeFirstOrThrow();
  assert.equal(done.state, "done");
  assert.equal(done.lease_owner, null);
  assert.ok(done.finished_at);
});
