import { createContext, useContext, useEffect, useState } from "react";
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, QueueCountersPayload, RoomName, ServerToClientEvents } from "./socket-events.ts";

export type TandemSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The page's one socket, opened by the signed-in shell and shared through context. */
export const SocketContext = createContext<TandemSocket | null>(null);

/**
 * Keeps one authenticated socket open while a signed-in page is shown. When the server
 * ends the session (logout everywhere, deactivation, role change) the page goes to login.
 */
export function useSessionSocket(): TandemSocket | null {
  const [socket, setSocket] = useState<TandemSocket | null>(null);
  useEffect(() => {
    const s: TandemSocket = io({ transports: ["websocket", "polling"] });
    s.on("session:ended", () => {
      window.location.assign("/login");
    });
    // Removed from a project (or it closed to members): a page of that project goes home at once.
    s.on("project:access_ended", ({ projectId }) => {
      const here = window.location.pathname.startsWith(`/projects/${projectId}`) || document.querySelector(`[data-project-id="${CSS.escape(projectId)}"]`) !== null;
      if (here) window.location.assign("/?left=" + encodeURIComponent(projectId));
    });
    s.on("connect", () => document.documentElement.setAttribute("data-socket", "connected"));
    s.on("disconnect", () => document.documentElement.setAttribute("data-socket", "disconnected"));
    setSocket(s);
    return () => {
      s.close();
    };
  }, []);
  return socket;
}

/**
 * Keeps the page's socket in a room while the component is mounted: joins now and again after
 * every reconnect (the server forgets rooms with the connection), leaves on unmount.
 */
export function useRoom(room: RoomName): TandemSocket | null {
  const socket = useContext(SocketContext);
  useEffect(() => {
    if (!socket) return;
    const join = () => socket.emit("room:join", { room }, () => undefined);
    socket.on("connect", join);
    if (socket.connected) join();
    return () => {
      socket.off("connect", join);
      socket.emit("room:leave", { room }, () => undefined);
    };
  }, [socket, room]);
  return socket;
}

/** Live queue counters of a project: starts from the loader's figures, then follows the room. */
export function useProjectCounters(projectId: string, initial: QueueCountersPayload): QueueCountersPayload {
  const socket = useRoom(`project:${projectId}`);
  const [counters, setCounters] = useState(initial);
  useEffect(() => setCounters(initial), [initial]);
  useEffect(() => {
    if (!socket) return;
    const onCounters = (payload: { projectId: string; counters: QueueCountersPayload }) => {
      if (payload.projectId === projectId) setCounters(payload.counters);
    };
    socket.on("queue:counters", onCounters);
    return () => {
      socket.off("queue:counters", onCounters);
    };
  }, [socket, projectId]);
  return counters;
}
