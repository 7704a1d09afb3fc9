/**
 * The socket.io contract shared by the server and the browser. Rooms: `user:<id>` (joined
 * automatically), `project:<id>` and `round:<id>` (joined on request, after a server-side check).
 */
export type RoomName = `user:${string}` | `project:${string}` | `round:${string}`;

export type QueueCountersPayload = Record<"demonstrate" | "rank" | "review" | "compare", { open: number; complete: number }> & {
  submissions: number;
};

export type Ack = { ok: true } | { ok: false; code: string; message: string };

export interface ServerToClientEvents {
  /** The session behind this socket ended (logout everywhere, deactivation). */
  "session:ended": (payload: { reason: "logout" | "deactivated" | "role_changed" }) => void;
  /** Live queue counters of a project (room project:<id>). */
  "queue:counters": (payload: { projectId: string; counters: QueueCountersPayload }) => void;
  /** Joined the named room (sent after a successful room:join). */
  "room:joined": (payload: { room: RoomName }) => void;
}

export interface ClientToServerEvents {
  "room:join": (payload: { room: string }, ack: (result: Ack) => void) => void;
  "room:leave": (payload: { room: string }, ack: (result: Ack) => void) => void;
}

export interface SocketData {
  userId: string;
  role: "labeler" | "reviewer" | "researcher" | "admin";
}
