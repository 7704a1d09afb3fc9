// The round page's held-out card: the KL from the chain's origin beside the round's own KL (decision 0058),
// the origin named, and its name escaped like every other text.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { HeldOutCard } from "../../app/components/held-out-report.tsx";
import type { HeldOutReport } from "../../server/rounds/round-warnings.ts";

const health = { undecodableShare: 0, loopShare: 0, emptyShare: 0, unfinishedShare: 0 };
const report = (over: Partial<HeldOutReport>): HeldOutReport => ({
  samples: 40, checker: null, reward: null, kl: 2.4, klStderr: 0.2, rmAccuracy: null, rmPairs: null,
  meanLength: { new: 10, previous: 10 }, health: { new: health, previous: health }, examples: [], ...over,
});

test("the KL from the origin shows beside the round's KL, with the origin named and escaped", () => {
  const html = renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ klFromOrigin: 7.5, klFromOriginStderr: 0.4, origin: { modelId: "17", name: "<b>Round 0</b> · sft" } }) }));
  assert.match(html, /KL to the reference: 2\.40 ± 0\.20 nats per answer\./);
  assert.match(html, /KL from &lt;b&gt;Round 0&lt;\/b&gt; · sft \(model 17\), where this chain of rounds started: 7\.50 ± 0\.40 nats per answer\./);
  assert.doesNotMatch(html, /<b>Round 0/);
});

test("no origin (a round straight off its SFT, or a stored report from before) shows no second KL; an unmeasured one says so", () => {
  assert.doesNotMatch(renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ klFromOrigin: null, origin: null }) })), /kl-from-origin|where this chain/);
  assert.doesNotMatch(renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({}) })), /kl-from-origin/);
  assert.match(renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ klFromOrigin: null, origin: { modelId: "17", name: "sft" } }) })), /where this chain of rounds started: not measured\./);
});

test("the checker's prompt-by-prompt changes show when the report has them, and not in a report stored before", () => {
  const checker = { new: 0.3, previous: 0.4, scored: 96, reasons: {} };
  const html = renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ checker: { ...checker, gained: 6, lost: 16 } }) }));
  assert.match(html, /Prompt by prompt: 6 right now that were wrong, 16 wrong now that were right\./);
  assert.doesNotMatch(renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ checker: { ...checker, gained: null, lost: null } }) })), /Prompt by prompt/);
});

test("the reward model's held-out accuracy shows beside the labelers' agreement on the same items, when the report has it", () => {
  const html = renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ rmAccuracy: 0.72, rmPairs: 342, rmLabelerAgreement: { rate: 0.77, compared: 1020 } }) }));
  assert.match(html, /orders 72(\.0)? ?% of 342 held-out preference pairs as the labelers did\./);
  assert.match(html, /the labelers agree with each other on 77 % of the pairs two of them both ordered \(1020 comparisons\)/);
  // a report stored before the figure existed, or one where no two labelers ordered a common pair
  assert.doesNotMatch(renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ rmAccuracy: 0.72, rmPairs: 342 }) })), /rm-labeler-agreement/);
  assert.doesNotMatch(renderToStaticMarkup(createElement(HeldOutCard, { heldOut: report({ rmAccuracy: 0.72, rmPairs: 342, rmLabelerAgreement: null }) })), /rm-labeler-agreement/);
});
