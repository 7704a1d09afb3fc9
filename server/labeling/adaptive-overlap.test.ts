import assert from "node:assert/strict";
import { test } from "node:test";
import { adaptiveOverlapSchema, initialOverlap, itemAgreement, stopsEarly, wantsAnother } from "./adaptive-overlap.ts";

const r = (...ids: string[]) => ({ tiers: ids.map((id) => [id]) });
const settings = adaptiveOverlapSchema.parse({ enabled: true, start: 2, max: 4, agreementBelow: 0.75 });

test("pooled agreement over every pair of labels, by hand", () => {
  assert.equal(itemAgreement([r("a", "b", "c"), r("a", "b", "c")]), 1);
  assert.equal(itemAgreement([r("a", "b", "c"), r("c", "b", "a")]), 0);
  // Pairs of labels: (1,2) 0/3, (1,3) 3/3, (2,3) 0/3 → 3/9.
  assert.equal(itemAgreement([r("a", "b", "c"), r("c", "b", "a"), r("a", "b", "c")]), 1 / 3);
  assert.equal(itemAgreement([{ tiers: [["a", "b"]] }, r("a", "b")]), null, "a tie orders nothing");
  assert.equal(itemAgreement([r("a", "b")]), null);
});

test("one more labeler only on disagreement, and never past the cap", () => {
  assert.equal(wantsAnother([r("a", "b"), r("b", "a")], 2, settings), true);
  assert.equal(wantsAnother([r("a", "b"), r("a", "b")], 2, settings), false);
  assert.equal(wantsAnother([r("a", "b"), r("b", "a")], 4, settings), false);
  assert.equal(wantsAnother([{ tiers: [["a", "b"]] }, r("a", "b")], 2, settings), false, "nothing compared: no evidence of disagreement");
});

test("new ranking tasks start at `start` only when enabled; other types keep their overlap", () => {
  const overlap = { demonstrate: 1, rank: 3, review: 1, compare: 3 };
  assert.equal(initialOverlap({ overlap, adaptiveOverlap: settings }, "rank"), 2);
  assert.equal(initialOverlap({ overlap, adaptiveOverlap: settings }, "compare"), 3);
  assert.equal(initialOverlap({ overlap, adaptiveOverlap: { ...settings, enabled: false } }, "rank"), 3);
  assert.equal(adaptiveOverlapSchema.safeParse({ start: 5, max: 4 }).error?.issues[0]?.path.join("."), "max");
});

test("early stop: enough agreeing labels, a confident reward model, and its best answer first in every label", () => {
  const early = adaptiveOverlapSchema.parse({ enabled: true, start: 3, max: 4, agreementBelow: 0.75, earlyStop: { after: 2, confidentMargin: 1 } });
  const confident = { margin: 1.5, best: "a" };
  assert.equal(stopsEarly([r("a", "b"), r("a", "b")], early, confident), true);
  assert.equal(stopsEarly([r("a", "b")], early, confident), false, "fewer than `after` labels");
  assert.equal(stopsEarly([r("a", "b"), r("b", "a")], early, confident), false, "the labels disagree");
  assert.equal(stopsEarly([r("a", "b"), r("a", "b")], early, { margin: 0.5, best: "a" }), false, "the model is unsure");
  assert.equal(stopsEarly([r("b", "a"), r("b", "a")], early, confident), false, "the model prefers another answer");
  assert.equal(stopsEarly([r("a", "b"), r("a", "b")], early, null), false, "no score yet");
  assert.equal(stopsEarly([r("a", "b"), r("a", "b")], settings, confident), false, "early stop off (the default)");
  assert.equal(settings.earlyStop, null);
  assert.equal(adaptiveOverlapSchema.safeParse({ start: 2, earlyStop: { after: 2, confidentMargin: 1 } }).error?.issues[0]?.path.join("."), "earlyStop.after");
});
