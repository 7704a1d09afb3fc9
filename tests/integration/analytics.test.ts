/**
 * Progress and analytics (issue 14 item 3, decision 0046): per-labeler throughput, time on task,
 * skip rate and agreement per day; the burndown with its ETA; the most disputed items. Three
 * labelers label a project over the API; their claim, submit and skip times are then set to
 * known instants, and every expected figure below is worked out by hand from those.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { takeTask, type TaskView } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
after(() => server.stop());

type Labelers = { labelers: Array<Record<string, unknown> & { labelerId: string; daily: Array<Record<string, unknown>> }> };
type Burndown = { types: Array<{ type: string; points: Array<{ day: string; open: number; done: number }>; eta: Record<string, unknown> }>; etaMethod: string };
type Disputed = { items: Array<{ taskId: string; promptId: string; text: string; labelers: number; pairwise: { rate: number; agreed: number; compared: number } }> };

const best = ["a", "b", "c"];
const gold = ["x", "y", "z"];
/** What each labeler does with each prompt: an order of completion texts to submit, or "skip". */
type Plan = Record<string, string[] | "skip">;

async function work(client: HttpClient, projectId: string, plan: Plan): Promise<void> {
  const seen: string[] = [];
  for (let view: TaskView | null; (view = await takeTask(client, projectId)); ) {
    const prompt = view.messages[0]!.content;
    seen.push(prompt);
    const action = plan[prompt];
    assert.ok(action, `a plan for ${prompt}`);
    if (action === "skip") {
      assert.equal((await client.json("POST", `/api/v1/assignments/${view.assignmentId}/skip`, { reason: "unsure" })).status, 200);
      continue;
    }
    const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
    const submitted = await client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
      idempotencyKey: `analytics-${view.assignmentId}`,
      payload: { ranking: { tiers: action.map((text) => [byText[text]]) } },
    });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
  assert.deepEqual(seen.sort(), Object.keys(plan).sort(), "the labeler was given every prompt once");
}

/** Sets when a labeler claimed a prompt's task and when they submitted (seconds later) or skipped it. */
async function at(userId: string, prompt: string, claimed: string, then: { submittedAfter?: number; skippedAt?: string }): Promise<void> {
  const assignment = await sql<{ id: string }>`
    select a.id from assignments a join tasks t on t.id = a.task_id join prompts p on p.id = t.prompt_id
    where a.user_id = ${userId} and p.messages -> 0 ->> 'content' = ${prompt}`.execute(server.db);
  const id = assignment.rows[0]!.id;
  await sql`update assignments set created_at = ${claimed}::timestamptz, updated_at = coalesce(${then.skippedAt ?? null}::timestamptz, updated_at) where id = ${id}`.execute(server.db);
  if (then.submittedAfter !== undefined) {
    const updated = await sql`update submissions set created_at = ${claimed}::timestamptz + make_interval(secs => ${then.submittedAfter}) where assignment_id = ${id}`.execute(server.db);
    assert.equal(updated.numAffectedRows, 1n);
  }
}

let projectId: string;
let people: Record<"A" | "B" | "C" | "reviewer", { id: string; client: HttpClient }>;

before(async () => {
  server = await startTestServer();
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Analytics", settings: { k: 3, overlap: { rank: 3 }, goldRate: 1 } });
  assert.equal(created.status, 201, await created.clone().text());
  projectId = ((await created.json()) as { id: string }).id;
  const content = [
    ...["P1", "P2", "P3"].map((prompt) => ({ prompt, completions: best })),
    { prompt: "G", completions: gold, gold: [1, 2, 3] },
  ]
    .map((record) => JSON.stringify(record))
    .join("\n");
  const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  people = {
    A: await server.newMember(projectId, "labeler"),
    B: await server.newMember(projectId, "labeler"),
    C: await server.newMember(projectId, "labeler"),
    reviewer: await server.newMember(projectId, "reviewer"),
  };
  const reversed = [...best].reverse();
  await work(people.A.client, projectId, { P1: reversed, P2: "skip", P3: "skip", G: [...gold].reverse() });
  await work(people.B.client, projectId, { P1: best, P2: best, P3: best, G: gold });
  await work(people.C.client, projectId, { P1: best, P2: ["a", "c", "b"], P3: best, G: "skip" });

  // A: submits P1 (30 s) and G (50 s) on Jan 5, skips P2 and P3 on Jan 6.
  await at(people.A.id, "G", "2026-01-05T09:00:00Z", { submittedAfter: 50 });
  await at(people.A.id, "P1", "2026-01-05T10:00:00Z", { submittedAfter: 30 });
  await at(people.A.id, "P2", "2026-01-06T08:00:00Z", { skippedAt: "2026-01-06T09:00:00Z" });
  await at(people.A.id, "P3", "2026-01-06T09:00:00Z", { skippedAt: "2026-01-06T09:05:00Z" });
  // B: P1 (60 s) on Jan 5; P2 (90 s), P3 (300 s) and G (120 s) on Jan 6.
  await at(people.B.id, "P1", "2026-01-05T11:00:00Z", { submittedAfter: 60 });
  await at(people.B.id, "P2", "2026-01-06T11:00:00Z", { submittedAfter: 90 });
  await at(people.B.id, "P3", "2026-01-06T12:00:00Z", { submittedAfter: 300 });
  await at(people.B.id, "G", "2026-01-06T13:00:00Z", { submittedAfter: 120 });
  // C: P1 (10 s) on Jan 5; P2 (20 s), P3 (40 s) on Jan 6, and skips G on Jan 6.
  await at(people.C.id, "P1", "2026-01-05T12:00:00Z", { submittedAfter: 10 });
  await at(people.C.id, "P2", "2026-01-06T12:00:00Z", { submittedAfter: 20 });
  await at(people.C.id, "P3", "2026-01-06T12:30:00Z", { submittedAfter: 40 });
  await at(people.C.id, "G", "2026-01-06T13:30:00Z", { skippedAt: "2026-01-06T14:00:00Z" });
});

test("per labeler: submissions per day, median time on task, skip rate, agreement with others and with gold, per day", async () => {
  const response = await people.reviewer.client.get(`/api/v1/projects/${projectId}/analytics/labelers?from=2026-01-05&to=2026-01-06`);
  assert.equal(response.status, 200, await response.clone().text());
  const body = (await response.json()) as Labelers & { range: { days: string[] } };
  assert.deepEqual(body.range.days, ["2026-01-05", "2026-01-06"]);
  const row = (who: "A" | "B" | "C") => body.labelers.find((l) => l.labelerId === people[who].id)!;
  const pick = (r: Record<string, unknown>) => ({ submissions: r.submissions, perDay: r.perDay, medianSecondsOnTask: r.medianSecondsOnTask, skipped: r.skipped, skipRate: r.skipRate });
  const nothing = { rate: null, agreed: 0, compared: 0, comparisons: 0 };

  // A: 2 submissions (30 s, 50 s → median 40) over 2 days; 2 skips of 4 decided assignments.
  assert.deepEqual(pick(row("A")), { submissions: 2, perDay: 1, medianSecondsOnTask: 40, skipped: 2, skipRate: 0.5 });
  // P1: B and C agree, so their consensus is their order; A reversed it: 0 of 3 pairs. G reversed: 0 of 3.
  assert.deepEqual(row("A").vsConsensus, { rate: 0, agreed: 0, compared: 3, comparisons: 1 });
  assert.deepEqual(row("A").vsGold, { rate: 0, agreed: 0, compared: 3, comparisons: 1 });
  assert.deepEqual(row("A").daily, [
    { day: "2026-01-05", submissions: 2, medianSecondsOnTask: 40, skipped: 0, skipRate: 0, vsConsensus: 0, vsGold: 0 },
    { day: "2026-01-06", submissions: 0, medianSecondsOnTask: null, skipped: 2, skipRate: 1, vsConsensus: null, vsGold: null },
  ]);

  // B: 60, 90, 300, 120 s → median (90 + 120) / 2 = 105; Jan 6 alone: 90, 120, 300 → 120.
  assert.deepEqual(pick(row("B")), { submissions: 4, perDay: 2, medianSecondsOnTask: 105, skipped: 0, skipRate: 0 });
  // On P1 B's others (A, C) split on every pair: the consensus ties them, nothing is held against B;
  // P2 and P3 have one other labeler only (the quality page's minimum is two). G matches gold: 3 of 3.
  assert.deepEqual(row("B").vsConsensus, nothing);
  assert.deepEqual(row("B").vsGold, { rate: 1, agreed: 3, compared: 3, comparisons: 1 });
  assert.deepEqual(row("B").daily, [
    { day: "2026-01-05", submissions: 1, medianSecondsOnTask: 60, skipped: 0, skipRate: 0, vsConsensus: null, vsGold: null },
    { day: "2026-01-06", submissions: 3, medianSecondsOnTask: 120, skipped: 0, skipRate: 0, vsConsensus: null, vsGold: 1 },
  ]);

  // C: 10, 20, 40 s → median 20; one skip of 4; Jan 6: 20 and 40 → 30, 1 skip of 3.
  assert.deepEqual(pick(row("C")), { submissions: 3, perDay: 1.5, medianSecondsOnTask: 20, skipped: 1, skipRate: 0.25 });
  assert.deepEqual(row("C").vsGold, nothing);
  assert.deepEqual(
    row("C").daily.map((d) => [d.submissions, d.medianSecondsOnTask, d.skipped, d.skipRate]),
    [
      [1, 10, 0, 0],
      [2, 30, 1, 1 / 3],
    ],
  );
  assert.deepEqual(body.labelers.map((l) => l.labelerId), [people.B.id, people.C.id, people.A.id], "most submissions first");

  // A window that holds only Jan 6: A's Jan 5 work is out of it.
  const jan6 = (await (await people.reviewer.client.get(`/api/v1/projects/${projectId}/analytics/labelers?from=2026-01-06&to=2026-01-06`)).json()) as Labelers;
  const a6 = jan6.labelers.find((l) => l.labelerId === people.A.id)!;
  assert.deepEqual(pick(a6), { submissions: 0, perDay: 0, medianSecondsOnTask: null, skipped: 2, skipRate: 1 });
  assert.deepEqual(a6.vsConsensus, nothing);
});

test("a labeler sees only their own row; the burndown and disputed items are for reviewers and researchers", async () => {
  const own = await people.A.client.get(`/api/v1/projects/${projectId}/analytics/labelers?from=2026-01-05&to=2026-01-06`);
  assert.equal(own.status, 200);
  const body = (await own.json()) as Labelers;
  assert.deepEqual(body.labelers.map((l) => l.labelerId), [people.A.id]);
  // Their agreement is still measured against the others' rankings.
  assert.deepEqual(body.labelers[0]!.vsConsensus, { rate: 0, agreed: 0, compared: 3, comparisons: 1 });
  assert.equal((await people.A.client.get(`/api/v1/projects/${projectId}/analytics/burndown`)).status, 403);
  assert.equal((await people.A.client.get(`/api/v1/projects/${projectId}/analytics/disputed`)).status, 403);
  const outsider = await server.newUser("researcher");
  assert.equal((await outsider.client.get(`/api/v1/projects/${projectId}/analytics/labelers`)).status, 403, "not a member");
});

test("burndown per task type: open and done at the end of each day, ETA from the last 7 days' completions", async () => {
  const tasks = await server.db.selectFrom("tasks").select(["id", "state", "closed_at", "gold"]).where("project_id", "=", projectId).execute();
  // The trigger of migration 0021 stamped the completed task and left the open ones alone.
  const ordinary = tasks.filter((t) => t.gold === null);
  assert.deepEqual(ordinary.map((t) => [t.state, t.closed_at !== null]).sort(), [["complete", true], ["open", false], ["open", false]]);
  // All three created on Jan 1; P1 completed with C's submission on Jan 5.
  await sql`update tasks set created_at = '2026-01-01T08:00:00Z' where project_id = ${projectId}`.execute(server.db);
  await sql`update tasks set closed_at = '2026-01-05T12:00:10Z' where project_id = ${projectId} and state = 'complete'`.execute(server.db);

  const get = async (query: string) => {
    const response = await people.reviewer.client.get(`/api/v1/projects/${projectId}/analytics/burndown?${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as Burndown;
  };
  const week = await get("from=2026-01-01&to=2026-01-07");
  assert.deepEqual(week.types.map((t) => t.type), ["rank"], "gold tasks are not work waiting");
  assert.deepEqual(week.types[0]!.points, [
    ...["01", "02", "03", "04"].map((d) => ({ day: `2026-01-${d}`, open: 3, done: 0 })),
    ...["05", "06", "07"].map((d) => ({ day: `2026-01-${d}`, open: 2, done: 1 })),
  ]);
  // 1 completed in 7 days → 1/7 a day; 2 open → 14 days from the end of Jan 7 → Jan 22.
  assert.deepEqual(week.types[0]!.eta, { windowDays: 7, completedInWindow: 1, perDay: 1 / 7, open: 2, days: 14, date: "2026-01-22" });
  assert.match(week.etaMethod, /last 7 days/);

  // A 2-day range: the window is those 2 days; tasks created before the range count from its first day.
  const short = await get("from=2026-01-04&to=2026-01-05");
  assert.deepEqual(short.types[0]!.points, [
    { day: "2026-01-04", open: 3, done: 0 },
    { day: "2026-01-05", open: 2, done: 1 },
  ]);
  assert.deepEqual(short.types[0]!.eta, { windowDays: 2, completedInWindow: 1, perDay: 0.5, open: 2, days: 4, date: "2026-01-10" });

  // Nothing completed in the window: no ETA rather than a made-up one.
  const idle = await get("from=2026-01-06&to=2026-01-07");
  assert.deepEqual(idle.types[0]!.eta, { windowDays: 2, completedInWindow: 0, perDay: 0, open: 2, days: null, date: null });
});

test("disputed items: lowest pairwise agreement first, linked to the data browser's item page", async () => {
  const response = await people.reviewer.client.get(`/api/v1/projects/${projectId}/analytics/disputed?from=2026-01-05&to=2026-01-06&limit=2`);
  assert.equal(response.status, 200, await response.clone().text());
  const { items } = (await response.json()) as Disputed;
  // P1: A–B 0/3, A–C 0/3, B–C 3/3 → 3/9. P2: B and C split on (b, c) → 2/3. P3: 3/3 (cut by limit). G: gold, left out.
  assert.deepEqual(
    items.map((i) => [i.text, i.labelers, i.pairwise.agreed, i.pairwise.compared, i.pairwise.rate]),
    [
      ["P1", 3, 3, 9, 1 / 3],
      ["P2", 2, 2, 3, 2 / 3],
    ],
  );
  const prompt = await sql<{ id: string }>`select id from prompts where project_id = ${projectId} and messages -> 0 ->> 'content' = 'P1'`.execute(server.db);
  assert.equal(items[0]!.promptId, prompt.rows[0]!.id);
  // Items are those labeled in the range: by Jan 5 only P1 had its submissions.
  const jan5 = (await (await people.reviewer.client.get(`/api/v1/projects/${projectId}/analytics/disputed?from=2026-01-05&to=2026-01-05`)).json()) as Disputed;
  assert.deepEqual(jan5.items.map((i) => i.text), ["P1"]);

  // The page: the drill-down links to the item page, and the quality page links to the drill-down.
  const html = await (await people.reviewer.client.get(`/projects/${projectId}/analytics?from=2026-01-01&to=2026-01-07`, { accept: "text/html" })).text();
  assert.ok(html.includes(`href="/projects/${projectId}/prompts/${items[0]!.promptId}"`), "the disputed item links to its page");
  assert.match(html, /data-testid="eta-rank"[^>]*>[^<]*2026-01-22/);
  const quality = await (await people.reviewer.client.get(`/projects/${projectId}/quality`, { accept: "text/html" })).text();
  assert.ok(quality.includes(`href="/projects/${projectId}/analytics#disputed"`), "the quality page links to the most disputed items");
});

test("bad input is refused with the field named", async () => {
  const problem = async (query: string, endpoint = "labelers") => {
    const response = await people.reviewer.client.get(`/api/v1/projects/${projectId}/analytics/${endpoint}?${query}`);
    assert.equal(response.status, 422, query);
    return ((await response.json()) as { errors: Array<{ path: string; message: string }> }).errors;
  };
  assert.deepEqual((await problem("from=2026-01-10&to=2026-01-01")).map((e) => e.path), ["to"]);
  assert.match((await problem("from=2026-01-10&to=2026-01-01"))[0]!.message, /before from/);
  assert.deepEqual((await problem("from=2024-01-01&to=2026-01-01", "burndown")).map((e) => e.path), ["from"]);
  assert.deepEqual((await problem("from=2026-02-30")).map((e) => e.path), ["from"]);
  assert.deepEqual((await problem("to=yesterday", "burndown")).map((e) => e.path), ["to"]);
  assert.match(JSON.stringify(await problem("since=2026-01-01")), /since/, "an unknown field is named, not ignored");
  assert.deepEqual((await problem("limit=0", "disputed")).map((e) => e.path), ["limit"]);
  assert.deepEqual((await problem("from=2026-01-10&to=2026-01-01", "disputed")).map((e) => e.path), ["to"]);
  assert.deepEqual((await problem("limit=many", "disputed")).map((e) => e.path), ["limit"]);
});
