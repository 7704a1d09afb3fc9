import assert from "node:assert/strict";
import { test } from "node:test";
import { mixBatches, mixCopies, mixParam, mixParamSchema, mixRecords } from "./data-mix.ts";

const collect = async <T>(gen: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
};
async function* from<T>(items: T[]) {
  yield* items;
}

test("weights: 0 leaves a source out, 2 doubles it, 1 (or none) keeps it as it is, in order", async () => {
  assert.deepEqual(await collect(mixRecords(from(["a", "b"]), 2, "demonstrations")), ["a", "a", "b", "b"]);
  assert.deepEqual(await collect(mixRecords(from(["a", "b"]), 0, "qa")), []);
  assert.deepEqual(await collect(mixRecords(from(["a", "b"]), undefined, "qa")), ["a", "b"]);
  assert.deepEqual(await collect(mixBatches(from([[1, 2], [3]]), 3, "rankings")), [[1, 1, 1, 2, 2, 2], [3, 3, 3]]);
});

test("a fractional weight keeps that share of the records, the same ones every time", () => {
  const n = 20_000;
  const copies = Array.from({ length: n }, (_, i) => mixCopies(0.3, "corrections", i));
  const kept = copies.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(kept / n - 0.3) < 0.02, `kept ${kept / n}`);
  assert.deepEqual(copies, Array.from({ length: n }, (_, i) => mixCopies(0.3, "corrections", i)), "deterministic");
  // Small sets too: the first records of a source are not all on one side of the cut.
  const first = Array.from({ length: 18 }, (_, i) => mixCopies(0.5, "rankings", i)).reduce((a, b) => a + b, 0);
  assert.ok(first >= 4 && first <= 14, `kept ${first} of the first 18 at 0.5`);
  const onePointFive = Array.from({ length: n }, (_, i) => mixCopies(1.5, "compares", i));
  assert.ok(onePointFive.every((c) => c === 1 || c === 2));
  assert.ok(Math.abs(onePointFive.reduce((a, b) => a + b, 0) / n - 1.5) < 0.02);
});

test("the query form: source:weight pairs, refused when a source or weight is not one", () => {
  assert.deepEqual(mixParamSchema.parse("demonstrations:2,qa:0.5"), { demonstrations: 2, qa: 0.5 });
  for (const bad of ["demos:1", "qa:", "qa:-1", "qa:11", "qa:1:2", "qa:x"]) assert.equal(mixParamSchema.safeParse(bad).success, false, bad);
  assert.equal(mixParam({ demonstrations: 2, qa: 1, rankings: 0 }, ["demonstrations", "qa"]), "demonstrations:2", "weight 1 needs no parameter");
  assert.equal(mixParam({ rankings: 1 }, ["rankings"]), null);
});

test("the rankings' favourites are left out unless a mix weighs them; 1 is then a weight to write", async () => {
  assert.deepEqual(await collect(mixRecords(from(["a"]), undefined, "rankedBest")), []);
  assert.deepEqual(await collect(mixRecords(from(["a"]), 1, "rankedBest")), ["a"]);
  assert.deepEqual(await collect(mixBatches(from([[1]]), undefined, "rankedBest")), []);
  assert.equal(mixParam({ rankedBest: 1, demonstrations: 1 }, ["demonstrations", "rankedBest"]), "rankedBest:1");
  assert.equal(mixParam({ rankedBest: 0 }, ["rankedBest"]), null);
  assert.deepEqual(mixParamSchema.parse("rankedBest:0.5"), { rankedBest: 0.5 });
});
