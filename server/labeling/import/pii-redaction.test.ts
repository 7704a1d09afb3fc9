import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultContentFilterConfig } from "./content-filter.ts";
import { maskPii, redactRecord } from "./pii-redaction.ts";

test("each kind of PII becomes its typed placeholder; the rest of the text stays", () => {
  const { text, masked } = maskPii("Write to jane.doe@example.com or +44 20 7946 0958; card 4111 1111 1111 1111 from 203.0.113.7.", defaultContentFilterConfig);
  assert.equal(text, "Write to [EMAIL] or [PHONE]; card [CARD_NUMBER] from [IP_ADDRESS].");
  assert.equal(masked, 4);
  assert.deepEqual(maskPii("Nothing here, version 1.2.3.4, year 2024.", defaultContentFilterConfig), { text: "Nothing here, version 1.2.3.4, year 2024.", masked: 0 });
});

test("a detector switched off is left alone; words and patterns are never masked", () => {
  const filter = { ...defaultContentFilterConfig, blockedWords: ["secret"], pii: { ...defaultContentFilterConfig.pii, email: false } };
  assert.equal(maskPii("secret: a@b.org, 4111111111111111", filter).text, "secret: a@b.org, [CARD_NUMBER]");
});

test("a record whose user turn was only PII is 'emptied'; completions and transcripts are masked too", () => {
  const record = {
    line: 1, source: null, metadata: {},
    messages: [{ role: "user" as const, content: "jane@example.com, +1 415 555 0100." }],
    completions: [{ text: "Call 020 7946 0958", model: null, messages: [{ role: "assistant" as const, content: "Call 020 7946 0958" }] }],
  };
  const result = redactRecord(record, defaultContentFilterConfig);
  assert.equal(result.emptied, true);
  assert.equal(result.record.messages[0]!.content, "[EMAIL], [PHONE].");
  assert.equal(result.record.completions[0]!.text, "Call [PHONE]");
  assert.equal(result.record.completions[0]!.messages![0]!.content, "Call [PHONE]");
  assert.equal(result.masked, 4);
  assert.equal(redactRecord({ ...record, messages: [{ role: "user", content: "Email jane@example.com about it" }] }, defaultContentFilterConfig).emptied, false);
});
