import assert from "node:assert/strict";
import { test } from "node:test";
import { demonstrationMessages, demonstrationOf } from "./demonstration.ts";
import { projectSettingsSchema } from "./project-settings.ts";
import { settleToolResults } from "./tool-results.server.ts";
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

test("a demonstration's tool results are the calculator's own: a mistyped result is replaced, a refused call keeps the tool's error", async () => {
  const settings = projectSettingsSchema.parse({ tools: ["calculator"] });
  const payload = { text: "It is 156.", toolTurns: steps("12*13", "155"), continuation: [{ role: "user", content: "And 2/0?" }, { role: "assistant", content: "No.", toolTurns: steps("2/0", "0") }] };
  const settled = await settleToolResults(payload, settings);
  assert.equal((settled.toolTurns as ConversationMessage[])[1]!.content, "156");
  const later = (settled.continuation as Array<{ toolTurns?: ConversationMessage[] }>)[1]!.toolTurns!;
  assert.equal(later[1]!.content, "error: division by zero");
  // a runner that answers null keeps what the labeler wrote
  assert.deepEqual(await settleToolResults(payload, settings, async () => null), payload);
  // a project without tools is left alone
  assert.deepEqual(await settleToolResults(payload, projectSettingsSchema.parse({})), payload);
});
