// The `sample` job with tools: samples.jsonl lines carry the transcript (`messages`), the number of
// tool calls, and the final answer as `completion` for readers from before tools.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobSpecSchema } from "../contract/job.ts";
import { remoteJobSchema } from "../contract/round.ts";
import { createMemoryLogger } from "./logger.ts";
import { runJob } from "./run-job.ts";
import { textOf } from "../service/run-remote-job.ts";
import { TOOL_TRANSCRIPTS, trainToolPolicy } from "../testing/tool-policy.ts";

let dir = "";
let checkpoint = "";
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tandem-sample-tools-"));
  checkpoint = await trainToolPolicy(join(dir, "train"));
  writeFileSync(join(dir, "prompts.jsonl"), TOOL_TRANSCRIPTS.map((t) => JSON.stringify({ prompt: t.prompt })).join("\n") + "\n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

type SampleLine = { line: number; completion: string; messages: unknown[]; toolCalls: number; tokens: number; finished: boolean; sampling: Record<string, unknown> };

async function sample(out: string, sampling: Record<string, unknown>): Promise<SampleLine[]> {
  const spec = jobSpecSchema.parse({
    schemaVersion: 1, kind: "sample", prompts: join(dir, "prompts.jsonl"), tokenizer: join(checkpoint, "tokenizer.json"),
    model: { checkpoint }, out: join(dir, out), backend: "wasm", sampling: { maxNewTokens: 80, temperature: 0, batchSize: 3, ...sampling },
  });
  await runJob(spec, createMemoryLogger());
  return readFileSync(join(dir, out, "samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as SampleLine);
}

test("sampling with the calculator writes each answer's transcript, its tool calls and its final answer", async () => {
  const lines = await sample("with-tools", { tools: ["calculator"] });
  assert.equal(lines.length, TOOL_TRANSCRIPTS.length);
  for (const [i, t] of TOOL_TRANSCRIPTS.entries()) {
    const line = lines[i];
    assert.equal(line?.line, i + 1);
    assert.deepEqual(line?.messages, t.completion, t.prompt);
    assert.equal(line?.completion, t.completion.at(-1)?.content, "completion is the final answer");
    assert.equal(line?.toolCalls, t.completion.filter((m) => m.role === "tool").length);
    assert.equal(line?.finished, true);
    assert.deepEqual(line?.sampling["tools"], ["calculator"]);
  }
});

test("sampling without tools: one assistant message, and a call the policy writes anyway ends the answer there", async () => {
  const lines = await sample("without-tools", {});
  const hi = lines[3];
  assert.deepEqual(hi?.messages, [{ role: "assistant", content: "hi there." }]);
  assert.equal(hi?.completion, "hi there.");
  assert.equal(hi?.toolCalls, 0);
  const called = lines[0];
  assert.equal(called?.messages.length, 1, "no result was spliced in");
  assert.deepEqual((called?.messages[0] as { tool_calls?: unknown[] }).tool_calls?.length, 1);
  assert.equal(called?.completion, "");
});

test("tools are validated against the built-in names, in job specs and remote jobs", () => {
  const bad = jobSpecSchema.safeParse({ schemaVersion: 1, kind: "sample", prompts: "p", tokenizer: "t", model: { checkpoint: "c" }, out: "o", sampling: { tools: ["search"] } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues.map((i) => i.path.join(".")), ["sampling.tools.0"]);
  const twice = jobSpecSchema.safeParse({ schemaVersion: 1, kind: "sample", prompts: "p", tokenizer: "t", model: { checkpoint: "c" }, out: "o", sampling: { tools: ["calculator", "calculator"] } });
  assert.equal(twice.error?.issues[0]?.message, "each tool at most once");
  const job = { schemaVersion: 1, jobId: "1", roundId: "2", attempt: 1, kind: "sample", model: { modelId: "3" }, leaseSeconds: 60 };
  assert.deepEqual(remoteJobSchema.parse({ ...job, tools: ["calculator"] }).tools, ["calculator"]);
  assert.deepEqual(remoteJobSchema.safeParse({ ...job, tools: ["shell"] }).error?.issues.map((i) => i.path.join(".")), ["tools.0"]);
});

test("a fresh model's tokenizer corpus holds tool calls as the template writes them", () => {
  const line = JSON.stringify({ messages: [{ role: "user", content: "q" }, { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: '{"expression":"1+1"}' } }] }] });
  assert.deepEqual(textOf(line).split("\n"), ["q", "", '{"name":"calculator","arguments":{"expression":"1+1"}}']);
});
