// The launch form's mix-search target: a corpus (held-out text) or the eval set's tasks scored by the project's
// checker (decision 0054). The form's values become the round spec the schema checks, naming the field it refuses.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { CorpusLaunchFields, corpusSpecFromForm } from "../../app/components/corpus-launch-fields.tsx";
import { roundSpecSchema } from "../../trainer/contract/round.ts";

const form = (target: string, share = "") => {
  const f = new FormData();
  f.set("mixSearch.cleaningJobId", "4");
  f.append("mixSearch.sources", "1");
  f.append("mixSearch.sources", "2");
  f.set("mixSearch.target.corpusId", target);
  f.set("mixSearch.target.share", share);
  return f;
};
const spec = (part: Record<string, unknown>) => roundSpecSchema.safeParse({ name: "search", path: "mix-search", base: { init: { preset: "nano" } }, ...part });

test("the target select offers the eval set's tasks; choosing them sends a task target, a corpus a text target", () => {
  const html = renderToStaticMarkup(
    createElement(CorpusLaunchFields, { path: "mix-search", values: {}, errors: {}, choices: { corpora: [{ id: "1", name: "arith" }, { id: "2", name: "alpha" }], cleaningJobs: [{ id: "4", settings: {} }], classifiers: [], mixes: [] } }),
  );
  assert.match(html, /<option value="tasks">Not text: the eval set/);

  const tasks = corpusSpecFromForm(form("tasks"), "mix-search");
  assert.deepEqual((tasks["mixSearch"] as { target: unknown }).target, { tasks: {} });
  const parsed = spec(tasks);
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  assert.deepEqual(parsed.data.mixSearch?.target.tasks, { prompts: "eval-set", maxNewTokens: 16 });

  const text = spec(corpusSpecFromForm(form("2", "0.5"), "mix-search"));
  assert.ok(text.success);
  assert.deepEqual([text.data.mixSearch?.target.corpusId, text.data.mixSearch?.target.share, text.data.mixSearch?.target.tasks], ["2", 0.5, undefined]);
});

test("a target that is both, or neither, is refused at mixSearch.target.corpusId", () => {
  const both = spec({ mixSearch: { cleaningJobId: "4", sources: ["1", "2"], target: { corpusId: "3", tasks: {} } } });
  assert.deepEqual(both.error?.issues.map((i) => i.path.join(".")), ["mixSearch.target.corpusId"]);
  const neither = spec({ mixSearch: { cleaningJobId: "4", sources: ["1", "2"], target: {} } });
  assert.deepEqual(neither.error?.issues.map((i) => i.path.join(".")), ["mixSearch.target.corpusId"]);
  const tooLong = spec({ mixSearch: { cleaningJobId: "4", sources: ["1", "2"], target: { tasks: { maxNewTokens: 65 } } } });
  assert.deepEqual(tooLong.error?.issues.map((i) => i.path.join(".")), ["mixSearch.target.tasks.maxNewTokens"]);
});
