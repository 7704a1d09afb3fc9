import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
before(async () => {
  server = await startTestServer();
  researcher = (await server.newUser("researcher")).client;
});
after(() => server.stop());

type Report = {
  counts: Record<string, number>;
  issues: Array<{ line: number; reason: string }>;
  flagged: Array<{ line: number; status: string; similarity: number | null }>;
  committed: { prompts: number; tasks: Record<string, number>; gold: number } | null;
};

async function newProject(): Promise<string> {
  const response = await researcher.json("POST", "/api/v1/projects", { name: `Import ${Date.now()}` });
  return ((await response.json()) as { id: string }).id;
}
const importFile = (projectId: string, body: Record<string, unknown>) => researcher.json("POST", `/api/v1/projects/${projectId}/imports`, body);
const promptCount = async (projectId: string) =>
  Number((await server.db.selectFrom("prompts").select((eb) => eb.fn.countAll<string>().as("n")).where("project_id", "=", projectId).executeTakeFirstOrThrow()).n);

// Near duplicates are judged on word 3-gram shingles: one changed word in n words leaves a
// Jaccard similarity of (n-5)/(n+1), so these 40-word prompts stay above the 0.8 default.
const long = (word: string) =>
  `Explain to a curious ten year old ${word} why the sky looks blue during the day and red at sunset, using a simple experiment with a glass of water and a torch that they can do at home tonight with a parent nearby.`;

const jsonl = [
  JSON.stringify({ prompt: long("child") }),
  JSON.stringify({ prompt: long("child") }), // exact duplicate (line 2)
  JSON.stringify({ prompt: long("kid") }), // near duplicate
  "{ not json",
  JSON.stringify({ messages: [{ role: "user", content: "Write to me at jane.doe@example.com please" }] }), // PII → review
  JSON.stringify({ prompt: "What is 12 * 7?", completions: ["84", "74", "eighty-four"], model: "tiny" }),
].join("\n");

test("preview reports bad lines, duplicates and filter hits, and writes nothing", async () => {
  const projectId = await newProject();
  const response = await importFile(projectId, { content: jsonl, filename: "prompts.jsonl" });
  assert.equal(response.status, 200);
  const report = (await response.json()) as Report;
  assert.deepEqual(report.issues.map((i) => i.line), [4]);
  const byLine = Object.fromEntries(report.flagged.map((f) => [f.line, f.status]));
  assert.equal(byLine[2], "exact_duplicate_in_file");
  assert.equal(byLine[3], "near_duplicate_in_file");
  assert.equal(byLine[5], "filtered");
  assert.equal(report.committed, null);
  assert.equal(await promptCount(projectId), 0);
});

test("a file with errors imports nothing unless 'import the valid lines' is chosen", async () => {
  const projectId = await newProject();
  const refused = await importFile(projectId, { content: jsonl, commit: true });
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { detail: string; errors: Array<{ path: string }> };
  assert.match(problem.detail, /nothing was imported/);
  assert.deepEqual(problem.errors.map((e) => e.path), ["line 4"]);
  assert.equal(await promptCount(projectId), 0);

  const accepted = await importFile(projectId, { content: jsonl, commit: true, importValidLines: true });
  assert.equal(accepted.status, 200);
  const report = (await accepted.json()) as Report;
  // Lines 1, 5 (to review) and 6 are stored; the exact and the near duplicate are not.
  assert.deepEqual(report.committed, { prompts: 3, tasks: { demonstrate: 1, rank: 1, review: 1, compare: 0 }, gold: 0, heldOut: 0 });
  const statuses = await server.db.selectFrom("prompts").select("status").where("project_id", "=", projectId).orderBy("id").execute();
  assert.deepEqual(statuses.map((s) => s.status), ["active", "review", "active"]);
  const rankTask = await server.db.selectFrom("tasks").select(["completion_ids", "overlap_target"]).where("project_id", "=", projectId).where("type", "=", "rank").executeTakeFirstOrThrow();
  assert.equal(rankTask.completion_ids.length, 3);
  assert.equal(rankTask.overlap_target, 3);
});

test("duplicates against the project are found on the next import, exact and near", async () => {
  const projectId = await newProject();
  const first = [JSON.stringify({ prompt: long("pupil") })].join("\n");
  assert.equal((await importFile(projectId, { content: first, commit: true })).status, 200);
  const second = [
    JSON.stringify({ prompt: long("pupil") }),
    JSON.stringify({ prompt: long("student") }),
    JSON.stringify({ prompt: "A completely different question about cooking pasta al dente at home." }),
  ].join("\n");
  const report = (await (await importFile(projectId, { content: second, commit: true })).json()) as Report;
  const byLine = Object.fromEntries(report.flagged.map((f) => [f.line, f.status]));
  assert.equal(byLine[1], "exact_duplicate_in_project");
  assert.equal(byLine[2], "near_duplicate_in_project");
  assert.equal(report.committed?.prompts, 1);
  assert.equal(await promptCount(projectId), 2);
});

test("CSV imports with completions; a wrong body is a 422 naming the field", async () => {
  const projectId = await newProject();
  const csv = 'prompt,completion_1,completion_2,model\n"Say ""hi"", politely",Hello!,Hey.,tiny\n';
  const report = (await (await importFile(projectId, { content: csv, filename: "p.csv", commit: true })).json()) as Report;
  assert.deepEqual(report.committed, { prompts: 1, tasks: { demonstrate: 0, rank: 1, review: 0, compare: 0 }, gold: 0, heldOut: 0 });
  const bad = await importFile(projectId, { content: csv, commit: "yes" });
  assert.equal(bad.status, 422);
  assert.deepEqual(((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["commit"]);
});

test("a record with one completion is an invalid line at preview, not a demonstration that drops the completion", async () => {
  const projectId = await newProject();
  const content = [
    JSON.stringify({ prompt: "Rank these", completions: ["a", "b"] }),
    JSON.stringify({ prompt: "Only one answer", completions: ["the answer"] }),
    JSON.stringify({ prompt: "Write one yourself" }),
  ].join("\n");
  const preview = (await (await importFile(projectId, { content })).json()) as Report;
  assert.deepEqual(preview.issues.map((i) => i.line), [2]);
  assert.match(preview.issues[0]!.reason, /ranking task needs at least two completions \(found 1\)/);
  assert.match(preview.issues[0]!.reason, /Q&A/, "the reason says what to do instead");
  assert.equal(preview.counts.invalidLines, 1);
  // Committing refuses the file, naming the line, and stores nothing.
  const refused = await importFile(projectId, { content, commit: true });
  assert.equal(refused.status, 422);
  assert.deepEqual(((await refused.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["line 2"]);
  assert.equal(await promptCount(projectId), 0);
  // The valid lines alone: one ranking, one demonstration, and no orphan completion.
  const committed = (await (await importFile(projectId, { content, commit: true, importValidLines: true })).json()) as Report;
  assert.deepEqual(committed.committed, { prompts: 2, tasks: { demonstrate: 1, rank: 1, review: 0, compare: 0 }, gold: 0, heldOut: 0 });
  // As Q&A for review the same single answer is exactly right.
  const qa = (await (await importFile(projectId, { content: JSON.stringify({ prompt: "Only one answer", completions: ["the answer"] }), purpose: "qa" })).json()) as Report;
  assert.deepEqual(qa.issues, []);
});
