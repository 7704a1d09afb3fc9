/**
 * People in the cleaning loop (issue 17, item 2) on a real server and Postgres: flagged documents wait in the review
 * queue, reviewers' keep / drop / redact decisions override the filter's verdicts everywhere the job is read, and a
 * sample of kept documents becomes 1–5 rating tasks with overlap, leases and Krippendorff's α. The server's own
 * cleaning runner runs the job (kicked when the job is created).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
let reviewer: HttpClient;
let otherReviewer: HttpClient;
let projectId = "";
let jobId = "";
const docIds: string[] = [];

const filler = (seed: number) =>
  Array.from({ length: 40 }, (_, i) => `${["the", "river", "stone", "lantern", "meadow", "copper", "violet", "orchard"][(seed * 5 + i * 3) % 8]}${(seed * 13 + i) % 71}`).join(" ");

before(async () => {
  server = await startTestServer({ TANDEM_CLEANING_POLL_MS: "60000" });
  researcher = (await server.newUser("researcher")).client;
  const created = await researcher.json("POST", "/api/v1/projects", { name: "Cleaning loop", settings: { contentFilter: { blockedWords: ["detonator"] } } });
  projectId = ((await created.json()) as { id: string }).id;
  // new projects are members-only (decision 0031)
  reviewer = (await server.newMember(projectId, "reviewer")).client;
  otherReviewer = (await server.newMember(projectId, "reviewer")).client;
  const corpus = (await (await researcher.json("POST", `/api/v1/projects/${projectId}/corpora`, { name: "mixed", license: "CC0-1.0" })).json()) as { id: string };
  const texts = [
    `Chemistry safety lesson: why a detonator is never handled in a school laboratory. ${filler(1)}`,
    `Step by step, wire the detonator to the charge. ${filler(2)}`,
    `The story mentions a detonator once, in passing. ${filler(3)}`,
    `Contact the author at someone@example.org for the slides. ${filler(4)}`,
    ...Array.from({ length: 8 }, (_, i) => filler(10 + i)),
  ];
  const body = texts.map((text, i) => JSON.stringify({ title: `doc ${i}`, text })).join("\n");
  const uploaded = await researcher.request("POST", `/api/v1/corpora/${corpus.id}/files?name=mixed.jsonl`, { body: new Uint8Array(Buffer.from(body)), headers: { "content-type": "application/octet-stream" } });
  assert.equal(uploaded.status, 201);
  docIds.push(...(await server.db.selectFrom("corpus_documents").select("id").where("corpus_id", "=", corpus.id).orderBy("id").execute()).map((r) => r.id));
  const job = await researcher.json("POST", `/api/v1/projects/${projectId}/cleaning-jobs`, { corpusIds: [corpus.id], minChars: 20, pii: "flag" });
  jobId = ((await job.json()) as { id: string }).id;
  for (let i = 0; i < 400; i++) {
    const state = ((await (await researcher.get(`/api/v1/cleaning-jobs/${jobId}`)).json()) as { state: string }).state;
    if (state === "done") break;
    assert.ok(state === "queued" || state === "running", state);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
after(() => server.stop());

type Review = { id: string; reason: string; document: { id: string; text: string }; hits: Array<{ kind: string; match: string }> };
const next = async (client: HttpClient) => (await (await client.json("POST", `/api/v1/projects/${projectId}/corpus-reviews/next`)).json()) as Review | null;
const decide = (client: HttpClient, id: string, body: Record<string, unknown>) => client.json("POST", `/api/v1/corpus-reviews/${id}/decide`, body);

test("flagged documents wait for review; reviewer decisions override the filter's verdicts", async () => {
  const queue = (await (await reviewer.get(`/api/v1/projects/${projectId}/corpus-reviews`)).json()) as { open: number; items: Array<{ documentId: string; reason: string }> };
  assert.equal(queue.open, 4);
  assert.deepEqual(queue.items.map((i) => [i.documentId, i.reason]), [[docIds[0], "content_filter"], [docIds[1], "content_filter"], [docIds[2], "content_filter"], [docIds[3], "pii"]]);

  // The first reviewer holds the first document; the second gets the next one, and cannot decide the first.
  const first = (await next(reviewer))!;
  assert.equal(first.document.id, docIds[0]);
  assert.deepEqual(first.hits.map((h) => [h.kind, h.match]), [["word", "detonator"]]);
  assert.equal((await next(reviewer))!.id, first.id, "the held document comes back");
  const second = (await next(otherReviewer))!;
  assert.equal(second.document.id, docIds[1]);
  assert.equal((await decide(otherReviewer, first.id, { decision: "keep" })).status, 409);

  // A drop or a redaction names its category; a refused decision changes nothing.
  const noCategory = await decide(otherReviewer, second.id, { decision: "drop" });
  assert.equal(noCategory.status, 422);
  assert.deepEqual(((await noCategory.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["category"]);
  assert.equal((await server.db.selectFrom("corpus_reviews").select("state").where("id", "=", second.id).executeTakeFirstOrThrow()).state, "open");

  assert.equal((await decide(reviewer, first.id, { decision: "keep", note: "a safety lesson, not instructions" })).status, 200);
  assert.equal((await decide(reviewer, first.id, { decision: "drop", category: "weapons" })).status, 409, "a decision is final");
  assert.equal((await decide(otherReviewer, second.id, { decision: "drop", category: "weapons" })).status, 200);
  const third = (await next(reviewer))!;
  assert.equal(third.document.id, docIds[2]);
  assert.equal((await decide(reviewer, third.id, { decision: "redact", category: "weapons" })).status, 200);
  const fourth = (await next(reviewer))!;
  assert.equal(fourth.reason, "pii");
  assert.equal((await decide(reviewer, fourth.id, { decision: "keep" })).status, 200);
  assert.equal(await next(reviewer), null);

  const rows = ((await (await researcher.get(`/api/v1/cleaning-jobs/${jobId}/report?limit=4`)).json()) as { rows: Array<{ final: string; verdict: string; decision: string | null; category: string | null }> }).rows;
  assert.deepEqual(rows.map((r) => [r.verdict, r.decision, r.final]), [["flagged", "keep", "kept"], ["flagged", "drop", "dropped"], ["flagged", "redact", "kept"], ["flagged", "keep", "kept"]]);
  const dropped = ((await (await researcher.get(`/api/v1/cleaning-jobs/${jobId}/report?verdict=dropped`)).json()) as { rows: Array<{ documentId: string }> }).rows;
  assert.deepEqual(dropped.map((r) => r.documentId), [docIds[1]]);

  const kept = (await (await researcher.get(`/api/v1/cleaning-jobs/${jobId}/kept.jsonl`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { id: string; text: string });
  assert.deepEqual(kept.map((k) => k.id), docIds.filter((id) => id !== docIds[1]));
  assert.match(kept[1]!.text, /^The story mentions a \[WEAPONS\] once/);
  assert.match(kept[2]!.text, /someone@example\.org/, "kept as the reviewer decided, not redacted");
  const audit = await server.db.selectFrom("audit_log").select(["action", "details"]).where("action", "=", "export.cleaned_corpus").where("target", "=", `project:${projectId}`).execute();
  assert.deepEqual(audit.map((a) => a.details["jobId"]), [jobId], "the export is audited");
});

test("a sample of kept documents becomes rating tasks with overlap; agreement is measured", async () => {
  const labelers = await Promise.all([1, 2, 3].map(async () => (await server.newMember(projectId, "labeler")).client));
  const bad = await researcher.json("POST", `/api/v1/cleaning-jobs/${jobId}/rating-tasks`, { size: 5, overlap: 25 });
  assert.equal(bad.status, 422);
  assert.deepEqual(((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["overlap"]);
  const sampled = await researcher.json("POST", `/api/v1/cleaning-jobs/${jobId}/rating-tasks`, { size: 5, overlap: 2, seed: 7 });
  assert.equal(sampled.status, 201);
  assert.deepEqual(await sampled.json(), { created: 5, tasks: 5 });
  const taskDocs = (await server.db.selectFrom("corpus_rating_tasks").select("document_id").where("job_id", "=", jobId).execute()).map((t) => t.document_id);
  assert.ok(!taskDocs.includes(docIds[1]!), "a dropped document is never sampled");

  // Two raters give every document the same score (its position in the draw, 1–5): perfect agreement.
  const seen = new Map<string, number>();
  for (const labeler of labelers.slice(0, 2)) {
    const mine = new Set<string>();
    for (;;) {
      const rating = (await (await labeler.json("POST", `/api/v1/projects/${projectId}/corpus-ratings/next`)).json()) as { id: string; document: { id: string } } | null;
      if (!rating) break;
      assert.ok(!mine.has(rating.document.id), "never the same document twice");
      mine.add(rating.document.id);
      if (!seen.has(rating.document.id)) seen.set(rating.document.id, seen.size + 1);
      if (mine.size === 1) {
        const outOfRange = await labeler.json("POST", `/api/v1/corpus-ratings/${rating.id}/submit`, { score: 6 });
        assert.equal(outOfRange.status, 422);
        assert.equal((await researcher.get(`/api/v1/corpus-ratings/${rating.id}`)).status, 404, "another person's rating is not shown");
      }
      assert.equal((await labeler.json("POST", `/api/v1/corpus-ratings/${rating.id}/submit`, { score: seen.get(rating.document.id) })).status, 200);
    }
    assert.equal(mine.size, 5);
  }
  assert.equal(await (await labelers[2]!.json("POST", `/api/v1/projects/${projectId}/corpus-ratings/next`)).json(), null, "overlap 2 is reached");
  const summary = (await (await researcher.get(`/api/v1/cleaning-jobs/${jobId}/ratings`)).json()) as Record<string, unknown>;
  assert.deepEqual(summary, { tasks: 5, complete: 5, ratings: 10, meanScore: 3, histogram: [2, 2, 2, 2, 2], alphaOrdinal: 1, alphaInterval: 1, pairableDocuments: 5 });
});
