/**
 * Project membership over real HTTP and real sockets (decision 0031): members-only by default,
 * bulk add and remove by e-mail (all or nothing), the role in a project is the lower of the
 * global and the project role, and a person removed loses queue, pages and sockets at once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { io as connect, type Socket } from "socket.io-client";
import type { Ack, ClientToServerEvents, ServerToClientEvents } from "../../app/lib/socket-events.ts";
import { createApiToken } from "../../server/auth/tokens.server.ts";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { insertPrompts } from "../../server/labeling/prompts.server.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
const sockets: Socket[] = [];
before(async () => {
  server = await startTestServer();
});
after(async () => {
  for (const socket of sockets) socket.close();
  await server.stop();
});

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
async function socketOf(cookie: string | undefined): Promise<ClientSocket> {
  const socket: ClientSocket = connect(server.url, { transports: ["websocket"], extraHeaders: { cookie: `tandem_session=${cookie}` }, reconnection: false });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  return socket;
}
const join = (socket: ClientSocket, room: string) => new Promise<Ack>((resolve) => socket.emit("room:join", { room }, resolve));

async function projectWithPrompts(owner: Awaited<ReturnType<TestServer["newUser"]>>, name: string, prompts = 3): Promise<string> {
  const created = await owner.client.json("POST", "/api/v1/projects", { name, settings: projectSettingsSchema.parse({ overlap: { demonstrate: 1 } }) });
  assert.equal(created.status, 201);
  const id = ((await created.json()) as { id: string }).id;
  const project = await getProject(server.db, id);
  await server.db.transaction().execute((trx) =>
    insertPrompts(
      trx, id, project.settings,
      Array.from({ length: prompts }, (_, i) => ({
        messages: [{ role: "user" as const, content: `Say ${i}.` }], completions: [], source: null, metadata: {}, contentHash: `${name}-${i}`, minhash: "", status: "active" as const,
      })),
      null,
    ),
  );
  return id;
}

test("new projects are members-only with their creator as first researcher; bulk add by e-mail is all or nothing", async () => {
  const owner = await server.newUser("researcher");
  const alice = await server.newUser("labeler");
  const bob = await server.newUser("reviewer");
  const projectId = await projectWithPrompts(owner, `members-${Date.now()}`);
  const first = (await (await owner.client.get(`/api/v1/projects/${projectId}/members`)).json()) as { access: string; members: Array<{ user_id: string; project_role: string }> };
  assert.equal(first.access, "members");
  assert.deepEqual(first.members.map((m) => [m.user_id, m.project_role]), [[owner.id, "researcher"]]);

  // Two unknown addresses among good ones: each is named, and nobody is added.
  const refused = await owner.client.json("POST", `/api/v1/projects/${projectId}/members`, {
    emails: [alice.email, "nobody-1@example.test", bob.email.toUpperCase(), "nobody-2@example.test"],
    role: "labeler",
  });
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { errors: Array<{ path: string; message: string }> };
  assert.deepEqual(problem.errors.map((e) => e.path), ["emails.1", "emails.3"]);
  assert.match(problem.errors[0]!.message, /nobody-1@example\.test/);
  assert.equal((await server.db.selectFrom("project_members").select("user_id").where("project_id", "=", projectId).execute()).length, 1);

  // Bad role and a bad address are named too.
  const badRole = await owner.client.json("POST", `/api/v1/projects/${projectId}/members`, { emails: ["not-an-address"], role: "admin" });
  assert.equal(badRole.status, 422);
  assert.deepEqual(((await badRole.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path).sort(), ["emails.0", "role"]);

  // Not a member yet: refused from the queue and the project page.
  assert.equal((await alice.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).status, 403);
  assert.equal((await alice.client.get(`/projects/${projectId}`, { accept: "text/html" })).status, 403);

  const added = await owner.client.json("POST", `/api/v1/projects/${projectId}/members`, { emails: [alice.email, bob.email.toUpperCase()], role: "labeler" });
  assert.equal(added.status, 200, await added.clone().text());
  assert.deepEqual(await added.json(), { added: 2, updated: 0 });
  // A reviewer who is a labeler here works as a labeler here.
  const asBob = (await (await bob.client.get(`/api/v1/projects/${projectId}`)).json()) as { your_role: string };
  assert.equal(asBob.your_role, "labeler");
  assert.equal((await bob.client.get(`/projects/${projectId}/quality`, { accept: "text/html" })).status, 403);
  // Labelers do not manage members, not even of their own project.
  assert.equal((await alice.client.json("POST", `/api/v1/projects/${projectId}/members`, { emails: [alice.email], role: "researcher" })).status, 403);
  // Members get the queue.
  assert.equal((await alice.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).status, 200);
  const audit = await server.db.selectFrom("audit_log").select("action").where("target", "=", `project:${projectId}`).execute();
  assert.ok(audit.some((row) => row.action === "project.members_add"));
});

test("a removed member loses queue, pages, lease and sockets at once", async () => {
  const owner = await server.newUser("researcher");
  const alice = await server.newUser("labeler");
  const projectId = await projectWithPrompts(owner, `removal-${Date.now()}`);
  await server.addMembers(projectId, [{ id: alice.id }]);
  const claim = (await (await alice.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string };
  const socket = await socketOf(alice.client.cookies.get("tandem_session"));
  assert.deepEqual(await join(socket, `project:${projectId}`), { ok: true });
  const ended = new Promise<{ projectId: string }>((resolve) => socket.once("project:access_ended", resolve));

  // One unknown member among the addresses: nothing is removed.
  const refused = await owner.client.json("POST", `/api/v1/projects/${projectId}/members/removals`, { emails: [alice.email, owner.email.replace("researcher", "nobody")] });
  assert.equal(refused.status, 422);
  assert.equal((await alice.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).status, 200, "still a member");

  const removed = await owner.client.json("POST", `/api/v1/projects/${projectId}/members/removals`, { emails: [alice.email] });
  assert.equal(removed.status, 200, await removed.clone().text());
  assert.deepEqual(await ended, { projectId });
  // The same session, a moment later: no queue, no task, no page, no room.
  assert.equal((await alice.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).status, 403);
  const submit = await alice.client.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: "removed-member-1", payload: { text: "late" }, timings: { msOnTask: 1000 } });
  assert.equal(submit.status, 403);
  assert.equal((await alice.client.get(`/tasks/${claim.assignmentId}`, { accept: "text/html" })).status, 403);
  assert.equal((await alice.client.get(`/projects/${projectId}`, { accept: "text/html" })).status, 403);
  const rejoin = await join(socket, `project:${projectId}`);
  assert.equal(!rejoin.ok && rejoin.code, "forbidden");
  // The lease ended, so the task is back in the queue for the others.
  const lease = await server.db.selectFrom("assignments").select("state").where("id", "=", claim.assignmentId).executeTakeFirstOrThrow();
  assert.equal(lease.state, "expired");
  const projects = (await (await alice.client.get("/api/v1/projects")).json()) as Array<{ id: string }>;
  assert.ok(!projects.some((p) => p.id === projectId));
});

test("closing an open project ends outsiders' leases and sockets; members and admins stay", async () => {
  const owner = await server.newUser("researcher");
  const outsider = await server.newUser("labeler");
  const admin = await server.newUser("admin");
  const projectId = await projectWithPrompts(owner, `closing-${Date.now()}`);
  assert.equal((await owner.client.json("PUT", `/api/v1/projects/${projectId}/access`, { access: "open" })).status, 200);
  const claim = (await (await outsider.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string };
  assert.ok(claim.assignmentId, "an open project's queue is everyone's");
  const outsiderSocket = await socketOf(outsider.client.cookies.get("tandem_session"));
  const adminSocket = await socketOf(admin.client.cookies.get("tandem_session"));
  assert.deepEqual(await join(outsiderSocket, `project:${projectId}`), { ok: true });
  assert.deepEqual(await join(adminSocket, `project:${projectId}`), { ok: true });
  const ended = new Promise<{ projectId: string }>((resolve) => outsiderSocket.once("project:access_ended", resolve));
  let adminTold = false;
  adminSocket.once("project:access_ended", () => (adminTold = true));

  const bad = await owner.client.json("PUT", `/api/v1/projects/${projectId}/access`, { access: "private" });
  assert.equal(bad.status, 422);
  assert.deepEqual(((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["access"]);
  assert.equal((await owner.client.json("PUT", `/api/v1/projects/${projectId}/access`, { access: "members" })).status, 200);
  assert.deepEqual(await ended, { projectId });
  assert.equal((await server.db.selectFrom("assignments").select("state").where("id", "=", claim.assignmentId).executeTakeFirstOrThrow()).state, "expired");
  assert.equal((await outsider.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).status, 403);
  assert.equal((await admin.client.get(`/projects/${projectId}`, { accept: "text/html" })).status, 200);
  assert.equal(adminTold, false);
});

test("the members UI on the settings page adds and removes by pasted e-mail list", async () => {
  const owner = await server.newUser("researcher");
  const alice = await server.newUser("labeler");
  const bob = await server.newUser("labeler");
  const projectId = await projectWithPrompts(owner, `ui-${Date.now()}`, 1);
  const page = await owner.client.get(`/projects/${projectId}/settings`, { accept: "text/html" });
  assert.match(await page.text(), /Members/);
  const unknown = await owner.client.postForm(`/projects/${projectId}/settings`, { intent: "members-add", emails: `${alice.email}\nghost@example.test`, role: "labeler" });
  assert.equal(unknown.status, 422);
  assert.match(await unknown.text(), /ghost@example\.test/);
  assert.equal((await server.db.selectFrom("project_members").select("user_id").where("project_id", "=", projectId).execute()).length, 1);
  const added = await owner.client.postForm(`/projects/${projectId}/settings`, { intent: "members-add", emails: `${alice.email}, ${bob.email}`, role: "reviewer" });
  assert.equal(added.status, 200);
  const members = await server.db.selectFrom("project_members").select(["user_id", "role"]).where("project_id", "=", projectId).execute();
  assert.equal(members.length, 3);
  const removed = await owner.client.postForm(`/projects/${projectId}/settings`, { intent: "members-remove", emails: bob.email });
  assert.equal(removed.status, 200);
  assert.deepEqual(
    (await server.db.selectFrom("project_members").select("user_id").where("project_id", "=", projectId).orderBy("user_id").execute()).map((m) => m.user_id),
    [owner.id, alice.id].sort((a, b) => Number(a) - Number(b)),
  );
});

test("a round may not read a members-only project's data or model unless its launcher is a researcher there", async () => {
  const alice = await server.newUser("researcher");
  const bob = await server.newUser("researcher");
  const mine = await projectWithPrompts(alice, "Alice's");
  const theirs = await projectWithPrompts(bob, "Bob's (members only)");
  const round = await server.db.insertInto("rounds").values({ project_id: theirs, name: "r", spec: "{}", steps: "[]", data_snapshot: "{}" }).returning("id").executeTakeFirstOrThrow();
  const model = await server.db.insertInto("models").values({ project_id: theirs, round_id: round.id, name: "m", kind: "sft", storage_key: `membership-${theirs}`, config: "{}" }).returning("id").executeTakeFirstOrThrow();
  const tiny = { base: { init: { vocabSize: 300, blockSize: 32, nLayer: 1, nHead: 1, nEmbd: 8 } }, next: { prompts: 0 } };
  const launch = (body: Record<string, unknown>) => alice.client.json("POST", `/api/v1/projects/${mine}/rounds`, { name: "Borrowing", path: "sft", ...tiny, ...body });
  const refusedAt = async (response: Response) => {
    assert.equal(response.status, 422);
    return ((await response.json()) as { errors: Array<{ path: string; message: string }> }).errors.map((e) => e.path);
  };
  const roundsBefore = await server.db.selectFrom("rounds").select("id").where("project_id", "=", mine).execute();
  assert.deepEqual(await refusedAt(await launch({ data: { projects: [theirs] } })), ["data.projects"]);
  assert.deepEqual(await refusedAt(await launch({ data: { rounds: [round.id] } })), ["data.rounds"]);
  assert.deepEqual(await refusedAt(await launch({ base: { modelId: model.id } })), ["base.modelId"]);
  assert.deepEqual(await server.db.selectFrom("rounds").select("id").where("project_id", "=", mine).execute(), roundsBefore, "nothing was launched");
  // a researcher of both projects may (the SFT data comes from both: Alice demonstrates in each)
  await server.addMembers(theirs, [{ id: alice.id, role: "labeler" }]);
  assert.deepEqual(await refusedAt(await launch({ data: { projects: [theirs] } })), ["data.projects"], "a labeler there is not enough");
  await server.addMembers(theirs, [{ id: alice.id, role: "researcher" }]);
  const passed = await launch({ data: { projects: [theirs] } });
  assert.ok(passed.status === 201 || !JSON.stringify(await passed.clone().json()).includes("not a researcher of"), await passed.text());
});

test("the OpenAI-compatible endpoint serves and lists a project's models only to its researchers", async () => {
  const owner = await server.newUser("researcher");
  const outsider = await server.newUser("researcher");
  const projectId = await projectWithPrompts(owner, "Private models");
  const round = await server.db.insertInto("rounds").values({ project_id: projectId, name: "r", spec: "{}", steps: "[]", data_snapshot: "{}" }).returning("id").executeTakeFirstOrThrow();
  const model = await server.db.insertInto("models").values({ project_id: projectId, round_id: round.id, name: "m", kind: "sft", storage_key: `openai-${projectId}`, config: "{}" }).returning("id").executeTakeFirstOrThrow();
  const bearer = async (userId: string) => ({ authorization: `Bearer ${(await createApiToken(server.db, userId, { name: "openai", role: "researcher" })).secret}` });
  const [outsiderAuth, ownerAuth] = [await bearer(outsider.id), await bearer(owner.id)];
  const listed = async (headers: Record<string, string>) => ((await (await server.client().get("/v1/models", headers)).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
  assert.ok(!(await listed(outsiderAuth)).includes(`tandem-${model.id}`));
  assert.ok((await listed(ownerAuth)).includes(`tandem-${model.id}`));
  const ask = (headers: Record<string, string>) => server.client().json("POST", "/v1/chat/completions", { model: `tandem-${model.id}`, messages: [{ role: "user", content: "Hi" }] }, headers);
  assert.equal((await ask(outsiderAuth)).status, 403);
  // the owner passes the check (the model has no files here, so the answer is not a 403)
  assert.notEqual((await ask(ownerAuth)).status, 403);
});
