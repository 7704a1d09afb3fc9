// A field's error must be announced with the field (WCAG 3.3.1): screen readers read
// aria-describedby when the control gets focus, so each control points at its own message.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { Field, Select } from "../../app/components/ui.tsx";

test("an input and a select with an error are invalid and described by their own message", () => {
  const html = renderToStaticMarkup(
    createElement("div", null,
      createElement(Field, { label: "Steps", name: "sft.steps", error: "must be positive" }),
      createElement(Select, { label: "Path", name: "path", error: "unknown path" }, createElement("option", { value: "sft" }, "SFT"))),
  );
  for (const [tag, id, message] of [["input", "field-sft.steps", "must be positive"], ["select", "field-path", "unknown path"]] as const) {
    assert.match(html, new RegExp(`<${tag}[^>]*id="${id}"[^>]*aria-invalid="true"[^>]*aria-describedby="${id}-error"`));
    assert.match(html, new RegExp(`<p id="${id}-error"[^>]*>${message}</p>`));
  }
});

test("without an error nothing is marked invalid", () => {
  const html = renderToStaticMarkup(createElement(Select, { label: "Path", name: "path" }, createElement("option", { value: "sft" }, "SFT")));
  assert.doesNotMatch(html, /aria-invalid|aria-describedby|-error/);
});
