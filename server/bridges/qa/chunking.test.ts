import assert from "node:assert/strict";
import { test } from "node:test";
import { chunkDocument, sentences } from "./chunking.ts";

const para = (word: string, n: number) => Array.from({ length: n }, (_, i) => `${word} sentence number ${i + 1} ends here.`).join(" ");

test("plain text: paragraphs are packed up to the budget, never split when they fit", () => {
  const a = para("Alpha", 3); // ~ 100 chars
  const b = para("Beta", 3);
  const c = para("Gamma", 3);
  const text = `${a}\n\n${b}\r\n\r\n\n${c}\n`;
  const chunks = chunkDocument(text, "text", 200);
  assert.deepEqual(chunks.map((c) => c.text), [a, b, c], "two paragraphs (207 chars) do not fit 200");
  assert.deepEqual(chunkDocument(text, "text", 250).map((c) => c.text), [`${a}\n\n${b}`, c]);
  assert.ok(chunks.every((c) => c.heading === null && c.text.length <= 200));
  assert.deepEqual(chunks.map((c) => c.index), chunks.map((_, i) => i));
  // with room for everything, one chunk holding all three paragraphs
  assert.deepEqual(chunkDocument(text, "text", 2000).map((c) => c.text), [`${a}\n\n${b}\n\n${c}`]);
});

test("a long paragraph splits between sentences, never inside one", () => {
  const long = para("Delta", 30); // ~ 1000 chars
  const chunks = chunkDocument(long, "text", 250);
  assert.ok(chunks.length >= 4);
  for (const chunk of chunks) {
    assert.ok(chunk.text.length <= 250, `${chunk.text.length}`);
    assert.match(chunk.text, /^Delta sentence number \d+ ends here\./);
    assert.match(chunk.text, /ends here\.$/);
  }
  assert.equal(chunks.map((c) => c.text).join(" "), long);
});

test("a run-on sentence splits between words, a huge word anywhere; no text is lost", () => {
  const runOn = Array.from({ length: 120 }, (_, i) => `word${i}`).join(" ");
  const chunks = chunkDocument(runOn, "text", 200);
  assert.ok(chunks.every((c) => c.text.length <= 200));
  assert.equal(chunks.map((c) => c.text).join(" "), runOn);
  const huge = "x".repeat(450);
  assert.deepEqual(chunkDocument(huge, "text", 200).map((c) => c.text.length), [200, 200, 50]);
});

test("markdown: headings are hard boundaries and give each chunk its heading path; # inside code fences is not a heading", () => {
  const md = [
    "Intro text before any heading.",
    "",
    "# Setup",
    "",
    "Install it first.",
    "",
    "## Linux",
    "",
    "Use the package manager.",
    "",
    "```sh",
    "# not a heading",
    "",
    "apt install tandem",
    "```",
    "",
    "### Skipped level",
    "Details.",
    "# Usage #",
    "Run it.",
  ].join("\n");
  const chunks = chunkDocument(md, "markdown", 2000);
  assert.deepEqual(
    chunks.map((c) => [c.heading, c.text]),
    [
      [null, "Intro text before any heading."],
      ["Setup", "Install it first."],
      ["Setup › Linux", "Use the package manager.\n\n```sh\n# not a heading\n\napt install tandem\n```"],
      ["Setup › Linux › Skipped level", "Details."],
      ["Usage", "Run it."],
    ],
  );
  // a heading with nothing under it before the next heading makes no empty chunk
  assert.deepEqual(chunkDocument("# A\n## B\ntext", "markdown").map((c) => c.heading), ["A › B"]);
  // # then ### : no empty names in the path
  assert.deepEqual(chunkDocument("# A\n### C\ntext", "markdown").map((c) => c.heading), ["A › C"]);
});

test("deterministic, and the budget is validated", () => {
  const text = `${para("One", 40)}\n\n${para("Two", 5)}`;
  assert.deepEqual(chunkDocument(text, "markdown", 300), chunkDocument(text, "markdown", 300));
  assert.throws(() => chunkDocument(text, "text", 10), RangeError);
  assert.deepEqual(chunkDocument("  \n\n \n", "text"), []);
});

test("sentences: ., !, ?, … and CJK ends, with closing quotes", () => {
  assert.deepEqual(sentences('He said "stop." Then left! Why? Because… 好。再见'), ['He said "stop."', "Then left!", "Why?", "Because…", "好。再见"]);
});
