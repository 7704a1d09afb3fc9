/**
 * The quality classifier (issue 17, item 3) on a real server and Postgres: documents of two kinds are rated through the
 * rating API by two people (high for one kind, low for the other, with some planted disagreement); the classifier
 * trained on those ratings must rank held-out documents above chance by a margin, score every kept document, give a
 * threshold curve, and the chosen threshold filters the cleaned corpus.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
let projectId = "";
let jobId = "";
const high = new Set<string>();

let state = 11;
const random = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 2 ** 32;
};
const pick = (words: string[], n: number) => Array.from({ length: n }, () => words[Math.floor(random() * words.length)]!).join(" ");
const teaching = "theorem proof derivative integral equation photosynthesis enzyme molecule velocity gravity experiment hypothesis evidence definition example exercise solution chapter lesson explain therefore because".split(" ");
const spam = "buy cheap deal discount click subscribe offer limited free bonus casino winner prize hurry unlock exclusive promo coupon sale now".split(" ");
const shared = "the of and to in is that it was for on are with as be this by from at".split(" ");

before(async () => {
  server = await startTestServer({ TANDEM_CLEANING_POLL_MS: "60000" });
  researcher = (await server.newUser("researcher")).client;
  projectId = ((await (await researcher.json("POST", "/api/v1/projects", { name: "Quality classifier" })).json()) as { id: string }).id;
  const corpus = ((await (await researcher.json("POST", `/api/v1/projects/${projectId}/corpora`, { name: "crawl", license: "CC-BY-4.0" })).json()) as { id: string }).id;
  const kinds: boolean[] = [];
  const lines = Array.from({ length: 100 }, (_, i) => {
    const isHigh = i % 2 === 0;
    kinds.push(isHigh);
    const words = Array.from({ length: 8 }, () => `${pick(shared, 4)} ${pick(isHigh ? teaching : spam, 4)}`).join(" ");
    return JSON.stringify({ title: `page ${i}`, text: `${words}.` });
  });
  const uploaded = await researcher.request("POST", `/api/v1/corpora/${corpus}/files?name=crawl.jsonl`, { body: new Uint8Array(Buffer.from(lines.join("\n"))), headers: { "content-type": "application/octet-stream" } });
  assert.equal(uploaded.status, 201);
  const ids = (await server.db.selectFrom("corpus_documents").select("id").where("corpus_id", "=", corpus).orderBy("id").execute()).map((r) => r.id);
  ids.forEach((id, i) => kinds[i] && high.add(id));
  jobId = ((await (await researcher.json("POST", `/api/v1/projects/${projectId}/cleaning-jobs`, { corpusIds: [corpus], minChars: 50 })).json()) as { id: string }).id;
  for (let i = 0; i < 400; i++) {
    const job = (await (await researcher.get(`/api/v1/cleaning-jobs/${jobId}`)).json()) as { state: string; progress: { kept: number } };
    if (job.state === "done") {
      assert.equal(job.progress.kept, 100, "no document is dropped: the test rates them all");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
after(() => server.stop());

test("too few ratings: the classifier is refused; settings out of range are refused with the field named", async () => {
  const early = await researcher.json("POST", `/api/v1/cleaning-jobs/${jobId}/quality-classifiers`, {});
  assert.equal(early.status, 409);
  const bad = await researcher.json("POST", `/api/v1/cleaning-jobs/${jobId}/quality-classifiers`, { heldOutFraction: 0.9, lambda: 0 });
  assert.equal(bad.status, 422);
  assert.deepEqual(((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path).sort(), ["heldOutFraction", "lambda"]);
});

test("trained on planted ratings, the classifier ranks held-out documents above chance by a margin", async () => {
  const sampled = await researcher.json("POST", `/api/v1/cleaning-jobs/${jobId}/rating-tasks`, { size: 100, overlap: 2, seed: 3 });
  assert.deepEqual(await sampled.json(), { created: 100, tasks: 100 });
  // Two raters: 4–5 for teaching text, 1–2 for spam; each gets 1 document in 10 "wrong" (planted disagreement).
  const raters = await Promise.all([1, 2].map(async () => (await server.newMember(projectId, "labeler")).client));
  for (const [r, rater] of raters.entries()) {
    for (;;) {
      const rating = (await (await rater.json("POST", `/api/v1/projects/${projectId}/corpus-ratings/next`)).json()) as { id: string; document: { id: string } } | null;
      if (!rating) break;
      const wrong = (Number(rating.document.id) + r * 5) % 10 === 0;
      const good = high.has(rating.document.id) !== wrong;
      const score = good ? 4 + ((Number(rating.document.id) + r) % 2) : 1 + ((Number(rating.document.id) + r) % 2);
      assert.equal((await rater.json("POST", `/api/v1/corpus-ratings/${rating.id}/submit`, { score })).status, 200);
    }
  }
  const trained = await researcher.json("POST", `/api/v1/cleaning-jobs/${jobId}/quality-classifiers`, { heldOutFraction: 0.3, seed: 1 });
  assert.equal(trained.status, 201, await trained.clone().text());
  const classifier = (await trained.json()) as { id: string; metrics: { trainDocuments: number; heldOutDocuments: number; scoredDocuments: number; heldOut: Record<string, number | null> } };
  const m = classifier.metrics;
  assert.equal(m.trainDocuments + m.heldOutDocuments, 100);
  assert.ok(m.heldOutDocuments >= 15, `held out ${m.heldOutDocuments}`);
  assert.ok(m.heldOut.auc! >= 0.75, `held-out AUC ${m.heldOut.auc} (chance 0.5)`);
  assert.ok(m.heldOut.accuracy! >= 0.75 && m.heldOut.accuracy! >= m.heldOut.majorityAccuracy! + 0.1, `accuracy ${m.heldOut.accuracy} vs majority ${m.heldOut.majorityAccuracy}`);
  assert.ok(m.heldOut.raterAgreement! > 0.5 && m.heldOut.raterAgreement! < 1, `rater agreement ${m.heldOut.raterAgreement}`);
  assert.equal(m.scoredDocuments, 100);

  const detail = (await (await researcher.get(`/api/v1/quality-classifiers/${classifier.id}?points=10`)).json()) as { curve: Array<{ threshold: number; documents: number; words: number; share: number }> };
  assert.equal(detail.curve[0]!.documents, 100);
  assert.equal(detail.curve[0]!.share, 1);
  for (let k = 1; k < detail.curve.length; k++) {
    assert.ok(detail.curve[k]!.threshold > detail.curve[k - 1]!.threshold);
    assert.ok(detail.curve[k]!.documents <= detail.curve[k - 1]!.documents && detail.curve[k]!.words <= detail.curve[k - 1]!.words);
  }
  const middle = detail.curve[5]!;
  const samples = (await (await researcher.get(`/api/v1/quality-classifiers/${classifier.id}/samples?threshold=${middle.threshold}`)).json()) as Array<{ score: number }>;
  assert.equal(samples.length, 5);
  assert.ok(samples.every((s) => s.score >= middle.threshold));

  const refused = await researcher.json("PUT", `/api/v1/quality-classifiers/${classifier.id}/threshold`, { threshold: 99 });
  assert.equal(refused.status, 422);
  assert.deepEqual(((await refused.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["threshold"]);
  assert.equal((await researcher.get(`/api/v1/cleaning-jobs/${jobId}/kept.jsonl?classifier=${classifier.id}`)).status, 409, "no threshold chosen yet");
  assert.equal((await researcher.json("PUT", `/api/v1/quality-classifiers/${classifier.id}/threshold`, { threshold: middle.threshold })).status, 200);
  const kept = (await (await researcher.get(`/api/v1/cleaning-jobs/${jobId}/kept.jsonl?classifier=${classifier.id}`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { id: string });
  assert.equal(kept.length, middle.documents);
  // The documents it keeps are mostly the teaching ones.
  assert.ok(kept.filter((k) => high.has(k.id)).length / kept.length >= 0.8);
});
