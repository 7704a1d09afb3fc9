import assert from "node:assert/strict";
import { test } from "node:test";
import { documentSha256, documentUploadSchema, MAX_DOCUMENT_CHARS, parseDocumentUpload } from "./document-upload.ts";

const upload = (files: Array<{ name: string; content: string; format?: string }>, chunkChars?: number) =>
  parseDocumentUpload(documentUploadSchema.parse({ files, ...(chunkChars ? { chunkChars } : {}) }));

test("text, markdown and JSONL files become documents with chunks; format from the extension", () => {
  const { documents, issues } = upload([
    { name: "notes.txt", content: "First paragraph.\r\n\r\nSecond." },
    { name: "guide.md", content: "# Title\n\nBody." },
    { name: "corpus.jsonl", content: '{"title": "Doc A", "text": "Alpha text.", "url": "https://a"}\n\n{"text": "# H\\nBeta", "format": "markdown"}\n' },
  ]);
  assert.deepEqual(issues, []);
  assert.deepEqual(
    documents.map((d) => [d.name, d.format, d.fileName, d.line, d.chunks.map((c) => [c.heading, c.text])]),
    [
      ["notes", "text", "notes.txt", null, [[null, "First paragraph.\n\nSecond."]]],
      ["guide", "markdown", "guide.md", null, [["Title", "Body."]]],
      ["Doc A", "text", "corpus.jsonl", 1, [[null, "Alpha text."]]],
      ["corpus #3", "markdown", "corpus.jsonl", 3, [["H", "Beta"]]],
    ],
  );
  assert.deepEqual(documents[2]!.metadata, { url: "https://a" });
  assert.equal(documents[0]!.sha256, documentSha256("First paragraph.\n\nSecond.\n"));
});

test("every bad line and empty or oversized document is reported with its file and line", () => {
  const { issues } = upload([
    { name: "docs.jsonl", content: ['{"title": "ok", "text": "fine"}', "{not json", '{"title": "x"}', '["a"]', '{"text": "   "}', '{"text": "t", "title": 5}'].join("\n") },
    { name: "empty.md", content: " \n\n" },
    { name: "big.txt", content: "a".repeat(MAX_DOCUMENT_CHARS + 1) },
    { name: "blank.jsonl", content: "\n\n" },
  ]);
  assert.deepEqual(issues.map((i) => i.path), ["docs.jsonl line 2", "docs.jsonl line 3", "docs.jsonl line 4", "docs.jsonl line 5", "docs.jsonl line 6", "empty.md", "big.txt", "blank.jsonl"]);
  assert.match(issues[0]!.message, /not valid JSON/);
  assert.match(issues[1]!.message, /"text" is missing/);
  assert.match(issues[2]!.message, /JSON object/);
  assert.match(issues[3]!.message, /empty/);
  assert.match(issues[4]!.message, /"title" must be a string/);
  assert.match(issues[6]!.message, /limit is 1,000,000/);
});
