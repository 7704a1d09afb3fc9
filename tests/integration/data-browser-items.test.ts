/**
 * The data browser's task and submission listings and the re-queue bulk action over real HTTP
 * (decision 0045). Two labelers rank four prompts of three completions each through the queue,
 * with rankings chosen so every item's agreement is known by hand:
 *   P1: A a>b>c, B a>b>c  → 3 of 3 pairs agree: 1
 *   P2: A a>b>c, B a>c>b  → (a,b) and (a,c) agree, (b,c) not: 2/3
 *   P3: A a>b>c, B c>b>a  → no pair agrees: 0
 *   P4: A a>b>c, B skips  → one ranking, no agreement (null); the task stays open
 * The project's disputed threshold is adaptive overlap's agreementBelow, 0.75 by default, so P2
 * and P3 are disputed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { takeTask, type TaskView } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
after(() => server.stop());

let projectId = "";
let researcher: Awaited<ReturnType<TestServer["newUser"]>>;
let A: Awaited<ReturnType<TestServer["newUser"]>>;
let B: Awaited<ReturnType<TestServer["newUser"]>>;
const taskOf: Record<string, string> = {};

async function work(client: HttpClient, plan: Record<string, string[] | "skip">): Promise<void> {
  for (let view: TaskView | null; (view = await takeTask(client, projectId)); ) {
    const prompt = view.messages[0]!.content;
    const action = plan[prompt];
    assert.ok(action, `a plan for ${prompt}`);
    if (action === "skip") {
      assert.equal((await client.json("POST", `/api/v1/assignments/${view.assignmentId}/skip`, { reason: "unsure" })).status, 200);
      continue;
    }
    const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
    const submitted = await client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
      idempotencyKey: `browser-items-${view.assignmentId}`,
      payload: { ranking: { tiers: action.map((text) => [byText[text]]) } },
    });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
}

before(async () => {
  server = await startTestServer();
  researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Browser items", settings: { k: 3, overlap: { rank: 2 } } });
  assert.equal(created.status, 201, await created.clone().text());
  projectId = ((await created.json()) as { id: string }).id;
  const content = ["P1", "P2", "P3", "P4"].map((prompt) => JSON.stringify({ prompt, completions: ["a", "b", "c"] })).join("\n");
  const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  A = await server.newMember(projectId, "labeler");
  B = await server.newMember(projectId, "labeler");
  await work(A.client, { P1: ["a", "b", "c"], P2: ["a", "b", "c"], P3: ["a", "b", "c"], P4: ["a", "b", "c"] });
  await work(B.client, { P1: ["a", "b", "c"], P2: ["a", "c", "b"], P3: ["c", "b", "a"], P4: "skip" });
  const tasks = await sql<{ id: string; text: string }>`
    select t.id, p.messages -> 0 ->> 'content' as text from tasks t join prompts p on p.id = t.prompt_id where t.project_id = ${projectId}`.execute(server.db);
  for (const t of tasks.rows) taskOf[t.text] = t.id;
  assert.equal(Object.keys(taskOf).length, 4, "one rank task per prompt");
});

type TaskPage = { items: Array<{ id: string; text: string; state: string; agreement: number | null; submissions: number; overlap_target: number }>; next: string | null; disputedBelow: number };
type SubmissionPage = { items: Array<{ id: string; text: string; user_id: string; review: string | null }>; next: string | null };
async function get<T>(path: string, client: HttpClient = researcher.client): Promise<T> {
  const response = await client.get(`/api/v1/projects/${projectId}${path}`);
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return (await response.json()) as T;
}
const texts = (page: { items: Array<{ text: string }> }) => page.items.map((i) => i.text).sort();
async function refusedAt(path: string, field: string): Promise<void> {
  const response = await researcher.client.get(`/api/v1/projects/${projectId}${path}`);
  assert.equal(response.status, 422, path);
  assert.deepEqual(((await response.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), [field], path);
}

test("tasks: each item's agreement, filters by state, agreement range and disputed", async () => {
  const all = await get<TaskPage>("/tasks?type=rank");
  assert.deepEqual(texts(all), ["P1", "P2", "P3", "P4"]);
  const agreement = Object.fromEntries(all.items.map((t) => [t.text, t.agreement]));
  assert.equal(agreement.P1, 1);
  assert.ok(Math.abs(agreement.P2! - 2 / 3) < 1e-9, String(agreement.P2));
  assert.equal(agreement.P3, 0);
  assert.equal(agreement.P4, null);
  assert.equal(all.disputedBelow, 0.75);

  assert.deepEqual(texts(await get<TaskPage>("/tasks?state=open")), ["P4"]);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?state=complete")), ["P1", "P2", "P3"]);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?gold=true")), []);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?disputed=true")), ["P2", "P3"]);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?minAgreement=0.5")), ["P1", "P2"]);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?maxAgreement=0.5")), ["P3"]);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?minAgreement=0.6&maxAgreement=0.7")), ["P2"]);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?minAgreement=0&maxAgreement=1")), ["P1", "P2", "P3"], "an unmeasured item is in no range");
  assert.deepEqual(texts(await get<TaskPage>("/tasks?disputed=true&type=demonstrate")), []);
});

test("tasks: keyset pages, with and without an agreement filter, visit each item once", async () => {
  for (const [query, expected] of [["", 4], ["disputed=true&", 2]] as const) {
    for (const order of ["desc", "asc"]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: TaskPage = await get<TaskPage>(`/tasks?${query}limit=1&order=${order}${cursor ? `&after=${cursor}` : ""}`);
        assert.ok(page.items.length <= 1);
        seen.push(...page.items.map((t) => t.id));
        cursor = page.next;
      } while (cursor);
      assert.equal(seen.length, expected, `${query} ${order}`);
      assert.equal(new Set(seen).size, expected, `${query} ${order}: no item twice`);
      const ids = seen.map(Number);
      assert.deepEqual(ids, [...ids].sort((x, y) => (order === "asc" ? x - y : y - x)), "tasks of one import share created_at: the id orders them");
    }
  }
});

test("tasks: bad filters are refused with the field named", async () => {
  for (const [query, field] of [
    ["minAgreement=2", "minAgreement"],
    ["maxAgreement=abc", "maxAgreement"],
    ["minAgreement=0.8&maxAgreement=0.2", "maxAgreement"],
    ["disputed=false", "disputed"],
    ["type=bogus", "type"],
    ["state=done", "state"],
    ["round=r1", "round"],
    ["limit=500", "limit"],
    ["after=junk", "after"],
  ] as const) await refusedAt(`/tasks?${query}`, field);
  const unknown = await researcher.client.get(`/api/v1/projects/${projectId}/tasks?colour=red`);
  assert.equal(unknown.status, 422);
  assert.match(JSON.stringify(await unknown.json()), /colour/);
});

test("submissions: filters by labeler, task type, date range and review; keyset pages; bad input named", async () => {
  assert.equal((await get<SubmissionPage>("/submissions")).items.length, 7);
  assert.deepEqual(texts(await get<SubmissionPage>(`/submissions?labeler=${A.id}`)), ["P1", "P2", "P3", "P4"]);
  assert.deepEqual(texts(await get<SubmissionPage>(`/submissions?labeler=${B.id}`)), ["P1", "P2", "P3"]);
  assert.equal((await get<SubmissionPage>("/submissions?taskType=demonstrate")).items.length, 0);
  assert.equal((await get<SubmissionPage>("/submissions?review=none")).items.length, 7);
  assert.equal((await get<SubmissionPage>("/submissions?review=accept")).items.length, 0);
  assert.equal((await get<SubmissionPage>("/submissions?suggestionRevealed=false&gold=false&excluded=false")).items.length, 7);

  // B's P3 ranking was made on New Year's Day: the only submission before June.
  await sql`update submissions set created_at = '2026-01-01T10:00:00Z' where user_id = ${B.id} and task_id = ${taskOf.P3!}`.execute(server.db);
  const early = await get<SubmissionPage>("/submissions?to=2026-06-01T00:00:00Z");
  assert.deepEqual(early.items.map((s) => [s.text, s.user_id]), [["P3", B.id]]);
  assert.equal((await get<SubmissionPage>("/submissions?from=2026-01-01T10:00:00Z&to=2026-01-01T10:00:00Z")).items.length, 1, "both bounds inclusive");
  assert.equal((await get<SubmissionPage>("/submissions?from=2026-06-01T00:00:00Z")).items.length, 6);

  for (const order of ["desc", "asc"]) {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: SubmissionPage = await get<SubmissionPage>(`/submissions?limit=3&order=${order}${cursor ? `&after=${cursor}` : ""}`);
      seen.push(...page.items.map((s) => s.id));
      cursor = page.next;
    } while (cursor);
    assert.equal(new Set(seen).size, 7, order);
    assert.equal(seen.length, 7, order);
  }
  // Oldest first starts with the New Year's submission.
  assert.equal((await get<SubmissionPage>("/submissions?order=asc&limit=1")).items[0]!.user_id, B.id);

  for (const [query, field] of [
    ["labeler=x", "labeler"],
    ["from=yesterday", "from"],
    ["from=2026-06-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"],
    ["review=maybe", "review"],
    ["taskType=essay", "taskType"],
    ["gold=yes", "gold"],
    ["after=junk", "after"],
  ] as const) await refusedAt(`/submissions?${query}`, field);
});

test("labelers list neither; reviewers list both but do not re-queue", async () => {
  assert.equal((await A.client.get(`/api/v1/projects/${projectId}/tasks`)).status, 403);
  assert.equal((await A.client.get(`/api/v1/projects/${projectId}/submissions`)).status, 403);
  const reviewer = await server.newMember(projectId, "reviewer");
  await get<TaskPage>("/tasks?disputed=true", reviewer.client);
  await get<SubmissionPage>("/submissions", reviewer.client);
  assert.equal((await reviewer.client.json("POST", `/api/v1/projects/${projectId}/requeue`, { taskIds: [taskOf.P2], add: 1 })).status, 403);
});

test("re-queue the disputed items with more overlap: counted first, one transaction, audited, served again", async () => {
  const url = `/api/v1/projects/${projectId}/requeue`;
  const disputed = (await get<TaskPage>("/tasks?disputed=true")).items.map((t) => t.id);
  const selection = [...disputed, taskOf.P4!];

  // Bad input names the field and changes nothing.
  for (const [body, field] of [
    [{ taskIds: selection, add: 0 }, "add"],
    [{ taskIds: selection, add: 1.5 }, "add"],
    [{ taskIds: [], add: 1 }, "taskIds"],
    [{ taskIds: ["abc"], add: 1 }, "taskIds.0"],
    [{ taskIds: [taskOf.P1, "999999999"], add: 1 }, "taskIds.1"],
    [{ taskIds: selection, add: 1, extra: true }, ""],
  ] as const) {
    const refused = await researcher.client.json("POST", url, body);
    assert.equal(refused.status, 422, JSON.stringify(body));
    const paths = ((await refused.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path);
    if (field) assert.deepEqual(paths, [field], JSON.stringify(body));
  }

  const counted = await researcher.client.json("POST", url, { taskIds: selection, add: 2 });
  assert.deepEqual(await counted.json(), { count: 3, reopened: 2, applied: false }, "P2 and P3 were complete; P4 is open");
  assert.deepEqual(texts(await get<TaskPage>("/tasks?state=open")), ["P4"], "counting changes nothing");
  const stale = await researcher.client.json("POST", url, { taskIds: selection, add: 2, confirm: 2 });
  assert.equal(stale.status, 409);
  assert.deepEqual(texts(await get<TaskPage>("/tasks?state=open")), ["P4"], "a stale count changes nothing");

  const applied = await researcher.client.json("POST", url, { taskIds: selection, add: 2, confirm: 3 });
  assert.deepEqual(await applied.json(), { count: 3, reopened: 2, applied: true });
  const tasks = await get<TaskPage>("/tasks");
  assert.deepEqual(Object.fromEntries(tasks.items.map((t) => [t.text, [t.state, t.overlap_target]])), {
    P1: ["complete", 2], P2: ["open", 4], P3: ["open", 4], P4: ["open", 4],
  });
  const audit = await server.db.selectFrom("audit_log").select(["details"]).where("action", "=", "tasks.requeue").where("target", "=", `project:${projectId}`).execute();
  assert.equal(audit.length, 1);
  assert.deepEqual((audit[0]!.details as { taskIds: string[] }).taskIds.sort(), [...selection].sort());

  // A new labeler is served exactly the re-queued items.
  const C = await server.newMember(projectId, "labeler");
  const served: string[] = [];
  for (let view: TaskView | null; (view = await takeTask(C.client, projectId)); ) {
    served.push(view.messages[0]!.content);
    assert.equal((await C.client.json("POST", `/api/v1/assignments/${view.assignmentId}/skip`, { reason: "later" })).status, 200);
  }
  assert.deepEqual(served.sort(), ["P2", "P3", "P4"]);

  // A cancelled task is refused by name.
  await sql`update tasks set state = 'cancelled' where id = ${taskOf.P1!}`.execute(server.db);
  const cancelled = await researcher.client.json("POST", url, { taskIds: [taskOf.P2, taskOf.P1], add: 1 });
  assert.equal(cancelled.status, 422);
  assert.deepEqual(((await cancelled.json()) as { errors: Array<{ path: string; message: string }> }).errors.map((e) => e.path), ["taskIds.1"]);
});
