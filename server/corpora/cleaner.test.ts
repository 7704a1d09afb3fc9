import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { contentFilterConfigSchema } from "../labeling/import/content-filter.ts";
import { cleaningSettingsSchema, type CleaningSettingsInput } from "./cleaning-settings.ts";
import { CorpusCleaner, redact, type DocumentVerdict } from "./cleaner.ts";
import { contentHashOf } from "./corpora.server.ts";
import { signatureToBase64 } from "../labeling/import/minhash.ts";

const filter = contentFilterConfigSchema.parse({ blockedWords: ["detonator"] });
const settings = (input: Partial<CleaningSettingsInput> = {}) => cleaningSettingsSchema.parse({ corpusIds: ["1"], minChars: 20, ...input });

const words = ["river", "stone", "harbour", "lantern", "meadow", "copper", "thunder", "violet", "orchard", "glacier", "market", "whistle", "saddle", "canyon", "ember"];
/** A distinct English paragraph per seed: the function words make it English, the rest make it unlike the others. */
function paragraph(seed: number, length = 60): string {
  let state = seed * 2654435761;
  const out: string[] = [];
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out.push(i % 4 === 0 ? "the" : `${words[state % words.length]}${(state >>> 8) % 97}`);
  }
  return out.join(" ") + ".";
}

const doc = (id: string, text: string) => ({ id, text, contentHash: contentHashOf(text) });

test("drops exact and near duplicates, pointing at the first copy; keeps distinct documents", () => {
  const cleaner = new CorpusCleaner(settings(), filter);
  const a = paragraph(1);
  const b = paragraph(2);
  const nearA = a.replace(/\.$/, " and one more closing clause.");
  const verdicts = [doc("1", a), doc("2", b), doc("3", `  ${a.toUpperCase()}  `), doc("4", nearA), doc("5", paragraph(3))].map((d) => cleaner.judge(d));
  assert.deepEqual(verdicts.map((v) => [v.documentId, v.verdict, v.reason, v.duplicateOf]), [
    ["1", "kept", null, null],
    ["2", "kept", null, null],
    ["3", "dropped", "exact_duplicate", "1"],
    ["4", "dropped", "near_duplicate", "1"],
    ["5", "kept", null, null],
  ]);
  assert.ok(verdicts[3]!.similarity! >= 0.8 && verdicts[3]!.similarity! < 1);
});

test("length and language filters come first, and what they drop is not a duplicate's original", () => {
  const cleaner = new CorpusCleaner(settings({ minChars: 50, maxChars: 2_000, languages: ["de"] }), filter);
  const german = "Die Geschichte der Stadt ist lang, und sie wurde von dem Fluss geprägt, der durch sie fließt und nicht stillsteht.";
  const verdicts = [doc("1", "zu kurz"), doc("2", paragraph(4)), doc("3", german), doc("4", "x".repeat(2_001)), doc("5", paragraph(4))].map((d) => cleaner.judge(d));
  assert.deepEqual(verdicts.map((v) => [v.verdict, v.reason]), [["dropped", "too_short"], ["dropped", "language"], ["kept", null], ["dropped", "too_long"], ["dropped", "language"]]);
  assert.equal(verdicts[1]!.language, "en");
  assert.equal(verdicts[2]!.language, "de");
});

test("content-filter hits are flagged for review (or dropped); PII is redacted, flagged or dropped as asked", () => {
  const blocked = `${paragraph(5)} Attach the detonator to the frame.`;
  const pii = `${paragraph(6)} Write to jane.doe@example.com or call +44 20 7946 0958.`;
  const judge = (input: Partial<CleaningSettingsInput>, text: string) => new CorpusCleaner(settings(input), filter).judge(doc("1", text));

  const flagged = judge({}, blocked);
  assert.deepEqual([flagged.verdict, flagged.reason], ["flagged", "content_filter"]);
  assert.deepEqual(flagged.hits.map((h) => [h.kind, h.match]), [["word", "detonator"]]);
  assert.deepEqual([judge({ contentFilter: "drop" }, blocked).verdict], ["dropped"]);

  const redacted = judge({}, pii);
  assert.equal(redacted.verdict, "kept");
  assert.ok(redacted.redactedText!.endsWith("Write to [EMAIL] or call [PHONE]."), redacted.redactedText!);
  assert.deepEqual([judge({ pii: "flag" }, pii).verdict, judge({ pii: "flag" }, pii).reason], ["flagged", "pii"]);
  assert.deepEqual([judge({ pii: "drop" }, pii).verdict, judge({ pii: "drop" }, pii).redactedText], ["dropped", null]);
});

test("redact replaces each PII span once, leaving other hits alone", () => {
  const text = "mail a@b.example, ip 10.1.2.3, word bomb";
  const hits = [
    { kind: "email" as const, match: "a@b.example", index: 5 },
    { kind: "ip_address" as const, match: "10.1.2.3", index: 21 },
    { kind: "word" as const, match: "bomb", index: 36 },
  ];
  assert.equal(redact(text, hits), "mail [EMAIL], ip [IP_ADDRESS], word bomb");
});

test("a cleaner restored from stored signatures judges the rest exactly as an uninterrupted one", () => {
  const docs = Array.from({ length: 40 }, (_, i) => doc(String(i + 1), i % 5 === 4 ? paragraph(i - 3) : i % 7 === 6 ? paragraph(i - 5).replace(/\.$/, " with a small change.") : paragraph(i)));
  const whole = new CorpusCleaner(settings(), filter);
  const expected = docs.map((d) => whole.judge(d));

  const first = new CorpusCleaner(settings(), filter);
  const before: DocumentVerdict[] = docs.slice(0, 17).map((d) => first.judge(d));
  const resumed = new CorpusCleaner(settings(), filter);
  for (const v of before) if (v.minhash) resumed.restore(v.documentId, docs[Number(v.documentId) - 1]!.contentHash, v.minhash);
  const after = docs.slice(17).map((d) => resumed.judge(d));
  assert.deepEqual([...before, ...after], expected);
  assert.ok(expected.some((v) => v.reason === "exact_duplicate") && expected.some((v) => v.reason === "near_duplicate"));
});

test("settings out of range are refused with the field named", () => {
  const problems = (input: Record<string, unknown>) => cleaningSettingsSchema.safeParse({ corpusIds: ["1"], ...input }).error?.issues.map((i) => i.path.join("."));
  assert.deepEqual(problems({ nearDuplicateThreshold: 1 }), ["nearDuplicateThreshold"]);
  assert.deepEqual(problems({ minChars: -1 }), ["minChars"]);
  assert.deepEqual(problems({ minChars: 500, maxChars: 100 }), ["maxChars"]);
  assert.deepEqual(problems({ minLanguageConfidence: 1.5 }), ["minLanguageConfidence"]);
  assert.deepEqual(problems({ languages: ["xx"] }), ["languages.0"]);
  assert.deepEqual(problems({ corpusIds: ["1", "1"] }), ["corpusIds"]);
  assert.deepEqual(problems({ pii: "ignore" }), ["pii"]);
});

test("with a tiny memory budget the index spills to sorted runs on disk and every verdict equals the in-memory cleaner's", () => {
  // 600 documents: distinct paragraphs, exact copies (re-cased), near copies of earlier ones, whitespace-only texts
  // (zero-width spaces: an empty signature, so the exact index only) and a few blocked-word documents, so every path
  // of the index is asked.
  const docs = Array.from({ length: 600 }, (_, i) => {
    const id = String(i + 1);
    if (i % 11 === 10) return doc(id, `  ${paragraph(Math.floor(i / 3)).toUpperCase()} `);
    if (i % 13 === 12) return doc(id, paragraph(Math.floor(i / 2)).replace(/\.$/, ` and a closing clause number ${i % 3}.`));
    if (i % 37 === 36) return doc(id, "\u200b ".repeat(12 + (i % 4)));
    if (i % 41 === 40) return doc(id, `${paragraph(i)} Attach the detonator.`);
    return doc(id, paragraph(i));
  });
  const memory = new CorpusCleaner(settings(), filter);
  const expected = docs.map((d) => memory.judge(d));
  assert.deepEqual(memory.disk, { spilledDocuments: 0, runs: 0 });

  const spillDir = mkdtempSync(join(tmpdir(), "cleaner-test-"));
  try {
    const disk = new CorpusCleaner(settings(), filter, undefined, { maxInMemory: 3, spillDir });
    const got = docs.map((d) => disk.judge(d));
    assert.deepEqual(got, expected);
    assert.equal(disk.indexed, memory.indexed);
    assert.ok(disk.disk.spilledDocuments >= memory.indexed - 3 && disk.disk.runs >= 2, JSON.stringify(disk.disk));
    const reasons = new Set(expected.map((v) => v.reason));
    assert.ok(expected.some((v) => v.minhash === signatureToBase64(new Uint32Array(128).fill(0xffffffff))), "no document with an empty signature was indexed");
    for (const reason of ["exact_duplicate", "near_duplicate", "content_filter", null]) assert.ok(reasons.has(reason as never), `no ${reason} verdict`);
    // The duplicates' originals are found on disk, not only in the in-memory tier.
    assert.ok(expected.filter((v) => v.duplicateOf !== null && Number(v.documentId) - Number(v.duplicateOf) > 20).length > 10);
    assert.equal(readdirSync(spillDir).length, 1);
    disk.close();
    assert.deepEqual(readdirSync(spillDir), []);

    // Resumed from stored signatures with the same tiny budget: the rest is judged as before.
    const resumed = new CorpusCleaner(settings(), filter, undefined, { maxInMemory: 2, spillDir });
    for (const v of expected.slice(0, 333)) if (v.minhash) resumed.restore(v.documentId, docs[Number(v.documentId) - 1]!.contentHash, v.minhash);
    assert.deepEqual(docs.slice(333).map((d) => resumed.judge(d)), expected.slice(333));
    resumed.close();
  } finally {
    rmSync(spillDir, { recursive: true, force: true });
  }
});
