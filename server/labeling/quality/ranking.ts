// The shape of one labeler's ranking of the K completions shown for an item, and the
// one place where an untrusted submission is turned into it. Everything else in this
// folder takes an already-validated Ranking and trusts it.
import { z } from "zod";

/** Preference strength between adjacent tiers: 1 slight, 2 clear, 3 strong (HH-style scale). */
export const MIN_STRENGTH = 1;
export const MAX_STRENGTH = 3;

export const rankingSchema = z
  .object({
    // Best tier first; ids inside one tier are tied.
    tiers: z.array(z.array(z.string().min(1)).min(1)),
    // strengths[i] is the strength of preference of tier i over tier i + 1.
    strengths: z.array(z.number().int().min(MIN_STRENGTH).max(MAX_STRENGTH)).optional(),
    // The "none acceptable / cannot rank" escape: one tier holding every id (or no tier), no pairs.
    notRankable: z.boolean().optional(),
  })
  .strict();
export type Ranking = z.infer<typeof rankingSchema>;

export const preferencePairSchema = z.object({
  chosen: z.string(),
  rejected: z.string(),
  margin: z.number(),
  weight: z.number(),
});
export type PreferencePair = z.infer<typeof preferencePairSchema>;

// The submission is parsed loosely first (shape only) so that every semantic problem can
// be reported at once in words a labeler understands, instead of zod's first-failure paths.
const tiersInputSchema = z
  .object({
    tiers: z.array(z.array(z.string())),
    strengths: z.array(z.number()).optional(),
    notRankable: z.boolean().optional(),
  })
  .strict();
const ranksInputSchema = z
  .object({
    ranks: z.record(z.string(), z.number()),
    strengths: z.array(z.number()).optional(),
    notRankable: z.boolean().optional(),
  })
  .strict();

export type RankingValidation = { ok: true; ranking: Ranking } | { ok: false; reasons: string[] };

/**
 * Validates a submitted ranking of the completions `shownIds` (the ids the labeler was shown).
 * Accepts `{ tiers, strengths?, notRankable? }` or the alternative `{ ranks: { id: rank } }`
 * (1 = best, equal numbers = tie, integers 1..K), which is converted to tiers.
 */
export function validateRanking(shownIds: readonly string[], input: unknown): RankingValidation {
  if (new Set(shownIds).size !== shownIds.length) {
    // The caller built the task; a duplicated shown id is a server bug, not a labeler mistake.
    throw new Error("validateRanking: shownIds contains duplicates");
  }
  const reasons: string[] = [];
  let tiers: string[][];
  let strengths: number[] | undefined;
  let notRankable: boolean | undefined;
  // Ids whose rank number was refused: already reported, so not reported again as missing.
  const badRankIds = new Set<string>();

  if (typeof input === "object" && input !== null && "ranks" in input) {
    const parsed = ranksInputSchema.safeParse(input);
    if (!parsed.success) return { ok: false, reasons: shapeReasons(parsed.error) };
    const converted = ranksToTiers(shownIds.length, parsed.data.ranks, reasons, badRankIds);
    tiers = converted;
    strengths = parsed.data.strengths;
    notRankable = parsed.data.notRankable;
  } else {
    const parsed = tiersInputSchema.safeParse(input);
    if (!parsed.success) return { ok: false, reasons: shapeReasons(parsed.error) };
    tiers = parsed.data.tiers;
    strengths = parsed.data.strengths;
    notRankable = parsed.data.notRankable;
  }

  // Ids: each shown id exactly once, nothing else.
  const shown = new Set(shownIds);
  const seen = new Map<string, number>();
  tiers.forEach((tier, index) => {
    if (tier.length === 0) reasons.push(`tier ${index + 1} is empty`);
    for (const id of tier) seen.set(id, (seen.get(id) ?? 0) + 1);
  });
  for (const [id, count] of seen) {
    if (!shown.has(id)) reasons.push(`unknown completion id "${id}" (it was not shown in this task)`);
    else if (count > 1) reasons.push(`completion "${id}" appears ${count} times`);
  }
  const missing = shownIds.filter((id) => !seen.has(id) && !badRankIds.has(id));
  const emptyEscape = notRankable === true && tiers.length === 0;
  if (missing.length > 0 && !emptyEscape) {
    reasons.push(`missing completion${missing.length > 1 ? "s" : ""} ${missing.map((id) => `"${id}"`).join(", ")}`);
  }

  if (notRankable === true) {
    if (tiers.length > 1) reasons.push("a ranking marked not rankable cannot also order the completions (use one tier or none)");
    if (strengths !== undefined && strengths.length > 0) reasons.push("a ranking marked not rankable cannot have preference strengths");
  } else if (strengths !== undefined) {
    const expected = Math.max(tiers.length - 1, 0);
    if (strengths.length !== expected) {
      reasons.push(`expected ${expected} preference strength${expected === 1 ? "" : "s"} (one between each pair of adjacent tiers), got ${strengths.length}`);
    }
    strengths.forEach((strength, index) => {
      if (!Number.isInteger(strength) || strength < MIN_STRENGTH || strength > MAX_STRENGTH) {
        reasons.push(`strength ${index + 1} is ${strength}; it must be a whole number from ${MIN_STRENGTH} (slight) to ${MAX_STRENGTH} (strong)`);
      }
    });
  }

  if (reasons.length > 0) return { ok: false, reasons };
  const ranking: Ranking = { tiers: tiers.map((tier) => [...tier]) };
  if (notRankable === true) ranking.notRankable = true;
  else if (strengths !== undefined && strengths.length > 0) ranking.strengths = [...strengths];
  return { ok: true, ranking };
}

function ranksToTiers(k: number, ranks: Record<string, number>, reasons: string[], badRankIds: Set<string>): string[][] {
  const byRank = new Map<number, string[]>();
  for (const [id, rank] of Object.entries(ranks)) {
    if (!Number.isInteger(rank) || rank < 1 || rank > k) {
      reasons.push(`rank of "${id}" is ${rank}; ranks must be whole numbers from 1 (best) to ${k}`);
      badRankIds.add(id);
      continue;
    }
    const tier = byRank.get(rank);
    if (tier) tier.push(id);
    else byRank.set(rank, [id]);
  }
  // Gaps (1, 3) are harmless: only the order of the rank numbers carries meaning.
  return [...byRank.entries()].sort(([a], [b]) => a - b).map(([, ids]) => ids);
}

function shapeReasons(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join(".") : "ranking";
    return `${where}: ${issue.message}`;
  });
}

/**
 * 1-based average rank position of every id (the standard "fractional ranking": a tie
 * shares the mean of the positions it occupies), e.g. [[a, b], [c]] → a 1.5, b 1.5, c 3.
 * A not-rankable ranking has no positions.
 */
export function averageRankPositions(ranking: Ranking): Map<string, number> {
  const positions = new Map<string, number>();
  if (ranking.notRankable === true) return positions;
  let before = 0;
  for (const tier of ranking.tiers) {
    // Positions before+1 .. before+|tier| averaged.
    const average = before + (tier.length + 1) / 2;
    for (const id of tier) positions.set(id, average);
    before += tier.length;
  }
  return positions;
}

/** Tier index (0 = best) of every id; ids in a not-rankable ranking are all tied at 0. */
export function tierIndex(ranking: Ranking): Map<string, number> {
  const index = new Map<string, number>();
  ranking.tiers.forEach((tier, i) => {
    for (const id of tier) index.set(id, ranking.notRankable === true ? 0 : i);
  });
  return index;
}
