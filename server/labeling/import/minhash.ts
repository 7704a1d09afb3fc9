/**
 * Near-duplicate detection: MinHash signatures over shingles, LSH banding to find candidate pairs, and verification by
 * signature agreement. Broder 1997, "On the resemblance and containment of documents"; Leskovec, Rajaraman & Ullman,
 * Mining of Massive Datasets, ch. 3 (banding).
 *
 * Everything is 32-bit integer arithmetic (Math.imul, >>> 0): BigInt or float modular arithmetic in the per-shingle ×
 * per-permutation loop is what makes naive JS MinHash slow.
 */
import { normalizeForHash } from "./normalize.ts";

const invisible = /\p{Default_Ignorable_Code_Point}/gu;

export const DEFAULT_NUM_PERM = 128;
export const DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.8;
/**
 * Signatures are only comparable when made by the same shingling, hashes and seed. Store this next to stored signatures and
 * recompute them when it changes.
 */
export const MINHASH_SCHEME = "minhash-v1:word3|char5:fnv1a32:affine32+fmix32:seed=0x7a6d3e11";
const SEED = 0x7a6d3e11;

export type Signature = Uint32Array;

/** FNV-1a over UTF-16 code units of text[start, end). */
function fnv1a(text: string, start = 0, end = text.length): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3's 32-bit finalizer: a bijection with full avalanche. */
function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const scriptsWithoutSpaces = "\\p{sc=Han}\\p{sc=Hiragana}\\p{sc=Katakana}\\p{sc=Thai}\\p{sc=Lao}\\p{sc=Khmer}\\p{sc=Myanmar}";
const hasUnspacedScript = new RegExp(`[${scriptsWithoutSpaces}]`, "u");
const simpleWords = /[\p{L}\p{N}\p{M}]+/gu;
// In scripts written without spaces every character counts as a word, so a Chinese paragraph gets character 3-grams instead of one giant "word".
const mixedWords = new RegExp(`[${scriptsWithoutSpaces}]|(?:(?![${scriptsWithoutSpaces}])[\\p{L}\\p{N}\\p{M}])+`, "gu");

export const SHINGLE_WORDS = 3;
export const SHINGLE_CHARS = 5;

/**
 * Hashed shingles of a text (deduplicated): word 3-grams of the normalized text, or character 5-grams when it has fewer than
 * three words (a short text has too few word 3-grams to say anything). Shingle hashes are 32-bit; collisions in sets of a few
 * thousand shingles are negligible (~n²/2³³).
 */
export function shingleHashes(text: string): Uint32Array {
  // Same canonical form as normalizeForHash minus the whitespace collapse, which word matching makes unnecessary (and which
  // costs as much as the matching itself).
  const folded = text.normalize("NFKC").toLowerCase().replace(invisible, "");
  const words = folded.match(hasUnspacedScript.test(folded) ? mixedWords : simpleWords) ?? [];
  let hashes: Uint32Array;
  if (words.length >= SHINGLE_WORDS) {
    const wordHashes = words.map((word) => fnv1a(word));
    hashes = new Uint32Array(wordHashes.length - SHINGLE_WORDS + 1);
    for (let i = 0; i < hashes.length; i++) {
      hashes[i] = fmix32(fmix32(fmix32(wordHashes[i] ?? 0) ^ (wordHashes[i + 1] ?? 0)) ^ (wordHashes[i + 2] ?? 0));
    }
  } else {
    const normalized = normalizeForHash(text);
    if (normalized.length === 0) return new Uint32Array(0);
    if (normalized.length <= SHINGLE_CHARS) return Uint32Array.of(fnv1a(normalized));
    hashes = new Uint32Array(normalized.length - SHINGLE_CHARS + 1);
    for (let i = 0; i < hashes.length; i++) hashes[i] = fnv1a(normalized, i, i + SHINGLE_CHARS);
  }
  // Sort + dedupe in place: several times faster than a Set for a few hundred numbers.
  hashes.sort();
  let unique = 0;
  for (let i = 0; i < hashes.length; i++) if (i === 0 || hashes[i] !== hashes[unique - 1]) hashes[unique++] = hashes[i] ?? 0;
  return hashes.subarray(0, unique);
}

/** The shingle hashes as a Set, for exactJaccard. */
export function shingleSet(text: string): Set<number> {
  return new Set(shingleHashes(text));
}

/** |A ∩ B| / |A ∪ B|; two empty sets count as identical. */
export function exactJaccard<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  if (a.size === 0 && b.size === 0) return 1;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let shared = 0;
  for (const item of small) if (large.has(item)) shared++;
  return shared / (a.size + b.size - shared);
}

type Permutations = { a: Uint32Array; b: Uint32Array };
const permutationCache = new Map<number, Permutations>();

/** Fixed-seed coefficients (mulberry32), so the same text gets the same signature in every process and release. */
function permutations(numPerm: number): Permutations {
  const cached = permutationCache.get(numPerm);
  if (cached) return cached;
  let state = SEED;
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const a = new Uint32Array(numPerm);
  const b = new Uint32Array(numPerm);
  for (let i = 0; i < numPerm; i++) {
    a[i] = next() | 1; // odd multiplier: x ↦ a·x + b is then a bijection mod 2³²
    b[i] = next();
  }
  const made = { a, b };
  permutationCache.set(numPerm, made);
  return made;
}

/**
 * MinHash signature: for each of numPerm hash functions h_i(x) = fmix32((a_i·x + b_i) mod 2³²), the minimum over the shingles.
 * The affine map is the universal-hashing step done in native 32-bit multiply; its low bits are weak (mod 2^k it only sees the low k
 * bits of x), so murmur3's finalizer mixes the high bits down before taking the minimum.
 * An empty shingle set gives all 0xFFFFFFFF; callers skip such signatures (see isEmptySignature).
 */
export function minhashSignature(shingles: Uint32Array, numPerm = DEFAULT_NUM_PERM): Signature {
  if (!Number.isInteger(numPerm) || numPerm < 1) throw new RangeError(`numPerm must be a positive integer, got ${numPerm}`);
  const { a, b } = permutations(numPerm);
  const signature = new Uint32Array(numPerm);
  const n = shingles.length;
  for (let i = 0; i < numPerm; i++) {
    const ai = a[i] ?? 1;
    const bi = b[i] ?? 0;
    let min = 0xffffffff;
    for (let j = 0; j < n; j++) {
      let h = (Math.imul(ai, shingles[j] ?? 0) + bi) | 0;
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
      h >>>= 0;
      if (h < min) min = h;
    }
    signature[i] = min;
  }
  return signature;
}

export function textSignature(text: string, numPerm = DEFAULT_NUM_PERM): Signature {
  return minhashSignature(shingleHashes(text), numPerm);
}

export function isEmptySignature(signature: Signature): boolean {
  return signature.every((value) => value === 0xffffffff);
}

/** Fraction of positions where the signatures agree: an unbiased estimate of the Jaccard similarity (std ≈ √(J(1−J)/numPerm)). */
export function estimateJaccard(a: Signature, b: Signature): number {
  if (a.length !== b.length) throw new RangeError(`signatures differ in length (${a.length} vs ${b.length}); were they made with the same numPerm?`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return a.length === 0 ? 0 : same / a.length;
}

// Serialization. Explicit little-endian so a signature stored by one machine reads the same on any other.
export function signatureToBase64(signature: Signature): string {
  const bytes = Buffer.alloc(signature.length * 4);
  for (let i = 0; i < signature.length; i++) bytes.writeUInt32LE(signature[i] ?? 0, i * 4);
  return bytes.toString("base64");
}

export function signatureFromBase64(encoded: string): Signature {
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.length % 4 !== 0) throw new RangeError(`a signature is a whole number of 4-byte values; got ${bytes.length} bytes`);
  const signature = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < signature.length; i++) signature[i] = bytes.readUInt32LE(i * 4);
  return signature;
}

export function signatureToArray(signature: Signature): number[] {
  return Array.from(signature);
}

export function signatureFromArray(values: readonly number[]): Signature {
  const bad = values.findIndex((value) => !Number.isInteger(value) || value < 0 || value > 0xffffffff);
  if (bad >= 0) throw new RangeError(`signature value ${bad} is not an unsigned 32-bit integer: ${values[bad]}`);
  return Uint32Array.from(values);
}

// ---- LSH banding ----

/** Probability that a pair with Jaccard s shares at least one band: 1 − (1 − s^r)^b. */
export function collisionProbability(similarity: number, bands: number, rows: number): number {
  return 1 - (1 - similarity ** rows) ** bands;
}

/** The similarity where the S-curve is steepest, approximately where P = 1/2: t ≈ (1/b)^(1/r). */
export function lshThreshold(bands: number, rows: number): number {
  return (1 / bands) ** (1 / rows);
}

function integrate(f: (x: number) => number, from: number, to: number, steps = 200): number {
  if (to <= from) return 0;
  const width = (to - from) / steps;
  let sum = 0;
  for (let i = 0; i < steps; i++) sum += f(from + (i + 0.5) * width);
  return sum * width;
}

/**
 * Picks bands × rows = numPerm minimizing the weighted false-positive area ∫₀ᵗ P(s) ds plus false-negative area ∫ₜ¹ (1 − P(s)) ds,
 * as datasketch does. Candidates are verified against the signatures afterwards, so a false positive costs a comparison while a
 * false negative is a missed duplicate: the default weights favour recall. (With b·r fixed to numPerm the choices are coarse, e.g.
 16×8 or 8×16 for 128; equal weights would pick 8×16 at t = 0.8, which finds only 20 % of the pairs sitting at 0.8.)
 */
export function chooseBands(threshold: number, numPerm = DEFAULT_NUM_PERM, weights = { falsePositive: 0.1, falseNegative: 0.9 }): { bands: number; rows: number } {
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`threshold must be strictly between 0 and 1, got ${threshold}`);
  let best = { bands: numPerm, rows: 1, error: Infinity };
  for (let rows = 1; rows <= numPerm; rows++) {
    if (numPerm % rows !== 0) continue;
    const bands = numPerm / rows;
    const falsePositive = integrate((s) => collisionProbability(s, bands, rows), 0, threshold);
    const falseNegative = integrate((s) => 1 - collisionProbability(s, bands, rows), threshold, 1);
    const error = weights.falsePositive * falsePositive + weights.falseNegative * falseNegative;
    if (error < best.error) best = { bands, rows, error };
  }
  return { bands: best.bands, rows: best.rows };
}

/**
 * Buckets of ids per band. A bucket key is a 32-bit hash of the band's rows; a collision only adds a candidate that verification
 * drops. Most buckets hold one id, stored inline: an array per bucket would cost bands × records small arrays (~100 MB at 100k).
 */
export class LshIndex<Id extends string | number> {
  private readonly tables: Map<number, Id | Id[]>[];

  constructor(
    readonly bands: number,
    readonly rows: number,
  ) {
    this.tables = Array.from({ length: bands }, () => new Map<number, Id | Id[]>());
  }

  /** The bucket key of one band of a signature (the on-disk dedup index stores these). */
  bandKey(signature: Signature, band: number): number {
    let h = band;
    const start = band * this.rows;
    for (let i = start; i < start + this.rows; i++) h = fmix32(h ^ (signature[i] ?? 0));
    return h;
  }

  add(id: Id, signature: Signature): void {
    if (signature.length !== this.bands * this.rows) throw new RangeError(`signature has ${signature.length} values, the index expects ${this.bands * this.rows}`);
    for (let band = 0; band < this.bands; band++) {
      const table = this.tables[band];
      if (!table) continue;
      const key = this.bandKey(signature, band);
      const bucket = table.get(key);
      if (bucket === undefined) table.set(key, id);
      else if (Array.isArray(bucket)) bucket.push(id);
      else table.set(key, [bucket, id]);
    }
  }

  /** Ids sharing at least one band with the signature, in no particular order. */
  candidates(signature: Signature): Set<Id> {
    const found = new Set<Id>();
    for (let band = 0; band < this.bands; band++) {
      const bucket = this.tables[band]?.get(this.bandKey(signature, band));
      if (bucket === undefined) continue;
      if (Array.isArray(bucket)) for (const id of bucket) found.add(id);
      else found.add(bucket);
    }
    return found;
  }
}

export type NearDuplicatePair<C, E> =
  | { a: C; b: C; against: "candidate"; similarity: number }
  | { a: C; b: E; against: "existing"; similarity: number };

/**
 * Every pair (candidate, earlier candidate) and (candidate, existing) whose estimated Jaccard is ≥ threshold. `a` is always the
 * later candidate; pairs come in candidate order, most similar first. Existing signatures must have been made with the same
 * numPerm and MINHASH_SCHEME.
 */
export function findNearDuplicates<C, E>(
  candidates: readonly { id: C; text: string }[],
  existing: readonly { id: E; signature: Signature }[],
  threshold = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  numPerm = DEFAULT_NUM_PERM,
): NearDuplicatePair<C, E>[] {
  const { bands, rows } = chooseBands(threshold, numPerm);
  // One index over both populations, keyed by position: existing first, then candidates as they are processed.
  const index = new LshIndex<number>(bands, rows);
  const signatures: Signature[] = [];
  for (const item of existing) {
    index.add(signatures.length, item.signature);
    signatures.push(item.signature);
  }
  const pairs: NearDuplicatePair<C, E>[] = [];
  candidates.forEach((candidate, position) => {
    const signature = textSignature(candidate.text, numPerm);
    signatures.push(signature); // keeps signatures[existing.length + position] aligned even when this one is skipped
    if (isEmptySignature(signature)) return;
    const found: NearDuplicatePair<C, E>[] = [];
    for (const other of index.candidates(signature)) {
      const otherSignature = signatures[other];
      if (!otherSignature) continue;
      const similarity = estimateJaccard(signature, otherSignature);
      if (similarity < threshold) continue;
      if (other < existing.length) {
        const match = existing[other];
        if (match) found.push({ a: candidate.id, b: match.id, against: "existing", similarity });
      } else {
        const match = candidates[other - existing.length];
        if (match) found.push({ a: candidate.id, b: match.id, against: "candidate", similarity });
      }
    }
    found.sort((x, y) => y.similarity - x.similarity);
    pairs.push(...found);
    index.add(existing.length + position, signature);
  });
  return pairs;
}
