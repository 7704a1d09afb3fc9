import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_QA_TEMPLATE, renderTemplate, templateIssues } from "./qa-template.ts";

test("the default template is valid and uses all three placeholders", () => {
  assert.deepEqual(templateIssues(DEFAULT_QA_TEMPLATE), []);
  for (const name of ["{{chunk}}", "{{n}}", "{{document_title}}"]) assert.ok(DEFAULT_QA_TEMPLATE.includes(name));
});

test("rendering fills every placeholder once; placeholder-like text inside the chunk stays", () => {
  const rendered = renderTemplate("Title: {{ document_title }}\nWrite {{n}} pairs.\n{{chunk}}\n{{n}}", { document_title: "Cats", chunk: "Cats sleep {{n}} hours.", n: 3 });
  assert.equal(rendered, "Title: Cats\nWrite 3 pairs.\nCats sleep {{n}} hours.\n3");
});

test("unknown placeholders, unbalanced braces and a missing {{chunk}} are errors with line numbers", () => {
  assert.deepEqual(templateIssues("Write {{n}} pairs\nabout {{chunck}}\nand {{title}}"), [
    { line: 2, message: "Unknown placeholder {{chunck}}; use {{document_title}}, {{chunk}}, {{n}}." },
    { line: 3, message: "Unknown placeholder {{title}}; use {{document_title}}, {{chunk}}, {{n}}." },
    { line: 1, message: "The template must contain {{chunk}}, or the model never sees the document." },
  ]);
  assert.deepEqual(templateIssues("{{chunk}}\nwrite {{n pairs"), [{ line: 2, message: "Unbalanced {{ or }}: a placeholder must look like {{chunk}}." }]);
  assert.deepEqual(templateIssues("   "), [{ line: 1, message: "The template is empty." }]);
  // single braces (a JSON example) are fine
  assert.deepEqual(templateIssues('{{chunk}}\n[{"question": "…"}]'), []);
});
