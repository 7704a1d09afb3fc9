import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import type { SessionUser } from "../../server/auth/actor.ts";
import { createDb, createPool, migrateToLatest, type Db } from "../../server/db/database.server.ts";
import type { UserRole } from "../../server/db/schema.ts";
import { projectSettingsSchema, type ProjectSettings } from "../../server/labeling/project-settings.ts";
import { createProject } from "../../server/labeling/projects.server.ts";
import { insertPrompts, type NewPrompt } from "../../server/labeling/prompts.server.ts";
import { claimNextTask, skipAssignment } from "../../server/labeling/queue.server.ts";
import { submitAssignment } from "../../server/labeling/submissions.server.ts";
import { uniqueEmail } from "../support/test-server.ts";

let db: Db;
before(async () => {
  db = createDb(createPool(process.env.DATABASE_URL!, 20));
  await migrateToLatest(db);
});
after(() => db.destroy());

async function newUsers(count: number, role: UserRole = "labeler"): Promise<SessionUser[]> {
  // Inserted directly (no argon2): these people never sign in, they only take tasks.
  const rows = await db
    .insertInto("users")
    .values(Array.from({ length: count }, (_, i) => ({ email: uniqueEmail(`q${i}`), name: `Labeler ${i}`, role, password_hash: "x" })))
    .returning(["id", "email", "name", "role"])
    .execute();
  return rows;
}

let promptCounter = 0;
function prompts(count: number, completions: number): NewPrompt[] {
  return Array.from({ length: count }, () => {
    const n = promptCounter++;
    return {
      messages: [{ role: "user" as const, content: `What is ${n} + ${n}?` }],
      completions: Array.from({ length: completions }, (_, i) => ({ text: `Answer ${i} to ${n}`, model: "test" })),
      source: null,
      metadata: {},
      contentHash: `hash-${process.pid}-${n}`,
      minhash: "",
      status: "active" as const,
    };
  });
}

async function project(overrides: Partial<ProjectSettings> = {}) {
  const [owner] = await newUsers(1, "researcher");
  const settings = projectSettingsSchema.parse({ ...overrides });
  const created = await createProject(db, owner!.id, { name: "Queue test", guidelines: "", settings });
  return created;
}

async function seed(projectId: string, settings: ProjectSettings, list: NewPrompt[], author: string | null = null) {
  return db.transaction().execute((trx) => insertPrompts(trx, projectId, settings, list, author));
}

const key = () => `key-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const rankingOf = (shown: string[]) => ({ ranking: { tiers: [[shown[0]!, shown[1]!], ...shown.slice(2).map((id) => [id])] } });

test("200 concurrent labelers: every task reaches exactly its overlap, none is lost or over-filled", async () => {
  const p = await project({ overlap: { demonstrate: 1, rank: 3, review: 1, compare: 3 } });
  await seed(p.id, p.settings, [...prompts(60, 4), ...prompts(40, 0)]);
  const labelers = await newUsers(200);
  let submitted = 0;
  await Promise.all(
    labelers.map(async (user) => {
      for (;;) {
        const assignment = await claimNextTask(db, user, p.id, p.settings);
        if (!assignment) return;
        const task = await db.selectFrom("tasks").select("type").where("id", "=", assignment.task_id).executeTakeFirstOrThrow();
        const payload = task.type === "rank" ? rankingOf(assignment.shown_order) : { text: `Demo by ${user.id}` };
        await submitAssignment(db, user, assignment.id, { idempotencyKey: key(), payload, timings: {} }, p.settings);
        submitted++;
      }
    }),
  );
  const perTask = await sql<{ type: string; state: string; overlap_target: number; n: string }>`
    select t.type, t.state, t.overlap_target, count(s.id) as n
    from tasks t left join submissions s on s.task_id = t.id
    where t.project_id = ${p.id} group by t.id`.execute(db);
  assert.equal(perTask.rows.length, 100);
  for (const row of perTask.rows) {
    assert.equal(Number(row.n), row.overlap_target, `${row.type} task has ${row.n} submissions, target ${row.overlap_target}`);
    assert.equal(row.state, "complete");
  }
  assert.equal(submitted, 60 * 3 + 40 * 1);
  const dupes = await sql<{ n: string }>`
    select count(*) as n from (select task_id, user_id from submissions group by 1, 2 having count(*) > 1) d`.execute(db);
  assert.equal(Number(dupes.rows[0]!.n), 0, "nobody did a task twice");
});

test("an expired lease returns the task to the queue; submitting on it is refused with a clear message", async () => {
  const p = await project({ overlap: { demonstrate: 1, rank: 3, review: 1, compare: 3 } });
  await seed(p.id, p.settings, prompts(1, 0));
  const [alice, bob] = await newUsers(2);
  const first = await claimNextTask(db, alice!, p.id, p.settings);
  assert.ok(first);
  assert.equal(await claimNextTask(db, bob!, p.id, p.settings), null, "the only task is leased to alice");
  await db.updateTable("assignments").set({ lease_expires_at: new Date(Date.now() - 1000) }).where("id", "=", first.id).execute();
  const second = await claimNextTask(db, bob!, p.id, p.settings);
  assert.equal(second?.task_id, first.task_id, "bob gets the task back from the queue");
  await assert.rejects(
    submitAssignment(db, alice!, first.id, { idempotencyKey: key(), payload: { text: "late" }, timings: {} }, p.settings),
    (error: { code: string; message: string }) => error.code === "lease_expired" && /still on this page/.test(error.message),
  );
  assert.equal((await db.selectFrom("submissions").select("id").where("assignment_id", "=", first.id).execute()).length, 0);
});

test("a foreign assignment is refused; a double submit with one key records once", async () => {
  const p = await project();
  await seed(p.id, p.settings, prompts(1, 0));
  const [alice, mallory] = await newUsers(2);
  const assignment = (await claimNextTask(db, alice!, p.id, p.settings))!;
  await assert.rejects(
    submitAssignment(db, mallory!, assignment.id, { idempotencyKey: key(), payload: { text: "not mine" }, timings: {} }, p.settings),
    (error: { code: string }) => error.code === "forbidden",
  );
  const input = { idempotencyKey: key(), payload: { text: "once" }, timings: {} };
  const [a, b] = await Promise.all([submitAssignment(db, alice!, assignment.id, input, p.settings), submitAssignment(db, alice!, assignment.id, input, p.settings)]);
  assert.equal(a.submissionId, b.submissionId);
  assert.deepEqual([a.duplicate, b.duplicate].sort(), [false, true]);
  assert.equal((await db.selectFrom("submissions").select("id").where("assignment_id", "=", assignment.id).execute()).length, 1);
});

test("invalid rankings are refused with the reason, and nothing is recorded", async () => {
  const p = await project();
  await seed(p.id, p.settings, prompts(1, 4));
  const [alice] = await newUsers(1);
  const assignment = (await claimNextTask(db, alice!, p.id, p.settings))!;
  const shown = assignment.shown_order;
  const attempts: unknown[] = [
    { ranking: { tiers: [[shown[0]], [shown[1]]] } }, // missing items
    { ranking: { tiers: [[shown[0], "999999"], [shown[1]], [shown[2]], [shown[3]]] } }, // unknown id
    { ranking: { ranks: { [shown[0]!]: 1, [shown[1]!]: 2, [shown[2]!]: 3, [shown[3]!]: 9 } } }, // out of range
    { ranking: { tiers: shown.map((id) => [id]) }, quality: { [shown[0]!]: 8 } }, // quality off the 1–7 scale
    { ranking: { tiers: shown.map((id) => [id]) }, flags: { [shown[0]!]: ["no_such_flag"] } },
  ];
  for (const payload of attempts) {
    await assert.rejects(
      submitAssignment(db, alice!, assignment.id, { idempotencyKey: key(), payload: payload as Record<string, unknown>, timings: {} }, p.settings),
      (error: { code: string; fieldErrors: unknown[] }) => error.code === "validation_failed" && error.fieldErrors.length > 0,
      JSON.stringify(payload),
    );
  }
  assert.equal((await db.selectFrom("submissions").select("id").where("assignment_id", "=", assignment.id).execute()).length, 0);
  const ok = await submitAssignment(db, alice!, assignment.id, { idempotencyKey: key(), payload: rankingOf(shown), timings: { msOnTask: 1200 } }, p.settings);
  assert.equal(ok.duplicate, false);
});

test("never the person's own content, never the same task twice; skip hands it to others", async () => {
  const p = await project({ overlap: { demonstrate: 2, rank: 3, review: 1, compare: 3 } });
  const [author, alice, bob] = await newUsers(3);
  await seed(p.id, p.settings, prompts(1, 0), author!.id);
  assert.equal(await claimNextTask(db, author!, p.id, p.settings), null, "the author never gets their own prompt");
  const a = (await claimNextTask(db, alice!, p.id, p.settings))!;
  await skipAssignment(db, alice!, a.id, "I do not know the topic");
  assert.equal(await claimNextTask(db, alice!, p.id, p.settings), null, "a skipped task does not come back");
  const b = await claimNextTask(db, bob!, p.id, p.settings);
  assert.equal(b?.task_id, a.task_id);
});

test("a person resumes their unfinished task instead of getting a new one", async () => {
  const p = await project();
  await seed(p.id, p.settings, prompts(3, 0));
  const [alice] = await newUsers(1);
  const first = (await claimNextTask(db, alice!, p.id, p.settings))!;
  const again = (await claimNextTask(db, alice!, p.id, p.settings))!;
  assert.equal(again.id, first.id);
});

test("the shown order of a ranking task is a stored permutation of its completions", async () => {
  const p = await project();
  await seed(p.id, p.settings, prompts(1, 4));
  const [alice] = await newUsers(1);
  const assignment = (await claimNextTask(db, alice!, p.id, p.settings))!;
  const task = await db.selectFrom("tasks").select("completion_ids").where("id", "=", assignment.task_id).executeTakeFirstOrThrow();
  assert.deepEqual([...assignment.shown_order].sort(), [...task.completion_ids].sort());
  assert.equal(task.completion_ids.length, 4);
});

test("an idempotency key reused for another task is refused and records nothing", async () => {
  const p = await project();
  await seed(p.id, p.settings, prompts(2, 0));
  const [alice] = await newUsers(1);
  const first = (await claimNextTask(db, alice!, p.id, p.settings))!;
  const sharedKey = key();
  await submitAssignment(db, alice!, first.id, { idempotencyKey: sharedKey, payload: { text: "one" }, timings: {} }, p.settings);
  const second = (await claimNextTask(db, alice!, p.id, p.settings))!;
  await assert.rejects(
    submitAssignment(db, alice!, second.id, { idempotencyKey: sharedKey, payload: { text: "two" }, timings: {} }, p.settings),
    (error: { code: string }) => error.code === "conflict",
  );
  const state = await db.selectFrom("assignments").select("state").where("id", "=", second.id).executeTakeFirstOrThrow();
  assert.equal(state.state, "active", "the second task is still open for a proper submit");
});
