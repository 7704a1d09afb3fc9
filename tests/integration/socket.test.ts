import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { io as connect, type Socket } from "socket.io-client";
import type { Ack, ClientToServerEvents, ServerToClientEvents } from "../../app/lib/socket-events.ts";
import { HttpClient, startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
const open: Socket[] = [];
before(async () => {
  server = await startTestServer();
});
after(async () => {
  for (const socket of open) socket.close();
  await server.stop();
});

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
function socketWith(cookie?: string): ClientSocket {
  const socket: ClientSocket = connect(server.url, { transports: ["websocket"], extraHeaders: cookie ? { cookie } : {}, reconnection: false });
  open.push(socket);
  return socket;
}
const connected = (socket: ClientSocket) =>
  new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
const join = (socket: ClientSocket, room: unknown) =>
  new Promise<Ack>((resolve) => socket.emit("room:join", { room } as { room: string }, resolve));

test("a socket without a valid session cookie is refused", async () => {
  await assert.rejects(connected(socketWith()), /unauthenticated/);
  await assert.rejects(connected(socketWith("tandem_session=forged")), /unauthenticated/);
});

test("a signed-in socket may join its own user room only, and bad payloads are refused", async () => {
  const alice = await server.newUser("labeler");
  const bob = await server.newUser("admin");
  const socket = socketWith(`tandem_session=${alice.client.cookies.get("tandem_session")}`);
  await connected(socket);
  assert.deepEqual(await join(socket, `user:${alice.id}`), { ok: true });
  const foreign = await join(socket, `user:${bob.id}`);
  assert.equal(foreign.ok, false);
  assert.equal(!foreign.ok && foreign.code, "forbidden");
  const malformed = await join(socket, { nested: "object" });
  assert.equal(!malformed.ok && malformed.code, "bad_request");
  const unknownKind = await join(socket, "admin:1");
  assert.equal(!unknownKind.ok && unknownKind.code, "bad_request");
});

test("a round's room is for researchers and admins, and only for a round that exists", async () => {
  const researcher = await server.newUser("researcher");
  const labeler = await server.newUser("labeler");
  const project = (await (await researcher.client.json("POST", "/api/v1/projects", { name: "Socket rounds" })).json()) as { id: string };
  const round = await server.db
    .insertInto("rounds")
    .values({ project_id: project.id, name: "r", spec: "{}", steps: "[]", data_snapshot: "{}" })
    .returning("id")
    .executeTakeFirstOrThrow();
  const asResearcher = socketWith(`tandem_session=${researcher.client.cookies.get("tandem_session")}`);
  const asLabeler = socketWith(`tandem_session=${labeler.client.cookies.get("tandem_session")}`);
  await Promise.all([connected(asResearcher), connected(asLabeler)]);
  assert.deepEqual(await join(asResearcher, `round:${round.id}`), { ok: true });
  const refused = await join(asLabeler, `round:${round.id}`);
  assert.equal(!refused.ok && refused.code, "forbidden");
  const missing = await join(asResearcher, "round:999999999");
  assert.equal(!missing.ok && missing.code, "forbidden");
});

test("signing out everywhere pushes session:ended and disconnects the socket", async () => {
  const carol = await server.newUser("reviewer");
  const socket = socketWith(`tandem_session=${carol.client.cookies.get("tandem_session")}`);
  await connected(socket);
  const ended = new Promise<string>((resolve) => socket.once("session:ended", (payload) => resolve(payload.reason)));
  const disconnected = new Promise<void>((resolve) => socket.once("disconnect", () => resolve()));
  const response = await carol.client.json("POST", "/api/v1/me/logout-everywhere");
  assert.equal(response.status, 200);
  assert.equal(await ended, "logout");
  await disconnected;
  await assert.rejects(connected(socketWith(`tandem_session=${carol.client.cookies.get("tandem_session")}`)), /unauthenticated/);
});

test("with the Postgres adapter, a broadcast from one server instance reaches a socket on another", async () => {
  const a = await startTestServer({ TANDEM_SOCKET_ADAPTER: "postgres" });
  const b = await startTestServer({ TANDEM_SOCKET_ADAPTER: "postgres" });
  let socket: ClientSocket | undefined;
  try {
    const dana = await b.newUser("labeler");
    const client: ClientSocket = connect(b.url, {
      transports: ["websocket"],
      extraHeaders: { cookie: `tandem_session=${dana.client.cookies.get("tandem_session")}` },
      reconnection: false,
    });
    socket = client;
    await connected(client);
    const ended = new Promise<string>((resolve) => client.once("session:ended", (payload) => resolve(payload.reason)));
    // Dana's session is ended through server A; her socket lives on server B.
    const viaA = new HttpClient(a.url);
    viaA.cookies.set("tandem_session", dana.client.cookies.get("tandem_session")!);
    assert.equal((await viaA.json("POST", "/api/v1/me/logout-everywhere")).status, 200);
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("no broadcast within 10 s"), 10_000).unref());
    assert.equal(await Promise.race([ended, timeout]), "logout");
  } finally {
    socket?.close();
    await a.stop();
    await b.stop();
  }
});

test("a handshake from a foreign Origin is refused, with the session cookie, on both transports", async () => {
  const erin = await server.newUser("labeler");
  const cookie = `tandem_session=${erin.client.cookies.get("tandem_session")}`;
  for (const transport of ["websocket", "polling"] as const) {
    for (const origin of ["https://evil.example", "null", "http://127.0.0.1.evil.example"]) {
      const socket: ClientSocket = connect(server.url, { transports: [transport], extraHeaders: { cookie, origin }, reconnection: false });
      open.push(socket);
      await assert.rejects(connected(socket), `${transport} from ${origin} is refused`);
    }
    // The page's own origin (what a browser sends) still connects and can join rooms.
    const own: ClientSocket = connect(server.url, { transports: [transport], extraHeaders: { cookie, origin: server.url }, reconnection: false });
    open.push(own);
    await connected(own);
    assert.deepEqual(await join(own, `user:${erin.id}`), { ok: true });
    own.close();
  }
});
