import type http from "node:http";
import { createAdapter } from "@socket.io/postgres-adapter";
import { parse as parseCookies } from "cookie";
import type pg from "pg";
import type { Logger } from "pino";
import { Server } from "socket.io";
import { z } from "zod";
import type { TandemIo } from "../../app/context.ts";
import type { Ack, RoomName } from "../../app/lib/socket-events.ts";
import { findSessionUser, SESSION_COOKIE } from "../auth/sessions.server.ts";
import { hasRole } from "../auth/roles.ts";
import type { Config } from "../config.server.ts";
import type { Db } from "../db/database.server.ts";
import { allowedOrigins, rawRequestAddress } from "../http/csrf.server.ts";
import type { Metrics } from "../http/metrics.server.ts";
import type { SocketData } from "../../app/lib/socket-events.ts";

const roomPayload = z.object({ room: z.string().regex(/^(user|project|round):\d{1,18}$/, "unknown room name") });

/**
 * Decides whether a socket may join a room: its own user room; a project room when the
 * project exists (every signed-in person may label any project); a round room when the round
 * exists and the person is a researcher or admin (rounds are researchers' work).
 */
export async function mayJoinRoom(db: Db, socket: SocketData, room: RoomName): Promise<boolean> {
  const [kind, id] = room.split(":");
  // The role of now, not of the handshake: a demotion or deactivation counts before the
  // socket is closed (endSessionSockets), and on any server instance.
  const current = await db.selectFrom("users").select("role").where("id", "=", socket.userId).where("active", "=", true).executeTakeFirst();
  if (!current) return false;
  socket.role = current.role;
  if (kind === "user") return id === socket.userId;
  if (kind === "project") return (await db.selectFrom("projects").select("id").where("id", "=", id!).executeTakeFirst()) !== undefined;
  if (kind === "round") {
    if (!hasRole(socket.role, "researcher")) return false;
    return (await db.selectFrom("rounds").select("id").where("id", "=", id!).executeTakeFirst()) !== undefined;
  }
  return false;
}

export function attachSocketServer(
  httpServer: http.Server,
  deps: { db: Db; pool: pg.Pool; log: Logger; config: Config; metrics: Metrics },
): TandemIo {
  const io: TandemIo = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: 1e6,
    // Cross-site WebSocket hijacking: a page on another origin could open a socket that carries
    // our session cookie. Every engine.io request (polling and the WebSocket upgrade) with an
    // Origin must come from one of our own origins, the list the CSRF check uses. Browsers
    // always send Origin on WebSocket and cross-origin requests; a request without one is
    // not a browser acting for another site (same-origin polling GETs may omit it).
    allowRequest: (req, callback) => {
      const origin = req.headers.origin;
      const ok = origin === undefined || allowedOrigins(deps.config, rawRequestAddress(req, deps.config.TANDEM_TRUST_PROXY)).includes(origin);
      if (!ok) deps.log.warn({ origin }, "socket.io handshake from a foreign origin refused");
      callback(ok ? null : "foreign origin", ok);
    },
  });
  if (deps.config.TANDEM_SOCKET_ADAPTER === "postgres") {
    // Several server instances share broadcasts through LISTEN/NOTIFY.
    io.adapter(createAdapter(deps.pool, { errorHandler: (err) => deps.log.error({ err }, "socket.io adapter") }));
  }

  // Only signed-in people get a socket; the session cookie rides along with the handshake.
  io.use(async (socket, next) => {
    try {
      const cookieHeader = socket.handshake.headers.cookie;
      const value = cookieHeader ? parseCookies(cookieHeader)[SESSION_COOKIE] : undefined;
      const found = value ? await findSessionUser(deps.db, value) : null;
      if (!found) return next(new Error("unauthenticated"));
      socket.data = { userId: found.user.id, role: found.user.role };
      next();
    } catch (error) {
      deps.log.error({ err: error }, "socket authentication failed");
      next(new Error("internal"));
    }
  });

  io.on("connection", (socket) => {
    deps.metrics.socketConnections.inc();
    void socket.join(`user:${socket.data.userId}`);

    socket.on("room:join", async (payload, ack) => {
      const reply = typeof ack === "function" ? ack : () => undefined;
      const parsed = roomPayload.safeParse(payload);
      if (!parsed.success) return reply(refuse("bad_request", parsed.error.issues[0]?.message ?? "invalid payload"));
      const room = parsed.data.room as RoomName;
      if (!(await mayJoinRoom(deps.db, socket.data, room))) return reply(refuse("forbidden", "You may not join this room."));
      await socket.join(room);
      socket.emit("room:joined", { room });
      reply({ ok: true });
    });

    socket.on("room:leave", async (payload, ack) => {
      const reply = typeof ack === "function" ? ack : () => undefined;
      const parsed = roomPayload.safeParse(payload);
      if (!parsed.success) return reply(refuse("bad_request", parsed.error.issues[0]?.message ?? "invalid payload"));
      await socket.leave(parsed.data.room);
      reply({ ok: true });
    });
  });
  return io;
}

function refuse(code: string, message: string): Ack {
  return { ok: false, code, message };
}

/**
 * Tells a person's sockets their session ended, then closes them. With the Postgres adapter the
 * event and the disconnect travel as two NOTIFYs on separate connections, so they can arrive at
 * another server instance in either order; the short delay lets the event arrive first (the
 * browser then goes to the login page). Authorization never depends on it: the session rows are
 * already gone, so the socket can do nothing meanwhile that needs them.
 */
export function endSessionSockets(io: TandemIo, userId: string, reason: "logout" | "deactivated" | "role_changed"): void {
  io.to(`user:${userId}`).emit("session:ended", { reason });
  setTimeout(() => io.in(`user:${userId}`).disconnectSockets(true), 500).unref();
}
