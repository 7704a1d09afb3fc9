// `heldout`: scores a policy on a project's held-out eval set next to the policy the round started
// from, so a round report can say whether the round made the model better or worse at what the
// project checks (issue #11). Both policies answer every prompt with the same decoding and seeds.
//
// Reads top to bottom:
//  1. load the prompts ({prompt, metadata}) and each model with the tokenizer in its own folder;
//  2. each policy answers every prompt (greedy by default);
//  3. score the answers: the verifiable checker on each prompt's metadata, the reward model on
//     (prompt, answer), length, and answer health (undecodable bytes, loops, empty, unfinished, broken tool calls);
//  4. KL(π‖π_ref) on the same prompts from answers π samples at temperature 1 (k1: Σ_t log π/π_ref
//     over the policy's own tokens — tool results are context —, unbiased for the sequence KL; the
//     estimator eval-job.ts uses on training prompts); with an origin (the policy a chain of rounds
//     started from, decision 0058), KL(π‖π_origin) on the very same samples;
//  5. write <out>/heldout.json:
//     { prompts, decoding,
//       new:      { checker: {accuracy, scored, correct, reasons} | null, reward: {mean, n} | null,
//                   meanLength, health: {undecodableShare, loopShare, emptyShare, unfinishedShare, brokenCallShare},
//                   toolCallShare (null without tools) },
//       previous: the same for the previous policy, or null,
//       kl:       { mean, stderr, samples } | null,
//       klFromOrigin: { mean, stderr, samples } | null   (null without an origin, or when it was skipped),
//       checkerChanges: { gained, lost } | null   (prompts the new policy got right and the previous wrong, and the
//                 reverse: the paired counts a drop is tested on; null without a checker or a previous policy),
//       toolUseChanges: { started, stopped } | null   (prompts whose answer calls a tool under one policy only;
//                 null without tools or a previous policy),
//       samples:  [{ prompt, new: {answer, correct, toolCalls, tools?}, previous: the same | null }] }
//       (tools: each call's name, arguments and result, when the answer called one — to tell a slip in
//       copying the expression into the call from a slip in copying the result out of it)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { type JobSpec } from "../contract/job.ts";
import { checkAnswer, tallyChecks, type CheckerTally, type CheckResult } from "../contract/checker.ts";
import { disposeModel, type LanguageModel } from "../model/lm.ts";
import { generateAsync } from "../model/generate.ts";
import { readAndDispose } from "../backend/tensor-reads.ts";
import { INVALID_TOOL_CALL, parseCompletion } from "../tokenizer/chat-template.ts";
import { tandemTokenizer, type AnyMessage, type ChatFormat } from "../tokenizer/chat-format.ts";
import { generateWithTools } from "../model/generate-with-tools.ts";
import { finalAnswer, type ConversationMessage, type ToolName } from "../contract/conversation.ts";
import { promptRecordSchema, readJsonl } from "../data/jsonl.ts";
import { collateCompletions } from "../data/collate.ts";
import { scoreCompletions } from "../algorithms/reward-trainer.ts";
import { klOfSampledAnswers, modelAsReference, type KlEstimate } from "../rollouts/kl-guard.ts";
import { plainRollout } from "../rollouts/rollout.ts";
import { answerHealth, healthShares, type HealthShares } from "../eval/answer-health.ts";
import { asMessages, buildModel, chatFormatFor, check } from "./job-inputs.ts";
import { createProgress } from "./progress.ts";
import { rolloutFor } from "./rl-jobs.ts";
import { type JobLogger } from "./logger.ts";

type HeldoutSpec = Extract<JobSpec, { kind: "heldout" }>;

interface Loaded {
  model: LanguageModel;
  /** The model's chat format (Tandem's template, or an imported model's own). */
  format: ChatFormat;
}

interface HeldoutPrompt {
  line: number;
  messages: AnyMessage[];
  metadata: Record<string, unknown>;
}

/** One policy's answer to one prompt: its text, its own tokens (no stop token), whether it stopped. */
interface Answer {
  text: string;
  tokens: number[];
  finished: boolean;
  /** Tool calls the answer made (0 without tools): whether a right answer came from the tool. */
  toolCalls: number;
  tools: ToolUse[];
}

/** One call an answer made: what the policy wrote into it and what the tool answered (null: no result followed). */
export type ToolUse = { name: string; arguments: Record<string, unknown>; result: string | null };

/** The calls of a transcript in order, each with the tool message that answered it. */
export function toolUses(transcript: readonly ConversationMessage[]): ToolUse[] {
  const uses: ToolUse[] = [];
  for (const m of transcript) {
    if (m.role === "assistant") for (const call of m.tool_calls ?? []) uses.push({ name: call.function.name, arguments: call.function.arguments, result: null });
    if (m.role === "tool") {
      const open = uses.find((u) => u.result === null);
      if (open) open.result = m.content;
    }
  }
  return uses;
}

export interface PolicyScores {
  checker: CheckerTally | null;
  reward: { mean: number; n: number } | null;
  meanLength: number;
  health: HealthShares;
  /** Share of answers that called a tool (a call written well enough to run); null when the eval has no tools. */
  toolCallShare: number | null;
}

type SampleAnswer = { answer: string; correct: 0 | 1 | null; toolCalls: number; tools?: ToolUse[] };

/** How the checker's verdicts changed prompt by prompt between the previous and the new policy. */
export type CheckerChanges = { gained: number; lost: number };

/**
 * The paired counts of McNemar's test: both policies answered the same prompts with the same decoding and seeds, so
 * a fall is judged on the prompts whose verdict changed, not on two independent shares. Unscored answers are left out.
 */
export function checkerChanges(previous: ReadonlyArray<CheckResult> | null, next: ReadonlyArray<CheckResult> | null): CheckerChanges | null {
  if (!previous || !next) return null;
  let gained = 0, lost = 0;
  next.forEach((check, i) => {
    const before = previous[i]?.score ?? null;
    if (check.score === null || before === null) return;
    if (check.score === 1 && before === 0) gained++;
    if (check.score === 0 && before === 1) lost++;
  });
  return { gained, lost };
}

/** Whether an answer called a tool; a call too broken to run counts in the health shares instead. */
export function calledTool(tools: readonly ToolUse[]): boolean {
  return tools.some((u) => u.name !== INVALID_TOOL_CALL);
}

/** Prompts whose answer calls a tool under the new policy only (started) or under the previous one only (stopped). */
export type ToolUseChanges = { started: number; stopped: number };

/** The paired counts for tool use, as checkerChanges for right answers (McNemar's test on the same prompts). */
export function toolUseChanges(previous: readonly boolean[] | null, next: readonly boolean[]): ToolUseChanges | null {
  if (!previous) return null;
  let started = 0, stopped = 0;
  next.forEach((called, i) => {
    if (called && previous[i] === false) started++;
    if (!called && previous[i] === true) stopped++;
  });
  return { started, stopped };
}

export interface HeldoutReport {
  prompts: number;
  decoding: HeldoutSpec["decoding"];
  new: PolicyScores;
  previous: PolicyScores | null;
  kl: KlEstimate | null;
  /** Why the KL is missing when it is (no reference, or another tokenizer). */
  klSkipped?: string;
  /** KL(π‖π_origin), from the same samples as `kl`; null without an origin. */
  klFromOrigin: KlEstimate | null;
  /** Why it is missing although an origin was given (another tokenizer, no samples). */
  klFromOriginSkipped?: string;
  /** Prompts both policies' answers were scored on, that only the new one got right (gained) or only the previous (lost). */
  checkerChanges: CheckerChanges | null;
  /** With tools: prompts whose answer calls one under the new policy only (started) or the previous only (stopped). */
  toolUseChanges: ToolUseChanges | null;
  samples: Array<{ prompt: string; new: SampleAnswer; previous: SampleAnswer | null }>;
}

function load(dir: string, head: "none" | "reward"): Loaded {
  const format = chatFormatFor(join(dir, "tokenizer.json"), { checkpoint: dir });
  return { model: buildModel({ checkpoint: dir }, format, head), format };
}

// 2. answers, a batch at a time; batch i draws with seed decoding.seed + i (and generate() seeds
//    each row by its place in the batch), so both policies, batched alike, use the same seeds. With
//    tools, a call the policy writes is run and its result spliced in (as in sampling); the answer
//    is then the transcript's final assistant message, and its tokens the policy's own.
async function answer(
  label: string, { model, format }: Loaded, prompts: HeldoutPrompt[],
  o: { maxNewTokens: number; temperature: number; seed: number; batchSize: number; tools: ToolName[] },
): Promise<Answer[]> {
  const rendered = await Promise.all(prompts.map(async (p) => (await format.renderChat(p.messages, { addGenerationPrompt: true })).ids));
  // tool calls are written and read in Tandem's template: an imported model answers in plain text
  const tokenizer = tandemTokenizer(format);
  const tools = tokenizer ? o.tools : [];
  const answers: Answer[] = [];
  const bar = createProgress(label, prompts.length);
  for (let i = 0; i < rendered.length; i += o.batchSize) {
    const part = rendered.slice(i, i + o.batchSize);
    const room = model.config.blockSize - Math.max(...part.map((p) => p.length));
    if (room < 1) throw new Error(`held-out prompt ${prompts[i]?.line ?? i + 1} and its batch leave no room to answer in blockSize ${model.config.blockSize}`);
    const options = { maxNewTokens: Math.min(o.maxNewTokens, room), temperature: o.temperature, seed: o.seed + i, stopTokens: format.stopTokens, padId: format.padId };
    const result = tokenizer && tools.length > 0 ? await generateWithTools(model, part, { ...options, tokenizer, tools }) : await generateAsync(model, part, options);
    for (let b = 0; b < part.length; b++) {
      const all = result.completions[b] ?? [];
      const finished = result.finished[b] ?? false;
      const own = all.filter((_, t) => result.policyMask[b]?.[t] !== 0);
      const tokens = finished ? own.slice(0, -1) : own;
      const transcript = tokenizer && tools.length > 0 ? await parseCompletion(tokenizer, all) : null;
      const text = transcript ? finalAnswer(transcript) : await format.tokenizer.decode(tokens, true);
      const uses = transcript ? toolUses(transcript) : [];
      answers.push({ text, tokens, finished, toolCalls: uses.length, tools: uses });
    }
    bar.update(Math.min(i + o.batchSize, rendered.length));
  }
  bar.finish();
  return answers;
}

/** An answer as the report keeps it; the tool transcript only where there was one. */
function sampleAnswer(a: Answer | undefined, correct: 0 | 1 | null): SampleAnswer {
  return { answer: a?.text ?? "", correct, toolCalls: a?.toolCalls ?? 0, ...(a && a.tools.length > 0 ? { tools: a.tools } : {}) };
}

// 3. scores of one policy's answers
async function score(prompts: HeldoutPrompt[], answers: Answer[], spec: HeldoutSpec, judge: Loaded | null): Promise<{ scores: PolicyScores; checks: CheckResult[] | null }> {
  const checks = spec.checker ? answers.map((a, i) => checkAnswer(spec.checker!, a.text, prompts[i]?.metadata)) : null;
  let reward: PolicyScores["reward"] = null;
  if (judge) {
    const values: number[] = [];
    const pad = judge.format.padId;
    for (let i = 0; i < prompts.length; i += spec.batchSize) {
      const rows = await Promise.all(
        prompts.slice(i, i + spec.batchSize).map(async (p, b) => {
          const { prompt, full } = await judge.format.renderPromptCompletion(p.messages, answers[i + b]?.text ?? "");
          return { prompt, completion: full.ids.slice(prompt.length) };
        }),
      );
      values.push(...(await readAndDispose(tf.tidy(() => scoreCompletions(judge.model, collateCompletions(rows, pad))))));
    }
    reward = { mean: values.reduce((a, x) => a + x, 0) / Math.max(1, values.length), n: values.length };
  }
  return {
    scores: {
      checker: checks ? tallyChecks(checks) : null,
      reward,
      meanLength: answers.reduce((a, x) => a + x.tokens.length, 0) / Math.max(1, answers.length),
      health: healthShares(answers.map((a) => answerHealth(a.text, a.tokens, a.finished, a.tools.some((u) => u.name === INVALID_TOOL_CALL)))),
      toolCallShare: spec.tools.length > 0 ? answers.filter((a) => calledTool(a.tools)).length / Math.max(1, answers.length) : null,
    },
    checks,
  };
}

// 4. KL(π‖π_ref) from samples of π at temperature 1 (no top-k/top-p: any other distribution would
//    estimate the KL of something other than π); one estimate per reference given (the round's
//    reference, the chain's origin), each from the same samples. With tools, a call is run as in
//    step 2; its result is context, not the policy's tokens: it stays out of the sum.
async function heldoutKl(policy: Loaded, references: Loaded[], prompts: HeldoutPrompt[], spec: HeldoutSpec): Promise<Array<KlEstimate | null>> {
  const tokenizer = tandemTokenizer(policy.format);
  const rows: number[][] = [];
  for (const p of prompts) {
    const ids = (await policy.format.renderChat(p.messages, { addGenerationPrompt: true })).ids;
    for (let k = 0; k < spec.kl.samplesPerPrompt; k++) rows.push(ids);
  }
  const bar = createProgress("held-out kl", rows.length);
  const { estimates } = await klOfSampledAnswers(policy.model, references.map((r) => modelAsReference(r.model)), rows, {
    maxNewTokens: spec.kl.maxNewTokens, seed: spec.kl.seed, padId: policy.format.padId, stopTokens: policy.format.stopTokens, batchSize: spec.batchSize,
    rollout: tokenizer ? rolloutFor(spec.tools, tokenizer) : plainRollout, onProgress: (done) => bar.update(done),
  });
  bar.finish();
  return estimates.map((e) => (e.samples === 0 ? null : { ...e, stderr: e.samples > 1 ? e.stderr : 0 }));
}

export async function heldoutJob(spec: HeldoutSpec, log: JobLogger): Promise<HeldoutReport> {
  // 1. prompts and models
  const records = check(spec.prompts, readJsonl(spec.prompts, promptRecordSchema));
  if (records.length === 0) throw new Error(`${spec.prompts}: the eval set is empty`);
  const prompts: HeldoutPrompt[] = records.map((r) => ({ line: r.line, messages: asMessages(r.value.prompt), metadata: r.value.metadata ?? {} }));
  const loaded: Loaded[] = [];
  const track = (l: Loaded) => (loaded.push(l), l);
  try {
    const policy = track(load(spec.model.checkpoint, "none"));
    const previous = spec.previous ? track(load(spec.previous.checkpoint, "none")) : null;
    const judge = spec.rewardModel ? track(load(spec.rewardModel.checkpoint, "reward")) : null;
    log.event("start", { kind: spec.kind, prompts: prompts.length, previous: previous !== null, origin: spec.origin !== undefined, rewardModel: judge !== null, checker: spec.checker?.kind ?? null });
    const decoding = { ...spec.decoding, batchSize: spec.batchSize, tools: spec.tools };

    // 2–3. both policies, scored the same way
    const newAnswers = await answer("held-out answers (new)", policy, prompts, decoding);
    const newScored = await score(prompts, newAnswers, spec, judge);
    const previousAnswers = previous ? await answer("held-out answers (previous)", previous, prompts, decoding) : null;
    const previousScored = previousAnswers ? await score(prompts, previousAnswers, spec, judge) : null;

    // 4. KL to the reference and to the origin, each when it speaks the same tokenizer, from one set of samples
    const comparable = (given: { checkpoint: string } | undefined, name: string): { model: Loaded | null; skipped?: string } => {
      if (!given) return { model: null, skipped: `no ${name} policy` };
      if (spec.kl.samplesPerPrompt === 0) return { model: null, skipped: "kl.samplesPerPrompt is 0" };
      const other = track(load(given.checkpoint, "none"));
      if (other.format.tokenizer.hash !== policy.format.tokenizer.hash) return { model: null, skipped: `the ${name} uses another tokenizer` };
      return { model: other };
    };
    const reference = comparable(spec.reference, "reference");
    // no origin is the ordinary case (a round straight off its SFT policy): nothing skipped
    const origin = spec.origin ? comparable(spec.origin, "origin") : { model: null };
    const against = [reference.model, origin.model].filter((m): m is Loaded => m !== null);
    const estimates = against.length > 0 ? await heldoutKl(policy, against, prompts, spec) : [];
    const kl = reference.model ? (estimates[0] ?? null) : null;
    const klFromOrigin = origin.model ? (estimates[against.indexOf(origin.model)] ?? null) : null;
    const klSkipped = reference.skipped;
    const klFromOriginSkipped = origin.skipped;

    // 5. the report
    const correct = (checks: CheckResult[] | null, i: number) => checks?.[i]?.score ?? null;
    const report: HeldoutReport = {
      prompts: prompts.length,
      decoding: spec.decoding,
      new: newScored.scores,
      previous: previousScored?.scores ?? null,
      kl,
      ...(klSkipped ? { klSkipped } : {}),
      klFromOrigin,
      ...(klFromOriginSkipped ? { klFromOriginSkipped } : {}),
      checkerChanges: checkerChanges(previousScored?.checks ?? null, newScored.checks),
      toolUseChanges: spec.tools.length > 0 ? toolUseChanges(previousAnswers?.map((a) => calledTool(a.tools)) ?? null, newAnswers.map((a) => calledTool(a.tools))) : null,
      samples: prompts.slice(0, spec.showSamples).map((p, i) => ({
        prompt: p.messages.filter((m) => m.role === "user").at(-1)?.content ?? "",
        new: sampleAnswer(newAnswers[i], correct(newScored.checks, i)),
        previous: previousAnswers ? sampleAnswer(previousAnswers[i], correct(previousScored!.checks, i)) : null,
      })),
    };
    const file = join(spec.out, "heldout.json");
    writeFileSync(file, JSON.stringify(report, null, 2));
    log.event("metrics", {
      mode: "heldout",
      ...(report.new.checker?.accuracy !== null && report.new.checker ? { "heldout/checker": report.new.checker.accuracy } : {}),
      ...(report.previous?.checker?.accuracy != null ? { "heldout/checker_previous": report.previous.checker.accuracy } : {}),
      ...(report.new.reward ? { "heldout/reward": report.new.reward.mean } : {}),
      ...(kl ? { "heldout/kl": kl.mean } : {}),
      ...(klFromOrigin ? { "heldout/kl_from_origin": klFromOrigin.mean } : {}),
      "heldout/mean_length": report.new.meanLength,
    });
    log.event("done", { kind: spec.kind, file });
    return report;
  } finally {
    for (const l of loaded) disposeModel(l.model);
  }
}
