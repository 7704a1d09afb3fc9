import assert from "node:assert/strict";
import { test } from "node:test";
import { demonstrationDraftFrom, emptyRankingDraft, rankingDraftFrom } from "../../app/components/task/redo-draft.ts";
import { tiersOf } from "../../app/components/task/ranking-slots.ts";

// A sent-back redo starts from what the labeler submitted (decision 0044): each part of it back in the form.

test("a submitted ranking comes back whole: tiers with their ties, strengths, scores, flags and rationale", () => {
  const shown = ["c1", "c2", "c3", "c4"];
  const previous = {
    ranking: { tiers: [["c3"], ["c1", "c4"], ["c2"]], strengths: [2, 1] },
    quality: { c1: 5, c3: 7 },
    flags: { c2: ["hallucination"], c4: [] },
    rationale: "C3 answers the question; C2 invents a source.",
  };
  const draft = rankingDraftFrom(previous, shown);
  assert.deepEqual(draft.ranks, { c3: 1, c1: 2, c4: 2, c2: 3 });
  // The form turns slots back into the same tiers it would submit (within a tier, in the shown order).
  assert.deepEqual(tiersOf(shown, draft.ranks), [["c3"], ["c1", "c4"], ["c2"]]);
  assert.deepEqual(draft.strengths, { 0: 2, 1: 1 });
  assert.deepEqual(draft.quality, { c1: 5, c3: 7 });
  assert.deepEqual(draft.flags, { c2: ["hallucination"] });
  assert.equal(draft.rationale, "C3 answers the question; C2 invents a source.");
  assert.equal(draft.notRankable, false);
});

test("'none is acceptable' comes back ticked; ids the task did not show, and odd values, are dropped", () => {
  assert.deepEqual(rankingDraftFrom({ ranking: { tiers: [["a", "b"]], notRankable: true }, rationale: "all wrong" }, ["a", "b"]), {
    ...emptyRankingDraft(), notRankable: true, rationale: "all wrong",
  });
  assert.deepEqual(rankingDraftFrom({ ranking: { tiers: [["zz"], ["a"]] }, quality: { zz: 3, a: "x" }, flags: { a: "no" } }, ["a"]), { ...emptyRankingDraft(), ranks: { a: 2 } });
  assert.deepEqual(rankingDraftFrom({}, ["a"]), emptyRankingDraft());
});

test("a submitted demonstration comes back with its tool calls and every later exchange", () => {
  const previous = {
    text: "It is 148.",
    toolTurns: [
      { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: "37 * 4" } } }] },
      { role: "tool", name: "calculator", content: "148" },
      { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "search", arguments: { query: "tandem" } } }] },
      { role: "tool", name: "search", content: "" },
    ],
    continuation: [
      { role: "user", content: "And half of it?" },
      {
        role: "assistant", content: "74.",
        toolTurns: [
          { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: "148 / 2" } } }] },
          { role: "tool", name: "calculator", content: "74" },
        ],
      },
      { role: "user", content: "Thanks" },
      { role: "assistant", content: "You're welcome." },
    ],
  };
  assert.deepEqual(demonstrationDraftFrom(previous), {
    text: "It is 148.",
    steps: [
      { tool: "calculator", input: "37 * 4", result: "148" },
      // A tool without a known argument field takes its arguments as JSON; an empty result stays empty.
      { tool: "search", input: '{"query":"tandem"}', result: "" },
    ],
    turns: [
      { user: "And half of it?", assistant: "74.", steps: [{ tool: "calculator", input: "148 / 2", result: "74" }] },
      { user: "Thanks", assistant: "You're welcome." },
    ],
  });
  assert.deepEqual(demonstrationDraftFrom({ text: "Hi." }), { text: "Hi.", turns: [] });
});
