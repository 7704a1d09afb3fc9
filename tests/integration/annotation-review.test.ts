/**
 * Annotation review (issue 14 item 4, decision 0044) over real HTTP and PostgreSQL: reviewers sample labelers'
 * rankings and demonstrations (random, lowest agreement first, by labeler), accept, override (kept beside the
 * original, exported with provenance) or send back with a comment the labeler sees and redoes.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { insertPrompts } from "../../server/labeling/prompts.server.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

type Person = Awaited<ReturnType<TestServer["newUser"]>>;
type ReviewView = {
  id: string;
  state: string;
  agreement: number | null;
  decision: string | null;
  submission: { id: string; taskId: string; taskType: string; labeler: { id: string }; payload: Record<string, unknown>; shownOrder: string[] };
  messages: Array<{ content: string }>;
  completions: Array<{ id: string; text: string }>;
  redo: { taskId: string; submissionId: string | null } | null;
};

/**
 * A members-only project: "2 + 2" ranked by both labelers in opposite orders (agreement 0), "capital" ranked alike
 * by both (agreement 1), and one demonstration by the first labeler.
 */
async function labeledProject(): Promise<{ projectId: string; researcher: Person; alice: Person; bob: Person }> {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", {
    name: `Annotation review ${Date.now()}`,
    settings: projectSettingsSchema.parse({ k: 2, overlap: { rank: 2, demonstrate: 1 } }),
  });
  assert.equal(created.status, 201);
  const projectId = ((await created.json()) as { id: string }).id;
  const project = await getProject(server.db, projectId);
  const tag = `${projectId}-${Date.now()}`;
  await server.db.transaction().execute((trx) =>
    insertPrompts(trx, projectId, project.settings, [
      { messages: [{ role: "user", content: "What is 2 + 2?" }], completions: [{ text: "4", model: "m" }, { text: "5", model: "m" }], source: null, metadata: {}, contentHash: `ar-a-${tag}`, minhash: "", status: "active" },
      { messages: [{ role: "user", content: "Capital of France?" }], completions: [{ text: "Paris", model: "m" }, { text: "Lyon", model: "m" }], source: null, metadata: {}, contentHash: `ar-b-${tag}`, minhash: "", status: "active" },
      { messages: [{ role: "user", content: "Say hi." }], completions: [], source: null, metadata: {}, contentHash: `ar-c-${tag}`, minhash: "", status: "active" },
    ], null),
  );
  const alice = await server.newMember(projectId, "labeler");
  const bob = await server.newMember(projectId, "labeler");
  for (const [labeler, best] of [[alice, { "2 + 2": "4", France: "Paris" }], [bob, { "2 + 2": "5", France: "Paris" }]] as const) {
    for (;;) {
      const view = await takeTask(labeler.client, projectId);
      if (!view) break;
      let payload: Record<string, unknown> = { text: "Hi there!" };
      if (view.taskType === "rank") {
        const top = view.messages[0]!.content.includes("2 + 2") ? best["2 + 2"] : best.France;
        const first = view.completions.find((c) => c.text === top)!;
        const second = view.completions.find((c) => c.text !== top)!;
        payload = { ranking: { tiers: [[first.id], [second.id]] } };
      }
      const submitted = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, { idempotencyKey: `ar-${view.assignmentId}-key`, payload });
      assert.equal(submitted.status, 200, await submitted.clone().text());
    }
  }
  return { projectId, researcher, alice, bob };
}

const next = (client: HttpClient, projectId: string, body: Record<string, unknown>) => client.json("POST", `/api/v1/projects/${projectId}/annotation-reviews/next`, body);
const decide = (client: HttpClient, reviewId: string, body: Record<string, unknown>) => client.json("POST", `/api/v1/annotation-reviews/${reviewId}/decide`, body);
const jsonl = async (client: HttpClient, path: string) => {
  const response = await client.get(path);
  assert.equal(response.status, 200, path);
  return (await response.text()).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
};

test("lowest agreement first serves the disputed item; accept is final, a second decision is refused; labelers cannot review", async () => {
  const { projectId, alice } = await labeledProject();
  const reviewer = await server.newMember(projectId, "reviewer");

  const refused = await next(alice.client, projectId, { mode: "agreement" });
  assert.equal(refused.status, 403, "a labeler is not a reviewer");
  const badMode = await next(reviewer.client, projectId, { mode: "worst" });
  assert.equal(badMode.status, 422);
  assert.deepEqual(((await badMode.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["mode"]);

  const served = await next(reviewer.client, projectId, { mode: "agreement" });
  assert.equal(served.status, 200, await served.clone().text());
  const review = (await served.json()) as ReviewView;
  assert.equal(review.messages[0]!.content, "What is 2 + 2?", "the item the labelers disagree on comes first");
  assert.equal(review.agreement, 0);
  assert.equal(review.submission.taskType, "rank");
  assert.equal(review.completions.length, 2);
  // Asking again resumes the held one; another reviewer gets a different submission.
  assert.equal(((await (await next(reviewer.client, projectId, { mode: "random" })).json()) as ReviewView).id, review.id);
  const other = await server.newMember(projectId, "reviewer");
  const second = (await (await next(other.client, projectId, { mode: "agreement" })).json()) as ReviewView;
  assert.notEqual(second.submission.id, review.submission.id);
  assert.equal(second.messages[0]!.content, "What is 2 + 2?", "the disputed item's other ranking");
  assert.equal((await decide(other.client, review.id, { decision: "accept" })).status, 409, "someone else holds it");

  assert.equal((await decide(alice.client, review.id, { decision: "accept" })).status, 403, "a labeler cannot decide");
  const accepted = await decide(reviewer.client, review.id, { decision: "accept", comment: "Fine." });
  assert.equal(accepted.status, 200, await accepted.clone().text());
  assert.equal(((await accepted.json()) as ReviewView).decision, "accept");
  const again = await decide(reviewer.client, review.id, { decision: "send_back", comment: "Actually no." });
  assert.equal(again.status, 409, "one decision per submission");
  const stored = await server.db.selectFrom("annotation_reviews").selectAll().where("submission_id", "=", review.submission.id).execute();
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.decision, "accept");

  // Every submission reviewed once at most: the queue runs dry (5 submissions, two reviewers).
  const seen = new Set([review.submission.id]);
  for (const client of [other.client, reviewer.client]) {
    for (;;) {
      const body = (await (await next(client, projectId, { mode: "random" })).json()) as ReviewView | null;
      if (!body) break;
      assert.ok(!seen.has(body.submission.id), "never served twice");
      seen.add(body.submission.id);
      assert.equal((await decide(client, body.id, { decision: "accept" })).status, 200);
    }
  }
  assert.equal(seen.size, 5);
});

test("by labeler serves only that labeler's submissions; the mode's labeler is validated", async () => {
  const { projectId, bob } = await labeledProject();
  const reviewer = await server.newMember(projectId, "reviewer");
  const missing = await next(reviewer.client, projectId, { mode: "labeler" });
  assert.equal(missing.status, 422);
  assert.deepEqual(((await missing.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["labeler"]);
  assert.equal((await next(reviewer.client, projectId, { mode: "random", labeler: bob.id })).status, 422);
  for (let i = 0; ; i++) {
    const body = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: bob.id })).json()) as ReviewView | null;
    if (!body) {
      assert.equal(i, 2, "bob ranked two items");
      break;
    }
    assert.equal(body.submission.labeler.id, bob.id);
    assert.equal((await decide(reviewer.client, body.id, { decision: "accept" })).status, 200);
  }
});

test("an override is kept beside the original and exported as a record of its own with its provenance", async () => {
  const { projectId, researcher, alice, bob } = await labeledProject();
  const reviewer = await server.newMember(projectId, "reviewer");
  const review = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: bob.id })).json()) as ReviewView;
  assert.equal(review.messages[0]!.content, "What is 2 + 2?");
  const byText = Object.fromEntries(review.completions.map((c) => [c.text, c.id]));

  const same = await decide(reviewer.client, review.id, { decision: "override", payload: review.submission.payload });
  assert.equal(same.status, 422, "an override must change something");
  const wrong = await decide(reviewer.client, review.id, { decision: "override", payload: { ranking: { tiers: [["999"], [byText["4"]]] } } });
  assert.equal(wrong.status, 422, "only the completions shown");
  const noPayload = await decide(reviewer.client, review.id, { decision: "override" });
  assert.equal(noPayload.status, 422);
  assert.deepEqual(((await noPayload.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["payload"]);
  const overridden = await decide(reviewer.client, review.id, { decision: "override", payload: { ranking: { tiers: [[byText["4"]], [byText["5"]]] } }, comment: "5 is wrong" });
  assert.equal(overridden.status, 200, await overridden.clone().text());
  const original = await server.db.selectFrom("submissions").select("payload").where("id", "=", review.submission.id).executeTakeFirstOrThrow();
  assert.deepEqual(original.payload, review.submission.payload, "the original is never replaced");

  // The demonstration too: the reviewer's edited reply is an SFT example beside the labeler's.
  const demo = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as ReviewView;
  let demoReview = demo;
  while (demoReview.submission.taskType !== "demonstrate") {
    assert.equal((await decide(reviewer.client, demoReview.id, { decision: "accept" })).status, 200);
    demoReview = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as ReviewView;
  }
  assert.equal((await decide(reviewer.client, demoReview.id, { decision: "override", payload: { text: "Hello! How can I help you today?" } })).status, 200);

  const sft = await jsonl(researcher.client, `/api/v1/projects/${projectId}/exports/sft.jsonl`);
  assert.deepEqual(sft.map((r) => (r.messages as Array<{ content: string }>).at(-1)!.content), ["Hi there!", "Hello! How can I help you today?"]);

  const prefs = await jsonl(researcher.client, `/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`);
  const sums = prefs.filter((p) => p.prompt === "What is 2 + 2?").map((p) => `${p.chosen}>${p.rejected}`).sort();
  assert.deepEqual(sums, ["4>5", "4>5", "5>4"], "alice's, bob's (kept) and the reviewer's ranking");

  const rankings = await jsonl(researcher.client, `/api/v1/projects/${projectId}/exports/rankings.jsonl?pseudonymize=false`);
  const overrideLine = rankings.find((r) => r.source === "review_override")!;
  assert.ok(overrideLine, "the override is a line of its own");
  assert.equal(overrideLine.overrides_submission_id, review.submission.id);
  assert.equal(overrideLine.labeler, bob.id);
  assert.equal(overrideLine.reviewer, reviewer.id);
  assert.deepEqual(overrideLine.ranking, { tiers: [[byText["4"]], [byText["5"]]] });
  assert.ok(rankings.some((r) => r.submission_id === review.submission.id && r.source === undefined), "the original line stays");

  const reviews = await jsonl(researcher.client, `/api/v1/projects/${projectId}/exports/annotation-reviews.jsonl`);
  const line = reviews.find((r) => (r.original as { submission_id: string }).submission_id === review.submission.id)!;
  assert.deepEqual((line.original as { payload: unknown }).payload, review.submission.payload);
  assert.deepEqual(line.override, { ranking: { tiers: [[byText["4"]], [byText["5"]]] }, quality: {}, flags: {}, rationale: "" });
  const decision = line.review as { decision: string; reviewer: string; reviewed_at: string; comment: string };
  assert.equal(decision.decision, "override");
  assert.equal(decision.comment, "5 is wrong");
  assert.match(decision.reviewer, /^reviewer-[0-9a-f]{12}$/, "pseudonymized by default");
  assert.match((line.original as { labeler: string }).labeler, /^labeler-[0-9a-f]{12}$/);
  assert.ok(!Number.isNaN(Date.parse(decision.reviewed_at)));
  assert.equal((await researcher.client.get(`/api/v1/projects/${projectId}/exports/annotation-reviews.jsonl?minAgreement=0.5`)).status, 422);
  assert.equal((await reviewer.client.get(`/api/v1/projects/${projectId}/exports/annotation-reviews.jsonl`)).status, 403, "exports are the researchers'");
});

test("send back: the labeler sees the comment, redoes the item as a new submission linked to the old, and only they get it", async () => {
  const { projectId, researcher, alice, bob } = await labeledProject();
  const reviewer = await server.newMember(projectId, "reviewer");
  let review = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as ReviewView;
  while (review.submission.taskType !== "demonstrate") {
    assert.equal((await decide(reviewer.client, review.id, { decision: "accept" })).status, 200);
    review = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as ReviewView;
  }
  const noComment = await decide(reviewer.client, review.id, { decision: "send_back", comment: "  " });
  assert.equal(noComment.status, 422);
  assert.deepEqual(((await noComment.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["comment"]);
  const sent = await decide(reviewer.client, review.id, { decision: "send_back", comment: "Greet the user and offer help." });
  assert.equal(sent.status, 200, await sent.clone().text());

  // Nobody else is given the redo.
  const carol = await server.newMember(projectId, "labeler");
  assert.equal(await takeTask(carol.client, projectId), null);
  assert.equal(await takeTask(bob.client, projectId), null);

  const inbox = (await (await alice.client.get("/api/v1/me/sent-back")).json()) as Array<{ comment: string; assignmentId: string; projectId: string }>;
  assert.equal(inbox.length, 1);
  assert.equal(inbox[0]!.comment, "Greet the user and offer help.");
  assert.equal(inbox[0]!.projectId, projectId);
  const redo = (await takeTask(alice.client, projectId)) as unknown as { assignmentId: string; taskType: string; sentBack: { comment: string; previous: { text: string } } };
  assert.equal(redo.assignmentId, inbox[0]!.assignmentId, "the queue hands her the redo");
  assert.equal(redo.taskType, "demonstrate");
  assert.equal(redo.sentBack.comment, "Greet the user and offer help.");
  assert.equal(redo.sentBack.previous.text, "Hi there!", "what she wrote before is there");
  const home = await alice.client.get("/", { accept: "text/html" });
  assert.match(await home.text(), /Greet the user and offer help\./, "her home shows it");

  assert.equal((await alice.client.json("POST", `/api/v1/assignments/${redo.assignmentId}/submit`, { idempotencyKey: `redo-key-${redo.assignmentId}`, payload: { text: "Hi! How can I help?" } })).status, 200);
  const redone = await server.db.selectFrom("tasks").innerJoin("submissions", "submissions.task_id", "tasks.id").select(["tasks.redo_of", "submissions.id"]).where("tasks.id", "=", (await server.db.selectFrom("annotation_reviews").select("redo_task_id").where("id", "=", review.id).executeTakeFirstOrThrow()).redo_task_id!).executeTakeFirstOrThrow();
  assert.equal(redone.redo_of, review.submission.id, "the new submission links to the old");
  assert.deepEqual(await (await alice.client.get("/api/v1/me/sent-back")).json(), []);

  // Training data: the redo, not the sent-back original; the review export keeps both.
  const sft = await jsonl(researcher.client, `/api/v1/projects/${projectId}/exports/sft.jsonl`);
  assert.deepEqual(sft.map((r) => (r.messages as Array<{ content: string }>).at(-1)!.content), ["Hi! How can I help?"]);
  const reviews = await jsonl(researcher.client, `/api/v1/projects/${projectId}/exports/annotation-reviews.jsonl?pseudonymize=false`);
  const line = reviews.find((r) => r.review_id === review.id)!;
  assert.equal((line.redo as { submission_id: string }).submission_id, redone.id);
  assert.equal((line.original as { labeler: string }).labeler, alice.id);
  // The redo can be reviewed in turn.
  type RedoView = ReviewView & { submission: { redoOf: string | null } };
  let redoReview = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as RedoView;
  while (redoReview.submission.id !== redone.id) {
    assert.equal((await decide(reviewer.client, redoReview.id, { decision: "accept" })).status, 200);
    redoReview = (await (await next(reviewer.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as RedoView;
  }
  assert.equal(redoReview.submission.redoOf, review.submission.id);
});

test("a reviewer of another project, or no member, is refused", async () => {
  const { projectId } = await labeledProject();
  const outsider = await server.newUser("reviewer");
  const refused = await next(outsider.client, projectId, { mode: "random" });
  assert.equal(refused.status, 403);
  const reviewer = await server.newMember(projectId, "reviewer");
  const review = (await (await next(reviewer.client, projectId, { mode: "random" })).json()) as ReviewView;
  assert.equal((await outsider.client.get(`/api/v1/annotation-reviews/${review.id}`)).status, 403);
  assert.equal((await decide(outsider.client, review.id, { decision: "accept" })).status, 403);
  assert.equal((await decide(reviewer.client, "999999999", { decision: "accept" })).status, 404);
});

test("a held submission goes to another reviewer once its lease runs out; the first can no longer decide it", async () => {
  const { projectId, alice } = await labeledProject();
  const first = await server.newMember(projectId, "reviewer");
  const second = await server.newMember(projectId, "reviewer");
  const held = (await (await next(first.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as ReviewView;
  const meanwhile = (await (await next(second.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as ReviewView;
  assert.notEqual(meanwhile.submission.id, held.submission.id, "not while it is held");
  assert.equal((await decide(second.client, meanwhile.id, { decision: "accept" })).status, 200);
  await server.db.updateTable("annotation_reviews").set({ lease_expires_at: new Date(Date.now() - 60_000) }).where("id", "=", held.id).execute();
  const taken = (await (await next(second.client, projectId, { mode: "labeler", labeler: alice.id })).json()) as ReviewView;
  assert.equal(taken.id, held.id, "the same review row, now the second reviewer's");
  assert.equal((await decide(first.client, held.id, { decision: "accept" })).status, 409);
  assert.equal((await decide(second.client, held.id, { decision: "accept" })).status, 200);
});
