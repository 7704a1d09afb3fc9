import { z } from "zod";

/**
 * Data-mix weights: how much each source of training data counts in a dataset. A weight w sends
 * every record of its source out ⌊w⌋ times, plus once more for a fixed share w − ⌊w⌋ of them
 * (chosen by a hash of the record's place, so the same data give the same file): 0 leaves the
 * source out, 0.5 keeps about half, 2 doubles it. Any trainer (Tandem's, or an engine reading
 * the bundle) then sees the mix as proportions of its epochs.
 */
export const MIX_SOURCES = ["demonstrations", "qa", "rankedBest", "rankings", "compares", "corrections"] as const;
export type MixSource = (typeof MIX_SOURCES)[number];
export type DataMix = Partial<Record<MixSource, number>>;
export const MAX_MIX_WEIGHT = 10;

/**
 * A source's weight when the mix leaves it blank: 1 (as labeled), except the rankings' favourites as SFT
 * examples (decision 0069), which SFT reads only when asked: a ranking already trains DPO and reward models, and
 * an SFT round that had quietly grown by every ranking's top answer would not be the round it was.
 */
export const MIX_DEFAULT_WEIGHT: Record<MixSource, number> = { demonstrations: 1, qa: 1, rankedBest: 0, rankings: 1, compares: 1, corrections: 1 };

/** Each source's name on the launch form and the round page. */
export const MIX_SOURCE_LABELS: Record<MixSource, string> = {
  demonstrations: "Demonstrations (SFT)", qa: "Reviewed Q&A (SFT)", rankedBest: "Rankings' top answers (SFT)",
  rankings: "Rankings", compares: "A/B compares", corrections: "Reviewers' corrections",
};

/** The weight a mix gives a source, its default when blank. */
export const mixWeight = (mix: DataMix | null | undefined, source: MixSource): number => mix?.[source] ?? MIX_DEFAULT_WEIGHT[source];

/** `demonstrations:1,qa:0.5,corrections:2` in a query string. */
export const mixParamSchema = z
  .string()
  .transform((text, ctx) => {
    const mix: DataMix = {};
    for (const part of text.split(",")) {
      const [source, weight, extra] = part.split(":");
      const value = Number(weight);
      if (extra !== undefined || !MIX_SOURCES.includes(source as MixSource) || weight === undefined || weight.trim() === "" || !Number.isFinite(value) || value < 0 || value > MAX_MIX_WEIGHT) {
        ctx.addIssue({ code: "custom", message: `"${part}" is not source:weight (sources ${MIX_SOURCES.join(", ")}; weights 0–${MAX_MIX_WEIGHT})` });
        return z.NEVER;
      }
      mix[source as MixSource] = value;
    }
    return mix;
  });

/** The sources each dataset is made of; a weight for another source means nothing there and is refused. */
export const MIX_SOURCES_OF = {
  sft: ["demonstrations", "qa", "rankedBest"],
  preferences: ["rankings", "compares", "corrections"],
  unpaired: ["rankings", "compares", "corrections"],
} as const satisfies Record<string, readonly MixSource[]>;

/** The refusal for weights a dataset has no source for (null when all apply). */
export function inapplicableMix(mix: DataMix | undefined, dataset: string): { path: string; message: string } | null {
  if (!mix) return null;
  const allowed: readonly MixSource[] = (MIX_SOURCES_OF as Record<string, readonly MixSource[]>)[dataset] ?? [];
  const wrong = Object.keys(mix).filter((s) => !allowed.includes(s as MixSource));
  if (wrong.length === 0) return null;
  return { path: "mix", message: allowed.length > 0 ? `${dataset} is made of ${allowed.join(", ")}, not ${wrong.join(", ")}` : `${dataset} has no data-mix sources` };
}

/** The weights a mix sets away from their sources' defaults, in MIX_SOURCES order: what a query or a page must name. */
export function mixChanges(mix: DataMix, sources: readonly MixSource[]): Array<[MixSource, number]> {
  return sources.flatMap((s) => (mix[s] !== undefined && mix[s] !== MIX_DEFAULT_WEIGHT[s] ? [[s, mix[s]] as [MixSource, number]] : []));
}

export function mixParam(mix: DataMix, sources: readonly MixSource[]): string | null {
  const parts = mixChanges(mix, sources).map(([s, w]) => `${s}:${w}`);
  return parts.length > 0 ? parts.join(",") : null;
}

/**
 * 32-bit FNV-1a of a string, then murmur3's finalizer (FNV alone leaves the high bits of
 * strings that differ in one last digit nearly equal), as a fraction in [0, 1).
 */
export function hashFraction(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** How many copies record `index` of `source` gets under `weight` (undefined = the source's default). */
export function mixCopies(weight: number | undefined, source: MixSource, index: number): number {
  weight ??= MIX_DEFAULT_WEIGHT[source];
  if (weight === 1) return 1;
  const whole = Math.floor(weight);
  return whole + (hashFraction(`${source}:${index}`) < weight - whole ? 1 : 0);
}

/** A source's records, one by one, repeated or thinned by its weight. */
export async function* mixRecords<T>(records: AsyncIterable<T>, weight: number | undefined, source: MixSource): AsyncGenerator<T> {
  weight ??= MIX_DEFAULT_WEIGHT[source];
  // a source left out is never read (the favourites, blank by default, would otherwise scan every ranking)
  if (weight === 0) return;
  let index = 0;
  for await (const record of records) {
    for (let copy = mixCopies(weight, source, index++); copy > 0; copy--) yield record;
  }
}

/** The same for a source that comes in batches (the preference pairs). */
export async function* mixBatches<T>(batches: AsyncIterable<T[]>, weight: number | undefined, source: MixSource): AsyncGenerator<T[]> {
  weight ??= MIX_DEFAULT_WEIGHT[source];
  if (weight === 1) {
    yield* batches;
    return;
  }
  if (weight === 0) return;
  let index = 0;
  for await (const batch of batches) {
    const out: T[] = [];
    for (const record of batch) for (let copy = mixCopies(weight, source, index++); copy > 0; copy--) out.push(record);
    if (out.length > 0) yield out;
  }
}
