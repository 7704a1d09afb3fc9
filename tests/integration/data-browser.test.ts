/**
 * The data browser over real HTTP (decision 0032): search, filters with the field named, keyset
 * pages, an item's history, and exclusion from training — counted first, applied in one
 * transaction only when the count still matches, audited, honoured by the exports, reversible.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { insertPrompts } from "../../server/labeling/prompts.server.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let projectId = "";
let researcher: Awaited<ReturnType<TestServer["newUser"]>>;
let labelerId = "";
before(async () => {
  server = await startTestServer();
  researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Browser", settings: projectSettingsSchema.parse({ overlap: { demonstrate: 1 } }) });
  projectId = ((await created.json()) as { id: string }).id;
  const project = await getProject(server.db, projectId);
  const texts = ["Explain photosynthesis.", "What is 100% of 7?", "Name a PHOTO editor.", "Say hi.", "Count to three.", "Spell cat."];
  await server.db.transaction().execute((trx) =>
    insertPrompts(
      trx, projectId, project.settings,
      texts.map((text, i) => ({
        messages: [{ role: "user" as const, content: text }], completions: [], source: i < 3 ? "batch-a.jsonl" : "batch-b.jsonl", metadata: {},
        contentHash: `browser-${i}`, minhash: "", status: "active" as const,
      })),
      null,
    ),
  );
  // One labeler writes demonstrations for the first two prompts the queue hands out.
  const labeler = await server.newMember(projectId, "labeler");
  labelerId = labeler.id;
  for (let i = 0; i < 2; i++) {
    const view = (await takeTask(labeler.client, projectId))!;
    const done = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, { idempotencyKey: `browser-${view.assignmentId}`, payload: { text: `Answer ${i}.` } });
    assert.equal(done.status, 200, await done.clone().text());
  }
});
after(() => server.stop());

type Page = { items: Array<{ id: string; text: string; source: string; submissions: number; excluded_at: string | null }>; next: string | null };
const browse = async (query: string) => {
  const response = await researcher.client.get(`/api/v1/projects/${projectId}/prompts?${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Page;
};

test("search is a case-insensitive substring (wildcards are literal); filters narrow; bad filters are named", async () => {
  assert.deepEqual((await browse("q=photo")).items.map((p) => p.text).sort(), ["Explain photosynthesis.", "Name a PHOTO editor."]);
  assert.deepEqual((await browse("q=100%25")).items.map((p) => p.text), ["What is 100% of 7?"]);
  assert.equal((await browse("q=%25")).items.length, 1, "% is searched for, not a wildcard");
  assert.equal((await browse("source=batch-b.jsonl")).items.length, 3);
  const labeled = await browse(`labeler=${labelerId}`);
  assert.equal(labeled.items.length, 2);
  assert.ok(labeled.items.every((p) => p.submissions === 1));
  assert.equal((await browse("taskType=demonstrate&taskState=complete")).items.length, 2);
  for (const [query, field] of [["status=bogus", "status"], ["limit=0", "limit"], ["from=yesterday", "from"], ["labeler=abc", "labeler"], ["after=not-a-cursor", "after"], ["from=2026-12-05T00:00:00Z&to=2026-12-01T00:00:00Z", "to"]]) {
    const refused = await researcher.client.get(`/api/v1/projects/${projectId}/prompts?${query}`);
    assert.equal(refused.status, 422, query);
    assert.deepEqual(((await refused.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), [field], query);
  }
  const unknown = await researcher.client.get(`/api/v1/projects/${projectId}/prompts?colour=red`);
  assert.equal(unknown.status, 422);
  assert.match(JSON.stringify(await unknown.json()), /colour/);
});

test("keyset pages visit every prompt once, newest first, and oldest first when asked", async () => {
  const all = (await browse("limit=200")).items.map((p) => p.id);
  assert.equal(all.length, 6);
  for (const order of ["desc", "asc"]) {
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: Page = await browse(`limit=4&order=${order}${after ? `&after=${after}` : ""}`);
      seen.push(...page.items.map((p) => p.id));
      after = page.next;
    } while (after);
    assert.deepEqual(seen, order === "desc" ? all : [...all].reverse(), order);
  }
});

test("labelers do not browse; reviewers of the project do but do not exclude", async () => {
  const labeler = await server.newMember(projectId, "labeler");
  assert.equal((await labeler.client.get(`/api/v1/projects/${projectId}/prompts`)).status, 403);
  const reviewer = await server.newMember(projectId, "reviewer");
  assert.equal((await reviewer.client.get(`/api/v1/projects/${projectId}/prompts`)).status, 200);
  assert.equal((await reviewer.client.json("POST", `/api/v1/projects/${projectId}/exclusions`, { exclude: true, reason: "x", filter: {} })).status, 403);
});

test("exclusion over a filter: counted first, applied only at that count, audited, left out of exports, reversible", async () => {
  const url = `/api/v1/projects/${projectId}/exclusions`;
  const sftLines = async () => (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/sft.jsonl`)).text()).trim().split("\n").filter(Boolean);
  assert.equal((await sftLines()).length, 2);
  const filter = { labeler: labelerId };

  // Bad input names the field and changes nothing.
  const noReason = await researcher.client.json("POST", url, { exclude: true, filter });
  assert.equal(noReason.status, 422);
  assert.deepEqual(((await noReason.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["reason"]);
  const both = await researcher.client.json("POST", url, { exclude: true, reason: "x", filter, promptIds: ["1"] });
  assert.equal(both.status, 422);
  const foreign = await researcher.client.json("POST", url, { exclude: true, reason: "x", promptIds: ["999999999"] });
  assert.equal(foreign.status, 422);
  assert.deepEqual(((await foreign.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["promptIds.0"]);

  const counted = (await (await researcher.client.json("POST", url, { exclude: true, reason: "labeler misunderstood the task", filter })).json()) as { count: number; applied: boolean };
  assert.deepEqual(counted, { count: 2, applied: false });
  assert.equal((await browse("excluded=true")).items.length, 0, "counting changes nothing");
  const stale = await researcher.client.json("POST", url, { exclude: true, reason: "labeler misunderstood the task", filter, confirm: 3 });
  assert.equal(stale.status, 409);
  assert.equal((await browse("excluded=true")).items.length, 0, "a stale count changes nothing");

  const applied = await researcher.client.json("POST", url, { exclude: true, reason: "labeler misunderstood the task", filter, confirm: 2 });
  assert.deepEqual(await applied.json(), { count: 2, applied: true });
  assert.equal((await browse("excluded=true")).items.length, 2);
  assert.deepEqual(await sftLines(), [], "excluded prompts leave the training exports");
  const audit = await server.db.selectFrom("audit_log").select(["action", "details"]).where("action", "=", "prompts.exclude").where("target", "=", `project:${projectId}`).execute();
  assert.equal(audit.length, 1);
  assert.equal((audit[0]!.details as { count: number }).count, 2);

  // The item page's history shows who was shown it, what they wrote, and the exclusion.
  const one = (await browse("excluded=true")).items[0]!;
  const history = (await (await researcher.client.get(`/api/v1/projects/${projectId}/prompts/${one.id}`)).json()) as {
    prompt: { exclusion_reason: string; excluded_by: string }; assignments: Array<{ state: string }>; submissions: Array<{ payload: { text: string } }>; exclusions: Array<{ action: string }>;
  };
  assert.equal(history.prompt.exclusion_reason, "labeler misunderstood the task");
  assert.equal(history.prompt.excluded_by, researcher.email);
  assert.deepEqual(history.assignments.map((a) => a.state), ["submitted"]);
  assert.match(history.submissions[0]!.payload.text, /^Answer/);
  assert.deepEqual(history.exclusions.map((e) => e.action), ["prompts.exclude"]);
  assert.equal((await researcher.client.get(`/api/v1/projects/${projectId}/prompts/999999999`)).status, 404);

  // Taken back by ids: in the exports again.
  const ids = (await browse("excluded=true")).items.map((p) => p.id);
  const back = await researcher.client.json("POST", url, { exclude: false, promptIds: ids, confirm: 2 });
  assert.deepEqual(await back.json(), { count: 2, applied: true });
  assert.equal((await sftLines()).length, 2);
});
