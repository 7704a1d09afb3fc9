/**
 * The data browser's new filters and bulk actions over real HTTP (decision 0047): prompts by flag,
 * model and quality score; text search on tasks and submissions; move to review and back; re-queue
 * over a whole task filter; export of a selection; send back from the browser. Each bulk action is
 * counted first, refused when the confirmed count moved (changing nothing), applied in one
 * transaction, audited, and undone where it says so.
 *
 * Two labelers through the queue, with answers chosen so everything is known by hand:
 *   Rivers (m-alpha): A a>b>c, quality a 7 b 5 c 3; B a>b>c  → agreement 1
 *   Trees  (m-beta):  A a>b>c, flags b: hallucination; B c>b>a → agreement 0 (disputed)
 *   Lakes  (m-alpha): A a>b>c, quality a 2 b 2;        B a>c>b → agreement 2/3 (disputed, below 0.75)
 *   Haiku (demonstration): A writes "Snow falls softly on the pines."
 *   Limerick (demonstration): A skips it, so its task stays open.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { takeTask, type TaskView } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

type Person = Awaited<ReturnType<TestServer["newUser"]>>;
let server: TestServer;
let projectId = "";
let researcher: Person;
let reviewer: Person;
let A: Person;
let B: Person;
const promptOf: Record<string, string> = {};
const taskOf: Record<string, string> = {};
after(() => server.stop());

type Plan = "skip" | { text: string } | { order: string[]; quality?: Record<string, number>; flags?: Record<string, string[]>; rationale?: string };

async function work(client: HttpClient, plans: Record<string, Plan>): Promise<void> {
  for (let view: TaskView | null; (view = await takeTask(client, projectId)); ) {
    const plan = plans[view.messages[0]!.content];
    assert.ok(plan, `a plan for ${view.messages[0]!.content}`);
    if (plan === "skip") {
      assert.equal((await client.json("POST", `/api/v1/assignments/${view.assignmentId}/skip`, { reason: "later" })).status, 200);
      continue;
    }
    const id = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
    const byId = <T>(record: Record<string, T> = {}) => Object.fromEntries(Object.entries(record).map(([text, value]) => [id[text]!, value]));
    const payload = "text" in plan
      ? { text: plan.text }
      : { ranking: { tiers: plan.order.map((text) => [id[text]]) }, quality: byId(plan.quality), flags: byId(plan.flags), rationale: plan.rationale ?? "" };
    const submitted = await client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, { idempotencyKey: `browser-bulk-${view.assignmentId}`, payload });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
}

before(async () => {
  server = await startTestServer();
  researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Browser bulk", settings: { k: 3, overlap: { rank: 2, demonstrate: 1 } } });
  assert.equal(created.status, 201, await created.clone().text());
  projectId = ((await created.json()) as { id: string }).id;
  const records = [
    { prompt: "Rank rivers", completions: ["a", "b", "c"], model: "m-alpha" },
    { prompt: "Rank trees", completions: ["a", "b", "c"], model: "m-beta" },
    { prompt: "Rank lakes", completions: ["a", "b", "c"], model: "m-alpha" },
    { prompt: "Write a haiku" },
    { prompt: "Write a limerick" },
  ];
  const imported = await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  A = await server.newMember(projectId, "labeler");
  B = await server.newMember(projectId, "labeler");
  reviewer = await server.newMember(projectId, "reviewer");
  await work(A.client, {
    "Rank rivers": { order: ["a", "b", "c"], quality: { a: 7, b: 5, c: 3 } },
    "Rank trees": { order: ["a", "b", "c"], flags: { b: ["hallucination"] }, rationale: "B invents a species." },
    "Rank lakes": { order: ["a", "b", "c"], quality: { a: 2, b: 2 } },
    "Write a haiku": { text: "Snow falls softly on the pines." },
    "Write a limerick": "skip",
  });
  await work(B.client, { "Rank rivers": { order: ["a", "b", "c"] }, "Rank trees": { order: ["c", "b", "a"] }, "Rank lakes": { order: ["a", "c", "b"] }, "Write a limerick": "skip" });
  const rows = await sql<{ prompt_id: string; task_id: string; text: string }>`
    select p.id as prompt_id, t.id as task_id, p.messages -> 0 ->> 'content' as text from prompts p join tasks t on t.prompt_id = p.id where p.project_id = ${projectId}`.execute(server.db);
  for (const r of rows.rows) {
    promptOf[r.text] = r.prompt_id;
    taskOf[r.text] = r.task_id;
  }
  assert.equal(Object.keys(taskOf).length, 5);
});

const api = (path: string) => `/api/v1/projects/${projectId}${path}`;
async function get<T>(path: string, client: HttpClient = researcher.client): Promise<T> {
  const response = await client.get(api(path));
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return (await response.json()) as T;
}
async function post<T>(path: string, body: unknown, status = 200, client: HttpClient = researcher.client): Promise<T> {
  const response = await client.json("POST", api(path), body);
  assert.equal(response.status, status, `${path}: ${await response.clone().text()}`);
  return (await response.json()) as T;
}
const fields = (problem: { errors?: Array<{ path: string }> }) => (problem.errors ?? []).map((e) => e.path);
const texts = (page: { items: Array<{ text: string }> }) => page.items.map((i) => i.text).sort();
type Listing = { items: Array<{ id: string; text: string }>; next: string | null };
async function refusedAt(path: string, field: string): Promise<void> {
  const response = await researcher.client.get(api(path));
  assert.equal(response.status, 422, path);
  assert.deepEqual(fields((await response.json()) as { errors: Array<{ path: string }> }), [field], path);
}
const audits = async (action: string) =>
  (await server.db.selectFrom("audit_log").select(["details"]).where("action", "=", action).where("target", "=", `project:${projectId}`).orderBy("id").execute()).map((r) => r.details as Record<string, unknown>);
const statusOf = async (text: string) => (await server.db.selectFrom("prompts").select("status").where("id", "=", promptOf[text]!).executeTakeFirstOrThrow()).status;
const tasksOf = async (text: string) => server.db.selectFrom("tasks").select(["id", "type", "state", "overlap_target"]).where("prompt_id", "=", promptOf[text]!).orderBy("id").execute();

// ---- Filters -----------------------------------------------------------------------------------

test("prompts by a labeler's flag, by a completion's model and by mean quality score; each bad value is named", async () => {
  assert.deepEqual(texts(await get<Listing>("/prompts?flag=hallucination")), ["Rank trees"]);
  assert.deepEqual(texts(await get<Listing>("/prompts?flag=any")), ["Rank trees"]);
  assert.deepEqual(texts(await get<Listing>("/prompts?flag=fails_task")), []);
  assert.deepEqual(texts(await get<Listing>("/prompts?model=m-alpha")), ["Rank lakes", "Rank rivers"]);
  // Rivers' scores average 5, lakes' 2; prompts nobody scored match no range.
  assert.deepEqual(texts(await get<Listing>("/prompts?minQuality=4")), ["Rank rivers"]);
  assert.deepEqual(texts(await get<Listing>("/prompts?maxQuality=3")), ["Rank lakes"]);
  assert.deepEqual(texts(await get<Listing>("/prompts?minQuality=2&maxQuality=5")), ["Rank lakes", "Rank rivers"]);
  assert.deepEqual(texts(await get<Listing>("/prompts?model=m-alpha&flag=any")), [], "filters combine");
  await refusedAt("/prompts?flag=Not%20a%20flag", "flag");
  await refusedAt("/prompts?model=", "model");
  await refusedAt("/prompts?minQuality=high", "minQuality");
  await refusedAt("/prompts?minQuality=5&maxQuality=2", "maxQuality");
});

test("text search on tasks (the prompt) and on submissions (the prompt, the reply, the rationale)", async () => {
  assert.deepEqual(texts(await get<Listing>("/tasks?q=RIVERS")), ["Rank rivers"]);
  assert.deepEqual(texts(await get<Listing>("/tasks?q=rank&disputed=true")), ["Rank lakes", "Rank trees"]);
  assert.deepEqual(texts(await get<Listing>("/submissions?q=softly")), ["Write a haiku"]);
  assert.deepEqual(texts(await get<Listing>("/submissions?q=invents")), ["Rank trees"]);
  assert.equal((await get<Listing>("/submissions?q=lakes")).items.length, 2, "both rankings of the lakes");
  assert.deepEqual(texts(await get<Listing>("/submissions?q=100%25")), [], "% is searched for, not a wildcard");
  await refusedAt("/tasks?q=", "q");
  await refusedAt(`/submissions?q=${"x".repeat(201)}`, "q");
});

// ---- Move to review and back -------------------------------------------------------------------

test("move to review: counted, a moved count refused, applied with review tasks and waiting labeling tasks, audited, and back", async () => {
  const selection = { promptIds: [promptOf["Rank rivers"], promptOf["Write a limerick"]] };
  assert.deepEqual(await post("/review-moves", { toReview: true, ...selection }), { count: 2, applied: false });
  const refused = await post<{ code: string }>("/review-moves", { toReview: true, ...selection, confirm: 3 }, 409);
  assert.equal(refused.code, "conflict");
  assert.equal(await statusOf("Rank rivers"), "active", "a refused confirm changes nothing");
  assert.equal((await audits("prompts.review")).length, 0);

  assert.deepEqual(await post("/review-moves", { toReview: true, reason: "check the wording", ...selection, confirm: 2 }), { count: 2, applied: true });
  assert.equal(await statusOf("Rank rivers"), "review");
  assert.equal(await statusOf("Write a limerick"), "review");
  // The limerick's open task waits (cancelled); the rivers' complete task stays complete; each has a review task.
  const limerick = await tasksOf("Write a limerick");
  assert.deepEqual(limerick.map((t) => [t.type, t.state]), [["demonstrate", "cancelled"], ["review", "open"]]);
  assert.deepEqual((await tasksOf("Rank rivers")).map((t) => [t.type, t.state]), [["rank", "complete"], ["review", "open"]]);
  const [audit] = await audits("prompts.review");
  const numeric = (ids: unknown) => [...(ids as string[])].sort((a, b) => Number(a) - Number(b));
  assert.deepEqual(numeric(audit!.promptIds), numeric(selection.promptIds));
  assert.deepEqual(audit!.cancelledTaskIds, [limerick[0]!.id]);
  assert.equal(audit!.reason, "check the wording");
  // Only prompts that change count: they are in review now.
  assert.deepEqual(await post("/review-moves", { toReview: true, ...selection }), { count: 0, applied: false });
  // Labelers no longer get the limerick; a reviewer gets the review tasks.
  const fresh = await server.newMember(projectId, "labeler");
  assert.equal(await takeTask(fresh.client, projectId), null);
  assert.equal((await takeTask(reviewer.client, projectId))?.taskType, "review");
  // The prompt listing finds them by status.
  assert.deepEqual(texts(await get<Listing>("/prompts?status=review")), ["Rank rivers", "Write a limerick"]);

  // Back, over the whole filter: the review tasks are cancelled, the waiting task reopens.
  const back = { toReview: false, filter: { status: "review" } };
  assert.deepEqual(await post("/review-moves", back), { count: 2, applied: false });
  assert.deepEqual(await post("/review-moves", { ...back, confirm: 2 }), { count: 2, applied: true });
  assert.equal(await statusOf("Write a limerick"), "active");
  assert.deepEqual((await tasksOf("Write a limerick")).map((t) => [t.type, t.state]), [["demonstrate", "open"], ["review", "cancelled"]]);
  assert.deepEqual((await tasksOf("Rank rivers")).map((t) => [t.type, t.state]), [["rank", "complete"], ["review", "cancelled"]]);
  assert.deepEqual((await audits("prompts.release"))[0]!.reopenedTaskIds, [limerick[0]!.id]);
  assert.equal((await takeTask(fresh.client, projectId))?.messages[0]!.content, "Write a limerick", "the labelers get it again");

  // The reviewer held a review task of a prompt taken back: their decision has nothing left to decide.
  const held = await server.db.selectFrom("assignments").innerJoin("tasks", "tasks.id", "assignments.task_id").select("assignments.id")
    .where("assignments.user_id", "=", reviewer.id).where("tasks.type", "=", "review").where("assignments.state", "=", "active").executeTakeFirstOrThrow();
  const late = await reviewer.client.json("POST", `/api/v1/assignments/${held.id}/submit`, { idempotencyKey: `late-review-${held.id}`, payload: { decision: "accept" } });
  assert.equal(late.status, 409, await late.clone().text());
  assert.equal((await tasksOf("Rank rivers")).length + (await tasksOf("Write a limerick")).length, 4, "no labeling task was added");
});

test("a reviewer accepting a moved prompt reopens its waiting task instead of adding one", async () => {
  // The fresh labeler of the test above holds the limerick; a new prompt is moved instead.
  const imported = await researcher.client.json("POST", api("/imports"), { content: JSON.stringify({ prompt: "Write a sonnet" }), commit: true });
  assert.equal(imported.status, 200);
  promptOf["Write a sonnet"] = (await server.db.selectFrom("prompts").select("id").where("project_id", "=", projectId).where(sql`messages -> 0 ->> 'content'`, "=", "Write a sonnet").executeTakeFirstOrThrow()).id;
  await post("/review-moves", { toReview: true, promptIds: [promptOf["Write a sonnet"]], confirm: 1 });
  const other = await server.newMember(projectId, "reviewer");
  // Drain other review tasks the queue may hand out first (none are open now), then decide the sonnet's.
  const view = (await takeTask(other.client, projectId))!;
  assert.equal(view.messages[0]!.content, "Write a sonnet");
  const accepted = await other.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, { idempotencyKey: `accept-review-${view.assignmentId}`, payload: { decision: "accept" } });
  assert.equal(accepted.status, 200, await accepted.clone().text());
  assert.equal(await statusOf("Write a sonnet"), "active");
  assert.deepEqual((await tasksOf("Write a sonnet")).map((t) => [t.type, t.state]), [["demonstrate", "open"], ["review", "complete"]]);
});

test("taking a prompt out of review while a reviewer decides it does not deadlock: both lock the review task before the prompt", async () => {
  const imported = await researcher.client.json("POST", api("/imports"), { content: JSON.stringify({ prompt: "Write an ode" }), commit: true });
  assert.equal(imported.status, 200);
  const id = (await server.db.selectFrom("prompts").select("id").where("project_id", "=", projectId).where(sql`messages -> 0 ->> 'content'`, "=", "Write an ode").executeTakeFirstOrThrow()).id;
  promptOf["Write an ode"] = id;
  await post("/review-moves", { toReview: true, promptIds: [id], confirm: 1 });
  const reviewTask = await server.db.selectFrom("tasks").select("id").where("prompt_id", "=", id).where("type", "=", "review").where("state", "=", "open").executeTakeFirstOrThrow();
  let release: Promise<Response> | undefined;
  // This transaction does what a reviewer's accept does (submissions.server.ts applyReview): the review task's row, then the prompt's.
  await server.db.transaction().execute(async (trx) => {
    await trx.selectFrom("tasks").select("id").where("id", "=", reviewTask.id).forUpdate().execute();
    release = researcher.client.json("POST", api("/review-moves"), { toReview: false, promptIds: [id], confirm: 1 });
    // wait until the release is blocked on a lock (it must not hold the prompt's row by then)
    for (let i = 0; i < 200; i++) {
      const waiting = await sql<{ n: string }>`select count(*) as n from pg_locks where not granted`.execute(server.db);
      if (Number(waiting.rows[0]!.n) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // with the other lock order this update waits for the release, which waits for this transaction: a deadlock
    await trx.updateTable("prompts").set({ status: "active" }).where("id", "=", id).execute();
  });
  const response = await release!;
  // the prompt left review first, so the release finds none where one was confirmed: refused, not a 500
  assert.equal(response.status, 409, await response.clone().text());
  assert.equal(await statusOf("Write an ode"), "active");
});

test("review moves refuse bad input with the field named, other roles, and change nothing", async () => {
  const before = await server.db.selectFrom("prompts").select(["id", "status"]).where("project_id", "=", projectId).orderBy("id").execute();
  assert.deepEqual(fields(await post("/review-moves", { toReview: true, promptIds: [promptOf["Rank trees"]], filter: {} }, 422)), ["promptIds"]);
  assert.deepEqual(fields(await post("/review-moves", { toReview: true, promptIds: [promptOf["Rank trees"], "999999999"], confirm: 2 }, 422)), ["promptIds.1"]);
  assert.deepEqual(fields(await post("/review-moves", { promptIds: [promptOf["Rank trees"]] }, 422)), ["toReview"]);
  assert.deepEqual(fields(await post("/review-moves", { toReview: true, filter: { flag: "?" } }, 422)), ["filter.flag"]);
  assert.deepEqual(fields(await post("/review-moves", { toReview: true, promptIds: [promptOf["Rank trees"]], confirm: -1 }, 422)), ["confirm"]);
  await post("/review-moves", { toReview: true, promptIds: [promptOf["Rank trees"]], confirm: 1 }, 403, reviewer.client);
  assert.deepEqual(await server.db.selectFrom("prompts").select(["id", "status"]).where("project_id", "=", projectId).orderBy("id").execute(), before);
});

// ---- Re-queue over a whole filter ----------------------------------------------------------------

test("re-queue over a task filter: the disputed items counted, a moved count refused, applied, audited with the filter", async () => {
  const filter = { disputed: "true", type: "rank" };
  assert.deepEqual(await post("/requeue", { filter, add: 1 }), { count: 2, reopened: 2, applied: false });
  await post("/requeue", { filter, add: 1, confirm: 1 }, 409);
  assert.deepEqual((await tasksOf("Rank trees")).map((t) => [t.state, t.overlap_target]), [["complete", 2]], "a refused confirm changes nothing");
  assert.deepEqual(await post("/requeue", { filter, add: 1, confirm: 2 }), { count: 2, reopened: 2, applied: true });
  for (const text of ["Rank trees", "Rank lakes"]) assert.deepEqual((await tasksOf(text)).map((t) => [t.state, t.overlap_target]), [["open", 3]], text);
  assert.deepEqual((await tasksOf("Rank rivers"))[0]!.overlap_target, 2, "an agreeing item is left alone");
  const audit = (await audits("tasks.requeue")).at(-1)!;
  assert.deepEqual(audit.filter, filter);
  assert.deepEqual((audit.taskIds as string[]).sort(), [taskOf["Rank trees"], taskOf["Rank lakes"]].sort());
  // A filter's cancelled tasks are simply not re-queued: the rivers' review task is one.
  assert.deepEqual(await post("/requeue", { filter: { q: "rivers" }, add: 1 }), { count: 1, reopened: 1, applied: false });
  assert.deepEqual(fields(await post("/requeue", { filter, taskIds: [taskOf["Rank trees"]], add: 1 }, 422)), ["taskIds"]);
  assert.deepEqual(fields(await post("/requeue", { filter: { minAgreement: 2 }, add: 1 }, 422)), ["filter.minAgreement"]);
  assert.deepEqual(fields(await post("/requeue", { filter: { colour: "red" }, add: 1 }, 422)), ["filter"]);
});

// ---- Export the selection --------------------------------------------------------------------------

test("export a selection in the existing formats: counted, confirmed, narrowed to the selection, audited", async () => {
  const count = (body: unknown) => post<{ count: number }>("/exports/selection/count", body);
  const download = (body: unknown) => researcher.client.json("POST", api("/exports/selection"), body);
  const lines = async (response: Response) => (await response.text()).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const rivers = { promptIds: [promptOf["Rank rivers"]], dataset: "preferences", format: "trl" };
  assert.deepEqual(await count(rivers), { count: 1 });
  assert.equal((await download({ ...rivers, confirm: 2 })).status, 409);
  const response = await download({ ...rivers, confirm: 1 });
  assert.equal(response.status, 200, await response.clone().text());
  assert.match(response.headers.get("content-disposition") ?? "", /selection-preferences-trl\.jsonl/);
  const pairs = await lines(response);
  // Two rankings of three completions, all pairs: 2 × 3.
  assert.equal(pairs.length, 6);
  assert.ok(pairs.every((p) => JSON.stringify(p.prompt).includes("Rank rivers")));
  const whole = await lines(await researcher.client.get(api("/exports/preferences.jsonl")));
  assert.ok(whole.length > pairs.length, "the project-wide export holds more");

  // A whole filter: the prompts of model m-alpha, as raw rankings (pseudonymized like the ranking export).
  const alpha = { filter: { model: "m-alpha" }, dataset: "rankings", format: "raw" };
  assert.deepEqual(await count(alpha), { count: 2 });
  const rankings = await lines(await download({ ...alpha, confirm: 2 }));
  assert.deepEqual([...new Set(rankings.map((r) => r.prompt_id))].sort(), [promptOf["Rank rivers"], promptOf["Rank lakes"]].sort());
  assert.ok(rankings.every((r) => String(r.labeler).startsWith("labeler-")));
  // SFT of the haiku, as OpenRLHF JSONL with its options; a Hugging Face folder as a zip.
  const haiku = { promptIds: [promptOf["Write a haiku"]], dataset: "sft", format: "openrlhf", options: { chatTemplate: "false" }, confirm: 1 };
  const sft = await lines(await download(haiku));
  assert.equal(sft.length, 1);
  assert.match(JSON.stringify(sft[0]), /Snow falls softly/);
  const zip = await download({ ...haiku, format: "hf", options: {} });
  assert.equal(zip.status, 200);
  assert.equal(zip.headers.get("content-type"), "application/zip");
  const audit = (await audits("export.selection")).at(-1)!;
  assert.equal(audit.format, "hf");
  assert.deepEqual(audit.promptIds, [promptOf["Write a haiku"]]);

  // Bad input, each with its field; nothing is exported without the count.
  assert.deepEqual(fields((await (await download(rivers)).json()) as { errors: Array<{ path: string }> }), ["confirm"]);
  assert.deepEqual(fields(await post("/exports/selection/count", { ...rivers, format: "raw" }, 422)), ["format"]);
  assert.deepEqual(fields(await post("/exports/selection/count", { ...rivers, dataset: "everything" }, 422)), ["dataset"]);
  assert.deepEqual(fields(await post("/exports/selection/count", { ...rivers, options: { minAgreement: "2" } }, 422)), ["options.minAgreement"]);
  assert.deepEqual(fields(await post("/exports/selection/count", { ...rivers, promptIds: ["999999999"] }, 422)), ["promptIds.0"]);
  assert.deepEqual(fields((await (await download({ ...haiku, format: "verl" })).json()) as { errors: Array<{ path: string }> }), ["dataset"]);
  await post("/exports/selection/count", rivers, 403, reviewer.client);
});

test("the browser's export form downloads the confirmed selection; reviewers are refused", async () => {
  const form = { bulk: "export", scope: "selected", promptIds: promptOf["Rank trees"]!, dataset: "preferences", format: "trl", filter: "{}", confirm: "1" };
  const page = `/projects/${projectId}/browser/export`;
  const response = await researcher.client.postForm(page, form);
  assert.equal(response.status, 200, await response.clone().text());
  assert.match(response.headers.get("content-disposition") ?? "", /attachment; filename="project-\d+-selection-preferences-trl\.jsonl"/);
  assert.ok((await response.text()).includes("Rank trees"));
  assert.equal((await researcher.client.postForm(page, { ...form, confirm: "5" })).status, 409);
  assert.equal((await reviewer.client.postForm(page, form)).status, 403);
});

test("the browser's bulk and prompt-page forms validate as the API does: an exclusion needs its reason, ids must be ids; nothing changes", async () => {
  const excludedNow = () => server.db.selectFrom("prompts").select(["id", "excluded_at", "status"]).where("project_id", "=", projectId).orderBy("id").execute();
  const before = await excludedNow();
  const browser = `/projects/${projectId}/browser`;
  const trees = promptOf["Rank trees"]!;
  // Confirmed without a reason: the API refuses it (reason), so must the form.
  const noReason = await researcher.client.postForm(browser, { bulk: "exclude", scope: "selected", promptIds: trees, filter: "{}", confirm: "1" });
  assert.equal(noReason.status, 422);
  assert.match(await noReason.text(), /reason: say why these prompts leave the training data/);
  // Not an id: refused with the field named, not a database error.
  const notId = await researcher.client.postForm(browser, { bulk: "review", scope: "selected", promptIds: "abc", filter: "{}" });
  assert.equal(notId.status, 422);
  assert.match(await notId.text(), /promptIds\.0: must be a numeric id/);
  // A confirm that is no count.
  const badConfirm = await researcher.client.postForm(browser, { bulk: "review", scope: "selected", promptIds: trees, filter: "{}", confirm: "x" });
  assert.equal(badConfirm.status, 422);
  // The prompt page's own exclude button: the reason is needed there too.
  const page = await researcher.client.postForm(`/projects/${projectId}/prompts/${trees}`, { exclude: "true" });
  assert.equal(page.status, 422);
  assert.deepEqual(await excludedNow(), before);
  // The Tasks tab's re-queue form: a task id that is no id, and more labels than 10, named; no task changes.
  const tasksNow = () => server.db.selectFrom("tasks").selectAll().innerJoin("prompts", "prompts.id", "tasks.prompt_id").where("prompts.project_id", "=", projectId).orderBy("tasks.id").execute();
  const tasksBefore = await tasksNow();
  const requeue = (body: Record<string, string>) => researcher.client.postForm(`${browser}/tasks`, body);
  const badTask = await requeue({ scope: "selected", taskIds: "abc", add: "1", filter: "{}" });
  assert.equal(badTask.status, 422);
  assert.match(await badTask.text(), /taskIds\.0: must be a numeric id/);
  const tooMany = await requeue({ scope: "selected", taskIds: taskOf["Rank trees"]!, add: "11", filter: "{}", confirm: "1" });
  assert.equal(tooMany.status, 422);
  assert.match(await tooMany.text(), /add: must be a whole number from 1 to 10/);
  assert.deepEqual(await tasksNow(), tasksBefore);
});

// ---- Send back from the browser ---------------------------------------------------------------------

test("send back from the browser: the annotation review's send-back, once, never one's own, nothing written when refused", async () => {
  const submissionOf = async (text: string, userId: string) =>
    (await server.db.selectFrom("submissions").innerJoin("tasks", "tasks.id", "submissions.task_id").select(["submissions.id", "submissions.payload"])
      .where("tasks.id", "=", taskOf[text]!).where("submissions.user_id", "=", userId).executeTakeFirstOrThrow());
  const trees = await submissionOf("Rank trees", A.id);
  const sendBack = (id: string, body: unknown, client = reviewer.client) => client.json("POST", api(`/submissions/${id}/send-back`), body);
  const reviewRow = (id: string) => server.db.selectFrom("annotation_reviews").selectAll().where("submission_id", "=", id).executeTakeFirst();

  // Refused, with nothing written: no comment, a labeler, a submission of no project of this id.
  assert.deepEqual(fields((await (await sendBack(trees.id, { comment: " " })).json()) as { errors: Array<{ path: string }> }), ["comment"]);
  assert.equal((await sendBack(trees.id, { comment: "x" }, A.client)).status, 403);
  assert.equal((await sendBack("999999999", { comment: "x" })).status, 404);
  assert.equal(await reviewRow(trees.id), undefined);

  const sent = await sendBack(trees.id, { comment: "B is not a hallucination; look again." });
  assert.equal(sent.status, 200, await sent.clone().text());
  const review = (await sent.json()) as { decision: string; mode: string; agreement: number | null; redo: { taskId: string } };
  assert.equal(review.decision, "send_back");
  assert.equal(review.mode, "browser");
  assert.equal(review.agreement, 0);
  assert.equal((await sendBack(trees.id, { comment: "again" })).status, 409, "once per submission");

  // The labeler sees it and gets the redo, which starts from what she submitted.
  const [item] = (await (await A.client.get("/api/v1/me/sent-back")).json()) as Array<{ comment: string; assignmentId: string }>;
  assert.equal(item!.comment, "B is not a hallucination; look again.");
  const redo = (await (await A.client.get(`/api/v1/assignments/${item!.assignmentId}`)).json()) as { sentBack: { previous: unknown } };
  assert.deepEqual(redo.sentBack.previous, trees.payload);
  const audit = (await audits("annotation_review.decide")).at(-1)!;
  assert.equal(audit.decision, "send_back");

  // Held by a reviewer in the annotation review queue: refused, and their hold stays as it was.
  const other = await server.newMember(projectId, "reviewer");
  const claimed = await other.client.json("POST", api("/annotation-reviews/next"), { mode: "labeler", labeler: B.id });
  const held = (await claimed.json()) as { submission: { id: string } };
  const heldId = held.submission.id;
  const before = await reviewRow(heldId);
  assert.equal((await sendBack(heldId, { comment: "mine now" })).status, 409);
  assert.deepEqual(await reviewRow(heldId), before);
  // The reviewer who holds it may send it back from the browser.
  assert.equal((await sendBack(heldId, { comment: "reorder b and c" }, other.client)).status, 200);

  // Only rankings and demonstrations: a review task's submission is refused with the field named.
  const reviewSubmission = await server.db.selectFrom("submissions").innerJoin("tasks", "tasks.id", "submissions.task_id").select("submissions.id")
    .where("tasks.project_id", "=", projectId).where("tasks.type", "=", "review").executeTakeFirstOrThrow();
  assert.deepEqual(fields((await (await sendBack(reviewSubmission.id, { comment: "x" }, researcher.client)).json()) as { errors: Array<{ path: string }> }), ["submissionId"]);
});
