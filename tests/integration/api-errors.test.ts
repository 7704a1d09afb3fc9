import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, uniqueEmail, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer({ TANDEM_BODY_LIMIT: "2kb" });
});
after(() => server.stop());

type Problem = { type: string; status: number; code: string; detail: string; errors?: Array<{ path: string; message: string }> };
const userCount = async () => Number((await server.db.selectFrom("users").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow()).n);

test("malformed JSON → 400 problem document, nothing written", async () => {
  const admin = await server.newUser("admin");
  const before = await userCount();
  const response = await admin.client.request("POST", "/api/v1/users", { body: '{"email": "x@', headers: { "content-type": "application/json" } });
  assert.equal(response.status, 400);
  assert.match(response.headers.get("content-type") ?? "", /application\/problem\+json/);
  const problem = (await response.json()) as Problem;
  assert.equal(problem.code, "bad_request");
  assert.equal(problem.type, "urn:tandem:problem:bad_request");
  assert.equal(await userCount(), before);
});

test("wrong content type → 415", async () => {
  const admin = await server.newUser("admin");
  const response = await admin.client.request("POST", "/api/v1/users", { body: "email=x", headers: { "content-type": "text/plain" } });
  assert.equal(response.status, 415);
  assert.equal(((await response.json()) as Problem).code, "unsupported_media_type");
});

test("oversized body → 413, for the API and for page forms", async () => {
  const admin = await server.newUser("admin");
  const big = "x".repeat(4096);
  const api = await admin.client.json("POST", "/api/v1/users", { email: uniqueEmail(), name: big, role: "labeler", password: "long-enough-password" });
  assert.equal(api.status, 413);
  assert.equal(((await api.json()) as Problem).code, "payload_too_large");
  const form = await admin.client.postForm("/admin/users", { intent: "create", name: big }, { accept: "text/html" });
  assert.equal(form.status, 413);
});

test("validation failures → 422 naming every bad field, nothing written", async () => {
  const admin = await server.newUser("admin");
  const before = await userCount();
  const response = await admin.client.json("POST", "/api/v1/users", { email: "not-an-email", name: "", role: "overlord", password: "short" });
  assert.equal(response.status, 422);
  const problem = (await response.json()) as Problem;
  assert.equal(problem.code, "validation_failed");
  assert.deepEqual(problem.errors?.map((e) => e.path).sort(), ["email", "name", "password", "role"]);
  assert.equal(await userCount(), before);
});

test("a duplicate e-mail (any case) → 409 and no second user", async () => {
  const admin = await server.newUser("admin");
  const email = uniqueEmail("dup");
  const body = { email, name: "First", role: "labeler", password: "long-enough-password" };
  assert.equal((await admin.client.json("POST", "/api/v1/users", body)).status, 201);
  const again = await admin.client.json("POST", "/api/v1/users", { ...body, email: email.toUpperCase() });
  assert.equal(again.status, 409);
  const rows = await server.db.selectFrom("users").select("id").where((eb) => eb(eb.fn("lower", ["email"]), "=", email)).execute();
  assert.equal(rows.length, 1);
});

test("unknown routes → JSON 404 for the API, an HTML 404 page otherwise", async () => {
  const client = server.client();
  const api = await client.get("/api/v1/does-not-exist");
  assert.equal(api.status, 404);
  assert.equal(((await api.json()) as Problem).code, "not_found");
  const page = await client.get("/does/not/exist", { accept: "text/html" });
  assert.equal(page.status, 404);
  assert.match(await page.text(), /Page not found/);
});

test("the OpenAPI document is 3.1 and lists every endpoint with its request schema", async () => {
  const response = await server.client().get("/api/v1/openapi.json");
  assert.equal(response.status, 200);
  const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>> };
  assert.equal(doc.openapi, "3.1.0");
  const createUser = doc.paths["/api/v1/users"]?.post;
  assert.ok(createUser, "POST /api/v1/users documented");
  const props = createUser.requestBody?.content["application/json"]?.schema.properties ?? {};
  assert.deepEqual(Object.keys(props).sort(), ["email", "name", "password", "role"]);
  assert.ok(doc.paths["/api/v1/users/{id}"]?.patch);
});

test("every OpenAPI operation has a unique operationId, so generated clients get method names", async () => {
  const doc = (await (await server.client().get("/api/v1/openapi.json")).json()) as { paths: Record<string, Record<string, { operationId?: string }>> };
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, id: op.operationId })));
  assert.ok(operations.length > 50);
  assert.deepEqual(operations.filter((op) => !op.id || !/^[a-z][A-Za-z0-9]*$/.test(op.id)).map((op) => op.name), [], "operations without a usable operationId");
  const ids = operations.map((op) => op.id);
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], "duplicate operationIds");
  assert.equal(doc.paths["/api/v1/projects"]?.get?.operationId, "listProjects");
  assert.equal(doc.paths["/api/v1/assignments/{id}/submit"]?.post?.operationId, "postAssignmentSubmit");
});

test("a refused page form keeps what was typed (except the password)", async () => {
  const admin = await server.newUser("admin");
  const response = await admin.client.postForm("/admin/users", { intent: "create", email: "typed@example.test", name: "Typed Name", role: "reviewer", password: "short" });
  assert.equal(response.status, 422);
  const html = await response.text();
  assert.ok(html.includes('value="typed@example.test"'));
  assert.ok(html.includes('value="Typed Name"'));
  assert.match(html, /Use at least 12 characters/);
});
