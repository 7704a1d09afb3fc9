import { useEffect, useState } from "react";
import type { RoundEventPayload } from "./socket-events.ts";
import { useRoom } from "./use-session-socket.ts";

export type RoundLiveState = { state: string; currentStep: number; error: string | null };

/**
 * A round as it trains: starts from the loader's state and stored events, then follows the
 * round's room (useRoom). Events carry ids, so one seen twice (a reconnect, a reload race) counts once.
 */
export function useRoundLive(roundId: string, initial: RoundLiveState, initialEvents: RoundEventPayload[], initialRay: Record<string, unknown> | null = null) {
  const socket = useRoom(`round:${roundId}`);
  const [state, setState] = useState(initial);
  const [events, setEvents] = useState(initialEvents);
  // A round handed to a Ray cluster: the server mirrors the job's status and log tail.
  const [ray, setRay] = useState(initialRay);
  useEffect(() => setState(initial), [initial]);
  useEffect(() => setEvents(initialEvents), [initialEvents]);
  useEffect(() => setRay(initialRay), [initialRay]);
  useEffect(() => {
    if (!socket) return;
    const onState = (payload: { roundId: string } & RoundLiveState) => {
      if (payload.roundId === roundId) setState({ state: payload.state, currentStep: payload.currentStep, error: payload.error });
    };
    const onEvents = (payload: { roundId: string; events: RoundEventPayload[] }) => {
      if (payload.roundId !== roundId) return;
      setEvents((known) => {
        const seen = new Set(known.map((e) => e.id));
        const fresh = payload.events.filter((e) => !seen.has(e.id));
        return fresh.length > 0 ? [...known, ...fresh] : known;
      });
    };
    const onRay = (payload: { roundId: string; submission: Record<string, unknown> }) => {
      if (payload.roundId === roundId) setRay(payload.submission);
    };
    socket.on("round:state", onState);
    socket.on("round:events", onEvents);
    socket.on("round:ray", onRay);
    return () => {
      socket.off("round:state", onState);
      socket.off("round:events", onEvents);
      socket.off("round:ray", onRay);
    };
  }, [socket, roundId]);
  return { ...state, events, ray };
}
