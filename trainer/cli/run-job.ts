// Runs one job spec end to end over local files: data → tokenizer → model → trainer → checkpoint.
// Every command writes into `out`: model.safetensors, optimizer.safetensors, manifest.json,
// tokenizer.json and metrics.jsonl (samples.jsonl for `sample` — its line format is at sampleJob —
// eval.json for `eval`, heldout.json for `heldout`).
// Training jobs share their loop, periodic checkpoints and resume: train-loop.ts; GRPO and RLOO
// run their rollout loop in rl-jobs.ts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeBackend, initBackend } from "../backend/select-backend.ts";
import { setRecompute } from "../model/recompute.ts";
import { type JobSpec } from "../contract/job.ts";
import { CheckpointMismatchError, loadCheckpointInto, readManifest, saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { countModelParams, disposeModel } from "../model/lm.ts";
import { generateAsync } from "../model/generate.ts";
import { generateWithTools } from "../model/generate-with-tools.ts";
import { finalAnswer, type ConversationMessage } from "../contract/conversation.ts";
import { saveTokenizerJson, trainBpeTokenizerJson, loadBpeTokenizer, type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { parseCompletion } from "../tokenizer/chat-template.ts";
import { tandemTokenizer, type AnyMessage, type ChatFormat } from "../tokenizer/chat-format.ts";
import { promptRecordSchema, readJsonl } from "../data/jsonl.ts";
import { createSftTrainer } from "../algorithms/sft-trainer.ts";
import { createRewardTrainer } from "../algorithms/reward-trainer.ts";
import { createDpoTrainer, precomputeReferenceLogpsAsync } from "../algorithms/dpo-trainer.ts";
import { createPpoTrainer } from "../algorithms/ppo-trainer.ts";
import { createKtoTrainer } from "../algorithms/kto-trainer.ts";
import { type GroupRlDeps } from "../algorithms/grpo-trainer.ts";
import { createKlGuard, referenceOf, type EarlyStop, type LoopGuard } from "../rollouts/kl-guard.ts";
import { type RolloutFn } from "../rollouts/rollout.ts";
import { EARLY_STOP_EVENT, type KlCheckConfig } from "../contract/kl-guard.ts";
import { type JobLogger } from "./logger.ts";
import { evalJob } from "./eval-job.ts";
import { heldoutJob } from "./heldout-eval.ts";
import { createProgress } from "./progress.ts";
import { asMessages, buildModel, chatFormatFor, check, ensureFits, readPreferencePairs, readRankingExamples, readSftExamples, readUnpairedExamples } from "./job-inputs.ts";
import { batchesFrom, hashExamples, readBackForSave, resumeInto, runTrainLoop, writePeriodicCheckpoint, type SaveCheckpoint, type SteppingTrainer } from "./train-loop.ts";
import { rolloutFor, runGroupRlJob, transcriptReaders } from "./rl-jobs.ts";
import { ppoReward } from "./ppo-reward.ts";
import { readRlPromptRecords } from "./rl-inputs.ts";
import { finalAnswerText, lastInsertedText } from "../rewards/answer-text.ts";
import { evalSetsBefore, mixSearchJob, pretrainExamples, writeEvalSets } from "./corpus-jobs.ts";

// the test suite and older callers import DataError from here
export { DataError } from "./job-inputs.ts";

/**
 * `rollout` replaces the sampler of PPO/GRPO/RLOO rollouts and of DPO/KTO's KL checks (default:
 * rolloutFor(spec.tools) for PPO, GRPO and RLOO; plainRollout for the KL checks); `answerText`
 * the final-answer reader of GRPO/RLOO rewards (default: rewards/answer-text.ts).
 */
export async function runJob(spec: JobSpec, log: JobLogger, options: { rollout?: RolloutFn; answerText?: GroupRlDeps["answerText"] } = {}): Promise<void> {
  mkdirSync(spec.out, { recursive: true });
  writeFileSync(join(spec.out, "job.json"), JSON.stringify(spec, null, 2));

  if (spec.kind === "train-tokenizer") {
    const json = trainBpeTokenizerJson(spec.corpus, spec.vocabSize);
    const tokenizer = loadBpeTokenizer(json);
    saveTokenizerJson(tokenizer, join(spec.out, "tokenizer.json"));
    log.event("done", { kind: spec.kind, vocabSize: tokenizer.vocabSize, hash: tokenizer.hash, special: tokenizer.special });
    return;
  }

  await initBackend({ prefer: spec.backend, readsSynchronously: !readsAsynchronously(spec) });
  setRecompute(spec.recompute);
  log.event("backend", { ...describeBackend(), recompute: spec.recompute });
  // held-out evaluation compares models that each bring their own tokenizer
  if (spec.kind === "heldout") {
    await heldoutJob(spec, log);
    return;
  }
  // the model's chat format: its own HF tokenizer and template, or Tandem's over our tokenizer
  const format = chatFormatFor(spec.kind === "eval" ? (spec.tokenizer ?? join(spec.model.checkpoint, "tokenizer.json")) : spec.tokenizer, spec.model);
  const tokenizer = format.tokenizer;

  if (spec.kind === "eval") {
    await evalJob(spec, format, log);
    return;
  }

  if (spec.kind === "sample") {
    await sampleJob(spec, format, log);
    return;
  }

  if (spec.kind === "ppo") {
    const policy = buildModel(spec.model, format, "none", spec.lora);
    // with LoRA the reference is the policy with its adapters off; otherwise a frozen copy
    const reference = spec.lora ? undefined : buildModel(spec.model, format, "none");
    for (const v of reference?.params.values() ?? []) v.trainable = false;
    const rewardModel = buildModel(spec.rewardModel, format, "reward");
    const value = buildModel(spec.rewardModel, format, "value", spec.lora);
    // prompt records with their metadata; a prompt without the checker's reference is not scored by it (null), and the
    // reward model still scores it: refusing it would stop a round the reward model alone could train
    const records = readRlPromptRecords(spec.prompts, undefined);
    const prompts = await Promise.all(records.map(async (r) => ({ line: r.line, ids: (await format.renderChat(asMessages(r.value.prompt), { addGenerationPrompt: true })).ids, metadata: r.value.metadata })));
    const room = policy.config.blockSize - spec.train.responseLength;
    ensureFits(spec.prompts, prompts.map((p) => ({ line: p.line, length: p.ids.length })), room);
    const pad = format.padId;
    // the project's tools run during rollouts, as in GRPO's and in round sampling (Tandem's template only)
    const bpe = tandemTokenizer(format);
    const tools = bpe ? spec.tools : [];
    const rollout = options.rollout ?? (bpe ? rolloutFor(tools, bpe) : undefined);
    // the reward model's score of prompt + response, alone or beside the job's other sources
    const decode = (ids: number[]) => tokenizer.decode(ids, true);
    const readers = bpe ? transcriptReaders(bpe) : null;
    const reward = ppoReward({
      rewardModel, padId: pad, reward: spec.reward, metadataOf: new Map(prompts.map((p) => [p.ids, p.metadata])),
      answerText: readers?.answerText ?? ((c, m) => finalAnswerText(c, m, decode, format.stopTokens)),
      toolResult: readers?.toolResult ?? ((c, m) => lastInsertedText(c, m, decode)),
    });
    const trainer = createPpoTrainer({ policy, ...(reference ? { reference } : {}), value }, spec.train, {
      padId: pad, stopTokens: format.stopTokens, reward, decode, ...(rollout ? { rollout } : {}),
    });
    const dataHash = hashExamples(prompts.map((p) => p.ids));
    // the reward is part of what a step computes: a resume under other sources is refused (without them, as before)
    const resumeConfig = spec.reward || tools.length > 0 ? { ...spec.train, ...(spec.reward ? { reward: spec.reward } : {}), ...(tools.length > 0 ? { tools } : {}) } : spec.train;
    // resume: policy weights and the AdamW state over policy and value from <dir>, the value model
    // from <dir>/value, then the trainer's counters, β and shuffle RNG; prompt batches are replayed
    // an early stop's settings may change on resume (and checkpoints from before PPO had one still resume); under
    // adaptive β the target steers what every step computes, so there it must match
    const mayChange = spec.train.klControl === "early_stop" ? ["klTarget", "klControl"] : [];
    const resume = spec.resume
      ? resumeInto(spec.resume, { model: policy, optimizer: trainer.optimizer }, { kind: spec.kind, dataHash, tokenizerHash: tokenizer.hash, train: resumeConfig, mayChange })
      : null;
    if (resume) {
      loadCheckpointInto(join(resume.dir, "value"), value, null, { tokenizerHash: tokenizer.hash });
      const e = resume.extra;
      trainer.restore({ step: resume.step, rollouts: e["rollouts"] ?? NaN, klCoef: e["klCoef"] ?? NaN, shuffleRngState: e["shuffleRngState"] ?? NaN });
      if (!Number.isFinite(trainer.rollouts + trainer.klCoef)) throw new CheckpointMismatchError(`resume: ${resume.dir} holds no PPO state (rollouts, klCoef)`);
    }
    log.event("start", {
      kind: spec.kind, prompts: prompts.length, params: countModelParams(policy.config), config: spec.train, ...(spec.lora ? { lora: spec.lora } : {}), tools,
      ...(spec.reward ? { reward: spec.reward } : {}),
      ...(resume ? { resumedFrom: resume.dir, resumedAtRollout: trainer.rollouts } : {}),
    });
    const { batches, rng } = batchesFrom(prompts.map((p) => p.ids), spec.train.rolloutBatchSize, spec.train.seed, resume && { ...resume, batchesDrawn: trainer.rollouts });
    const save: SaveCheckpoint = (dir) => {
      const info = { step: trainer.step, rngState: rng.state(), trainConfig: resumeConfig, tokenizerHash: tokenizer.hash, kind: spec.kind, dataHash, ...hfOf(format) };
      saveCheckpoint(dir, policy, trainer.optimizer, { ...info, resumeState: { ...trainer.resumeState() } });
      saveCheckpoint(join(dir, "value"), value, null, info);
      writeFileSync(join(dir, "tokenizer.json"), tokenizer.json);
    };
    const bar = createProgress("ppo rollouts", spec.train.rollouts);
    const every = spec.train.checkpointEvery;
    let earlyStop: EarlyStop | null = null;
    while (trainer.rollouts < spec.train.rollouts) {
      const { metrics, earlyStop: stop } = await trainer.rolloutStep(batches.next().value as number[][]);
      if (!stop) bar.update(trainer.rollouts, `score ${metrics["objective/scores"]?.toFixed(3)} kl ${metrics["objective/kl"]?.toFixed(3)}`);
      log.event("metrics", metrics);
      if (stop) {
        earlyStop = stop;
        trainer.step = stop.keptStep; // the trainer put those weights back
        break;
      }
      // periodic checkpoints are counted and named in rollouts (checkpoints/rollout-N), PPO's unit
      if (every > 0 && trainer.rollouts % every === 0 && trainer.rollouts < spec.train.rollouts) {
        await readBackForSave([policy, value], trainer.optimizer);
        const dir = writePeriodicCheckpoint(spec.out, trainer.rollouts, rng.state(), spec.train.keepCheckpoints, save, "rollout");
        log.event("checkpoint", { step: trainer.step, rollout: trainer.rollouts, dir });
      }
    }
    bar.finish();
    await readBackForSave([policy, value], trainer.optimizer);
    save(spec.out, trainer.step, rng.state());
    log.event("checkpoint", { step: trainer.step, rollout: trainer.rollouts, dir: spec.out, final: true });
    if (earlyStop) log.event(EARLY_STOP_EVENT, { ...earlyStop, dir: spec.out });
    trainer.dispose();
    for (const m of [policy, reference, rewardModel, value]) if (m) disposeModel(m);
    log.event("done", { kind: spec.kind, rollouts: trainer.rollouts, steps: trainer.step, ...(earlyStop ? { earlyStop: true } : {}) });
    return;
  }

  if (spec.kind === "grpo" || spec.kind === "rloo") {
    const bpe = tandemOnly(format, spec.kind);
    const readers = transcriptReaders(bpe);
    await runGroupRlJob(spec, bpe, log, { rollout: options.rollout ?? rolloutFor(spec.tools, bpe), answerText: options.answerText ?? readers.answerText, toolResult: readers.toolResult });
    return;
  }

  if (spec.kind === "mix-search") {
    await mixSearchJob(spec, format, log);
    return;
  }

  if (spec.kind === "pretrain") {
    // documents followed by <|endoftext|>, cut into windows; every token is a target (corpus-jobs.ts)
    const model = buildModel(spec.model, format, "none");
    const { examples, counts } = await pretrainExamples(spec, model, format);
    // held-out sets are scored on the model as it starts too: midtraining's forgetting shows as before → after
    const evalSets = await evalSetsBefore(spec, model, format);
    const trainer = createSftTrainer(model, spec.train, format.padId);
    await trainWithCheckpoints(spec, log, format, trainer, examples, hashExamples(examples), counts);
    await writeEvalSets(spec.out, evalSets, model, format.padId, log);
    trainer.dispose();
    disposeModel(model);
    return;
  }

  if (spec.kind === "sft") {
    const model = buildModel(spec.model, format, "none", spec.lora);
    const examples = await readSftExamples(spec.data, format, model.config.blockSize);
    const trainer = createSftTrainer(model, spec.train, format.padId);
    await trainWithCheckpoints(spec, log, format, trainer, examples, hashExamples(examples), { examples: examples.length });
    trainer.dispose();
    disposeModel(model);
    return;
  }

  if (spec.kind === "reward") {
    const model = buildModel(spec.model, format, "reward", spec.lora);
    const examples = await readRankingExamples(spec.data, format, model.config.blockSize);
    const trainer = createRewardTrainer(model, spec.train, format.padId);
    await trainWithCheckpoints(spec, log, format, trainer, examples, hashExamples(examples), { prompts: examples.length });
    trainer.dispose();
    disposeModel(model);
    return;
  }

  if (spec.kind === "kto") {
    const model = buildModel(spec.model, format, "none");
    const examples = (await readUnpairedExamples(spec.data, format, Math.min(model.config.blockSize, spec.train.maxLength))).map(({ label, ...e }) => ({ ...e, desirable: label }));
    // the reference is the policy as the job names it, frozen before a resume point is loaded
    const reference = referenceOf(model);
    const trainer = createKtoTrainer(model, reference, examples, spec.train, format.padId);
    const guard = klGuardFor(model, reference, examples.map((e) => e.prompt), spec.train, format, options.rollout);
    const desirable = examples.filter((e) => e.desirable).length;
    await trainWithCheckpoints(spec, log, format, trainer, examples.map((_, i) => i), hashExamples(examples), { examples: examples.length, desirable, undesirable: examples.length - desirable }, guard);
    guard.dispose();
    trainer.dispose();
    reference.dispose();
    disposeModel(model);
    return;
  }

  // dpo: preferences, or rankings expanded to every pair with distinct ranks
  const model = buildModel(spec.model, format, "none", spec.lora);
  const pairs = await readPreferencePairs(spec.data, format, model.config.blockSize);
  // the reference log-probs come from `model` as the job names it (with LoRA: its adapters off), also
  // when resuming: the resumed weights are loaded only after they are computed (trainWithCheckpoints);
  // so is the KL check's reference (a frozen copy, or the adapters switched off)
  const refBar = createProgress("dpo reference log-probs", pairs.length);
  const referenceLogps = await precomputeReferenceLogpsAsync(model, pairs, format.padId, spec.train.batchSize, spec.train.maxLength, (done) => refBar.update(done));
  refBar.finish();
  const trainer = createDpoTrainer(model, pairs, spec.train, format.padId, { reference: referenceLogps });
  const reference = referenceOf(model);
  const guard = klGuardFor(model, reference, pairs.map((p) => p.prompt), spec.train, format, options.rollout);
  await trainWithCheckpoints(spec, log, format, trainer, pairs.map((_, i) => i), hashExamples(pairs), { pairs: pairs.length }, guard);
  guard.dispose();
  trainer.dispose();
  reference.dispose();
  disposeModel(model);
}

/** GRPO and RLOO read tool calls with Tandem's own template: an imported model's template is refused with the reason. */
function tandemOnly(format: ChatFormat, kind: string): BpeTokenizer {
  const bpe = tandemTokenizer(format);
  if (!bpe) throw new Error(`${kind}: group-sampled RL runs on models with Tandem's chat template (trained in Tandem); this model has its own (imported from Hugging Face)`);
  return bpe;
}

/** DPO's and KTO's sampled KL check over the training prompts (contract/kl-guard.ts). */
function klGuardFor(
  model: ReturnType<typeof buildModel>, reference: ReturnType<typeof referenceOf>, prompts: number[][],
  train: { klTarget: number | null; klCheck: KlCheckConfig }, format: ChatFormat, rollout: RolloutFn | undefined,
): LoopGuard {
  return createKlGuard({
    policy: model, reference, prompts, klTarget: train.klTarget, check: train.klCheck, padId: format.padId,
    stopTokens: format.stopTokens, decode: (ids) => format.tokenizer.decode(ids, true), ...(rollout ? { rollout } : {}),
  });
}

/**
 * `sample`: n completions per prompt, with the sampling's tools when it names any. Each line of
 * <out>/samples.jsonl is one completion:
 *
 *   {"line": 3,                          the prompt's line in the prompts file (1-based)
 *    "prompt": [{"role": "user", …}],    the prompt's messages
 *    "completion": "The answer is 148.", the final answer: the last assistant message's text (what
 *                                        readers before tools read; checkers score this)
 *    "messages": [                       the completion in the canonical shape (conversation.ts):
 *      {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "calculator", "arguments": {"expression": "37*4"}}}]},
 *      {"role": "tool", "name": "calculator", "content": "148"},
 *      {"role": "assistant", "content": "The answer is 148."}],   (one assistant message without tools)
 *    "toolCalls": 1,                     calls the policy made (run, refused past the limit, or cut)
 *    "tokens": 42,                       completion tokens, inserted tool turns included
 *    "finished": true,                   ended at its end of turn (false: cut at maxNewTokens/context)
 *    "sampling": {…, "seed": 7}}         the decoding, with this batch's seed
 */
async function sampleJob(spec: Extract<JobSpec, { kind: "sample" }>, format: ChatFormat, log: JobLogger): Promise<void> {
  const model = buildModel(spec.model, format, "none");
  const records = check(spec.prompts, readJsonl(spec.prompts, promptRecordSchema));
  const s = spec.sampling;
  const tools = s.tools ?? [];
  // tool calls are written and read in Tandem's template; an imported model samples plain text
  const bpe = tools.length > 0 ? tandemOnly(format, "sampling with tools") : tandemTokenizer(format);
  const rows: { line: number; prompt: AnyMessage[]; ids: number[] }[] = [];
  for (const r of records) {
    const prompt = asMessages(r.value.prompt);
    const { ids } = await format.renderChat(prompt, { addGenerationPrompt: true });
    for (let k = 0; k < s.n; k++) rows.push({ line: r.line, prompt, ids });
  }
  ensureFits(spec.prompts, rows.map((r) => ({ line: r.line, length: r.ids.length })), model.config.blockSize);
  const outPath = join(spec.out, "samples.jsonl");
  writeFileSync(outPath, "");
  const bar = createProgress("sample", rows.length);
  for (let i = 0; i < rows.length; i += s.batchSize) {
    const part = rows.slice(i, i + s.batchSize);
    const options = {
      maxNewTokens: s.maxNewTokens, temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed + i,
      stopTokens: format.stopTokens, padId: format.padId,
    };
    const ids = part.map((r) => r.ids);
    const result =
      tools.length > 0 && bpe
        ? await generateWithTools(model, ids, { ...options, tokenizer: bpe, tools, ...(s.maxToolCalls !== undefined ? { limits: { maxCalls: s.maxToolCalls } } : {}) })
        : { ...(await generateAsync(model, ids, options)), toolCalls: part.map(() => 0) };
    for (let b = 0; b < part.length; b++) {
      const tokens = result.completions[b] ?? [];
      const messages: ConversationMessage[] = bpe ? await parseCompletion(bpe, tokens) : [{ role: "assistant", content: await format.tokenizer.decode(tokens, true) }];
      const row = part[b];
      const line = {
        line: row?.line, prompt: row?.prompt, completion: finalAnswer(messages), messages, toolCalls: result.toolCalls[b] ?? 0,
        tokens: tokens.length, finished: result.finished[b], sampling: { ...s, seed: s.seed + i },
      };
      writeFileSync(outPath, JSON.stringify(line) + "\n", { flag: "a" });
    }
    bar.update(Math.min(i + s.batchSize, rows.length));
    log.event("progress", { done: Math.min(i + s.batchSize, rows.length), total: rows.length });
  }
  bar.finish();
  disposeModel(model);
  log.event("done", { kind: spec.kind, samples: rows.length, file: outPath });
}

/**
 * The common tail of pretrain, SFT, reward, DPO and KTO jobs: resume when asked, train to `steps` with
 * periodic checkpoints (and the KL guard, when given), write the final checkpoint and the "done" line.
 */
async function trainWithCheckpoints<T>(
  spec: Extract<JobSpec, { kind: "pretrain" | "sft" | "reward" | "dpo" | "kto" }>,
  log: JobLogger,
  format: ChatFormat,
  trainer: SteppingTrainer<T[]>,
  items: T[],
  dataHash: string,
  counts: Record<string, number>,
  guard?: LoopGuard,
): Promise<void> {
  const train = spec.train;
  // the KL check measures between steps: changing it does not change any step
  const resume = spec.resume
    ? resumeInto(spec.resume, trainer, { kind: spec.kind, dataHash, tokenizerHash: format.tokenizer.hash, train, mayChange: ["klTarget", "klCheck"] })
    : null;
  log.event("start", {
    kind: spec.kind, ...counts, params: countModelParams(trainer.model.config), config: train, ...("lora" in spec && spec.lora ? { lora: spec.lora } : {}),
    ...(resume ? { resumedFrom: resume.dir, resumedAtStep: resume.step } : {}),
  });
  const save: SaveCheckpoint = (dir, step, rngState) => {
    saveCheckpoint(dir, trainer.model, trainer.optimizer, { step, rngState, trainConfig: train, tokenizerHash: format.tokenizer.hash, kind: spec.kind, dataHash, ...hfOf(format) });
    writeFileSync(join(dir, "tokenizer.json"), format.tokenizer.json);
  };
  const { rngState, earlyStop } = await runTrainLoop({ trainer, items, config: train, out: spec.out, log, save, resume, label: spec.kind, ...(guard ? { guard } : {}) });
  log.event("done", { kind: spec.kind, steps: trainer.step, rngState, ...(earlyStop ? { earlyStop: true } : {}) });
}

/**
 * Whether a job may run on webgpu: every job that loads a model awaits its reads of the device (decisions trainer-033,
 * trainer-034 and trainer-035), for GPT-2 and Llama-family models, in full or with LoRA, and a save reads
 * synchronously only what was read back first (readBackForSave). A checkpoint whose manifest cannot be read stays on
 * wasm, where buildModel says what is wrong with it. A tokenizer job has no model.
 */
export function readsAsynchronously(spec: JobSpec): boolean {
  if (!("model" in spec)) return false;
  // the other models a job may load, each a checkpoint: a reward model (reward source, PPO's value model), the eval
  // job's reference, and the held-out job's previous policy, reference and origin
  const other = spec as { rewardModel?: { checkpoint: string }; previous?: { checkpoint: string }; reference?: { checkpoint: string }; origin?: { checkpoint: string } };
  const sources = [spec.model, other.rewardModel, other.previous, other.reference, other.origin].filter((m) => m !== undefined);
  return sources.every((source) => "init" in source || hasManifest(source.checkpoint));
}

function hasManifest(checkpoint: string): boolean {
  try {
    readManifest(checkpoint);
    return true;
  } catch {
    return false;
  }
}

/** The HF tokenizer_config / generation_config a checkpoint carries forward (HF models only). */
function hfOf(format: ChatFormat): { hf?: NonNullable<ChatFormat["hf"]> } {
  return format.hf ? { hf: format.hf } : {};
}

/** Reads and validates a job file; `kind` from the command line fills a missing one. */
export function readJobFile(path: string, kind?: string): unknown {
  if (!existsSync(path)) throw new Error(`config file ${path} does not exist`);
  const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  if (kind && json["kind"] !== undefined && json["kind"] !== kind) throw new Error(`${path} is a '${String(json["kind"])}' job, not '${kind}'`);
  return { schemaVersion: 1, ...json, ...(kind ? { kind } : {}) };
}

