/**
 * Synthetic Q&A (issue #6, part 1): documents → generated Q&A → review → SFT and preference
 * exports, on a real server and a real Postgres.
 *
 * The generator is an external OpenAI-compatible endpoint, registered through the API and called
 * with Tandem's OpenAI client (bridges/external). What answers it here is a small local HTTP
 * server that stands in for a hosted model outside this machine (the only thing faked): it
 * answers POST /v1/chat/completions with deterministic Q&A JSON built from the passage in the
 * prompt, and misbehaves on purpose for passages that ask it to (MALFORMED, BROKEN, SLOW).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { settleQaRun } from "../../server/bridges/qa/qa-runs.server.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let dataDir = "";
let researcher: { id: string; client: HttpClient };
let fakeModel: http.Server;
let fakeUrl = "";
const fakeRequests: Array<{ model: string; messages: Array<{ role: string; content: string }>; authorization: string | undefined }> = [];
const API_KEY = "sk-synthqa-secret-4f9a1c";
const slowResponses: Array<() => void> = [];

/** The fake hosted model: one Q&A pair per sentence of the passage, as JSON in a ```json fence. */
function fakeAnswer(prompt: string): { status: number; content?: string } {
  const passage = /"""\n([\s\S]*?)\n"""/.exec(prompt)?.[1] ?? "";
  const n = Number(/write (\d+) question-and-answer pairs/.exec(prompt)?.[1] ?? 1);
  if (passage.includes("BROKEN")) return { status: 500 };
  if (passage.includes("NOTJSON")) return { status: 200, content: undefined };
  if (passage.includes("MALFORMED")) return { status: 200, content: "Sorry, I would rather talk about the weather." };
  const sentences = passage.split(/(?<=\.)\s+/).filter(Boolean).slice(0, n);
  const pairs = sentences.map((sentence) => ({ question: `Which statement begins with "${sentence.split(" ").slice(0, 3).join(" ")}"?`, answer: sentence }));
  return { status: 200, content: `Here you go:\n\`\`\`json\n${JSON.stringify(pairs, null, 2)}\n\`\`\`` };
}

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-synthqa-"));
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir });
  researcher = await server.newUser("researcher");
  fakeModel = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const request = JSON.parse(body) as { model: string; messages: Array<{ role: string; content: string }> };
      fakeRequests.push({ ...request, authorization: req.headers.authorization });
      const prompt = request.messages.at(-1)!.content;
      const reply = () => {
        const answer = fakeAnswer(prompt);
        if (answer.content === undefined && answer.status === 200) {
          res.writeHead(200, { "content-type": "application/json" }).end("<html>not a chat completion</html>");
          return;
        }
        if (answer.status !== 200) {
          res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "upstream exploded" } }));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({ id: "chatcmpl-1", object: "chat.completion", model: request.model, choices: [{ index: 0, message: { role: "assistant", content: answer.content }, finish_reason: "stop" }] }),
        );
      };
      if (prompt.includes("SLOW")) slowResponses.push(reply);
      else reply();
    });
  });
  await new Promise<void>((resolve) => fakeModel.listen(0, "127.0.0.1", resolve));
  fakeUrl = `http://127.0.0.1:${(fakeModel.address() as AddressInfo).port}`;
});
after(async () => {
  for (const reply of slowResponses.splice(0)) reply();
  fakeModel.closeAllConnections();
  await new Promise<void>((resolve) => fakeModel.close(() => resolve()));
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function newProject(name: string): Promise<string> {
  const created = await researcher.client.json("POST", "/api/v1/projects", { name });
  assert.equal(created.status, 201, await created.clone().text());
  return ((await created.json()) as { id: string }).id;
}

async function upload(projectId: string, files: Array<{ name: string; content: string }>, chunkChars?: number) {
  return researcher.client.json("POST", `/api/v1/projects/${projectId}/documents`, { files, ...(chunkChars ? { chunkChars } : {}) });
}

/** Registers the fake model as the project's external endpoint (no retries: a 500 fails at once). */
async function registerEndpoint(projectId: string): Promise<string> {
  const response = await researcher.client.json("POST", `/api/v1/projects/${projectId}/external-endpoints`, {
    name: "fake-hosted",
    baseUrl: `${fakeUrl}/v1`,
    model: "qa-model",
    apiKey: API_KEY,
    maxRetries: 0,
    timeoutMs: 30_000,
  });
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

type RunView = { id: string; state: string; totalChunks: number; doneChunks: number; failedChunks: number; pairsCreated: number; duplicatesSkipped: number; generator: Record<string, unknown> };

/** Starts a run over HTTP and waits for this server process to finish it. */
async function startRun(projectId: string, endpointId: string, options: Record<string, unknown> = {}): Promise<RunView> {
  const started = await researcher.client.json("POST", `/api/v1/projects/${projectId}/qa-runs`, { generator: { kind: "endpoint", endpointId }, ...options });
  assert.equal(started.status, 201, await started.clone().text());
  return (await started.json()) as RunView;
}

async function runToEnd(projectId: string, endpointId: string, options: Record<string, unknown> = {}): Promise<RunView> {
  const run = await startRun(projectId, endpointId, options);
  await settleQaRun(run.id);
  const finished = await researcher.client.get(`/api/v1/qa-runs/${run.id}`);
  const text = await finished.text();
  assert.ok(!text.includes(API_KEY), "the API key never leaves the server");
  return JSON.parse(text) as RunView;
}

const submit = (client: HttpClient, assignmentId: string, payload: unknown) =>
  client.json("POST", `/api/v1/assignments/${assignmentId}/submit`, { idempotencyKey: `qa-${assignmentId}-${Math.random()}`, payload });

test("documents → synthetic Q&A → reviewed (accept, edit, reject) → SFT export, and the edit in the preference export", async () => {
  const projectId = await newProject("Synthetic Q&A flow");
  const markdown = [
    "# Water",
    "",
    "Water boils at 100 degrees Celsius at sea level. Ice melts at 0 degrees Celsius.",
    "",
    "# Broken section",
    "",
    "MALFORMED text that the model will not answer properly.",
  ].join("\n");
  const jsonl = [JSON.stringify({ title: "Hamlet", text: "Hamlet was written by William Shakespeare.", url: "https://example.org/hamlet" })].join("\n");
  const uploaded = await upload(projectId, [
    { name: "science.md", content: markdown },
    { name: "books.jsonl", content: jsonl },
  ]);
  assert.equal(uploaded.status, 201, await uploaded.clone().text());
  const report = (await uploaded.json()) as { documents: Array<{ id: string; name: string; chunks: number }>; skipped: unknown[] };
  assert.deepEqual(report.documents.map((d) => [d.name, d.chunks]), [["science", 2], ["Hamlet", 1]]);

  // The template, as the researcher edits it: two pairs per chunk.
  const template = (await (await researcher.client.get(`/api/v1/projects/${projectId}/qa-template`)).json()) as { template: string; isDefault: boolean };
  assert.equal(template.isDefault, true);
  const saved = await researcher.client.json("PUT", `/api/v1/projects/${projectId}/qa-template`, { template: template.template, pairsPerChunk: 2 });
  assert.equal(saved.status, 200, await saved.clone().text());

  const endpointId = await registerEndpoint(projectId);
  const requestsBefore = fakeRequests.length;
  const run = await runToEnd(projectId, endpointId);
  assert.equal(run.generator.label, "endpoint:fake-hosted/qa-model");
  assert.deepEqual(
    { state: run.state, total: run.totalChunks, done: run.doneChunks, failed: run.failedChunks, pairs: run.pairsCreated },
    { state: "done", total: 3, done: 2, failed: 1, pairs: 3 },
  );
  // The rendered template reached the endpoint: title, n and the chunk filled in.
  const sent = fakeRequests.slice(requestsBefore).map((r) => r.messages.at(-1)!.content);
  assert.equal(sent.length, 3);
  assert.ok(fakeRequests.slice(requestsBefore).every((r) => r.model === "qa-model" && r.authorization === `Bearer ${API_KEY}`));
  assert.ok(sent.some((p) => p.includes('from "Hamlet"') && p.includes("write 2 question-and-answer pairs") && p.includes("Hamlet was written by William Shakespeare.")));

  // The malformed answer is a per-chunk error, listed with its document.
  const errors = (await (await researcher.client.get(`/api/v1/projects/${projectId}/document-errors`)).json()) as Array<{ document_name: string; index: number; error: string }>;
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.document_name, "science");
  assert.equal(errors[0]!.index, 1);
  assert.match(errors[0]!.error, /neither a JSON list of pairs nor "Q: … A: …" blocks/);
  assert.ok(!JSON.stringify(errors).includes(API_KEY));

  // Each pair is a `qa` prompt with its source and document metadata, and one review task.
  const prompts = await server.db
    .selectFrom("prompts")
    .innerJoin("tasks", "tasks.prompt_id", "prompts.id")
    .select(["prompts.kind", "prompts.status", "prompts.source", "prompts.metadata", "tasks.type"])
    .where("prompts.project_id", "=", projectId)
    .orderBy("prompts.id")
    .execute();
  assert.equal(prompts.length, 3);
  assert.ok(prompts.every((p) => p.kind === "qa" && p.status === "review" && p.type === "review"));
  assert.deepEqual(prompts.map((p) => p.source), ["science #1", "science #1", "Hamlet #1"]);
  assert.equal(prompts[2]!.metadata.documentId, report.documents[1]!.id);
  assert.equal(prompts[2]!.metadata.chunkIndex, 0);
  assert.equal(prompts[0]!.metadata.heading, "Water");

  // Review through the existing review submission API: accept one, edit one, reject one.
  const reviewer = await server.newMember(projectId, "reviewer");
  const decided: Record<string, string> = {};
  for (;;) {
    const next = (await (await reviewer.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
    if (!next) break;
    const view = (await (await reviewer.client.get(`/api/v1/assignments/${next.assignmentId}`)).json()) as { taskType: string; isQa: boolean; messages: Array<{ content: string }> };
    assert.equal(view.taskType, "review");
    assert.equal(view.isQa, true);
    const question = view.messages[0]!.content;
    let payload: unknown;
    if (question.includes('"Water boils at"')) payload = { decision: "accept" };
    else if (question.includes('"Hamlet was written"')) payload = { decision: "edit", editedText: "William Shakespeare wrote Hamlet around 1600.", reasons: ["incomplete"] };
    else payload = { decision: "reject", reasons: ["other"] };
    const response = await submit(reviewer.client, next.assignmentId, payload);
    assert.equal(response.status, 200, await response.clone().text());
    decided[question] = (payload as { decision: string }).decision;
  }
  assert.deepEqual(Object.values(decided).sort(), ["accept", "edit", "reject"]);

  const sft = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/sft.jsonl`)).text())
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { messages: Array<{ role: string; content: string }> });
  assert.deepEqual(sft.map((r) => [r.messages[0]!.content, r.messages.at(-1)!.content]).sort(), [
    ['Which statement begins with "Hamlet was written"?', "William Shakespeare wrote Hamlet around 1600."],
    ['Which statement begins with "Water boils at"?', "Water boils at 100 degrees Celsius at sea level."],
  ]);
  const preferences = (await (await researcher.client.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`)).text())
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(preferences, [
    {
      prompt: 'Which statement begins with "Hamlet was written"?',
      chosen: "William Shakespeare wrote Hamlet around 1600.",
      rejected: "Hamlet was written by William Shakespeare.",
      margin: 1,
      weight: 1,
    },
  ]);
});

test("a failing endpoint (HTTP 500, not JSON) fails its chunk only; a rerun redoes failed chunks and skips duplicate pairs", async () => {
  const projectId = await newProject("Synthetic Q&A failures");
  const uploaded = await upload(projectId, [
    { name: "a.txt", content: "Cats sleep a lot. Cats purr." },
    { name: "b.txt", content: "BROKEN endpoint for this one." },
    { name: "c.txt", content: "Dogs bark. Dogs fetch." },
    { name: "d.txt", content: "NOTJSON comes back for this one." },
  ]);
  assert.equal(uploaded.status, 201, await uploaded.clone().text());
  const endpointId = await registerEndpoint(projectId);
  const first = await runToEnd(projectId, endpointId);
  assert.deepEqual([first.state, first.doneChunks, first.failedChunks, first.pairsCreated], ["done", 2, 2, 4]);
  const errors = (await (await researcher.client.get(`/api/v1/projects/${projectId}/document-errors`)).json()) as Array<{ document_name: string; error: string }>;
  const byDocument = Object.fromEntries(errors.map((e) => [e.document_name, e.error]));
  assert.deepEqual(Object.keys(byDocument).sort(), ["b", "d"]);
  assert.match(byDocument.b!, /HTTP 500/);
  assert.match(byDocument.d!, /not JSON/);
  assert.ok(!JSON.stringify(errors).includes(API_KEY));

  // Only the failed chunk is retried by default, and it fails again.
  const retry = await runToEnd(projectId, endpointId);
  assert.deepEqual([retry.totalChunks, retry.failedChunks, retry.pairsCreated], [2, 2, 0]);
  // Redoing everything produces the same pairs again: all of them are duplicates.
  const redo = await runToEnd(projectId, endpointId, { includeDone: true });
  assert.deepEqual([redo.totalChunks, redo.doneChunks, redo.pairsCreated, redo.duplicatesSkipped], [4, 2, 0, 4]);
  const count = await server.db.selectFrom("prompts").select((eb) => eb.fn.countAll<string>().as("n")).where("project_id", "=", projectId).executeTakeFirstOrThrow();
  assert.equal(Number(count.n), 4);
});

test("a run can be cancelled over the API; the chunk in flight goes back to pending; one run at a time", async () => {
  const projectId = await newProject("Synthetic Q&A cancel");
  assert.equal((await upload(projectId, [{ name: "slow.txt", content: "SLOW answer here." }, { name: "later.txt", content: "Never reached." }])).status, 201);
  const endpointId = await registerEndpoint(projectId);
  const run = await startRun(projectId, endpointId);
  assert.equal(run.state, "running");
  // Wait until the slow request is at the fake model.
  for (let i = 0; i < 100 && slowResponses.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(slowResponses.length, 1);

  const second = await researcher.client.json("POST", `/api/v1/projects/${projectId}/qa-runs`, { generator: { kind: "endpoint", endpointId } });
  assert.equal(second.status, 409, "one run at a time");

  const cancelled = await researcher.client.json("POST", `/api/v1/qa-runs/${run.id}/cancel`);
  assert.equal(cancelled.status, 200, await cancelled.clone().text());
  await settleQaRun(run.id);
  const state = (await (await researcher.client.get(`/api/v1/qa-runs/${run.id}`)).json()) as { state: string; doneChunks: number };
  assert.deepEqual([state.state, state.doneChunks], ["cancelled", 0]);
  const chunks = await server.db.selectFrom("document_chunks").select("status").where("project_id", "=", projectId).execute();
  assert.deepEqual(chunks.map((c) => c.status), ["pending", "pending"]);
  assert.equal((await researcher.client.json("POST", `/api/v1/qa-runs/${run.id}/cancel`)).status, 409, "cancelling twice");
  for (const reply of slowResponses.splice(0)) reply();

  // A run whose server died (no heartbeat for 10 minutes) is marked interrupted, its chunk waits again.
  const orphan = await server.db
    .insertInto("qa_runs")
    .values({ project_id: projectId, generator: JSON.stringify({ kind: "endpoint", endpointId: "1", label: "gone" }), template: "{{chunk}}", pairs_per_chunk: 1, total_chunks: 1, heartbeat_at: new Date(Date.now() - 11 * 60_000) })
    .returning("id")
    .executeTakeFirstOrThrow();
  await server.db.updateTable("document_chunks").set({ status: "generating", run_id: orphan.id }).where("project_id", "=", projectId).where("index", "=", 0).execute();
  const runs = (await (await researcher.client.get(`/api/v1/projects/${projectId}/qa-runs`)).json()) as Array<{ id: string; state: string }>;
  assert.equal(runs.find((r) => r.id === orphan.id)?.state, "interrupted");
  const after = await server.db.selectFrom("document_chunks").select("status").where("project_id", "=", projectId).execute();
  assert.deepEqual(after.map((c) => c.status), ["pending", "pending"]);
});

test("bad uploads are refused with file and line, and store nothing", async () => {
  const projectId = await newProject("Synthetic Q&A bad uploads");
  const bad = await upload(projectId, [
    { name: "fine.txt", content: "A perfectly good document." },
    { name: "docs.jsonl", content: ['{"title": "ok", "text": "fine"}', "{oops", '{"title": "no text"}'].join("\n") },
    { name: "empty.md", content: "\n  \n" },
  ]);
  assert.equal(bad.status, 422);
  const problem = (await bad.json()) as { detail: string; errors: Array<{ path: string; message: string }> };
  assert.match(problem.detail, /nothing was stored/);
  assert.deepEqual(problem.errors.map((e) => e.path), ["docs.jsonl line 2", "docs.jsonl line 3", "empty.md"]);

  const tooLarge = await upload(projectId, [{ name: "huge.txt", content: "word ".repeat(200_001) }]);
  assert.equal(tooLarge.status, 422);
  assert.match(((await tooLarge.json()) as { errors: Array<{ message: string }> }).errors[0]!.message, /limit is 1,000,000/);

  const noFiles = await upload(projectId, []);
  assert.equal(noFiles.status, 422);

  const documents = (await (await researcher.client.get(`/api/v1/projects/${projectId}/documents`)).json()) as unknown[];
  assert.deepEqual(documents, []);
  const chunkRows = await server.db.selectFrom("document_chunks").select("id").where("project_id", "=", projectId).execute();
  assert.equal(chunkRows.length, 0);

  // The same text twice is stored once; the second is reported as skipped.
  const once = await upload(projectId, [{ name: "x.txt", content: "Same text.\r\n" }, { name: "y.txt", content: "Same text." }]);
  assert.equal(once.status, 201);
  const report = (await once.json()) as { documents: unknown[]; skipped: Array<{ path: string; reason: string }> };
  assert.equal(report.documents.length, 1);
  assert.deepEqual(report.skipped.map((s) => s.path), ["y.txt"]);
  const again = (await (await upload(projectId, [{ name: "z.txt", content: "Same text." }])).json()) as { documents: unknown[]; skipped: Array<{ reason: string }> };
  assert.equal(again.documents.length, 0);
  assert.match(again.skipped[0]!.reason, /already in the project as "x"/);

  // The page lists documents with their names escaped, and only researchers and admins see it.
  assert.equal((await upload(projectId, [{ name: "titles.jsonl", content: JSON.stringify({ title: "<script>alert(1)</script>", text: "Escaped name." }) }])).status, 201);
  const page = await researcher.client.get(`/projects/${projectId}/documents`, { accept: "text/html" });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"), "the name is shown, escaped");
  assert.ok(!html.includes("<script>alert(1)"), "and never as markup");
  const reviewer = await server.newUser("reviewer");
  assert.equal((await reviewer.client.get(`/projects/${projectId}/documents`, { accept: "text/html" })).status, 403);
});

test("a bad template is refused by line and leaves the saved one; a run with nothing to do is refused", async () => {
  const projectId = await newProject("Synthetic Q&A template");
  const good = await researcher.client.json("PUT", `/api/v1/projects/${projectId}/qa-template`, { template: "About {{document_title}}: {{n}} pairs.\n{{chunk}}", pairsPerChunk: 4 });
  assert.equal(good.status, 200, await good.clone().text());
  const bad = await researcher.client.json("PUT", `/api/v1/projects/${projectId}/qa-template`, { template: "Write {{n}} pairs\nfrom {{chunck}}", pairsPerChunk: 2 });
  assert.equal(bad.status, 422);
  const problem = (await bad.json()) as { errors: Array<{ path: string; message: string }> };
  assert.deepEqual(problem.errors.map((e) => e.path), ["template line 2", "template line 1"]);
  assert.match(problem.errors[0]!.message, /Unknown placeholder \{\{chunck\}\}/);
  assert.match(problem.errors[1]!.message, /must contain \{\{chunk\}\}/);
  const current = (await (await researcher.client.get(`/api/v1/projects/${projectId}/qa-template`)).json()) as { template: string; pairsPerChunk: number; isDefault: boolean };
  assert.deepEqual([current.template, current.pairsPerChunk, current.isDefault], ["About {{document_title}}: {{n}} pairs.\n{{chunk}}", 4, false]);
  assert.equal((await researcher.client.json("PUT", `/api/v1/projects/${projectId}/qa-template`, { template: "{{chunk}}", pairsPerChunk: 99 })).status, 422);

  // No chunks: nothing to generate. A reward model or a missing model is not a generator.
  const none = await researcher.client.json("POST", `/api/v1/projects/${projectId}/qa-runs`, { generator: { kind: "policy", modelId: "999999" } });
  assert.equal(none.status, 422);
  assert.match(((await none.json()) as { detail: string }).detail, /no model 999999/);
  const elsewhere = await registerEndpoint(await newProject("Synthetic Q&A other project"));
  const foreign = await researcher.client.json("POST", `/api/v1/projects/${projectId}/qa-runs`, { generator: { kind: "endpoint", endpointId: elsewhere } });
  assert.equal(foreign.status, 422, "another project's endpoint is not this project's generator");
  const labeler = await server.newUser("labeler");
  assert.equal((await labeler.client.json("PUT", `/api/v1/projects/${projectId}/qa-template`, { template: "{{chunk}}" })).status, 403);
});

/** Trains a tiny policy with the real trainer CLI and registers it, as a finished round would. */
function registerTinyPolicy(projectId: string): Promise<string> {
  const work = path.join(dataDir, "tiny");
  fs.mkdirSync(work, { recursive: true });
  const file = (name: string, content: string) => (fs.writeFileSync(path.join(work, name), content), path.join(work, name));
  const corpus = file("corpus.txt", Array.from({ length: 40 }, (_, i) => `the reviewer reads answer ${i} and writes a better one`).join("\n"));
  const sftData = file("sft.jsonl", Array.from({ length: 4 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: `question ${i}` }, { role: "assistant", content: `answer ${i}` }] })).join("\n"));
  const cli = (command: string, spec: Record<string, unknown>) => {
    const config = file(`${command}.json`, JSON.stringify({ schemaVersion: 1, kind: command, ...spec }));
    const result = spawnSync(process.execPath, ["--import", "tsx", "trainer/cli.ts", command, "--config", config], { encoding: "utf8", timeout: 240_000 });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    return result.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  // digits are split, so a small corpus fits fewer merges than asked: the model takes the vocabulary fitted
  const fitted = cli("train-tokenizer", { corpus: [corpus], vocabSize: 300, out: path.join(work, "tok") });
  const vocabSize = Number(fitted.find((e) => e.type === "done")?.vocabSize);
  const storageKey = `synthqa-tiny-${projectId}`;
  const out = path.join(dataDir, "models", storageKey);
  cli("sft", {
    data: sftData,
    tokenizer: path.join(work, "tok", "tokenizer.json"),
    model: { init: { vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: 1 },
    train: { steps: 2, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 0 } },
    out,
    backend: "wasm",
  });
  fs.copyFileSync(path.join(work, "tok", "tokenizer.json"), path.join(out, "tokenizer.json"));
  const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as Record<string, unknown>;
  return server.db
    .insertInto("models")
    .values({ project_id: projectId, name: "tiny policy", kind: "sft", storage_key: storageKey, config: JSON.stringify(manifest) })
    .returning("id")
    .executeTakeFirstOrThrow()
    .then((row) => row.id);
}

test("the project's own policy generates through the inference worker, started over the API; what it writes is parsed or recorded per chunk", { timeout: 300_000 }, async () => {
  const projectId = await newProject("Synthetic Q&A own policy");
  const modelId = await registerTinyPolicy(projectId);
  assert.equal((await upload(projectId, [{ name: "notes.txt", content: "The reviewer reads the answer and writes a better one." }])).status, 201);
  const options = (await (await researcher.client.get(`/api/v1/projects/${projectId}/qa-generators`)).json()) as Array<{ source: { kind: string; modelId?: string } }>;
  assert.ok(options.some((o) => o.source.kind === "policy" && o.source.modelId === modelId));

  // A tiny model reads 128 tokens: the default template would not fit (which is itself recorded
  // per chunk as the model's error), so this project's template is just the chunk.
  assert.equal((await researcher.client.json("PUT", `/api/v1/projects/${projectId}/qa-template`, { template: "{{chunk}}", pairsPerChunk: 1 })).status, 200);
  const started = await researcher.client.json("POST", `/api/v1/projects/${projectId}/qa-runs`, { generator: { kind: "policy", modelId }, maxTokens: 24 });
  assert.equal(started.status, 201, await started.clone().text());
  const run = (await started.json()) as { id: string; state: string; generator: { label: string } };
  assert.equal(run.state, "running");
  assert.equal(run.generator.label, "policy:tiny policy");
  await settleQaRun(run.id);
  const finished = (await (await researcher.client.get(`/api/v1/qa-runs/${run.id}`)).json()) as { state: string; doneChunks: number; failedChunks: number };
  assert.equal(finished.state, "done");
  assert.equal(finished.doneChunks + finished.failedChunks, 1);
  // A two-step model writes noise: its answer is read as pairs or recorded as unreadable output,
  // never as a failure of the worker itself.
  const chunk = await server.db.selectFrom("document_chunks").select(["status", "error"]).where("project_id", "=", projectId).executeTakeFirstOrThrow();
  if (chunk.status === "failed") assert.match(chunk.error ?? "", /neither a JSON list|no usable pair|empty answer/);
  else assert.equal(chunk.status, "done");
});
