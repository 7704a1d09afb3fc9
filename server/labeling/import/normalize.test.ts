import assert from "node:assert/strict";
import { test } from "node:test";
import { contentHash, normalizeForHash } from "./normalize.ts";

test("normalizeForHash: NFKC, lowercase, invisible characters dropped, whitespace collapsed and trimmed", () => {
  assert.equal(normalizeForHash("  Hello\t\tWORLD \n\n again  "), "hello world again");
  assert.equal(normalizeForHash("Ｆｕｌｌｗｉｄｔｈ ﬁle"), "fullwidth file");
  assert.equal(normalizeForHash("non\u00a0breaking\u2003em space"), "non breaking em space");
  assert.equal(normalizeForHash("zero\u200bwidth soft\u00adhyphen"), "zerowidth softhyphen");
  // composed and decomposed é are the same text
  assert.equal(normalizeForHash("caf\u00e9"), normalizeForHash("cafe\u0301"));
  assert.equal(normalizeForHash("   "), "");
});

test("contentHash: sha256 hex, equal for texts that normalize the same", () => {
  const a = contentHash([{ role: "user", content: "What is  the capital of France?" }]);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(a, contentHash([{ role: "user", content: "what is the capital of france?\n" }]));
  assert.notEqual(a, contentHash([{ role: "user", content: "What is the capital of Spain?" }]));
});

test("contentHash: roles and turn boundaries are part of the identity", () => {
  const asUser = contentHash([{ role: "user", content: "Be nice." }]);
  const asSystem = contentHash([
    { role: "system", content: "Be nice." },
    { role: "user", content: "x" },
  ]);
  assert.notEqual(asUser, contentHash([{ role: "system", content: "Be nice." }]));
  assert.notEqual(asUser, asSystem);
  const split1 = contentHash([
    { role: "user", content: "a b" },
    { role: "assistant", content: "c" },
    { role: "user", content: "d" },
  ]);
  const split2 = contentHash([
    { role: "user", content: "a" },
    { role: "assistant", content: "b c" },
    { role: "user", content: "d" },
  ]);
  assert.notEqual(split1, split2);
});
