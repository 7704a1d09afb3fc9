/**
 * The columns the data browser filters on at a million prompts (migration 0027, decision 0055), kept by triggers on
 * submissions, against what they stand for:
 * - `tasks.agreement` is the figure the rest of Tandem computes in TypeScript: `labelerAgreement(...).project.pairwise
 *   .rate` over the item's rankings, A/B choices read as two-tier rankings (`choiceAsRanking`), a labeler's last
 *   submission counting — the code the task listing used before the column;
 * - `prompts.quality_sum` / `quality_count` are the sum and count of every quality score given to the prompt's
 *   completions, whose mean the quality filter compares (it used to average them over the payloads at query time).
 * Checked through the queue (submit path), on several hundred random items written straight to the tables (ties,
 * partial and not-rankable rankings, A/B ties, scores, many tasks in one statement), after submissions are changed and
 * deleted (cascades included), through the listings' filters, and after migration 0027 is rolled back and applied again
 * on this database with its data (the backfill).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { Migrator } from "kysely/migration";
import { migrations } from "../../migrations/migration-list.ts";
import { migrateToLatest, type Db } from "../../server/db/database.server.ts";
import { choiceAsRanking } from "../../server/labeling/export-items.server.ts";
import { inListingTransaction } from "../../server/labeling/browser.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { labelerAgreement, type AgreementSubmission } from "../../server/labeling/quality/labeler-agreement.ts";
import { rankingSchema, type Ranking } from "../../server/labeling/quality/ranking.ts";
import { createRng } from "../../trainer/random/rng.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
after(() => server.stop());
let projectId = "";
let researcher: Awaited<ReturnType<TestServer["newUser"]>>;

before(async () => {
  server = await startTestServer();
  researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Stored agreement", settings: { k: 3, overlap: { rank: 3 } } });
  assert.equal(created.status, 201, await created.clone().text());
  projectId = ((await created.json()) as { id: string }).id;
});

/** The TypeScript figure for one task, computed as the task listing did before the column (decision 0045). */
async function expected(db: Db, taskId: string): Promise<number | null> {
  const rows = await sql<{ type: string; user_id: string; payload: Record<string, unknown>; shown_order: string[] }>`
    select t.type, s.user_id, s.payload, a.shown_order
    from submissions s join tasks t on t.id = s.task_id join assignments a on a.id = s.assignment_id
    where s.task_id = ${taskId} and t.type in ('rank', 'compare')
    order by s.id`.execute(db);
  const subs: AgreementSubmission[] = rows.rows.flatMap((r) => {
    const ranking = r.type === "rank" ? rankingSchema.safeParse(r.payload.ranking).data : choiceAsRanking(r.payload, r.shown_order);
    return ranking ? [{ itemId: taskId, labelerId: r.user_id, ranking }] : [];
  });
  return subs.length < 2 ? null : labelerAgreement(subs).project.pairwise.rate;
}

/** Every prompt's quality sum and count as stored, and as recounted from the payloads (the filter's former subquery). */
async function qualityMismatches(): Promise<string[]> {
  const rows = await sql<{ id: string; sum: string; count: number; want_sum: string | null; want_count: string }>`
    select p.id, p.quality_sum as sum, p.quality_count as count, x.want_sum, coalesce(x.want_count, 0) as want_count
    from prompts p left join lateral (
      select sum(q.value::numeric) as want_sum, count(*) as want_count
      from submissions s join tasks t on t.id = s.task_id
        cross join jsonb_each_text(case when jsonb_typeof(s.payload -> 'quality') = 'object' then s.payload -> 'quality' else '{}'::jsonb end) q
      where t.prompt_id = p.id) x on true
    where p.project_id = ${projectId}`.execute(server.db);
  return rows.rows.filter((r) => Number(r.sum) !== Number(r.want_sum ?? 0) || r.count !== Number(r.want_count)).map((r) => `${r.id}: ${r.sum}/${r.count}, want ${r.want_sum}/${r.want_count}`);
}

/** Tasks whose stored flag ids are not every flag id their submissions' payloads name (sorted, each once). */
async function flagMismatches(): Promise<string[]> {
  const rows = await sql<{ id: string; flag_ids: string[]; want: string[] }>`
    select t.id, t.flag_ids, coalesce((
      select array_agg(distinct f.value order by f.value)
      from submissions s
        cross join jsonb_each(case when jsonb_typeof(s.payload -> 'flags') = 'object' then s.payload -> 'flags' else '{}'::jsonb end) e
        cross join jsonb_array_elements_text(e.value) f
      where s.task_id = t.id), '{}') as want
    from tasks t where t.project_id = ${projectId}`.execute(server.db);
  return rows.rows.filter((r) => JSON.stringify(r.flag_ids) !== JSON.stringify(r.want)).map((r) => `${r.id}: ${JSON.stringify(r.flag_ids)}, want ${JSON.stringify(r.want)}`);
}

async function stored(taskIds: string[]): Promise<Map<string, number | null>> {
  const rows = await server.db.selectFrom("tasks").select(["id", "agreement"]).where("id", "in", taskIds).execute();
  return new Map(rows.map((r) => [r.id, r.agreement]));
}

async function assertAllMatch(taskIds: string[], context: string): Promise<number> {
  const got = await stored(taskIds);
  let measured = 0;
  for (const taskId of taskIds) {
    const want = await expected(server.db, taskId);
    // Exactly: both divide the same two integers in double precision.
    assert.equal(got.get(taskId), want, `${context}: task ${taskId}`);
    if (want !== null) measured++;
  }
  return measured;
}

test("submitting through the queue keeps each task's agreement, one submission at a time", async () => {
  const content = ["Q1", "Q2", "Q3"].map((prompt) => JSON.stringify({ prompt, completions: ["a", "b", "c"] })).join("\n");
  assert.equal((await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);
  const plans: Array<Record<string, string[][]>> = [
    { Q1: [["a"], ["b"], ["c"]], Q2: [["a"], ["b"], ["c"]], Q3: [["a", "b"], ["c"]] },
    { Q1: [["a"], ["b"], ["c"]], Q2: [["c"], ["b"], ["a"]], Q3: [["b"], ["a"], ["c"]] },
    { Q1: [["b"], ["a"], ["c"]], Q2: [["a"], ["c", "b"]], Q3: [["c"], ["a", "b"]] },
  ];
  const taskIds = (await server.db.selectFrom("tasks").select("id").where("project_id", "=", projectId).execute()).map((t) => t.id);
  for (const plan of plans) {
    const labeler = await server.newMember(projectId, "labeler");
    for (let view; (view = await takeTask(labeler.client, projectId)); ) {
      const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
      const tiers = plan[view.messages[0]!.content]!.map((tier) => tier.map((text) => byText[text]!));
      const quality = Object.fromEntries(view.completions.map((c, i) => [c.id, 1 + ((i + plans.indexOf(plan)) % 7)]));
      const submitted = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
        idempotencyKey: `agreement-${view.assignmentId}`,
        payload: { ranking: { tiers }, quality },
      });
      assert.equal(submitted.status, 200, await submitted.clone().text());
      await assertAllMatch(taskIds, "after a submit");
      assert.deepEqual(await qualityMismatches(), [], "after a submit");
    }
  }
  const final = await stored(taskIds);
  assert.ok([...final.values()].every((a) => a !== null), "three rankings each: every item measured");
  const counts = await sql<{ quality_count: number }>`select quality_count from prompts where project_id = ${projectId}`.execute(server.db);
  assert.deepEqual(counts.rows.map((r) => r.quality_count), [9, 9, 9], "three labelers scored three completions of each prompt");
});

const flagIds = ["hallucination", "fails_task", "harmful_advice", "moral_judgment"];

/** A random valid ranking of some of `ids`: ties, a missing id now and then, sometimes not rankable. */
function randomRanking(next: () => number, ids: string[]): Ranking {
  const kept = ids.filter(() => next() > 0.15);
  const shuffled = [...(kept.length >= 1 ? kept : ids)].sort(() => next() - 0.5);
  const tiers: string[][] = [];
  for (const id of shuffled) {
    if (tiers.length > 0 && next() < 0.3) tiers.at(-1)!.push(id);
    else tiers.push([id]);
  }
  // Not rankable orders nothing, whatever tiers it carries (tierIndex puts every id in tier 0).
  return next() < 0.08 ? { tiers, notRankable: true } : { tiers };
}

test("random rankings, ties, partial and not-rankable rankings, A/B choices: the stored figure is the TypeScript one", async () => {
  const next = createRng(20261205).next;
  const people = await Promise.all(Array.from({ length: 5 }, () => server.newUser("labeler")));
  // Twenty prompts, so several tasks share a prompt (its quality is over all of them).
  const prompts = await sql<{ id: string }>`
    insert into prompts (project_id, messages, content_hash, minhash, status)
    select ${projectId}, jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'random item ' || g)), 'random-items-' || g, '', 'active' from generate_series(1, 20) g
    returning id`.execute(server.db);
  const taskIds: string[] = [];
  const assignments: Array<{ task_id: string; user_id: string; shown_order: string; payload: string }> = [];
  for (let i = 0; i < 300; i++) {
    const compare = i % 4 === 3;
    const ids = Array.from({ length: compare ? 2 : 2 + Math.floor(next() * 4) }, (_, j) => `c${i}-${j}`);
    const task = await sql<{ id: string }>`
      insert into tasks (project_id, prompt_id, type, overlap_target, completion_ids)
      values (${projectId}, ${prompts.rows[i % 20]!.id}, ${compare ? "compare" : "rank"}, 3, ${JSON.stringify(ids)})
      returning id`.execute(server.db);
    taskIds.push(task.rows[0]!.id);
    const labelers = [...people].sort(() => next() - 0.5).slice(0, Math.floor(next() * 5)); // 0 to 4 people
    for (const person of labelers) {
      const shown = [...ids].sort(() => next() - 0.5);
      const roll = next();
      const choice = roll < 0.45 ? "A" : roll < 0.9 ? "B" : "tie";
      const [a, b] = shown;
      const payload = compare
        ? { choice, rationale: "", winner: choice === "A" ? a : choice === "B" ? b : null, loser: choice === "A" ? b : choice === "B" ? a : null }
        : {
            ranking: randomRanking(next, ids),
            quality: Object.fromEntries(ids.filter(() => next() < 0.4).map((id) => [id, 1 + Math.floor(next() * 7)])),
            flags: Object.fromEntries(ids.filter(() => next() < 0.2).map((id) => [id, flagIds.filter(() => next() < 0.4)])),
            rationale: "",
          };
      assignments.push({ task_id: task.rows[0]!.id, user_id: person.id, shown_order: JSON.stringify(shown), payload: JSON.stringify(payload) });
    }
  }
  // The assignments in one statement, the submissions in two: a statement trigger recomputes many tasks at once.
  const made = await server.db
    .insertInto("assignments")
    .values(assignments.map((a) => ({ task_id: a.task_id, user_id: a.user_id, state: "submitted" as const, lease_expires_at: new Date(), shown_order: a.shown_order })))
    .returning(["id", "task_id", "user_id"])
    .execute();
  const rows = made.map((m, i) => ({ assignment_id: m.id, task_id: m.task_id, user_id: m.user_id, payload: assignments[i]!.payload, idempotency_key: `random-${m.id}` }));
  const half = Math.floor(rows.length / 2);
  await server.db.insertInto("submissions").values(rows.slice(0, half)).execute();
  await server.db.insertInto("submissions").values(rows.slice(half)).execute();
  const measured = await assertAllMatch(taskIds, "random items");
  assert.deepEqual(await qualityMismatches(), [], "random items");
  assert.deepEqual(await flagMismatches(), [], "random items");
  assert.ok(measured > 100, `enough measured items to mean something (${measured})`);
  const values = new Set((await stored(taskIds)).values());
  assert.ok(values.has(null) && values.has(0) && values.has(1) && values.size > 5, "nulls, full disagreement, full agreement and values between");
});

test("changing or deleting submissions recomputes it, cascades included", async () => {
  const rank = await sql<{ id: string }>`
    select t.id from tasks t where t.project_id = ${projectId} and t.type = 'rank' and (select count(*) from submissions s where s.task_id = t.id) = 3
    order by t.id limit 3`.execute(server.db);
  const [one, two, three] = rank.rows.map((r) => r.id);
  assert.ok(one && two && three, "three fully labeled rank tasks");

  // A changed payload (no path does this today; the trigger covers it anyway).
  const first = await sql<{ id: string; payload: { ranking: Ranking } }>`select id, payload from submissions where task_id = ${one} order by id limit 1`.execute(server.db);
  const reversed = { ...first.rows[0]!.payload, ranking: { tiers: [...first.rows[0]!.payload.ranking.tiers].reverse() } };
  await sql`update submissions set payload = ${JSON.stringify({ ...reversed, quality: { x: 7, y: 7 }, flags: { x: ["expresses_opinion"] } })}::jsonb where id = ${first.rows[0]!.id}`.execute(server.db);
  await assertAllMatch([one], "after an update");
  assert.deepEqual(await qualityMismatches(), [], "after an update");
  assert.deepEqual(await flagMismatches(), [], "after an update");

  // A deleted assignment takes its submission with it (foreign-key cascade).
  await sql`delete from assignments where id = (select assignment_id from submissions where task_id = ${two} order by id limit 1)`.execute(server.db);
  await assertAllMatch([two], "after a cascade from assignments");
  assert.deepEqual(await qualityMismatches(), [], "after a cascade from assignments");
  assert.deepEqual(await flagMismatches(), [], "after a cascade from assignments");

  // A deleted person takes all their submissions: every task they ranked is recomputed.
  const person = await sql<{ user_id: string }>`select user_id from submissions where task_id = ${three} order by id limit 1`.execute(server.db);
  const theirs = (await sql<{ task_id: string }>`select distinct task_id from submissions where user_id = ${person.rows[0]!.user_id}`.execute(server.db)).rows.map((r) => r.task_id);
  await sql`delete from users where id = ${person.rows[0]!.user_id}`.execute(server.db);
  await assertAllMatch(theirs, "after a person's deletion");
  assert.deepEqual(await qualityMismatches(), [], "after a person's deletion");
  assert.deepEqual(await flagMismatches(), [], "after a person's deletion");

  // Down to one ranking: no agreement.
  await sql`delete from submissions where task_id = ${three} and id <> (select max(id) from submissions where task_id = ${three})`.execute(server.db);
  assert.equal((await stored([three])).get(three), null);
});

test("two writers at once: each task's agreement counts both, each prompt's quality adds both", async () => {
  const [a, b] = await Promise.all([server.newUser("labeler"), server.newUser("labeler")]);
  const prompt = await sql<{ id: string }>`
    insert into prompts (project_id, messages, content_hash, minhash, status) values (${projectId}, '[{"role":"user","content":"two writers"}]', 'two-writers', '', 'active')
    returning id`.execute(server.db);
  const tasks = await sql<{ id: string }>`
    insert into tasks (project_id, prompt_id, type, overlap_target, completion_ids)
    select ${projectId}, ${prompt.rows[0]!.id}, 'rank', 3, '["x","y"]' from generate_series(1, 2) returning id`.execute(server.db);
  const [t1, t2] = tasks.rows.map((t) => t.id) as [string, string];
  // An earlier ranking of t1, so that the two writers' agreement depends on seeing each other.
  const earlier = await server.newUser("labeler");
  const assign = async (taskId: string, userId: string) =>
    (await sql<{ id: string }>`insert into assignments (task_id, user_id, state, lease_expires_at, shown_order) values (${taskId}, ${userId}, 'submitted', now(), '["x","y"]') returning id`.execute(server.db)).rows[0]!.id;
  const insert = (assignmentId: string, taskId: string, userId: string, tiers: string[][], quality: Record<string, number>) =>
    `insert into submissions (assignment_id, task_id, user_id, payload, idempotency_key) values (${assignmentId}, ${taskId}, ${userId}, '${JSON.stringify({ ranking: { tiers }, quality })}', 'writers-${assignmentId}')`;
  await sql.raw(insert(await assign(t1, earlier.id), t1, earlier.id, [["x"], ["y"]], {})).execute(server.db);

  const pg = (await import("pg")).default;
  const one = new pg.Client({ connectionString: process.env.DATABASE_URL });
  const two = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await Promise.all([one.connect(), two.connect()]);
  try {
    const [a1, b1, b2] = [await assign(t1, a.id), await assign(t1, b.id), await assign(t2, b.id)];
    await one.query("begin");
    await one.query(insert(a1, t1, a.id, [["y"], ["x"]], { x: 2 }));
    await two.query("begin");
    // The same task and (through another task) the same prompt: this waits on the first writer's row locks.
    const second = two.query(`${insert(b1, t1, b.id, [["y"], ["x"]], { x: 4 })}; ${insert(b2, t2, b.id, [["x"], ["y"]], { y: 6 })}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await one.query("commit");
    await second;
    await two.query("commit");
  } finally {
    await Promise.all([one.end(), two.end()]);
  }
  await assertAllMatch([t1, t2], "two writers");
  assert.equal((await stored([t1])).get(t1), 1 / 3, "x>y, y>x, y>x: one pair of three agrees");
  const row = await server.db.selectFrom("prompts").select(["quality_sum", "quality_count"]).where("id", "=", prompt.rows[0]!.id).executeTakeFirstOrThrow();
  assert.deepEqual([Number(row.quality_sum), row.quality_count], [12, 3]);
});

test("a scored ranking submitted while its prompt moves to review: one waits for the other, neither deadlocks", async () => {
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Lock order", settings: { k: 2, overlap: { rank: 1 }, goldRate: 0 } });
  const project = ((await created.json()) as { id: string }).id;
  const content = JSON.stringify({ prompt: "Lock order", completions: ["a", "b"] });
  assert.equal((await researcher.client.json("POST", `/api/v1/projects/${project}/imports`, { content, commit: true })).status, 200);
  const labeler = await server.newMember(project, "labeler");
  const view = (await takeTask(labeler.client, project))!;
  const [a, b] = view.completions.map((c) => c.id) as [string, string];
  const promptId = (await server.db.selectFrom("tasks").select("prompt_id").where("id", "=", view.taskId).executeTakeFirstOrThrow()).prompt_id;

  // A move to review, by hand in its own transaction, in the order the app's takes its locks: the prompt, then its tasks.
  const pg = (await import("pg")).default;
  const move = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await move.connect();
  try {
    await move.query("begin");
    await move.query("update prompts set status = 'review' where id = $1", [promptId]);
    const submit = labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
      idempotencyKey: `lock-order-${view.assignmentId}`,
      payload: { ranking: { tiers: [[a], [b]] }, quality: { [a]: 6, [b]: 2 } },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // With the submit holding the task and waiting for the prompt, this would be a deadlock and one of the two aborted.
    await move.query("update tasks set state = 'cancelled' where prompt_id = $1 and state = 'open'", [promptId]);
    await move.query("commit");
    const response = await submit;
    assert.equal(response.status, 200, await response.clone().text());
  } finally {
    await move.end();
  }
  const row = await server.db.selectFrom("prompts").select(["status", "quality_sum", "quality_count"]).where("id", "=", promptId).executeTakeFirstOrThrow();
  assert.deepEqual([row.status, Number(row.quality_sum), row.quality_count], ["review", 8, 2], "both happened");
});

test("the prompt listing's quality filter is the mean of every score given, unscored prompts in no range", async () => {
  type Page = { items: Array<{ id: string }>; next: string | null };
  const means = await sql<{ id: string; mean: string | null }>`
    select p.id, (select avg(q.value::numeric) from submissions s join tasks t on t.id = s.task_id
                  cross join jsonb_each_text(case when jsonb_typeof(s.payload -> 'quality') = 'object' then s.payload -> 'quality' else '{}'::jsonb end) q
                  where t.prompt_id = p.id) as mean
    from prompts p where p.project_id = ${projectId}`.execute(server.db);
  const scored = means.rows.filter((r) => r.mean !== null);
  assert.ok(scored.length >= 10 && scored.length < means.rows.length, "scored and unscored prompts");
  for (const [min, max] of [[undefined, 3], [3, 5], [4.5, undefined], [1, 7], [7.5, undefined]] as const) {
    const query = [min === undefined ? "" : `minQuality=${min}`, max === undefined ? "" : `maxQuality=${max}`].filter(Boolean).join("&");
    const response = await researcher.client.get(`/api/v1/projects/${projectId}/prompts?${query}&limit=200`);
    assert.equal(response.status, 200, await response.clone().text());
    const page = (await response.json()) as Page;
    const want = scored.filter((r) => (min === undefined || Number(r.mean) >= min) && (max === undefined || Number(r.mean) <= max)).map((r) => r.id);
    assert.deepEqual(page.items.map((p) => p.id).sort(), want.sort(), query);
  }
});

test("the prompt listing's flag filter finds the prompts a labeler flagged, from the stored flag ids", async () => {
  const flagged = await sql<{ id: string; flags: string[] }>`
    select p.id, coalesce((
      select array_agg(distinct f.value) from submissions s join tasks t on t.id = s.task_id
        cross join jsonb_each(case when jsonb_typeof(s.payload -> 'flags') = 'object' then s.payload -> 'flags' else '{}'::jsonb end) e
        cross join jsonb_array_elements_text(e.value) f
      where t.prompt_id = p.id), '{}') as flags
    from prompts p where p.project_id = ${projectId}`.execute(server.db);
  for (const flag of ["any", ...flagIds, "expresses_opinion", "violent_content"]) {
    const response = await researcher.client.get(`/api/v1/projects/${projectId}/prompts?flag=${flag}&limit=200`);
    assert.equal(response.status, 200, await response.clone().text());
    const page = (await response.json()) as { items: Array<{ id: string }> };
    const want = flagged.rows.filter((r) => (flag === "any" ? r.flags.length > 0 : r.flags.includes(flag))).map((r) => r.id);
    assert.deepEqual(page.items.map((p) => p.id).sort(), want.sort(), flag);
    if (flag === "any" || flagIds.includes(flag)) assert.ok(want.length > 0, `${flag}: some prompt has it`);
    // A bulk action over the same filter reads it as a condition per prompt, not as the listing's list of a rare
    // flag's prompts: the other way to the same answer (nothing here is excluded yet, so every match would change).
    const counted = await researcher.client.json("POST", `/api/v1/projects/${projectId}/exclusions`, { exclude: true, reason: "count only", filter: { flag } });
    assert.equal(counted.status, 200, await counted.clone().text());
    assert.equal(((await counted.json()) as { count: number }).count, want.length, `${flag}, counted for a bulk action`);
  }
});

test("the listing shows the stored figure, and its filters return full pages", async () => {
  type Page = { items: Array<{ id: string; agreement: number | null; labelers: number; submissions: number }>; next: string | null; disputedBelow: number };
  const get = async (query: string): Promise<Page> => {
    const response = await researcher.client.get(`/api/v1/projects/${projectId}/tasks?${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as Page;
  };
  const all = await stored((await server.db.selectFrom("tasks").select("id").where("project_id", "=", projectId).execute()).map((t) => t.id));
  const disputed = [...all].filter(([, a]) => a !== null && a < 0.75).map(([id]) => id);
  assert.ok(disputed.length > 12, "enough disputed items for several pages");

  // Every disputed item once, newest first, each page full until the last.
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: Page = await get(`disputed=true&limit=5${cursor ? `&after=${cursor}` : ""}`);
    if (page.next) assert.equal(page.items.length, 5, "a page with a next cursor is full");
    for (const item of page.items) assert.equal(item.agreement, all.get(item.id));
    seen.push(...page.items.map((t) => t.id));
    cursor = page.next;
  } while (cursor);
  assert.deepEqual([...seen].sort(), [...disputed].sort());

  const between = await get("minAgreement=0.4&maxAgreement=0.6&limit=200");
  assert.deepEqual(
    between.items.map((t) => t.id).sort(),
    [...all].filter(([, a]) => a !== null && a >= 0.4 && a <= 0.6).map(([id]) => id).sort(),
  );
  for (const item of (await get("limit=200")).items) {
    assert.equal(item.agreement, all.get(item.id));
    assert.ok(item.labelers <= item.submissions);
  }
});

test("sorts by quality and by agreement: keyset pages, both orders, with a filter, equal one sorted query; valueless rows last", async () => {
  const walk = async (listing: "prompts" | "tasks", query: string, limit: number): Promise<string[]> => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await researcher.client.get(`/api/v1/projects/${projectId}/${listing}?${query}&limit=${limit}${cursor ? `&after=${cursor}` : ""}`);
      assert.equal(response.status, 200, await response.clone().text());
      const page = (await response.json()) as { items: Array<{ id: string }>; next: string | null };
      if (page.next) assert.equal(page.items.length, limit, `${query}: a page with a next cursor is full`);
      seen.push(...page.items.map((r) => r.id));
      cursor = page.next;
    } while (cursor);
    return seen;
  };
  const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id);
  for (const order of ["desc", "asc"] as const) {
    const dir = sql.raw(order);
    // One query for the whole order, unscored prompts (a null mean) last, ties by id.
    const prompts = await sql<{ id: string }>`
      select id from prompts where project_id = ${projectId}
      order by quality_sum / nullif(quality_count, 0) ${dir} nulls last, id ${dir}`.execute(server.db);
    const scored = await sql<{ n: string; distinct_means: string }>`
      select count(*) as n, count(distinct quality_sum / quality_count) as distinct_means from prompts where project_id = ${projectId} and quality_count > 0`.execute(server.db);
    assert.ok(Number(scored.rows[0]!.n) > Number(scored.rows[0]!.distinct_means), "ties in the mean, so the id tiebreaker is tested");
    assert.ok(Number(scored.rows[0]!.n) < prompts.rows.length, "unscored prompts too");
    for (const limit of [7, 200]) assert.deepEqual(await walk("prompts", `sort=quality&order=${order}`, limit), ids(prompts.rows), `prompts by quality, ${order}, pages of ${limit}`);
    const inRange = await sql<{ id: string }>`
      select id from prompts where project_id = ${projectId} and quality_sum / nullif(quality_count, 0) >= 3
      order by quality_sum / nullif(quality_count, 0) ${dir}, id ${dir}`.execute(server.db);
    assert.ok(inRange.rows.length > 3);
    assert.deepEqual(await walk("prompts", `sort=quality&order=${order}&minQuality=3`, 3), ids(inRange.rows), `prompts by quality ≥ 3, ${order}`);

    const tasks = await sql<{ id: string }>`
      select id from tasks where project_id = ${projectId} order by agreement ${dir} nulls last, id ${dir}`.execute(server.db);
    const measured = await sql<{ n: string; distinct_rates: string }>`
      select count(*) as n, count(distinct agreement) as distinct_rates from tasks where project_id = ${projectId} and agreement is not null`.execute(server.db);
    assert.ok(Number(measured.rows[0]!.n) > Number(measured.rows[0]!.distinct_rates) && Number(measured.rows[0]!.n) < tasks.rows.length, "ties, and tasks without an agreement");
    for (const limit of [9, 200]) assert.deepEqual(await walk("tasks", `sort=agreement&order=${order}`, limit), ids(tasks.rows), `tasks by agreement, ${order}, pages of ${limit}`);
    const disputed = await sql<{ id: string }>`
      select id from tasks where project_id = ${projectId} and agreement < 0.75 order by agreement ${dir}, id ${dir}`.execute(server.db);
    assert.deepEqual(await walk("tasks", `sort=agreement&order=${order}&disputed=true`, 4), ids(disputed.rows), `disputed tasks by agreement, ${order}`);
    // Time is still the default, and sort=created_at names it.
    const byTime = await sql<{ id: string }>`select id from tasks where project_id = ${projectId} order by created_at ${dir}, id ${dir}`.execute(server.db);
    assert.deepEqual(await walk("tasks", `sort=created_at&order=${order}`, 50), ids(byTime.rows), `tasks by time, ${order}`);
  }
});

test("submissions' search: the prompt's text or what the labeler wrote, every match once in order, other projects' matches left out", async () => {
  // Spread the submissions over time (with ties), and put a word in some rationales, replies and prompts.
  await sql`update submissions s set created_at = now() - (s.id % 37) * interval '1 minute' from tasks t where t.id = s.task_id and t.project_id = ${projectId}`.execute(server.db);
  await sql`update submissions s set payload = s.payload || jsonb_build_object('rationale', 'a zebra, number ' || s.id)
    from tasks t where t.id = s.task_id and t.project_id = ${projectId} and s.id % 3 = 0`.execute(server.db);
  await sql`update submissions s set payload = s.payload || jsonb_build_object('text', 'The ZEBRA crossing')
    from tasks t where t.id = s.task_id and t.project_id = ${projectId} and s.id % 7 = 1`.execute(server.db);
  await sql`update prompts set messages = jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'about zebras ' || id))
    where project_id = ${projectId} and id % 5 = 0`.execute(server.db);
  // Another project's rationales with the word, newer than every one here: they must not take this listing's places.
  const other = await researcher.client.json("POST", "/api/v1/projects", { name: "Other zebras", settings: { k: 2, overlap: { rank: 1 } } });
  assert.equal(other.status, 201, await other.clone().text());
  const otherId = ((await other.json()) as { id: string }).id;
  await sql`
    with p as (insert into prompts (project_id, messages, content_hash, minhash, status)
               select ${otherId}, jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'other ' || g)), 'other-' || g, '', 'active' from generate_series(1, 30) g returning id),
         t as (insert into tasks (project_id, prompt_id, type, overlap_target, completion_ids) select ${otherId}, p.id, 'rank', 1, '["a","b"]' from p returning id),
         a as (insert into assignments (task_id, user_id, state, lease_expires_at, shown_order) select t.id, ${researcher.id}, 'submitted', now(), '["a","b"]' from t returning id, task_id)
    insert into submissions (assignment_id, task_id, user_id, payload, idempotency_key, created_at)
    select a.id, a.task_id, ${researcher.id}, '{"ranking": [["a"], ["b"]], "rationale": "zebra elsewhere"}', 'other-' || a.id, now() + interval '1 hour' from a`.execute(server.db);

  const labeler = (await sql<{ user_id: string }>`
    select s.user_id from submissions s join tasks t on t.id = s.task_id where t.project_id = ${projectId} group by s.user_id order by count(*) desc limit 1`.execute(server.db)).rows[0]!.user_id;
  for (const [filter, rule] of [["", sql`true`], [`&labeler=${labeler}`, sql`s.user_id = ${labeler}`], ["&taskType=compare", sql`t.type = 'compare'`]] as const) {
    for (const order of ["desc", "asc"] as const) {
      const dir = sql.raw(order);
      const want = (await sql<{ id: string }>`
        select s.id from submissions s join tasks t on t.id = s.task_id join prompts p on p.id = t.prompt_id
        where t.project_id = ${projectId} and ${rule}
          and (p.search_text ilike '%zebra%' or coalesce(s.payload ->> 'text', '') ilike '%zebra%' or coalesce(s.payload ->> 'rationale', '') ilike '%zebra%')
        order by s.created_at ${dir}, s.id ${dir}`.execute(server.db)).rows.map((r) => r.id);
      assert.ok(want.length > 10, `${filter}: matches to page through (${want.length})`);
      for (const limit of [4, 200]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const response = await researcher.client.get(`/api/v1/projects/${projectId}/submissions?q=Zebra${filter}&order=${order}&limit=${limit}${cursor ? `&after=${cursor}` : ""}`);
          assert.equal(response.status, 200, await response.clone().text());
          const page = (await response.json()) as { items: Array<{ id: string }>; next: string | null };
          if (page.next) assert.equal(page.items.length, limit, "a page with a next cursor is full");
          seen.push(...page.items.map((r) => r.id));
          cursor = page.next;
        } while (cursor);
        assert.deepEqual(seen, want, `q=Zebra${filter}, ${order}, pages of ${limit}`);
      }
    }
  }
});

test("a bad sort, or a cursor of another sort, is refused with the field named", async () => {
  const first = async (listing: string, query: string): Promise<string> => {
    const response = await researcher.client.get(`/api/v1/projects/${projectId}/${listing}?${query}&limit=2`);
    assert.equal(response.status, 200, await response.clone().text());
    const next = ((await response.json()) as { next: string | null }).next;
    assert.ok(next, `${listing}?${query} has a second page`);
    return next;
  };
  const byTime = await first("prompts", "sort=created_at");
  const byQuality = await first("prompts", "sort=quality");
  const byAgreement = await first("tasks", "sort=agreement");
  const taskByTime = await first("tasks", "order=asc");
  const submissionByTime = await first("submissions", "sort=created_at");
  const forged = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const cases: Array<[string, string, string]> = [
    ["prompts", "sort=agreement", "sort"],
    ["prompts", "sort=bogus", "sort"],
    ["tasks", "sort=quality", "sort"],
    ["submissions", "sort=quality", "sort"],
    ["prompts", `sort=quality&after=${byTime}`, "after"],
    ["prompts", `after=${byQuality}`, "after"],
    ["prompts", `sort=quality&after=${byAgreement}`, "after"],
    ["tasks", `sort=agreement&after=${taskByTime}`, "after"],
    ["tasks", `after=${byAgreement}`, "after"],
    ["tasks", `sort=agreement&after=${byQuality}`, "after"],
    ["submissions", `after=${byQuality}`, "after"],
    ["prompts", `sort=quality&after=${forged({ s: "quality", v: "abc", id: "1" })}`, "after"],
    ["prompts", `sort=quality&after=${forged({ s: "quality", v: "1.5", id: "x" })}`, "after"],
    ["tasks", `sort=agreement&after=${forged({ s: "agreement", v: "0.5; drop table tasks", id: "1" })}`, "after"],
  ];
  for (const [listing, query, field] of cases) {
    const refused = await researcher.client.get(`/api/v1/projects/${projectId}/${listing}?${query}`);
    assert.equal(refused.status, 422, `${listing}?${query}`);
    assert.deepEqual(((await refused.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), [field], `${listing}?${query}`);
  }
  // The right cursor for its sort continues, a valueless row's cursor included.
  for (const [listing, query] of [["prompts", `sort=quality&after=${byQuality}`], ["tasks", `sort=agreement&after=${byAgreement}`], ["submissions", `after=${submissionByTime}`],
    ["prompts", `sort=quality&after=${forged({ s: "quality", v: null, id: "1" })}`]] as const) {
    const response = await researcher.client.get(`/api/v1/projects/${projectId}/${listing}?${query}`);
    assert.equal(response.status, 200, `${listing}?${query}: ${await response.clone().text()}`);
  }
});

test("migration 0027 on a database with data: rolled back and applied again, it backfills every column", async () => {
  const taskIds = (await server.db.selectFrom("tasks").select("id").where("project_id", "=", projectId).execute()).map((t) => t.id);
  const kept = await stored(taskIds);
  assert.ok([...kept.values()].filter((a) => a !== null).length > 100, "measured items to backfill");
  // Down to the migration before 0027 (and any after it), then up again.
  const names = Object.keys(migrations);
  const before0027 = names[names.indexOf("0027-browser-at-a-million") - 1]!;
  const down = await new Migrator({ db: server.db, provider: { getMigrations: async () => migrations } }).migrateTo(before0027);
  assert.equal(down.error, undefined, String(down.error));
  assert.ok(down.results?.some((r) => r.migrationName === "0027-browser-at-a-million" && r.direction === "Down" && r.status === "Success"), "0027 rolled back");
  const columns = await sql<{ column_name: string }>`
    select column_name from information_schema.columns where table_name in ('tasks', 'prompts') and column_name in ('agreement', 'flag_ids', 'quality_sum', 'quality_count')`.execute(server.db);
  assert.deepEqual(columns.rows, [], "rolled back: the columns are gone");
  await migrateToLatest(server.db);
  // Everything, recomputed by the backfill alone (the triggers did not exist while the rows were written back).
  const measured = await assertAllMatch(taskIds, "after the backfill");
  assert.ok(measured > 100, `measured items after the backfill (${measured})`);
  assert.deepEqual(await stored(taskIds), kept, "the same figures the triggers kept");
  assert.deepEqual(await qualityMismatches(), [], "after the backfill");
  assert.deepEqual(await flagMismatches(), [], "after the backfill");
  const scored = await sql<{ n: string }>`select count(*) as n from prompts where project_id = ${projectId} and quality_count > 0`.execute(server.db);
  assert.ok(Number(scored.rows[0]!.n) >= 10, "scored prompts after the backfill");
  const flagged = await sql<{ n: string }>`select count(*) as n from tasks where project_id = ${projectId} and flag_ids <> '{}'`.execute(server.db);
  assert.ok(Number(flagged.rows[0]!.n) > 10, "flagged tasks after the backfill");
});

test("a listing page that reads too long is stopped with a 503 that says how to narrow it; its connection is not kept busy", async () => {
  const slow = inListingTransaction(server.db, async (trx) => (await sql`select pg_sleep(2)`.execute(trx)).rows, 100);
  await assert.rejects(slow, (e: unknown) => e instanceof AppError && e.status === 503 && /Narrow it with a search or a filter/.test(e.message));
  // the timeout was local to that page's transaction: the next statement on the pool runs unbounded
  const setting = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(server.db);
  assert.equal(setting.rows[0]?.statement_timeout, "0");
  assert.deepEqual(await inListingTransaction(server.db, async (trx) => (await sql<{ x: number }>`select 1 as x`.execute(trx)).rows), [{ x: 1 }]);
});
