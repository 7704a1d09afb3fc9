import { useEffect } from "react";
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "./socket-events.ts";

/**
 * Keeps one authenticated socket open while a signed-in page is shown. When the server
 * ends the session (logout everywhere, deactivation, role change) the page goes to login.
 */
export function useSessionSocket(): void {
  useEffect(() => {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({ transports: ["websocket", "polling"] });
    socket.on("session:ended", () => {
      window.location.assign("/login");
    });
    socket.on("connect", () => document.documentElement.setAttribute("data-socket", "connected"));
    socket.on("disconnect", () => document.documentElement.setAttribute("data-socket", "disconnected"));
    return () => {
      socket.close();
    };
  }, []);
}
