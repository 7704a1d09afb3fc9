/**
 * Demotion and deactivation take effect at once (issue 12, finding 2): for the person's sessions,
 * for their API tokens (a token's role is the lower of its own and its owner's current role,
 * decision 0021) and for their sockets.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { io as connect, type Socket } from "socket.io-client";
import type { Ack, ClientToServerEvents, ServerToClientEvents } from "../../app/lib/socket-events.ts";
import { createApiToken } from "../../server/auth/tokens.server.ts";
import { createLogger } from "../../server/lib/logger.server.ts";
import { startEmbeddedTrainer } from "../../server/rounds/embedded-trainer.server.ts";
import type { TokenRole } from "../../server/db/schema.ts";
import { startTestServer, uniqueEmail, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let boss: HttpClient;
before(async () => {
  server = await startTestServer();
  boss = (await server.newUser("admin")).client;
});
after(() => server.stop());

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
const tokenFor = async (userId: string, role: TokenRole) => (await createApiToken(server.db, userId, { name: `role-change ${role}`, role })).secret;
async function change(userId: string, body: { role?: string; active?: boolean }) {
  const response = await boss.json("PATCH", `/api/v1/users/${userId}`, body);
  assert.equal(response.status, 200, await response.clone().text());
}
const newAccount = () => ({ email: uniqueEmail("made"), name: "Made by a token", role: "admin", password: "long-enough-password" });

test("a demoted admin's admin token loses admin at once; re-promotion restores it", async () => {
  const admin = await server.newUser("admin");
  const token = await tokenFor(admin.id, "admin");
  const anon = server.client();
  assert.equal((await anon.get("/api/v1/users", bearer(token))).status, 200);

  await change(admin.id, { role: "labeler" });
  assert.equal((await anon.get("/api/v1/users", bearer(token))).status, 403, "cannot list users");
  const before = await server.db.selectFrom("users").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow();
  assert.equal((await anon.json("POST", "/api/v1/users", newAccount(), bearer(token))).status, 403, "cannot create admins");
  const afterCount = await server.db.selectFrom("users").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow();
  assert.equal(afterCount.n, before.n, "no user was created");
  const me = (await (await anon.get("/api/v1/me", bearer(token))).json()) as { role: string };
  assert.equal(me.role, "labeler", "the effective role is the owner's");

  await change(admin.id, { role: "researcher" });
  assert.equal((await anon.get("/api/v1/users", bearer(token))).status, 403);
  await change(admin.id, { role: "admin" });
  assert.equal((await anon.get("/api/v1/users", bearer(token))).status, 200, "checked on every use, both ways");
});

test("a token never exceeds its own role when its owner is higher", async () => {
  const admin = await server.newUser("admin");
  const token = await tokenFor(admin.id, "reviewer");
  const me = (await (await server.client().get("/api/v1/me", bearer(token))).json()) as { role: string };
  assert.equal(me.role, "reviewer");
  assert.equal((await server.client().get("/api/v1/users", bearer(token))).status, 403);
});

test("a trainer token stops working when its owner is no longer an admin", async () => {
  const admin = await server.newUser("admin");
  const token = await tokenFor(admin.id, "trainer");
  // A job that does not exist: the trainer passes the role check and gets a 4xx about the job.
  const probe = async () => (await server.client().get("/api/v1/trainer/jobs/999999999/prompts.jsonl?attempt=1", bearer(token))).status;
  assert.notEqual(await probe(), 403);
  await change(admin.id, { role: "researcher" });
  assert.equal(await probe(), 403);
});

test("deactivation disables the owner's tokens and sessions at once", async () => {
  const admin = await server.newUser("admin");
  const token = await tokenFor(admin.id, "admin");
  assert.equal((await admin.client.get("/api/v1/users")).status, 200);
  await change(admin.id, { active: false });
  assert.equal((await server.client().get("/api/v1/users", bearer(token))).status, 401);
  assert.equal((await admin.client.get("/api/v1/users")).status, 401);
});

test("a demoted admin's session loses admin at once", async () => {
  const admin = await server.newUser("admin");
  assert.equal((await admin.client.get("/api/v1/users")).status, 200);
  assert.equal((await admin.client.get("/admin/users")).status, 200);
  await change(admin.id, { role: "reviewer" });
  assert.equal((await admin.client.get("/api/v1/users")).status, 403);
  assert.equal((await admin.client.get("/admin/users")).status, 403);
});

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
const socketFor = (cookie: string): ClientSocket =>
  connect(server.url, { transports: ["websocket"], extraHeaders: { cookie: `tandem_session=${cookie}` }, reconnection: false });
const connected = (socket: ClientSocket) =>
  new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
const join = (socket: ClientSocket, room: string) => new Promise<Ack>((resolve) => socket.emit("room:join", { room }, resolve));

test("a demoted researcher's socket cannot join round rooms and is closed; a deactivated one cannot come back", async () => {
  const researcher = await server.newUser("researcher");
  const project = (await (await researcher.client.json("POST", "/api/v1/projects", { name: "Role change rooms" })).json()) as { id: string };
  const round = await server.db
    .insertInto("rounds")
    .values({ project_id: project.id, name: "r", spec: "{}", steps: "[]", data_snapshot: "{}" })
    .returning("id")
    .executeTakeFirstOrThrow();
  const cookie = researcher.client.cookies.get("tandem_session")!;
  const socket = socketFor(cookie);
  try {
    await connected(socket);
    assert.deepEqual(await join(socket, `round:${round.id}`), { ok: true });
    const ended = new Promise<string>((resolve) => socket.once("session:ended", (p) => resolve(p.reason)));
    const closed = new Promise<void>((resolve) => socket.once("disconnect", () => resolve()));
    await change(researcher.id, { role: "labeler" });
    // Before the socket is closed, the new role already decides.
    const refused = await join(socket, `round:${round.id}`);
    assert.equal(!refused.ok && refused.code, "forbidden");
    assert.equal(await ended, "role_changed");
    await closed;
  } finally {
    socket.close();
  }
  await change(researcher.id, { active: false });
  const again = socketFor(cookie);
  try {
    await assert.rejects(connected(again), /unauthenticated/);
  } finally {
    again.close();
  }
});

test("the embedded trainer (npm start's) gets a fresh token from an admin when its owner is demoted", { timeout: 120_000 }, async () => {
  // an admin who stays one: demotes the owner (who may be `boss`) and can own the next token
  const other = (await server.newUser("admin")).client;
  const changeBy = async (userId: string, body: { role: string }) => assert.equal((await other.json("PATCH", `/api/v1/users/${userId}`, body)).status, 200);
  const live = () =>
    server.db.selectFrom("api_tokens").select(["id", "user_id"]).where("name", "=", "embedded trainer (npm start)").where("revoked_at", "is", null).execute();
  const stop = await startEmbeddedTrainer(server.db, createLogger("silent"), server.url);
  try {
    const [first] = await live();
    assert.ok(first, "a live trainer token");
    const firstOwner = first.user_id;
    await changeBy(firstOwner, { role: "researcher" });
    // the service's next claim is refused (403), it exits with TOKEN_REFUSED_EXIT and is relaunched
    let now = await live();
    for (let i = 0; i < 200 && (now.length === 0 || now[0]!.id === first.id); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      now = await live();
    }
    assert.equal(now.length, 1, "one live trainer token");
    assert.notEqual(now[0]!.id, first.id, "a new token");
    assert.notEqual(now[0]!.user_id, firstOwner, "owned by someone who is an admin now");
    const owner = await server.db.selectFrom("users").select(["role", "active"]).where("id", "=", now[0]!.user_id).executeTakeFirstOrThrow();
    assert.deepEqual(owner, { role: "admin", active: true });
    await changeBy(firstOwner, { role: "admin" });
  } finally {
    await stop();
  }
});
