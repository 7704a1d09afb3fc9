/**
 * The ranking a labeler builds with number keys (issue 14, item 8). Every completion starts unranked: ranks pre-filled in the shown order anchor
 * people to that order. A rank is a slot 1..K; pressing N on a completion *inserts* it at rank N:
 * whoever holds N, and the run of ranks right after it, moves down one ("renumbers the rest").
 * When there is no room below (the run reaches K), the run ending at N moves up one into the
 * nearest free rank above instead, so the completion still lands exactly at N. A tie is explicit
 * (Shift+N, or dropping onto a tier): the completion joins whoever holds N.
 *
 * Slots may have holes while a ranking is being built (A at 3 before anything is at 1–2); the
 * submitted tiers are the occupied slots in order, holes closed.
 */
export type Slots = Readonly<Record<string, number>>;

function holders(slots: Record<string, number>, rank: number): string[] {
  return Object.keys(slots).filter((id) => slots[id] === rank);
}

/** Moves every holder of the ranks from..to (inclusive) by `delta`, in an order that never merges two. */
function shiftRun(slots: Record<string, number>, from: number, to: number, delta: 1 | -1): void {
  const ranks = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  for (const rank of delta === 1 ? ranks.reverse() : ranks) {
    for (const id of holders(slots, rank)) slots[id] = rank + delta;
  }
}

/** `id` alone at rank `rank` (1..k), the others renumbered around it; a rank outside 1..k is clamped. */
export function insertAt(current: Slots, id: string, rank: number, k: number): Record<string, number> {
  const slots = { ...current };
  delete slots[id];
  const at = Math.min(Math.max(1, Math.trunc(rank)), k);
  const taken = (r: number) => holders(slots, r).length > 0;
  if (taken(at)) {
    let below = at;
    while (below <= k && taken(below)) below++;
    if (below <= k) {
      shiftRun(slots, at, below - 1, 1);
    } else {
      // No free rank after `at`: at most k − 1 tiers remain, so one above is free.
      let above = at;
      while (above >= 1 && taken(above)) above--;
      shiftRun(slots, above + 1, at, -1);
    }
  }
  slots[id] = at;
  return slots;
}

/** `id` ties with whoever holds `rank` (or takes the rank when it is free). */
export function tieWith(current: Slots, id: string, rank: number, k: number): Record<string, number> {
  const at = Math.min(Math.max(1, Math.trunc(rank)), k);
  return { ...current, [id]: at };
}

export function unrank(current: Slots, id: string): Record<string, number> {
  const slots = { ...current };
  delete slots[id];
  return slots;
}

/** Tiers of the ranked completions, best first; within a tier, in the shown order. */
export function tiersOf(ids: readonly string[], slots: Slots): string[][] {
  const ranks = [...new Set(ids.filter((id) => slots[id] !== undefined).map((id) => slots[id]!))].sort((a, b) => a - b);
  return ranks.map((rank) => ids.filter((id) => slots[id] === rank));
}

export function unranked(ids: readonly string[], slots: Slots): string[] {
  return ids.filter((id) => slots[id] === undefined);
}
