import assert from "node:assert/strict";
import { test } from "node:test";
import { redactHits } from "./corpus-review.server.ts";
import { reviewDecisionSchema } from "./review-scale.ts";

test("a reviewer's redaction replaces every hit with the category's token, overlapping hits once", () => {
  const text = "wire the detonator, then the DETONATOR cap; call 555 0100";
  const hits = [
    { index: 9, match: "detonator" },
    { index: 29, match: "DETONATOR" },
    { index: 29, match: "DETONATOR cap" },
  ];
  assert.equal(redactHits(text, hits, "weapons"), "wire the [WEAPONS], then the [WEAPONS] cap; call 555 0100");
  assert.equal(redactHits(text, [], "weapons"), text);
});

test("drop and redact need a category; keep does not", () => {
  assert.equal(reviewDecisionSchema.safeParse({ decision: "keep" }).success, true);
  assert.deepEqual(reviewDecisionSchema.safeParse({ decision: "redact" }).error?.issues.map((i) => i.path.join(".")), ["category"]);
  assert.deepEqual(reviewDecisionSchema.safeParse({ decision: "drop", category: "gore" }).error?.issues.map((i) => i.path.join(".")), ["category"]);
  assert.equal(reviewDecisionSchema.safeParse({ decision: "drop", category: "self_harm" }).success, true);
});
