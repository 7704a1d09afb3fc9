import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_DOCUMENT_CHARS } from "../bridges/qa/document-upload.ts";
import { readCorpusFile, type CorpusFormat, type ReadDocument, type ReadIssue } from "./corpus-reader.ts";

/** The bytes in small, uneven chunks, so lines and multi-byte characters straddle chunk boundaries. */
async function* chunked(bytes: Buffer, size = 7): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function read(content: Buffer | string, name: string, format: CorpusFormat = "auto", maxBytes?: number) {
  const docs: ReadDocument[] = [];
  const issues: ReadIssue[] = [];
  const stats = await readCorpusFile(chunked(Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8")), { name, format, ...(maxBytes ? { maxBytes } : {}) }, (d) => void docs.push(d), (i) => void issues.push(i));
  return { docs, issues, stats };
}

test("JSONL: one document per line, other fields kept as metadata, every bad line named", async () => {
  const lines = [
    JSON.stringify({ text: "Zürich — the first document.", title: "One", url: "https://example.test/1" }),
    "",
    "{not json",
    JSON.stringify({ title: "no text" }),
    JSON.stringify(["an", "array"]),
    JSON.stringify({ text: "bad \u0000 nul" }),
    JSON.stringify({ text: "Second document 日本語.", metadata: { source: "wiki" } }),
  ];
  const { docs, issues, stats } = await read(lines.join("\r\n") + "\n", "crawl.jsonl");
  assert.deepEqual(docs.map((d) => [d.line, d.title, d.text]), [[1, "One", "Zürich — the first document."], [7, null, "Second document 日本語."]]);
  assert.deepEqual(docs[0]!.metadata, { url: "https://example.test/1" });
  assert.deepEqual(docs[1]!.metadata, { source: "wiki" });
  assert.deepEqual(issues.map((i) => [i.fileName, i.line]), [["crawl.jsonl", 3], ["crawl.jsonl", 4], ["crawl.jsonl", 5], ["crawl.jsonl", 6]]);
  assert.match(issues[0]!.message, /not valid JSON/);
  assert.match(issues[1]!.message, /"text" is missing/);
  assert.match(issues[3]!.message, /NUL/);
  assert.equal(stats.documents, 2);
  assert.equal(stats.issues, 4);
});

test("a wrongly encoded line is reported by number and the rest of the file is read", async () => {
  const latin1 = Buffer.from(JSON.stringify({ text: "café in Latin-1" }), "latin1");
  const bytes = Buffer.concat([Buffer.from(JSON.stringify({ text: "fine one" }) + "\n"), latin1, Buffer.from("\n" + JSON.stringify({ text: "fine two" }) + "\n")]);
  const { docs, issues } = await read(bytes, "mixed.jsonl");
  assert.deepEqual(docs.map((d) => d.text), ["fine one", "fine two"]);
  assert.deepEqual(issues, [{ fileName: "mixed.jsonl", line: 2, message: "the line is not valid UTF-8 text (save the file as UTF-8)" }]);
});

test("a UTF-16 file is refused at once, naming the encoding", async () => {
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("hello world\n", "utf16le")]);
  const { docs, issues } = await read(utf16, "windows.txt");
  assert.equal(docs.length, 0);
  assert.deepEqual(issues.map((i) => [i.line, i.message]), [[0, "the file is UTF-16 text; save it as UTF-8"]]);
});

test("text: one document per file, or several split at <|endoftext|> lines; a BOM is dropped", async () => {
  const whole = await read("\uFEFFFirst line.\nSecond line.\n", "essay.txt");
  assert.deepEqual(whole.docs.map((d) => [d.title, d.line, d.text]), [["essay", 1, "First line.\nSecond line."]]);
  const split = await read("# One\nbody\n<|endoftext|>\n\n# Two\n  <|endoftext|>  \n<|endoftext|>\nthree\n", "notes.md");
  assert.deepEqual(split.docs.map((d) => [d.title, d.line, d.text]), [["notes", 1, "# One\nbody"], ["notes #2", 5, "# Two"], ["notes #3", 8, "three"]]);
  assert.equal(split.docs[0]!.metadata.format, "markdown");
});

test("text: a line with a NUL or broken bytes is left out of its document and reported", async () => {
  const bytes = Buffer.concat([Buffer.from("good line\n"), Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28, 0x0a]), Buffer.from("nul \u0000 here\nlast line\n")]);
  const { docs, issues } = await read(bytes, "a.txt");
  assert.deepEqual(docs.map((d) => d.text), ["good line\nlast line"]);
  assert.deepEqual(issues.map((i) => i.line), [2, 3]);
});

test("an over-long document is reported at its first line and skipped; the next one is read", async () => {
  const long = "x".repeat(MAX_DOCUMENT_CHARS + 10);
  const { docs, issues } = await read(`${long}\n<|endoftext|>\nshort\n`, "big.txt", "text");
  assert.deepEqual(docs.map((d) => d.text), ["short"]);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.line, 1);
  assert.match(issues[0]!.message, /longer than/);
});

test("more bytes than allowed stops the reading with a RangeError", async () => {
  await assert.rejects(read("a".repeat(1000), "x.txt", "text", 100), RangeError);
});
