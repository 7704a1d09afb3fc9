// `heldout` on tiny checkpoints: a policy taught the answers against an all-zero policy (whose greedy
// answer is token 0 forever: a loop that never stops), the checker and health figures against their
// closed forms, KL(π‖π) = 0 (to the reference and to the origin), and bad input refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import { checkAnswer, checkerSpecSchema, type CheckResult } from "../contract/checker.ts";
import { saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { disposeModel } from "../model/lm.ts";
import { loadBpeTokenizerFile } from "../tokenizer/bpe-tokenizer.ts";
import { createMemoryLogger } from "./logger.ts";
import { runJob } from "./run-job.ts";
import { buildModel } from "./job-inputs.ts";
import { calledTool, checkerChanges, toolUseChanges, toolUses, type HeldoutReport } from "./heldout-eval.ts";
import { INVALID_TOOL_CALL } from "../tokenizer/chat-template.ts";
import { answerHealth, endsInLoop, healthShares } from "../eval/answer-health.ts";
import { TOOL_TRANSCRIPTS, trainToolPolicy } from "../testing/tool-policy.ts";

let dir = "";
const path = (name: string): string => join(dir, name);
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const sums = [[12, 7], [30, 41], [5, 16], [64, 20]] as const;
const question = ([a, b]: readonly [number, number]) => `What is ${a} + ${b}?`;

async function run(spec: JobSpecInput): Promise<Array<{ type: string; [k: string]: unknown }>> {
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
}
async function heldout(extra: Partial<Extract<JobSpecInput, { kind: "heldout" }>>, out: string): Promise<HeldoutReport> {
  await run({ schemaVersion: 1, kind: "heldout", out: path(out), backend: "wasm", prompts: path("eval.jsonl"), model: { checkpoint: path("sft") }, checker: { kind: "numeric" }, ...extra });
  return JSON.parse(readFileSync(path(`${out}/heldout.json`), "utf8")) as HeldoutReport;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tandem-heldout-test-"));
  const answers = sums.map(([a, b]) => ({ messages: [{ role: "user", content: question([a, b]) }, { role: "assistant", content: `The answer is ${a + b}.` }] }));
  writeFileSync(path("sft.jsonl"), jsonl(answers));
  const filler = Array.from({ length: 200 }, (_, i) => `number ${i} plus ${i * 7} makes ${i * 8}; the labeler checks it`);
  writeFileSync(path("corpus.txt"), [...answers.map((r) => r.messages.map((m) => m.content).join(" ")), ...filler].join("\n"));
  // the eval set: the taught prompts with their reference answers, and one without a reference
  writeFileSync(path("eval.jsonl"), jsonl([...sums.map(([a, b]) => ({ prompt: question([a, b]), metadata: { answer: a + b } })), { prompt: "What is 1 + 1?", metadata: {} }]));
  const fitted = await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("corpus.txt")], vocabSize: 320, out: path("tok") });
  const vocabSize = Number(fitted.find((e) => e.type === "done")?.["vocabSize"]);
  const model = { init: { vocabSize, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 32 }, seed: 1 };
  await run({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer: path("tok/tokenizer.json"), model, train: { steps: 150, batchSize: 4, optim: { lr: 2e-2, warmupSteps: 0, minLr: 2e-2 } }, out: path("sft"), backend: "wasm" });
  // all-zero weights: every logit is 0, so greedy decoding picks token 0 every time
  const tokenizer = loadBpeTokenizerFile(path("tok/tokenizer.json"));
  const zero = buildModel({ checkpoint: path("sft") }, tokenizer, "none");
  for (const v of zero.params.values()) tf.tidy(() => v.assign(tf.zerosLike(v)));
  saveCheckpoint(path("zero"), zero, null, { step: 0, rngState: 0, trainConfig: {}, tokenizerHash: tokenizer.hash });
  copyFileSync(path("tok/tokenizer.json"), path("zero/tokenizer.json"));
  disposeModel(zero);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("the taught policy beats the zero policy on the checker; every figure agrees with the answers it reports", async () => {
  const report = await heldout({ previous: { checkpoint: path("zero") }, showSamples: 10, decoding: { maxNewTokens: 12 } }, "both");
  assert.equal(report.prompts, 5);
  const spec = checkerSpecSchema.parse({ kind: "numeric" });
  const metadata = [...sums.map(([a, b]) => ({ answer: a + b })), {}];
  // the checker's tally is the answers' own checks (the prompt without a reference is not scored)
  const checks = report.samples.map((s, i) => checkAnswer(spec, s.new.answer, metadata[i]));
  assert.deepEqual(report.samples.map((s) => s.new.correct), checks.map((c) => c.score));
  assert.equal(report.new.checker?.scored, 4);
  assert.equal(report.new.checker?.reasons.no_reference, 1);
  assert.equal(report.new.checker?.correct, checks.filter((c) => c.score === 1).length);
  assert.ok((report.new.checker?.accuracy ?? 0) >= 0.75, `taught answers: ${JSON.stringify(report.samples.map((s) => s.new.answer))}`);
  // zero policy: token 0 forever — never right, always a loop, never finished, every answer maxNewTokens long
  assert.equal(report.previous?.checker?.accuracy, 0);
  // every prompt the taught policy gets right is one the zero policy got wrong: gained = its correct count
  assert.deepEqual(report.checkerChanges, { gained: report.new.checker?.correct, lost: 0 });
  assert.deepEqual(report.previous?.health, { undecodableShare: report.previous?.health.undecodableShare, loopShare: 1, emptyShare: report.previous?.health.emptyShare, unfinishedShare: 1, brokenCallShare: 0 }); // no tools, so no broken call
  assert.equal(report.previous?.meanLength, 12);
  assert.equal(report.new.health.loopShare < 1, true);
  assert.equal(report.kl, null);
  assert.equal(report.klSkipped, "no reference policy");
  assert.equal(report.klFromOrigin, null, "no origin given");
  assert.equal(report.klFromOriginSkipped, undefined);
});

test("KL from the origin (decision 0058): 0 from the policy's own checkpoint; from the reference's checkpoint, exactly `kl` (same samples)", async () => {
  const kl = { samplesPerPrompt: 2, maxNewTokens: 8 };
  // the zero policy's logits are all 0 (uniform): KL(π‖uniform) = log V − H(π) per token, > 0 for the taught policy
  const own = await heldout({ reference: { checkpoint: path("zero") }, origin: { checkpoint: path("sft") }, kl, decoding: { maxNewTokens: 4 } }, "origin-self");
  assert.ok(own.kl !== null && own.kl.mean > 0.1, JSON.stringify(own.kl));
  assert.ok(own.klFromOrigin !== null);
  assert.ok(Math.abs(own.klFromOrigin.mean) < 1e-4 && own.klFromOrigin.stderr < 1e-4, JSON.stringify(own.klFromOrigin));
  assert.equal(own.klFromOrigin.samples, own.kl.samples);
  const same = await heldout({ reference: { checkpoint: path("zero") }, origin: { checkpoint: path("zero") }, kl, decoding: { maxNewTokens: 4 } }, "origin-reference");
  assert.ok(same.klFromOrigin !== null && same.klFromOrigin.mean > 0.1, JSON.stringify(same.klFromOrigin));
  assert.deepEqual(same.klFromOrigin, same.kl);
  assert.deepEqual(same.kl, own.kl, "the same seeds draw the same samples: the reference's KL does not depend on the origin");
  // an origin and no reference: the origin's KL alone
  const alone = await heldout({ origin: { checkpoint: path("zero") }, kl, decoding: { maxNewTokens: 4 } }, "origin-alone");
  assert.equal(alone.kl, null);
  assert.deepEqual(alone.klFromOrigin, same.kl);
  const none = await heldout({ reference: { checkpoint: path("zero") }, origin: { checkpoint: path("zero") }, kl: { samplesPerPrompt: 0 }, decoding: { maxNewTokens: 4 } }, "origin-no-samples");
  assert.equal(none.klFromOrigin, null);
  assert.equal(none.klFromOriginSkipped, "kl.samplesPerPrompt is 0");
});

test("KL to itself is 0; greedy answers repeat exactly; a zero reward model scores 0", async () => {
  const first = await heldout({ reference: { checkpoint: path("sft") }, rewardModel: { checkpoint: path("zero") }, kl: { samplesPerPrompt: 2, maxNewTokens: 8 }, decoding: { maxNewTokens: 12 } }, "self");
  assert.ok(first.kl !== null);
  assert.ok(Math.abs(first.kl.mean) < 1e-4 && first.kl.stderr < 1e-4, JSON.stringify(first.kl));
  assert.equal(first.kl.samples, 10);
  assert.deepEqual(first.new.reward, { mean: 0, n: 5 });
  const again = await heldout({ decoding: { maxNewTokens: 12 } }, "again");
  assert.deepEqual(again.samples.map((s) => s.new.answer), first.samples.map((s) => s.new.answer));
});

test("with tools, each shown answer counts its tool calls (the calculator prompts 1, the greeting 0) and keeps each call's arguments and result", async () => {
  const policy = await trainToolPolicy(path("tool-policy"));
  writeFileSync(path("tool-eval.jsonl"), jsonl(TOOL_TRANSCRIPTS.map((t) => ({ prompt: t.prompt, metadata: {} }))));
  const report = await heldout({ prompts: path("tool-eval.jsonl"), model: { checkpoint: policy }, checker: undefined, tools: ["calculator"], showSamples: 10, decoding: { maxNewTokens: 40 } }, "tools");
  const expected = TOOL_TRANSCRIPTS.map((t) => t.completion.reduce((n, m) => n + (m.tool_calls?.length ?? 0), 0));
  assert.deepEqual(expected, [1, 1, 1, 0]);
  assert.deepEqual(report.samples.map((s) => s.new.toolCalls), expected);
  assert.deepEqual(report.samples.map((s) => s.new.answer), TOOL_TRANSCRIPTS.map((t) => t.completion.at(-1)!.content));
  // the transcript's calls, as the policy wrote them, and the tool messages that answered them
  const transcriptUses = TOOL_TRANSCRIPTS.map((t) => toolUses(t.completion));
  assert.deepEqual(report.samples.map((s) => s.new.tools ?? []), transcriptUses);
  assert.ok(transcriptUses[0]!.length === 1 && transcriptUses[0]![0]!.result !== null, JSON.stringify(transcriptUses[0]));
  assert.equal(report.samples[3]!.new.tools, undefined, "an answer without a call has no tools field");
  // three of the four answers call the calculator; no previous policy, so no paired counts
  assert.equal(report.new.toolCallShare, 0.75);
  assert.equal(report.toolUseChanges, null);
});

test("toolUseChanges counts the prompts whose answer started or stopped calling a tool; a broken call is no call", () => {
  assert.deepEqual(toolUseChanges([true, true, false, false, true], [true, false, true, false, false]), { started: 1, stopped: 2 });
  assert.equal(toolUseChanges(null, [true]), null, "no previous policy");
  assert.equal(calledTool([{ name: "calculator", arguments: { expression: "1+1" }, result: "2" }]), true);
  assert.equal(calledTool([{ name: INVALID_TOOL_CALL, arguments: {}, result: null }]), false);
  assert.equal(calledTool([]), false);
});

test("toolUses pairs each call with the tool message after it; a call with no result keeps null", () => {
  const call = (expression: string) => ({ type: "function" as const, function: { name: "calculator", arguments: { expression } } });
  assert.deepEqual(
    toolUses([
      { role: "assistant", content: "", tool_calls: [call("2+2"), call("3*3")] },
      { role: "tool", name: "calculator", content: "4" },
      { role: "tool", name: "calculator", content: "9" },
      { role: "assistant", content: "", tool_calls: [call("1/0")] },
    ]),
    [
      { name: "calculator", arguments: { expression: "2+2" }, result: "4" },
      { name: "calculator", arguments: { expression: "3*3" }, result: "9" },
      { name: "calculator", arguments: { expression: "1/0" }, result: null },
    ],
  );
});

test("an empty eval set is refused", async () => {
  writeFileSync(path("empty.jsonl"), "");
  await assert.rejects(heldout({ prompts: path("empty.jsonl") }, "empty"), /no records/);
});

test("answer health: loops are a short pattern repeated at the end; shares count each sign", () => {
  assert.equal(endsInLoop([1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]), true, "one token 12 times");
  assert.equal(endsInLoop([9, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2]), true, "period 2, six times");
  assert.equal(endsInLoop([5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]), false, "eleven tokens are not yet a loop");
  assert.equal(endsInLoop([1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 1, 2, 3]), false, "broken pattern");
  assert.equal(endsInLoop([1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7]), false, "period 7 is prose, not a loop");
  const h = [answerHealth("ok", [1], true), answerHealth("bad \uFFFD", [1, 2], true), answerHealth("  ", [], false, true)];
  assert.deepEqual(healthShares(h), { undecodableShare: 1 / 3, loopShare: 0, emptyShare: 1 / 3, unfinishedShare: 1 / 3, brokenCallShare: 1 / 3 });
  assert.deepEqual(healthShares([]), { undecodableShare: 0, loopShare: 0, emptyShare: 0, unfinishedShare: 0, brokenCallShare: 0 });
});

test("checkerChanges counts the prompts whose verdict changed each way, and leaves unscored ones out", () => {
  const r = (score: 0 | 1 | null): CheckResult => (score === null ? { score: null, reason: "no_reference" } : { score });
  const before = [r(1), r(1), r(0), r(0), r(1), r(null), r(0)];
  const after = [r(1), r(0), r(1), r(0), r(0), r(1), r(null)];
  assert.deepEqual(checkerChanges(before, after), { gained: 1, lost: 2 });
  assert.equal(checkerChanges(null, after), null, "no previous policy");
  assert.equal(checkerChanges(before, null), null, "no checker");
});
