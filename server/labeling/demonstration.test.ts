import assert from "node:assert/strict";
import { test } from "node:test";
import { demonstrationMessages, demonstrationOf } from "./demonstration.ts";
import { projectSettingsSchema } from "./project-settings.ts";
import { setToolRunner, settleToolResults } from "./tool-results.server.ts";
import type { ConversationMessage } from "./transcript.ts";

const call = (expression: string) => ({ type: "function" as const, function: { name: "calculator", arguments: { expression } } });
const steps = (expression: string, result: string): ConversationMessage[] => [
  { role: "assistant", content: "", tool_calls: [call(expression)] },
  { role: "tool", name: "calculator", content: result },
];
const user = (content: string): ConversationMessage => ({ role: "user", content });

test("a demonstration's payload becomes the conversation after the prompt, tool turns before each reply's final words", () => {
  const payload = { text: "81.", toolTurns: steps("9*9", "81"), continuation: [{ role: "user", content: "Times 2?" }, { role: "assistant", content: "162.", toolTurns: steps("81*2", "162") }] };
  assert.deepEqual(demonstrationMessages(payload), [...steps("9*9", "81"), { role: "assistant", content: "81." }, user("Times 2?"), ...steps("81*2", "162"), { role: "assistant", content: "162." }]);
  assert.deepEqual(demonstrationMessages({ text: "Hi" }), [{ role: "assistant", content: "Hi" }]);
});

test("an imported SFT conversation with tool use in an earlier turn is stored from its first reply on, and writes back the same", () => {
  const prompt = [user("What is 9 × 9?"), ...steps("9*9", "81"), { role: "assistant" as const, content: "81." }, user("Times 2?")];
  const answer = [...steps("81*2", "162"), { role: "assistant" as const, content: "162." }];
  const stored = demonstrationOf(prompt, answer);
  assert.deepEqual(stored.prompt, [user("What is 9 × 9?")]);
  assert.deepEqual([...stored.prompt, ...demonstrationMessages(stored.payload)], [...prompt, ...answer]);
  // Without earlier tool use the prompt is kept whole, as before.
  assert.deepEqual(demonstrationOf([user("Q")], answer), { prompt: [user("Q")], payload: { text: "162.", toolTurns: steps("81*2", "162") } });
  assert.deepEqual(demonstrationOf([user("Q")], "plain"), { prompt: [user("Q")], payload: { text: "plain" } });
});

test("the tool-result seam keeps the labeler's results until a runner is wired, then takes the tool's", async () => {
  const settings = projectSettingsSchema.parse({ tools: ["calculator"] });
  const payload = { text: "It is 156.", toolTurns: steps("12*13", "155"), continuation: [{ role: "user", content: "And 2*3?" }, { role: "assistant", content: "6", toolTurns: steps("2*3", "6") }] };
  assert.deepEqual(await settleToolResults(payload, settings), payload);
  setToolRunner(async (name, args) => (name === "calculator" && args.expression === "12*13" ? "156" : null));
  try {
    const settled = await settleToolResults(payload, settings);
    assert.equal((settled.toolTurns as ConversationMessage[])[1]!.content, "156");
    assert.deepEqual(settled.continuation, payload.continuation, "a result the runner does not give is kept");
  } finally {
    setToolRunner(null);
  }
});
