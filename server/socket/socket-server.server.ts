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
import { projectAccessOf, projectIdOf } from "../auth/project-access.server.ts";
import { AppError } from "../lib/app-error.ts";
import type { Config } from "../config.server.ts";
import type { Db } from "../db/database.server.ts";
import { allowedOrigins, rawRequestAddress } from "../http/csrf.server.ts";
import type { Metrics } from "../http/metrics.server.ts";
import type { SocketData } from "../../app/lib/socket-events.ts";

const roomPayload = z.object({ room: z.string().regex(/^(user|project|round):\d{1,18}$/, "unknown room name") });

/**
 * Decides whether a socket may join a room: its own user room; a project room when the person
 * may enter the project (decision 0031: a member, an admin, or anyone in an open project); a
 * round room when they are a researcher in the round's project (rounds are researchers' work).
 */
export async function mayJoinRoom(db: Db, socket: SocketData, room: RoomName): Promise<boolean> {
  const [kind, id] = room.split(":");
  // The role of now, not of the handshake: a demotion or deactivation counts before the
  // socket is closed (endSessionSockets), and on any server instance.
  const current = await db.selectFrom("users").select("role").where("id", "=", socket.userId).where("active", "=", true).executeTakeFirst();
  if (!current) return false;
  socket.role = current.role;
  if (kind === "user") return id === socket.userId;
  const caller = { user: { id: socket.userId, role: current.role }, role: current.role };
  try {
    if (kind === "project") return (await projectAccessOf(db, caller, id!)) !== null;
    if (kind === "round") {
      const projectId = await projectIdOf(db, "round", id!);
      const access = projectId === null ? null : await projectAccessOf(db, caller, projectId);
      return access !== null && access.role !== "trainer" && hasRole(access.role, "researcher");
    }
  } catch (error) {
    if (error instanceof AppError && error.code === "not_found") return false;
    throw error;
  }
  return false;
}

/**
 * After a project's membership or access mode changed: every socket in the project's room, or
 * in one of its rounds' rooms, is checked again, and those that may no longer be there leave
 * and are told (the page then goes home). Works across server instances (fetchSockets).
 */
export async function recheckProjectSockets(io: TandemIo, db: Db, projectId: string, removedUserIds: string[] = []): Promise<void> {
  const rounds = await db.selectFrom("rounds").select("id").where("project_id", "=", projectId).execute();
  const rooms: RoomName[] = [`project:${projectId}`, ...rounds.map((r) => `round:${r.id}` as const)];
  const verdicts = new Map<string, boolean>();
  for (const room of rooms) {
    for (const socket of await io.in(room).fetchSockets()) {
      const key = `${socket.data.userId} ${room}`;
      if (!verdicts.has(key)) verdicts.set(key, await mayJoinRoom(db, { ...socket.data }, room));
      if (verdicts.get(key)) continue;
      socket.leave(room);
      socket.emit("project:access_ended", { projectId });
    }
  }
  // A removed person's other pages (a task of this project joins no project room) hear it too;
  // in an open project removal leaves access, so only those who really lost it are told.
  for (const userId of removedUserIds) {
    const role = await db.selectFrom("users").select("role").where("id", "=", userId).executeTakeFirst();
    if (role && (await projectAccessOf(db, { user: { id: userId }, role: role.role }, projectId)) === null) {
      io.to(`user:${userId}`).emit("project:access_ended", { projectId });
    }
  }
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
    io.adapter(createAdapter(releasingPool(deps.pool), { errorHandler: (err) => deps.log.error({ err }, "socket.io adapter") }));
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
      try {
        if (!(await mayJoinRoom(deps.db, socket.data, room))) return reply(refuse("forbidden", "You may not join this room."));
      } catch (error) {
        // A rejected async handler would be an unhandled rejection; during a database outage
        // the page is told to try again (it rejoins on reconnect).
        deps.log.warn({ err: error }, "room join failed");
        return reply(refuse("unavailable", "Try again in a few seconds."));
      }
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

/**
 * The adapter holds one client for LISTEN and, when the database drops it, takes a new one
 * without releasing the dead one; the pool then counts it forever and `pool.end()` at shutdown
 * never returns. Here a client that ends is released (destroyed) for it. Its `'error'` event is
 * handled by the pool-wide listener (createPool), so it no longer ends the server either.
 */
function releasingPool(pool: pg.Pool): pg.Pool {
  return {
    connect: async () => {
      const client = await pool.connect();
      client.once("end", () => {
        try {
          client.release(true);
        } catch {
          // Released already (the adapter's own close).
        }
      });
      return client;
    },
    query: pool.query.bind(pool),
  } as unknown as pg.Pool;
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
