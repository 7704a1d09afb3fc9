import assert from "node:assert/strict";
import { test } from "node:test";
import {
  chooseBands,
  collisionProbability,
  estimateJaccard,
  exactJaccard,
  findNearDuplicates,
  LshIndex,
  lshThreshold,
  minhashSignature,
  shingleHashes,
  shingleSet,
  signatureFromArray,
  signatureFromBase64,
  signatureToArray,
  signatureToBase64,
  textSignature,
} from "./minhash.ts";

/** Deterministic generator (mulberry32), so every run tests the same texts. */
function rng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = rng(42);
const vocabulary = Array.from({ length: 5000 }, () => {
  const length = 3 + Math.floor(random() * 7);
  return Array.from({ length }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");
});
const randomWords = (count: number): string[] => Array.from({ length: count }, () => vocabulary[Math.floor(random() * vocabulary.length)] ?? "x");
/** Replaces a fraction of the words; more replaced words, lower Jaccard. */
function mutate(words: readonly string[], fraction: number): string[] {
  return words.map((word) => (random() < fraction ? (randomWords(1)[0] ?? word) : word));
}

test("shingles: word 3-grams, character 5-grams below three words, punctuation and case ignored", () => {
  assert.equal(shingleSet("the quick brown fox jumps").size, 3);
  assert.deepEqual(shingleSet("The quick, brown FOX!"), shingleSet("the quick brown fox"));
  // "hello there" has 2 words: character 5-grams of "hello there" (11 chars → 7)
  assert.equal(shingleSet("hello there").size, 7);
  assert.equal(shingleSet("hi").size, 1);
  assert.equal(shingleSet("").size, 0);
  // Chinese has no spaces: each character is a word, so a sentence still gets many shingles
  assert.ok(shingleSet("今天天气很好我们去公园散步吧").size >= 10);
  assert.deepEqual(shingleHashes("a b c a b c a b c").length, 3);
});

test("exactJaccard on sets", () => {
  assert.equal(exactJaccard(new Set([1, 2, 3]), new Set([2, 3, 4])), 0.5);
  assert.equal(exactJaccard(new Set([1]), new Set([2])), 0);
  assert.equal(exactJaccard(new Set(), new Set()), 1);
});

test("MinHash estimate tracks the exact Jaccard on generated texts (128 permutations)", () => {
  const errors: number[] = [];
  for (let pair = 0; pair < 60; pair++) {
    const base = randomWords(80 + Math.floor(random() * 120));
    const other = mutate(base, (pair % 12) / 20); // 0 % .. 55 % of the words replaced: Jaccard ≈ 1 .. 0.05
    const a = shingleSet(base.join(" "));
    const b = shingleSet(other.join(" "));
    const exact = exactJaccard(a, b);
    const estimate = estimateJaccard(minhashSignature(Uint32Array.from(a)), minhashSignature(Uint32Array.from(b)));
    // σ = √(J(1−J)/128) ≤ 0.044; 0.15 is 3.4σ
    assert.ok(Math.abs(estimate - exact) < 0.15, `pair ${pair}: estimate ${estimate} vs exact ${exact}`);
    errors.push(estimate - exact);
  }
  const meanAbs = errors.reduce((sum, e) => sum + Math.abs(e), 0) / errors.length;
  const bias = errors.reduce((sum, e) => sum + e, 0) / errors.length;
  assert.ok(meanAbs < 0.05, `mean |error| ${meanAbs}`);
  assert.ok(Math.abs(bias) < 0.02, `bias ${bias}`);
});

test("more permutations, smaller error (512 permutations)", () => {
  let worst = 0;
  for (let pair = 0; pair < 20; pair++) {
    const base = randomWords(150);
    const a = shingleSet(base.join(" "));
    const b = shingleSet(mutate(base, 0.1).join(" "));
    const estimate = estimateJaccard(minhashSignature(Uint32Array.from(a), 512), minhashSignature(Uint32Array.from(b), 512));
    worst = Math.max(worst, Math.abs(estimate - exactJaccard(a, b)));
  }
  assert.ok(worst < 0.08, `worst error ${worst}`);
});

test("identical texts have identical signatures; signatures are deterministic", () => {
  const text = randomWords(50).join(" ");
  assert.deepEqual(textSignature(text), textSignature(text.toUpperCase()));
  assert.equal(textSignature(text).length, 128);
  assert.equal(estimateJaccard(textSignature(text), textSignature(text)), 1);
  assert.throws(() => estimateJaccard(textSignature(text, 64), textSignature(text)), /differ in length/);
});

test("signatures round-trip through base64 and number[]", () => {
  const signature = textSignature("serialize me into postgres please, thanks");
  const base64 = signatureToBase64(signature);
  assert.equal(base64.length, Math.ceil((128 * 4) / 3) * 4);
  assert.deepEqual(signatureFromBase64(base64), signature);
  const array = signatureToArray(signature);
  assert.ok(array.every((value) => Number.isInteger(value) && value >= 0 && value <= 0xffffffff));
  assert.deepEqual(signatureFromArray(JSON.parse(JSON.stringify(array)) as number[]), signature);
  assert.throws(() => signatureFromArray([1, -1]), /unsigned 32-bit/);
  assert.throws(() => signatureFromBase64("AAA="), /4-byte/);
});

test("banding: b·r = numPerm, threshold formula (1/b)^(1/r), S-curve around the threshold", () => {
  assert.ok(Math.abs(lshThreshold(16, 8) - 0.7071) < 1e-4);
  assert.ok(Math.abs(lshThreshold(8, 16) - 0.8781) < 1e-4);
  // at s = (1/b)^(1/r): s^r = 1/b, so P = 1 − (1 − 1/b)^b ≈ 1 − 1/e
  assert.ok(Math.abs(collisionProbability(lshThreshold(16, 8), 16, 8) - (1 - (1 - 1 / 16) ** 16)) < 1e-12);
  for (const threshold of [0.5, 0.6, 0.7, 0.8, 0.9]) {
    for (const numPerm of [64, 128, 256]) {
      const { bands, rows } = chooseBands(threshold, numPerm);
      assert.equal(bands * rows, numPerm);
      // pairs clearly above the threshold are found, and pairs far below it rarely collide
      const above = Math.min(threshold + 0.1, (1 + threshold) / 2);
      assert.ok(collisionProbability(above, bands, rows) > 0.85, `t=${threshold} n=${numPerm} b=${bands} r=${rows}`);
      assert.ok(collisionProbability(threshold - 0.4, bands, rows) < 0.15, `t=${threshold} n=${numPerm} b=${bands} r=${rows}`);
    }
  }
  assert.deepEqual(chooseBands(0.8, 128), { bands: 16, rows: 8 });
  assert.throws(() => chooseBands(1, 128), /between 0 and 1/);
});

test("LSH index: a near-identical signature shares a band, an unrelated one almost never does", () => {
  const index = new LshIndex<string>(16, 8);
  const base = randomWords(120);
  index.add("base", textSignature(base.join(" ")));
  assert.ok(index.candidates(textSignature(mutate(base, 0.02).join(" "))).has("base"));
  assert.equal(index.candidates(textSignature(randomWords(120).join(" "))).size, 0);
});

test("findNearDuplicates finds a 0.9-similar pair and pairs no unrelated texts", () => {
  const base = randomWords(200);
  // Replace one word in ~every 60 → about 5 % of 3-grams change, Jaccard ≈ 0.9
  const near = base.map((word, i) => (i % 60 === 30 ? "zzzchanged" : word));
  const exact = exactJaccard(shingleSet(base.join(" ")), shingleSet(near.join(" ")));
  assert.ok(exact > 0.85 && exact < 0.95, `set-up Jaccard ${exact}`);

  const unrelated = Array.from({ length: 300 }, (_, i) => ({ id: `u${i}`, text: randomWords(40 + (i % 50)).join(" ") }));
  const candidates = [{ id: "base", text: base.join(" ") }, ...unrelated, { id: "near", text: near.join(" ") }];
  const pairs = findNearDuplicates(candidates, [], 0.8);
  assert.equal(pairs.length, 1);
  assert.equal(pairs[0]?.a, "near");
  assert.equal(pairs[0]?.b, "base");
  assert.equal(pairs[0]?.against, "candidate");
  assert.ok(Math.abs((pairs[0]?.similarity ?? 0) - exact) < 0.1);
});

test("findNearDuplicates against existing signatures, with a configurable threshold", () => {
  const stored = randomWords(100);
  const existing = [{ id: 17, signature: signatureFromBase64(signatureToBase64(textSignature(stored.join(" ")))) }];
  const edited = mutate(stored, 0.04).join(" ");
  const loose = findNearDuplicates([{ id: "new", text: edited }], existing, 0.5);
  assert.deepEqual(loose.map((pair) => [pair.a, pair.b, pair.against]), [["new", 17, "existing"]]);
  const strict = findNearDuplicates([{ id: "new", text: edited }], existing, 0.99);
  assert.deepEqual(strict, []);
});
