import assert from "node:assert/strict";
import { test } from "node:test";
import { contentFilterConfigSchema } from "./content-filter.ts";
import type { ImportRecord } from "./import-record.ts";
import { textSignature } from "./minhash.ts";
import { contentHash } from "./normalize.ts";
import { parseImportFile } from "./parse-import-file.ts";
import { nearDuplicateText, planImport } from "./plan-import.ts";

const prompt = (line: number, content: string, extra: Partial<ImportRecord> = {}): ImportRecord => ({
  line,
  messages: [{ role: "user", content }],
  completions: [],
  source: null,
  metadata: {},
  ...extra,
});

// Long enough for word 3-grams to be meaningful; one changed word in ~50 keeps Jaccard around 0.9.
const essay =
  "Explain in simple terms how a transformer language model uses attention to decide which earlier words matter when it predicts " +
  "the next word in a sentence, and give a short example with a sentence about a cat sitting on a warm mat near the kitchen window " +
  "while the rain falls outside and the kettle starts to whistle on the old stove in the corner of the small apartment";
const essayNear = essay.replace("whistle", "sing");
const other = "Write a haiku about autumn leaves falling into a quiet river at dusk, with a mention of the smell of woodsmoke from a nearby cabin";

test("statuses: new, exact and near duplicates in the file; the first occurrence stays new", () => {
  const plan = planImport({
    records: [prompt(1, essay), prompt(2, other), prompt(3, `  ${essay.toUpperCase()}\n`), prompt(5, essayNear), prompt(6, "A completely different question about tax law in Spain."), prompt(7, essayNear)],
  });
  assert.deepEqual(
    plan.items.map((item) => [item.line, item.status, item.duplicateOf]),
    [
      [1, "new", null],
      [2, "new", null],
      [3, "exact_duplicate_in_file", { line: 1 }],
      [5, "near_duplicate_in_file", { line: 1 }],
      [6, "new", null],
      // an exact copy points at the first identical line, even though that line is itself a near duplicate
      [7, "exact_duplicate_in_file", { line: 5 }],
    ],
  );
  assert.equal(plan.items[2]?.similarity, 1);
  assert.equal(plan.items[2]?.signature, null, "exact duplicates are never stored, so no signature is computed");
  const similarity = plan.items[3]?.similarity ?? 0;
  assert.ok(similarity >= 0.8 && similarity < 1, `similarity ${similarity}`);
  assert.equal(plan.counts.new, 3);
  assert.equal(plan.counts.exact_duplicate_in_file, 2);
  assert.equal(plan.counts.near_duplicate_in_file, 1);
  assert.equal(plan.counts.toImport, 3);
});

test("duplicates of prompts already in the project: exact by hash (named when given a Map), near by signature", () => {
  const stored = [{ role: "user" as const, content: essay }];
  const records = [prompt(1, essay), prompt(2, essayNear), prompt(3, other), prompt(4, other)];
  const withSet = planImport({ records, existing: { hashes: new Set([contentHash(stored)]), signatures: [{ id: "p-9", signature: textSignature(essay) }] } });
  assert.deepEqual(
    withSet.items.map((item) => [item.status, item.duplicateOf]),
    [
      ["exact_duplicate_in_project", null],
      ["near_duplicate_in_project", { id: "p-9" }],
      ["new", null],
      ["exact_duplicate_in_file", { line: 3 }],
    ],
  );
  const withMap = planImport<number>({ records, existing: { hashes: new Map([[contentHash(stored), 9]]), signatures: [{ id: 9, signature: textSignature(essay) }] } });
  assert.deepEqual(withMap.items[0]?.duplicateOf, { id: 9 });
  assert.equal(withMap.counts.exact_duplicate_in_project, 1);
  assert.equal(withMap.counts.near_duplicate_in_project, 1);
});

test("the near-duplicate threshold is configurable", () => {
  const records = [prompt(1, essay), prompt(2, essayNear)];
  assert.equal(planImport({ records, nearDuplicateThreshold: 0.99 }).items[1]?.status, "new");
  assert.equal(planImport({ records, nearDuplicateThreshold: 0.5 }).items[1]?.status, "near_duplicate_in_file");
});

test("content filter hits route a record to review, with the field of each hit; duplicates keep their duplicate status", () => {
  const filter = contentFilterConfigSchema.parse({ blockedWords: ["darn"] });
  const plan = planImport({
    filter,
    records: [
      prompt(1, "Please email me at someone@example.com with the answer."),
      prompt(2, "What is the boiling point of water at altitude?", { completions: [{ text: "It is darn low.", model: null }] }),
      prompt(3, "please EMAIL me at someone@example.com with the answer."),
      prompt(4, "Nothing to see here, just a question about soup."),
    ],
  });
  assert.deepEqual(plan.items.map((item) => item.status), ["filtered", "filtered", "exact_duplicate_in_file", "new"]);
  assert.deepEqual(plan.items[0]?.filterHits, [{ kind: "email", match: "someone@example.com", index: 19, field: "messages[0].content" }]);
  assert.deepEqual(plan.items[1]?.filterHits.map((hit) => [hit.kind, hit.field]), [["word", "completions[0].text"]]);
  // a duplicate of a filtered record points at it (filtered records are imported, to review)
  assert.deepEqual(plan.items[2]?.duplicateOf, { line: 1 });
  assert.equal(plan.items[2]?.filterHits.length, 1);
  assert.equal(plan.counts.filtered, 2);
  assert.equal(plan.counts.toImport, 3);
});

test("a shared system prompt neither makes different prompts near duplicates nor hides exact ones", () => {
  const system = "You are a helpful, harmless and honest assistant. ".repeat(20);
  const withSystem = (line: number, content: string): ImportRecord => ({ ...prompt(line, content), messages: [{ role: "system", content: system }, { role: "user", content }] });
  const plan = planImport({ records: [withSystem(1, "What is the capital of France?"), withSystem(2, "How do I bake sourdough bread at home?"), withSystem(3, "what is the capital of france?")] });
  assert.deepEqual(plan.items.map((item) => item.status), ["new", "new", "exact_duplicate_in_file"]);
  assert.equal(nearDuplicateText(withSystem(1, "q").messages), "q");
  // same user turn under another system prompt is a different prompt (roles and system text are hashed)...
  assert.notEqual(plan.items[0]?.contentHash, contentHash([{ role: "user", content: "What is the capital of France?" }]));
});

test("near copies of a near copy are compared with the kept record, not chained", () => {
  const words = essay.split(" ");
  const variants = [0, 1, 2, 3].map((k) => words.map((word, i) => (i % 30 === k ? `${word}x${k}` : word)).join(" "));
  const plan = planImport({ records: variants.map((text, i) => prompt(i + 1, text)), nearDuplicateThreshold: 0.5 });
  assert.equal(plan.items[0]?.status, "new");
  for (const item of plan.items.slice(1)) {
    assert.equal(item.status, "near_duplicate_in_file");
    assert.deepEqual(item.duplicateOf, { line: 1 });
  }
});

test("issues are passed through and counted by line; each item carries hash and signature to store", () => {
  const parsed = parseImportFile(['{"prompt":"a fine prompt"}', "{oops", '{"prompt":""}', '{"prompt":"another fine prompt"}'].join("\n"), "jsonl");
  const plan = planImport({ records: parsed.records, issues: parsed.issues });
  assert.equal(plan.counts.records, 2);
  assert.equal(plan.counts.invalidLines, 2);
  assert.deepEqual(plan.issues.map((issue) => issue.line), [2, 3]);
  assert.match(plan.items[0]?.contentHash ?? "", /^[0-9a-f]{64}$/);
  assert.equal(plan.items[0]?.signature?.length, 128);
});

test("existing signatures of another length are refused rather than silently compared wrongly", () => {
  assert.throws(
    () => planImport({ records: [prompt(1, essay)], existing: { hashes: new Set(), signatures: [{ id: "old", signature: textSignature(essay, 64) }] } }),
    /has 64 values, expected 128/,
  );
});
