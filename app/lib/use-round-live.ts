import { useEffect, useState } from "react";
import type { RoundEventPayload } from "./socket-events.ts";
import { useRoom } from "./use-session-socket.ts";

export type RoundLiveState = { state: string; currentStep: number; error: string | null };

/**
 * A round as it trains: starts from the loader's state and stored events, then follows the
 * round's room (useRoom). Events carry ids, so one seen twice (a reconnect, a reload race) counts once.
 */
export function useRoundLive(roundId: string, initial: RoundLiveState, initialEvents: RoundEventPayload[]) {
  const socket = useRoom(`round:${roundId}`);
  const [state, setState] = useState(initial);
  const [events, setEvents] = useState(initialEvents);
  useEffect(() => setState(initial), [initial]);
  useEffect(() => setEvents(initialEvents), [initialEvents]);
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
    socket.on("round:state", onState);
    socket.on("round:events", onEvents);
    return () => {
      socket.off("round:state", onState);
      socket.off("round:events", onEvents);
    };
  }, [socket, roundId]);
  return { ...state, events };
}
