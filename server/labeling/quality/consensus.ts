// Consensus ranking of one item from several labelers' rankings. Pure: the raw rankings are
// only read, because every per-labeler ranking is kept and exported next to the consensus
// (OpenAssistant published only its Tideman aggregate, and users asked for the raw data, #3389).
import { tierIndex } from "./ranking.ts";
import type { Ranking } from "./ranking.ts";

export interface PairwiseTally {
  /** Ids in order of first appearance across the rankings (the output order inside a tier). */
  ids: string[];
  /** prefers[i][j]: how many rankings put ids[i] in a strictly better tier than ids[j]. */
  prefers: number[][];
}

/**
 * Head-to-head tally. Ids are the union over the rankings; a ranking that lacks an id, ties
 * two ids, or is marked not rankable casts no vote on that pair.
 */
export function pairwiseTally(rankings: readonly Ranking[]): PairwiseTally {
  const ids: string[] = [];
  const position = new Map<string, number>();
  for (const ranking of rankings) {
    for (const tier of ranking.tiers) {
      for (const id of tier) {
        if (!position.has(id)) {
          position.set(id, ids.length);
          ids.push(id);
        }
      }
    }
  }
  const prefers = ids.map(() => new Array<number>(ids.length).fill(0));
  for (const ranking of rankings) {
    if (ranking.notRankable === true) continue;
    const tiers = tierIndex(ranking);
    for (const [a, ta] of tiers) {
      for (const [b, tb] of tiers) {
        if (ta < tb) {
          const row = prefers[position.get(a) ?? 0];
          const j = position.get(b) ?? 0;
          if (row) row[j] = (row[j] ?? 0) + 1;
        }
      }
    }
  }
  return { ids, prefers };
}

/**
 * Ranked pairs (Tideman 1987). Every pairwise majority a ≻ b is a candidate edge; edges are
 * locked strongest first — strength = margin (votes a≻b − votes b≻a), then winning votes —
 * and an edge that would close a cycle is skipped. Pairs with an equal tally never become an
 * edge, so they stay tied unless other locked edges separate them.
 *
 * Equally strong edges are locked as one group, and an edge of the group is skipped when it
 * lies on a cycle of (already locked ∪ whole group). Classic Tideman needs an arbitrary
 * tie-break there (OpenAssistant PR #933 "just pick the first one"); this rule does not
 * depend on input order, and a perfectly symmetric cycle (A≻B≻C≻A, each 2:1) becomes a tie.
 *
 * Tiers: the locked graph is acyclic; tier 0 holds the ids no locked edge beats, tier 1 the
 * ids beaten only from tier 0, and so on (longest-path layering).
 */
export function rankedPairs(rankings: readonly Ranking[]): Ranking {
  const { ids, prefers } = pairwiseTally(rankings);
  const size = ids.length;
  const edges: { from: number; to: number; margin: number; votes: number }[] = [];
  for (let a = 0; a < size; a++) {
    for (let b = 0; b < size; b++) {
      const votes = prefers[a]?.[b] ?? 0;
      const against = prefers[b]?.[a] ?? 0;
      if (votes > against) edges.push({ from: a, to: b, margin: votes - against, votes });
    }
  }
  edges.sort((x, y) => y.margin - x.margin || y.votes - x.votes);

  const locked: number[][] = ids.map(() => []);
  for (let start = 0; start < edges.length; ) {
    const head = edges[start];
    let end = start;
    while (end < edges.length && edges[end]?.margin === head?.margin && edges[end]?.votes === head?.votes) end++;
    const group = edges.slice(start, end);
    const trial = locked.map((targets) => [...targets]);
    for (const edge of group) trial[edge.from]?.push(edge.to);
    // An edge from → to lies on a cycle iff `to` reaches `from`.
    const keep = group.filter((edge) => !reaches(trial, edge.to, edge.from));
    for (const edge of keep) locked[edge.from]?.push(edge.to);
    start = end;
  }
  return { tiers: layer(ids, locked) };
}

/**
 * Copeland: score = pairwise majorities won − lost; equal tallies count for neither. Ids with
 * equal scores share a tier, best score first.
 */
export function copeland(rankings: readonly Ranking[]): Ranking {
  const { ids, prefers } = pairwiseTally(rankings);
  const scores = ids.map((_, a) => {
    let score = 0;
    for (let b = 0; b < ids.length; b++) {
      const votes = prefers[a]?.[b] ?? 0;
      const against = prefers[b]?.[a] ?? 0;
      if (votes > against) score++;
      else if (votes < against) score--;
    }
    return score;
  });
  const distinct = [...new Set(scores)].sort((x, y) => y - x);
  return { tiers: distinct.map((score) => ids.filter((_, i) => scores[i] === score)) };
}

function reaches(graph: readonly number[][], from: number, to: number): boolean {
  const seen = new Set<number>([from]);
  const stack = [from];
  while (stack.length > 0) {
    const node = stack.pop() ?? 0;
    if (node === to) return true;
    for (const next of graph[node] ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return false;
}

function layer(ids: readonly string[], graph: readonly number[][]): string[][] {
  // depth[v] = length of the longest locked path ending at v; the graph is a DAG, so
  // relaxing edges |V| times in any order converges.
  const depth = ids.map(() => 0);
  for (let round = 0; round < ids.length; round++) {
    let changed = false;
    graph.forEach((targets, from) => {
      for (const to of targets) {
        const candidate = (depth[from] ?? 0) + 1;
        if (candidate > (depth[to] ?? 0)) {
          depth[to] = candidate;
          changed = true;
        }
      }
    });
    if (!changed) break;
  }
  const tiers: string[][] = [];
  ids.forEach((id, i) => {
    const d = depth[i] ?? 0;
    while (tiers.length <= d) tiers.push([]);
    tiers[d]?.push(id);
  });
  return tiers.filter((tier) => tier.length > 0);
}
