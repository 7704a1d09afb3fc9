/**
 * The socket.io contract shared by the server and the browser. Rooms: `user:<id>` (joined
 * automatically), `project:<id>` and `round:<id>` (joined on request, after a server-side check).
 */
export type RoomName = `user:${string}` | `project:${string}` | `round:${string}`;

export type QueueCountersPayload = Record<"demonstrate" | "rank" | "review" | "compare", { open: number; complete: number }> & {
  submissions: number;
};

/** One stored trainer event of a round (a metrics line, progress, a checkpoint …). */
export type RoundEventPayload = {
  id: string;
  job_id: string;
  kind: string;
  step_index: number;
  attempt: number;
  type: string;
  payload: Record<string, unknown>;
  created_at: Date | string;
};

export type Ack = { ok: true } | { ok: false; code: string; message: string };

export interface ServerToClientEvents {
  /** The session behind this socket ended (logout everywhere, deactivation). */
  "session:ended": (payload: { reason: "logout" | "deactivated" | "role_changed" }) => void;
  /** The person may no longer enter this project (removed, or the project closed to members). */
  "project:access_ended": (payload: { projectId: string }) => void;
  /** Live queue counters of a project (room project:<id>). */
  "queue:counters": (payload: { projectId: string; counters: QueueCountersPayload }) => void;
  /** A round changed state (room round:<id>). */
  "round:state": (payload: { roundId: string; state: string; currentStep: number; error: string | null }) => void;
  /** New trainer events of a round, in order (room round:<id>). */
  "round:events": (payload: { roundId: string; events: RoundEventPayload[] }) => void;
  /** A round handed to Ray: its submission's mirrored status and log tail (room round:<id>). */
  "round:ray": (payload: { roundId: string; submission: Record<string, unknown> }) => void;
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
