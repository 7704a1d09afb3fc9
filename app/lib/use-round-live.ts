import { useEffect, useRef, useState } from "react";
import type { RoundEventPayload } from "./socket-events.ts";
import { useRoom } from "./use-session-socket.ts";

export type RoundLiveState = { state: string; currentStep: number; error: string | null };

const ENDED = new Set(["done", "failed", "cancelled"]);

/** The loader's events plus any the socket brought that it lacks, in id order. */
export function mergeEvents(loaded: RoundEventPayload[], known: RoundEventPayload[]): RoundEventPayload[] {
  const ids = new Set(loaded.map((e) => e.id));
  const extra = known.filter((e) => !ids.has(e.id));
  if (extra.length === 0) return loaded;
  return [...loaded, ...extra].sort((a, b) => Number(a.id) - Number(b.id));
}

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
  // A revalidation that started before the socket said "done" can answer with the older state and events
  // after it: a round the socket saw end keeps its end until the loader agrees (the page revalidates while
  // they differ), and events the socket brought are merged with the loader's, never dropped.
  const heldOnce = useRef(false);
  const current = useRef(state);
  current.current = state;
  useEffect(() => {
    // Hold the socket's end against one older answer; the page revalidates while they differ, and a second
    // answer that still disagrees is taken (a retry whose socket message was lost reaches the page that way).
    const hold = ENDED.has(current.current.state) && !ENDED.has(initial.state) && !heldOnce.current;
    heldOnce.current = hold;
    if (!hold) setState(initial);
  }, [initial]);
  useEffect(() => setEvents((known) => mergeEvents(initialEvents, known)), [initialEvents]);
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
