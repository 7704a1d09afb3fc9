import assert from "node:assert/strict";
import { test } from "node:test";
import { insertAt, tieWith, tiersOf, unrank, unranked } from "../../app/components/task/ranking-slots.ts";

const ids = ["A", "B", "C"];
const press = (presses: Array<[string, number]>, k = 3) => presses.reduce((slots, [id, rank]) => insertAt(slots, id, rank, k), {} as Record<string, number>);

test("nothing is ranked at first; the number pressed is the rank given", () => {
  assert.deepEqual(unranked(ids, {}), ids);
  assert.deepEqual(tiersOf(ids, {}), []);
  const slots = press([["A", 3]]);
  assert.deepEqual(slots, { A: 3 }, "a hole above is fine while building");
  assert.deepEqual(unranked(ids, slots), ["B", "C"]);
});

test("a number key inserts at that rank and renumbers the rest", () => {
  // B to 1 over A: A moves down to 2.
  assert.deepEqual(press([["A", 1], ["B", 1]]), { A: 2, B: 1 });
  // C to 2: A (at 2) moves down to 3.
  assert.deepEqual(tiersOf(ids, press([["A", 1], ["B", 1], ["C", 2]])), [["B"], ["C"], ["A"]]);
  // Building bottom-up keeps what was pressed: A third, B second, C first.
  assert.deepEqual(tiersOf(ids, press([["A", 3], ["B", 2], ["C", 1]])), [["C"], ["B"], ["A"]]);
  // Only the run right after the rank moves; a later rank beyond a free one stays.
  assert.deepEqual(press([["A", 1], ["C", 3], ["B", 1]]), { A: 2, B: 1, C: 3 });
});

test("moving a ranked completion within a full ranking lands it exactly at the rank pressed", () => {
  const full = press([["B", 1], ["A", 2], ["C", 3]]);
  assert.deepEqual(tiersOf(ids, insertAt(full, "C", 1, 3)), [["C"], ["B"], ["A"]]);
  assert.deepEqual(tiersOf(ids, insertAt(full, "B", 3, 3)), [["A"], ["C"], ["B"]], "no room below: the others move up");
  assert.deepEqual(insertAt(full, "B", 3, 3), { A: 1, C: 2, B: 3 });
  assert.deepEqual(insertAt(full, "A", 2, 3), full, "pressing its own rank changes nothing");
});

test("ties are explicit: tieWith joins whoever holds the rank; insert never ties", () => {
  const tied = tieWith(press([["A", 1]]), "B", 1, 3);
  assert.deepEqual(tiersOf(ids, tied), [["A", "B"]]);
  // Inserting at a tied rank moves the whole tier down.
  assert.deepEqual(tiersOf(ids, insertAt(tied, "C", 1, 3)), [["C"], ["A", "B"]]);
  assert.deepEqual(insertAt(tied, "C", 1, 3), { A: 2, B: 2, C: 1 });
  // Inserting at a tier's rank when there is no room below moves the tier up.
  const four = ["A", "B", "C", "D"];
  const tiedLow = tieWith(insertAt(insertAt({}, "A", 3, 4), "B", 4, 4), "C", 4, 4); // A 3, B = C 4
  assert.deepEqual(tiersOf(four, insertAt(tiedLow, "D", 4, 4)), [["A"], ["B", "C"], ["D"]]);
});

test("unrank takes a completion out; ranks outside 1..K are clamped", () => {
  assert.deepEqual(unrank({ A: 1, B: 2 }, "A"), { B: 2 });
  assert.deepEqual(insertAt({}, "A", 9, 3), { A: 3 });
  assert.deepEqual(insertAt({}, "A", 0, 3), { A: 1 });
});
