/**
 * Walks every page route and every API endpoint as each role (and anonymous, and API
 * tokens) and checks allow/deny against the table below. A new route or endpoint fails
 * this test until it is added to the table, so no route ships without a decided role.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import routes from "../../app/routes.ts";
import { apiEndpoints } from "../../server/api/all-endpoints.server.ts";
import { projectScopeOf } from "../../server/api/endpoint.server.ts";
import { cleaningSettingsSchema } from "../../server/corpora/cleaning-settings.ts";
import type { ProjectResource } from "../../server/auth/project-access.server.ts";
import type { UserRole } from "../../server/db/schema.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

type Who = "anonymous" | UserRole;
const people: Who[] = ["anonymous", "labeler", "reviewer", "researcher", "admin"];
const atLeast = (role: UserRole): Who[] => people.slice(people.indexOf(role));

/** Page (GET) → who gets the page (200). Others: anonymous → login redirect, people → 403. */
const pageAccess: Record<string, { allowed: Who[]; path: string; allowedStatus?: number }> = {
  login: { path: "/login", allowed: ["anonymous"] }, // signed-in people are sent on (302)
  logout: { path: "/logout", allowed: [] }, // GET only redirects; signing out is a POST
  theme: { path: "/theme", allowed: [] },
  "(index)": { path: "/", allowed: atLeast("labeler") },
  account: { path: "/account", allowed: atLeast("labeler") },
  "admin/users": { path: "/admin/users", allowed: ["admin"] },
  "admin/tokens": { path: "/admin/tokens", allowed: ["admin"] },
  "admin/audit": { path: "/admin/audit", allowed: ["admin"] },
  projects: { path: "/projects", allowed: atLeast("labeler") },
  "projects/:projectId": { path: "/projects/PROJECT", allowed: atLeast("labeler") },
  "projects/:projectId/settings": { path: "/projects/PROJECT/settings", allowed: ["researcher", "admin"] },
  "projects/:projectId/import": { path: "/projects/PROJECT/import", allowed: ["researcher", "admin"] },
  "projects/:projectId/quality": { path: "/projects/PROJECT/quality", allowed: atLeast("reviewer") },
  "projects/:projectId/analytics": { path: "/projects/PROJECT/analytics", allowed: atLeast("reviewer") },
  "projects/:projectId/rounds": { path: "/projects/PROJECT/rounds", allowed: ["researcher", "admin"] },
  "projects/:projectId/endpoints": { path: "/projects/PROJECT/endpoints", allowed: ["researcher", "admin"] },
  "projects/:projectId/documents": { path: "/projects/PROJECT/documents", allowed: ["researcher", "admin"] },
  "projects/:projectId/browser": { path: "/projects/PROJECT/browser", allowed: atLeast("reviewer") },
  "projects/:projectId/browser/tasks": { path: "/projects/PROJECT/browser/tasks", allowed: atLeast("reviewer") },
  "projects/:projectId/browser/submissions": { path: "/projects/PROJECT/browser/submissions", allowed: atLeast("reviewer") },
  // The selection export's download (a POST); opened with GET it sends researchers back to the browser.
  "projects/:projectId/browser/export": { path: "/projects/PROJECT/browser/export", allowed: ["researcher", "admin"], allowedStatus: 302 },
  // No such prompt: reviewers and up get the 404 page, everyone else is refused before the lookup.
  "projects/:projectId/prompts/:promptId": { path: "/projects/PROJECT/prompts/999999999", allowed: atLeast("reviewer"), allowedStatus: 404 },
  "projects/:projectId/corpora": { path: "/projects/PROJECT/corpora", allowed: ["researcher", "admin"] },
  "projects/:projectId/corpus-review": { path: "/projects/PROJECT/corpus-review", allowed: atLeast("reviewer") },
  "projects/:projectId/corpus-rating": { path: "/projects/PROJECT/corpus-rating", allowed: atLeast("labeler") },
  "projects/:projectId/annotation-review": { path: "/projects/PROJECT/annotation-review", allowed: atLeast("reviewer") },
  // No such round: researchers get the 404 page, everyone else is refused before the lookup.
  "rounds/:roundId": { path: "/rounds/999999999", allowed: ["researcher", "admin"], allowedStatus: 404 },
  models: { path: "/models", allowed: ["researcher", "admin"] },
  playground: { path: "/playground", allowed: ["researcher", "admin"] },
  // Someone else's (or no) task: signed-in people get a 404, not a peek.
  "tasks/:assignmentId": { path: "/tasks/999999999", allowed: atLeast("labeler"), allowedStatus: 404 },
  "*": { path: "/no/such/page", allowed: [] }, // 404 for everyone
};

/** API endpoint → who may call it ("trainer" = a trainer token; "admin-token" = an admin token). */
const apiAccess: Record<string, Array<Who | "trainer" | "admin-token">> = {
  "GET /me": ["labeler", "reviewer", "researcher", "admin", "trainer", "admin-token"],
  "GET /users": ["admin", "admin-token"],
  "POST /users": ["admin", "admin-token"],
  "PATCH /users/:id": ["admin", "admin-token"],
  "POST /me/logout-everywhere": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  // Personal tokens are managed from a signed-in session only: a leaked token cannot mint more.
  "GET /me/tokens": ["labeler", "reviewer", "researcher", "admin"],
  "POST /me/tokens": ["labeler", "reviewer", "researcher", "admin"],
  "DELETE /me/tokens/:id": ["labeler", "reviewer", "researcher", "admin"],
  "GET /tokens": ["admin", "admin-token"],
  "POST /tokens": ["admin", "admin-token"],
  "DELETE /tokens/:id": ["admin", "admin-token"],
  "GET /projects": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "POST /projects": ["researcher", "admin", "admin-token"],
  "GET /projects/:id": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "PUT /projects/:id": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/counters": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/quality": ["reviewer", "researcher", "admin", "admin-token"],
  // Labelers get their own row only (tests/integration/analytics.test.ts).
  "GET /projects/:id/analytics/labelers": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/analytics/burndown": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/analytics/disputed": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/open-task-overlap": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/open-task-overlap": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/imports": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/next-task": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "GET /assignments/:id": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "POST /assignments/:id/submit": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "POST /assignments/:id/skip": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "POST /assignments/:id/suggestion": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "POST /assignments/:id/reveal-content": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "GET /me/exposure": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "PUT /me/opt-outs": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "GET /prompts/:id/original": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/exports/judge.jsonl": ["researcher", "admin", "trainer", "admin-token"],
  "GET /projects/:id/exports/preferences.jsonl": ["researcher", "admin", "trainer", "admin-token"],
  "GET /projects/:id/exports/sft.jsonl": ["researcher", "admin", "trainer", "admin-token"],
  "GET /projects/:id/exports/rankings.jsonl": ["researcher", "admin", "trainer", "admin-token"],
  "GET /projects/:id/eval-set": ["researcher", "admin", "trainer", "admin-token"],
  "POST /projects/:id/eval-set": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/rounds": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/rounds": ["researcher", "admin", "admin-token"],
  "GET /rounds/:id": ["researcher", "admin", "admin-token"],
  "GET /rounds/:id/events": ["researcher", "admin", "admin-token"],
  "GET /rounds/:id/bundle.zip": ["researcher", "admin", "admin-token"],
  "POST /rounds/:id/cancel": ["researcher", "admin", "admin-token"],
  "POST /rounds/:id/retry": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/external-endpoints": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/external-endpoints": ["researcher", "admin", "admin-token"],
  "GET /external-endpoints/:id": ["researcher", "admin", "admin-token"],
  "PATCH /external-endpoints/:id": ["researcher", "admin", "admin-token"],
  "DELETE /external-endpoints/:id": ["researcher", "admin", "admin-token"],
  "POST /external-endpoints/:id/test": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/generation-runs": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/generation-runs": ["researcher", "admin", "admin-token"],
  "GET /generation-runs/:id": ["researcher", "admin", "admin-token"],
  "POST /generation-runs/:id/cancel": ["researcher", "admin", "admin-token"],
  "GET /models": ["researcher", "admin", "trainer", "admin-token"],
  "POST /models/import": ["researcher", "admin", "admin-token"],
  "GET /models/:id": ["researcher", "admin", "trainer", "admin-token"],
  "GET /models/:id/files/:name": ["researcher", "admin", "trainer", "admin-token"],
  "POST /models/:id/score": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/uncertainty-queue": ["researcher", "admin", "admin-token"],
  // Only a token can hold a lease (tokenOnly): an admin's browser session is refused.
  "POST /trainer/claim": ["trainer", "admin-token"],
  "POST /trainer/jobs/:id/heartbeat": ["admin", "trainer", "admin-token"],
  "POST /trainer/jobs/:id/events": ["admin", "trainer", "admin-token"],
  "GET /trainer/jobs/:id/prompts.jsonl": ["admin", "trainer", "admin-token"],
  "GET /trainer/jobs/:id/corpus/:part": ["admin", "trainer", "admin-token"],
  "PUT /trainer/jobs/:id/files/:name": ["admin", "trainer", "admin-token"],
  "POST /trainer/jobs/:id/complete": ["admin", "trainer", "admin-token"],
  "PUT /trainer/jobs/:id/resume/:name": ["admin", "trainer", "admin-token"],
  "POST /trainer/jobs/:id/resume-ready": ["admin", "trainer", "admin-token"],
  "GET /trainer/jobs/:id/resume/:name": ["admin", "trainer", "admin-token"],
  "POST /trainer/jobs/:id/fail": ["admin", "trainer", "admin-token"],
  "GET /projects/:id/exports/preferences.parquet": ["researcher", "admin", "trainer", "admin-token"],
  "GET /projects/:id/exports/:format/:dataset.jsonl": ["researcher", "admin", "trainer", "admin-token"],
  "GET /projects/:id/exports/verl/prompts.parquet": ["researcher", "admin", "trainer", "admin-token"],
  "GET /projects/:id/exports/hf/:dataset.zip": ["researcher", "admin", "trainer", "admin-token"],
  "POST /projects/:id/imports/:format": ["researcher", "admin", "admin-token"],
  "GET /audit": ["admin", "admin-token"],
  "POST /projects/:id/documents": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/documents": ["researcher", "admin", "admin-token"],
  "GET /documents/:id/chunks": ["researcher", "admin", "admin-token"],
  "DELETE /documents/:id": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/document-errors": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/qa-template": ["researcher", "admin", "admin-token"],
  "PUT /projects/:id/qa-template": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/qa-generators": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/qa-runs": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/qa-runs": ["researcher", "admin", "admin-token"],
  "GET /qa-runs/:id": ["researcher", "admin", "admin-token"],
  "POST /qa-runs/:id/cancel": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/members": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/members": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/members/removals": ["researcher", "admin", "admin-token"],
  "DELETE /projects/:id/members/:userId": ["researcher", "admin", "admin-token"],
  "PUT /projects/:id/access": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/prompts": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/prompts/:promptId": ["reviewer", "researcher", "admin", "admin-token"],
  "POST /projects/:id/exclusions": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/tasks": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/submissions": ["reviewer", "researcher", "admin", "admin-token"],
  "POST /projects/:id/requeue": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/review-moves": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/exports/selection/count": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/exports/selection": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/submissions/:submissionId/send-back": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/corpora": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/data-mixes": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/corpora": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/corpora/register": ["researcher", "admin", "admin-token"],
  "GET /corpora/:id": ["researcher", "admin", "admin-token"],
  "POST /corpora/:id/files": ["researcher", "admin", "admin-token"],
  "DELETE /corpora/:id": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/cleaning-jobs": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/cleaning-jobs": ["researcher", "admin", "admin-token"],
  "GET /cleaning-jobs/:id": ["researcher", "admin", "admin-token"],
  "POST /cleaning-jobs/:id/cancel": ["researcher", "admin", "admin-token"],
  "POST /cleaning-jobs/:id/resume": ["researcher", "admin", "admin-token"],
  "GET /cleaning-jobs/:id/report": ["researcher", "admin", "admin-token"],
  "GET /cleaning-jobs/:id/report.jsonl": ["researcher", "admin", "admin-token"],
  "GET /cleaning-jobs/:id/kept.jsonl": ["researcher", "admin", "admin-token"],
  "GET /projects/:id/corpus-reviews": ["reviewer", "researcher", "admin", "admin-token"],
  "POST /projects/:id/corpus-reviews/next": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /corpus-reviews/:id": ["reviewer", "researcher", "admin", "admin-token"],
  "POST /corpus-reviews/:id/decide": ["reviewer", "researcher", "admin", "admin-token"],
  "POST /cleaning-jobs/:id/rating-tasks": ["researcher", "admin", "admin-token"],
  "GET /cleaning-jobs/:id/ratings": ["researcher", "admin", "admin-token"],
  "POST /projects/:id/corpus-ratings/next": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "GET /corpus-ratings/:id": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "POST /corpus-ratings/:id/submit": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
  "POST /cleaning-jobs/:id/quality-classifiers": ["researcher", "admin", "admin-token"],
  "GET /cleaning-jobs/:id/quality-classifiers": ["researcher", "admin", "admin-token"],
  "GET /quality-classifiers/:id": ["researcher", "admin", "admin-token"],
  "GET /quality-classifiers/:id/samples": ["researcher", "admin", "admin-token"],
  "PUT /quality-classifiers/:id/threshold": ["researcher", "admin", "admin-token"],
  // annotation review (issue 14 item 4, decision 0044)
  "GET /projects/:id/annotation-reviews": ["reviewer", "researcher", "admin", "admin-token"],
  "POST /projects/:id/annotation-reviews/next": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /annotation-reviews/:id": ["reviewer", "researcher", "admin", "admin-token"],
  "POST /annotation-reviews/:id/decide": ["reviewer", "researcher", "admin", "admin-token"],
  "GET /projects/:id/exports/annotation-reviews.jsonl": ["researcher", "admin", "trainer", "admin-token"],
  "GET /me/sent-back": ["labeler", "reviewer", "researcher", "admin", "admin-token"],
};

let server: TestServer;
let projectId = "";
before(async () => {
  server = await startTestServer();
  const researcher = await server.newUser("researcher");
  // The role walk is about global roles: the project is open to everyone (membership is walked below).
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Access walk", access: "open" });
  projectId = ((await created.json()) as { id: string }).id;
});
after(() => server.stop());

function flattenRoutes(entries: typeof routes, prefix = ""): string[] {
  return entries.flatMap((entry) => {
    const here = entry.index ? "(index)" : entry.path !== undefined ? (prefix ? `${prefix}/${entry.path}` : entry.path) : prefix;
    const children = entry.children ? flattenRoutes(entry.children, entry.path ?? prefix) : [];
    return entry.path !== undefined || entry.index ? [here, ...children] : children;
  });
}

test("every page route and API endpoint has an access rule in this test", () => {
  assert.deepEqual(flattenRoutes(routes).sort(), Object.keys(pageAccess).sort());
  assert.deepEqual(apiEndpoints.map((ep) => `${ep.method.toUpperCase()} ${ep.path}`).sort(), Object.keys(apiAccess).sort());
});

async function clientFor(who: Who): Promise<HttpClient> {
  return who === "anonymous" ? server.client() : (await server.newUser(who)).client;
}

test("page routes allow and deny by role", async () => {
  const clients = Object.fromEntries(await Promise.all(people.map(async (who) => [who, await clientFor(who)] as const)));
  for (const [name, rule] of Object.entries(pageAccess)) {
    for (const who of people) {
      const response = await clients[who]!.get(rule.path.replace("PROJECT", projectId), { accept: "text/html" });
      const label = `${who} GET ${rule.path} (${name})`;
      if (rule.allowed.includes(who)) {
        assert.equal(response.status, rule.allowedStatus ?? 200, label);
      } else if (name === "*") {
        assert.equal(response.status, 404, label);
      } else if (name === "login" || name === "logout" || name === "theme") {
        assert.equal(response.status, 302, label);
      } else if (who === "anonymous") {
        assert.equal(response.status, 302, label);
        assert.match(response.headers.get("location") ?? "", /^\/login\?redirectTo=/, label);
      } else {
        assert.equal(response.status, 403, label);
      }
    }
  }
});

test("admin page actions refuse everyone but admins and change nothing", async () => {
  for (const who of people.filter((w) => w !== "admin")) {
    const client = await clientFor(who);
    const email = `should-not-exist-${who}@example.test`;
    const create = await client.postForm("/admin/users", { intent: "create", email, name: "X", role: "admin", password: "long-enough-password" });
    assert.equal(create.status, who === "anonymous" ? 302 : 403, `${who} POST /admin/users`);
    const token = await client.postForm("/admin/tokens", { intent: "create", name: "x", role: "admin" });
    assert.equal(token.status, who === "anonymous" ? 302 : 403, `${who} POST /admin/tokens`);
    assert.equal(await server.db.selectFrom("users").select("id").where("email", "=", email).executeTakeFirst(), undefined);
  }
});

test("API endpoints allow and deny by role, for sessions and tokens", async () => {
  const callers = [...people, "trainer", "admin-token"] as const;
  for (const ep of apiEndpoints) {
    const key = `${ep.method.toUpperCase()} ${ep.path}`;
    const allowed = apiAccess[key]!;
    for (const who of callers) {
      // Fresh callers per endpoint: logout-everywhere must not end the next check's session.
      let client: HttpClient;
      let headers: Record<string, string> = {};
      if (who === "trainer" || who === "admin-token") {
        client = server.client();
        headers = { authorization: `Bearer ${await server.newToken(who === "trainer" ? "trainer" : "admin")}` };
      } else {
        client = await clientFor(who);
      }
      const response = await client.json(ep.method.toUpperCase(), "/api/v1" + ep.path.replace(":id", "999999999"), ep.body ? {} : undefined, headers);
      const label = `${who} ${key} → ${response.status}`;
      if (allowed.includes(who)) {
        assert.ok(![401, 403].includes(response.status), label);
      } else {
        assert.equal(response.status, who === "anonymous" ? 401 : 403, label);
        const problem = (await response.json()) as { code: string };
        assert.equal(problem.code, who === "anonymous" ? "unauthenticated" : "forbidden", label);
      }
    }
  }
});

test("operations endpoints: /healthz is public, /metrics needs an admin", async () => {
  const anonymous = server.client();
  assert.equal((await anonymous.get("/healthz")).status, 200);
  assert.equal((await anonymous.get("/metrics")).status, 401);
  assert.equal((await (await clientFor("researcher")).get("/metrics")).status, 403);
  assert.equal((await anonymous.get("/metrics", { authorization: `Bearer ${await server.newToken("trainer")}` })).status, 403);
  const metrics = await (await clientFor("admin")).get("/metrics");
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /tandem_http_requests_total/);
});

// ---- Membership (decision 0031): the same routes, as a member and as a non-member ----------

test("every endpoint with an :id outside /projects/:id says which project (if any) it belongs to", () => {
  const undeclared = apiEndpoints.filter((ep) => ep.path.includes("/:") && !ep.path.startsWith("/projects/:id") && ep.project === undefined);
  assert.deepEqual(undeclared.map((ep) => `${ep.method} ${ep.path}`), []);
});

/** A members-only project with one row of every kind that belongs to a project. */
async function membersOnlyProject(): Promise<{ ids: Record<ProjectResource, string>; owner: Awaited<ReturnType<TestServer["newUser"]>> }> {
  const owner = await server.newUser("researcher");
  const created = await owner.client.json("POST", "/api/v1/projects", { name: "Members only" });
  assert.equal(created.status, 201);
  const project = (await created.json()) as { id: string; access: string };
  assert.equal(project.access, "members", "new projects are members-only");
  const id = project.id;
  const db = server.db;
  const prompt = await db.insertInto("prompts").values({ project_id: id, messages: JSON.stringify([{ role: "user", content: "hi" }]), content_hash: `m-${id}`, minhash: "", status: "active" }).returning("id").executeTakeFirstOrThrow();
  const task = await db.insertInto("tasks").values({ project_id: id, prompt_id: prompt.id, type: "demonstrate", overlap_target: 1, completion_ids: "[]" }).returning("id").executeTakeFirstOrThrow();
  const assignment = await db.insertInto("assignments").values({ task_id: task.id, user_id: owner.id, state: "active", lease_expires_at: new Date(Date.now() + 3_600_000), shown_order: "[]" }).returning("id").executeTakeFirstOrThrow();
  const round = await db.insertInto("rounds").values({ project_id: id, name: "r", spec: "{}", steps: "[]", data_snapshot: "{}" }).returning("id").executeTakeFirstOrThrow();
  const model = await db.insertInto("models").values({ project_id: id, round_id: round.id, name: "m", kind: "sft", storage_key: `access-${id}`, config: "{}" }).returning("id").executeTakeFirstOrThrow();
  const endpointRow = await db.insertInto("external_endpoints").values({ project_id: id, name: "e", base_url: "http://127.0.0.1:9/v1", model: "x" }).returning("id").executeTakeFirstOrThrow();
  const run = await db.insertInto("generation_runs").values({ project_id: id, kind: "rank", spec: "{}" }).returning("id").executeTakeFirstOrThrow();
  const document = await db.insertInto("documents").values({ project_id: id, name: "d", format: "text", file_name: "d.txt", content: "x", sha256: `s-${id}` }).returning("id").executeTakeFirstOrThrow();
  const qaRun = await db.insertInto("qa_runs").values({ project_id: id, generator: "{}", template: "t", pairs_per_chunk: 1, total_chunks: 0 }).returning("id").executeTakeFirstOrThrow();
  // pre-training data (issue 17): a corpus with one document, a cleaning job, a review, a rating and a classifier
  const corpus = await db.insertInto("corpora").values({ project_id: id, name: "c", license: "CC0", origin: "upload" }).returning("id").executeTakeFirstOrThrow();
  const doc = await db.insertInto("corpus_documents").values({ corpus_id: corpus.id, file_name: "c.txt", line: 1, text: "x", chars: 1, content_hash: `h-${id}` }).returning("id").executeTakeFirstOrThrow();
  const job = await db.insertInto("cleaning_jobs").values({ project_id: id, settings: JSON.stringify(cleaningSettingsSchema.parse({ corpusIds: [corpus.id] })) }).returning("id").executeTakeFirstOrThrow();
  const review = await db.insertInto("corpus_reviews").values({ project_id: id, job_id: job.id, document_id: doc.id, reason: "pii" }).returning("id").executeTakeFirstOrThrow();
  const ratingTask = await db.insertInto("corpus_rating_tasks").values({ project_id: id, job_id: job.id, document_id: doc.id, overlap_target: 1 }).returning("id").executeTakeFirstOrThrow();
  const rating = await db.insertInto("corpus_ratings").values({ task_id: ratingTask.id, user_id: owner.id, lease_expires_at: new Date(Date.now() + 3_600_000) }).returning("id").executeTakeFirstOrThrow();
  // annotation review (decision 0044): a labeler's submitted demonstration with its review row
  const labeled = await db.insertInto("tasks").values({ project_id: id, prompt_id: prompt.id, type: "demonstrate", overlap_target: 1, completion_ids: "[]" }).returning("id").executeTakeFirstOrThrow();
  const labeledBy = await server.newUser("labeler");
  const done = await db.insertInto("assignments").values({ task_id: labeled.id, user_id: labeledBy.id, state: "submitted", lease_expires_at: new Date(), shown_order: "[]" }).returning("id").executeTakeFirstOrThrow();
  const submission = await db.insertInto("submissions").values({ assignment_id: done.id, task_id: labeled.id, user_id: labeledBy.id, payload: JSON.stringify({ text: "hello" }), idempotency_key: `access-${id}` }).returning("id").executeTakeFirstOrThrow();
  const annotationReview = await db.insertInto("annotation_reviews").values({ project_id: id, submission_id: submission.id, mode: "random" }).returning("id").executeTakeFirstOrThrow();
  const classifier = await db.insertInto("quality_classifiers").values({ project_id: id, job_id: job.id, settings: "{}", weights: Buffer.alloc(0), bias: 0, metrics: "{}" }).returning("id").executeTakeFirstOrThrow();
  return {
    owner,
    ids: {
      project: id, assignment: assignment.id, round: round.id, model: model.id, external_endpoint: endpointRow.id, generation_run: run.id, document: document.id, qa_run: qaRun.id,
      prompt: prompt.id, corpus: corpus.id, cleaning_job: job.id, corpus_review: review.id, corpus_rating: rating.id, quality_classifier: classifier.id,
      annotation_review: annotationReview.id,
    },
  };
}

/** A path with real ids: :id is the resource, other parameters take a value their schema accepts. */
function concretePath(path: string, id: string): string {
  return path
    .replace(":id", id)
    .replace(":userId", "999999999")
    .replace(":format", "trl")
    .replace(":dataset", "preferences")
    .replace(":name", "manifest.json");
}

test("project endpoints: a non-member of a members-only project is refused, a member is let in with their project role", async () => {
  const { ids } = await membersOnlyProject();
  const outsider = await server.newUser("researcher");
  const member = await server.newUser("researcher");
  // A researcher by global role who is only a labeler here: the lower of the two counts.
  const labelerHere = await server.newUser("researcher");
  await server.addMembers(ids.project, [{ id: member.id }, { id: labelerHere.id, role: "labeler" }]);
  const adminToken = await server.newToken("admin");
  // Deletes last: the rows they remove are what the other calls look up.
  const scoped = apiEndpoints.filter((ep) => projectScopeOf(ep) !== "none").sort((a, b) => Number(a.method === "delete") - Number(b.method === "delete"));
  assert.ok(scoped.length > 40, `only ${scoped.length} project endpoints found`);
  for (const ep of scoped) {
    const key = `${ep.method.toUpperCase()} ${ep.path}`;
    const path = "/api/v1" + concretePath(ep.path, ids[projectScopeOf(ep) as ProjectResource]);
    const body = ep.body ? {} : undefined;
    // Upload endpoints take raw bytes; anything else would be refused (415) before any check.
    const call = (client: HttpClient, headers: Record<string, string> = {}) =>
      ep.upload
        ? client.request(ep.method.toUpperCase(), path, { body: new Uint8Array(0), headers: { "content-type": "application/octet-stream", ...headers } })
        : client.json(ep.method.toUpperCase(), path, body, headers);
    const refused = await call(outsider.client);
    assert.equal(refused.status, 403, `non-member ${key} → ${refused.status}`);
    assert.match(((await refused.json()) as { detail: string }).detail, /not a member/, key);
    const allowed = apiAccess[key]!;
    const lowered = await call(labelerHere.client);
    if (allowed.includes("labeler")) assert.ok(![401, 403].includes(lowered.status), `labeler-member ${key} → ${lowered.status}`);
    else assert.equal(lowered.status, 403, `labeler-member ${key} → ${lowered.status}`);
    // A delete goes through below; only whether the member and the admin get past the check matters.
    const admitted = await call(member.client);
    if (allowed.includes("researcher")) assert.ok(![401, 403].includes(admitted.status), `member ${key} → ${admitted.status}`);
    // newToken's owner is an admin, and admins are let in everywhere.
    const asAdminToken = await call(server.client(), { authorization: `Bearer ${adminToken}` });
    assert.ok(![401, 403].includes(asAdminToken.status), `admin token ${key} → ${asAdminToken.status}`);
  }
});

test("project pages: a non-member gets 403, a member the page (with their project role), an open project anyone", async () => {
  const { ids, owner } = await membersOnlyProject();
  const outsider = await server.newUser("researcher");
  const member = await server.newUser("researcher");
  const labelerHere = await server.newUser("researcher");
  await server.addMembers(ids.project, [{ id: member.id }, { id: labelerHere.id, role: "labeler" }]);
  const projectPages = Object.entries(pageAccess).filter(([, rule]) => rule.path.includes("PROJECT"));
  for (const [name, rule] of projectPages) {
    const path = rule.path.replace("PROJECT", ids.project);
    assert.equal((await outsider.client.get(path, { accept: "text/html" })).status, 403, `non-member ${name}`);
    assert.equal((await member.client.get(path, { accept: "text/html" })).status, rule.allowedStatus ?? 200, `member ${name}`);
    const asLabeler = (await labelerHere.client.get(path, { accept: "text/html" })).status;
    assert.equal(asLabeler, rule.allowed.includes("labeler") ? (rule.allowedStatus ?? 200) : 403, `labeler-member ${name}`);
  }
  // Pages of things inside the project: a round, a task (the owner's lease).
  assert.equal((await outsider.client.get(`/rounds/${ids.round}`, { accept: "text/html" })).status, 403);
  assert.equal((await labelerHere.client.get(`/rounds/${ids.round}`, { accept: "text/html" })).status, 403);
  assert.equal((await outsider.client.get(`/tasks/${ids.assignment}`, { accept: "text/html" })).status, 403);
  assert.equal((await member.client.get(`/tasks/${ids.assignment}`, { accept: "text/html" })).status, 404, "someone else's task stays a 404 for a member");
  assert.equal((await owner.client.get(`/tasks/${ids.assignment}`, { accept: "text/html" })).status, 200);
  // The project list shows a members-only project to its members only.
  const listed = async (client: HttpClient) => ((await (await client.get("/api/v1/projects")).json()) as Array<{ id: string }>).some((p) => p.id === ids.project);
  assert.equal(await listed(outsider.client), false);
  assert.equal(await listed(member.client), true);
  // Opened to everyone, the outsider gets in with their global role.
  assert.equal((await owner.client.json("PUT", `/api/v1/projects/${ids.project}/access`, { access: "open" })).status, 200);
  assert.equal((await outsider.client.get(`/projects/${ids.project}/settings`, { accept: "text/html" })).status, 200);
  assert.equal(await listed(outsider.client), true);
});
