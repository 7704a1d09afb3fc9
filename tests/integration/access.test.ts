/**
 * Walks every page route and every API endpoint as each role (and anonymous, and API
 * tokens) and checks allow/deny against the table below. A new route or endpoint fails
 * this test until it is added to the table, so no route ships without a decided role.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import routes from "../../app/routes.ts";
import { apiEndpoints } from "../../server/api/all-endpoints.server.ts";
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
  "projects/:projectId/rounds": { path: "/projects/PROJECT/rounds", allowed: ["researcher", "admin"] },
  "projects/:projectId/endpoints": { path: "/projects/PROJECT/endpoints", allowed: ["researcher", "admin"] },
  "projects/:projectId/documents": { path: "/projects/PROJECT/documents", allowed: ["researcher", "admin"] },
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
  // Only a token can hold a lease (tokenOnly): an admin's browser session is refused.
  "POST /trainer/claim": ["trainer", "admin-token"],
  "POST /trainer/jobs/:id/heartbeat": ["admin", "trainer", "admin-token"],
  "POST /trainer/jobs/:id/events": ["admin", "trainer", "admin-token"],
  "GET /trainer/jobs/:id/prompts.jsonl": ["admin", "trainer", "admin-token"],
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
};

let server: TestServer;
let projectId = "";
before(async () => {
  server = await startTestServer();
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Access walk" });
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
