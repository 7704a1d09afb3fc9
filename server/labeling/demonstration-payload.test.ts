import assert from "node:assert/strict";
import { test } from "node:test";
import { AppError } from "../lib/app-error.ts";
import { projectSettingsSchema } from "./project-settings.ts";
import { validatePayload } from "./submissions.server.ts";

const settings = projectSettingsSchema.parse({});
const check = (payload: unknown) => validatePayload("demonstrate", payload, [], settings);
const refusal = (payload: unknown): string[] => {
  try {
    check(payload);
  } catch (error) {
    assert.ok(error instanceof AppError);
    return error.fieldErrors.map((e) => `${e.path}: ${e.message}`);
  }
  assert.fail(`expected ${JSON.stringify(payload)} to be refused`);
};

test("a demonstration is one reply, or a reply and the conversation continued after it", () => {
  assert.deepEqual(check({ text: "Hi!" }), { text: "Hi!" });
  const continuation = [
    { role: "user", content: "And in French?" },
    { role: "assistant", content: "Salut !" },
  ];
  assert.deepEqual(check({ text: "Hi!", continuation }), { text: "Hi!", continuation });
});

test("a continuation alternates user and assistant and ends with the assistant", () => {
  assert.deepEqual(refusal({ text: "Hi", continuation: [{ role: "user", content: "More?" }] }), [
    "continuation.0: the conversation must end with the assistant's reply to the last user message",
  ]);
  assert.match(refusal({ text: "Hi", continuation: [{ role: "assistant", content: "a" }, { role: "user", content: "b" }] }).join("\n"), /turn 1 after the reply must be "user"/);
  assert.match(refusal({ text: "Hi", continuation: [{ role: "user", content: "  " }, { role: "assistant", content: "x" }] }).join("\n"), /continuation\.0\.content: Write the user's message or remove the turn/);
  assert.match(refusal({ text: "Hi", continuation: [{ role: "system", content: "x" }, { role: "assistant", content: "x" }] }).join("\n"), /continuation\.0/);
  assert.match(refusal({ text: "Hi", extra: 1 }).join("\n"), /extra|Unrecognized/i);
});
