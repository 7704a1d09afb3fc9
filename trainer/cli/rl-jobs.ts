// GRPO and RLOO jobs over local files, top to bottom: 1. the policy and its frozen reference, the
// optional reward model → 2. prompts with metadata → 3. reward sources → 4. the trainer, resumed
// from a checkpoint when asked → 5. rollouts with periodic checkpoints (checkpoints/rollout-N),
// stopping early when the KL guard says so → 6. the final checkpoint in <out>.
import { join } from "node:path";
import { type JobSpec } from "../contract/job.ts";
import { EARLY_STOP_EVENT } from "../contract/kl-guard.ts";
import { finalAnswer, type ToolName } from "../contract/conversation.ts";
import { generateWithTools } from "../model/generate-with-tools.ts";
import { parseCompletion } from "../tokenizer/chat-template.ts";
import { CheckpointMismatchError, saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { countModelParams, disposeModel } from "../model/lm.ts";
import { type AdamWState } from "../optim/adamw.ts";
import { saveTokenizerJson, type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { createGrpoTrainer, type GroupRlDeps, type GroupRlResumeState, type RlPrompt, type RolloutStepResult } from "../algorithms/grpo-trainer.ts";
import { createRlooTrainer } from "../algorithms/rloo-trainer.ts";
import { buildRewardSources, NonFiniteRewardError } from "../rewards/reward-sources.ts";
import { referenceOf } from "../rollouts/kl-guard.ts";
import { plainRollout, type RolloutFn } from "../rollouts/rollout.ts";
import { type JobLogger } from "./logger.ts";
import { createProgress } from "./progress.ts";
import { buildModel } from "./job-inputs.ts";
import { readRlPrompts } from "./rl-inputs.ts";
import { batchesFrom, hashExamples, readBackForSave, resumeInto, writePeriodicCheckpoint, type SaveCheckpoint } from "./train-loop.ts";

/**
 * The sampler for a job's rollouts and KL checks: with the job's declared tools, a call the policy
 * writes is run and its result spliced in (policyMask 0 there, so it is never trained on); without
 * tools, plain sampling.
 */
export function rolloutFor(tools: readonly ToolName[], tokenizer: BpeTokenizer): RolloutFn {
  if (tools.length === 0) return plainRollout;
  return (model, prompts, options) => generateWithTools(model, prompts, { ...options, tokenizer, tools: [...tools] });
}

/**
 * What the rewards read from a completion's parsed transcript: the final answer (the last assistant
 * message) and the last tool call's result (null without one). Both read the same completion in a
 * rollout, so each completion is parsed once (keyed by its array).
 */
export function transcriptReaders(tokenizer: BpeTokenizer): Required<Pick<GroupRlDeps, "answerText" | "toolResult">> {
  const parsed = new WeakMap<number[], ReturnType<typeof parseCompletion>>();
  const parse = (completion: number[]) => {
    let transcript = parsed.get(completion);
    if (!transcript) parsed.set(completion, (transcript = parseCompletion(tokenizer, completion)));
    return transcript;
  };
  return {
    answerText: async (completion) => finalAnswer(await parse(completion)),
    toolResult: async (completion) => (await parse(completion)).findLast((m) => m.role === "tool")?.content ?? null,
  };
}

interface GroupRlTrainer {
  step: number;
  rollouts: number;
  optimizer: AdamWState;
  rolloutStep(prompts: RlPrompt[], more?: () => RlPrompt[]): Promise<RolloutStepResult>;
  resumeState(): GroupRlResumeState;
  restore(state: GroupRlResumeState): void;
  dispose(): void;
}

export async function runGroupRlJob(
  spec: Extract<JobSpec, { kind: "grpo" | "rloo" }>, tokenizer: BpeTokenizer, log: JobLogger, options: { rollout: RolloutFn; answerText?: GroupRlDeps["answerText"]; toolResult?: GroupRlDeps["toolResult"] },
): Promise<void> {
  const train = spec.train;
  // 1. the policy; its frozen copy (made before any resume point is loaded) is the KL reference
  const policy = buildModel(spec.model, tokenizer, "none");
  const reference = referenceOf(policy);
  const rewardModel = spec.rewardModel ? buildModel(spec.rewardModel, tokenizer, "reward") : null;
  const pad = tokenizer.special.pad;

  // 2. prompts with their metadata; each must leave room for an answer
  const prompts = await readRlPrompts(spec.prompts, tokenizer, policy.config.blockSize - train.maxCompletionLength, spec.reward.checker);

  // 3.–4. reward sources and the trainer
  const deps: GroupRlDeps = {
    padId: pad,
    stopTokens: [tokenizer.special.endOfTurn, tokenizer.special.eos],
    rewards: buildRewardSources(spec.reward, rewardModel ? { model: rewardModel, padId: pad } : null),
    decode: (ids) => tokenizer.decode(ids, true),
    rollout: options.rollout,
    ...(options.answerText ? { answerText: options.answerText } : {}),
    ...(options.toolResult ? { toolResult: options.toolResult } : {}),
  };
  const trainer: GroupRlTrainer = spec.kind === "grpo" ? createGrpoTrainer(policy, reference, spec.train, deps) : createRlooTrainer(policy, reference, spec.train, deps);
  const items: RlPrompt[] = prompts.map((p) => ({ ids: p.ids, metadata: p.metadata }));
  const dataHash = hashExamples(items);
  // the reward is part of what a step computes: a resume under another reward spec is refused too
  // dynamic sampling's fields are left out while it is off: checkpoints written before they existed still resume
  const { dynamicSampling: _dynamic, maxSamplingBatches: _maxBatches, ...trainWithoutSampling } = train;
  const resumeConfig = { ...(train.dynamicSampling ? train : trainWithoutSampling), reward: spec.reward, rewardModel: spec.rewardModel ?? null, tools: spec.tools };
  const resume = spec.resume ? resumeInto(spec.resume, { model: policy, optimizer: trainer.optimizer }, { kind: spec.kind, dataHash, tokenizerHash: tokenizer.hash, train: resumeConfig }) : null;
  if (resume) {
    const e = resume.extra;
    trainer.restore({ step: resume.step, rollouts: e["rollouts"] ?? NaN, beta: e["beta"] ?? NaN, shuffleRngState: e["shuffleRngState"] ?? NaN, numTokens: e["numTokens"] ?? 0 });
    if (!Number.isFinite(trainer.rollouts + trainer.resumeState().beta)) throw new CheckpointMismatchError(`resume: ${resume.dir} holds no ${spec.kind} state (rollouts, beta)`);
  }
  log.event("start", {
    kind: spec.kind, prompts: prompts.length, params: countModelParams(policy.config), config: train, reward: spec.reward, tools: spec.tools,
    rewardSources: deps.rewards.map((r) => ({ name: r.name, weight: r.weight })),
    ...(resume ? { resumedFrom: resume.dir, resumedAtRollout: trainer.rollouts } : {}),
  });

  // 5. rollouts; prompt batches replay from the seed on resume. Dynamic sampling draws extra batches within a rollout,
  // so the checkpoint counts the batches drawn (older checkpoints drew one per rollout).
  let batchesDrawn = resume ? (resume.extra["promptBatches"] ?? trainer.rollouts) : 0;
  const { batches, rng } = batchesFrom(items, train.promptsPerRollout, train.seed, resume && { ...resume, batchesDrawn });
  const draw = (): RlPrompt[] => {
    batchesDrawn += 1;
    return batches.next().value as RlPrompt[];
  };
  const save: SaveCheckpoint = (dir) => {
    saveCheckpoint(dir, policy, trainer.optimizer, {
      step: trainer.step, rngState: rng.state(), trainConfig: resumeConfig, tokenizerHash: tokenizer.hash, kind: spec.kind, dataHash, resumeState: { ...trainer.resumeState(), promptBatches: batchesDrawn },
    });
    saveTokenizerJson(tokenizer, join(dir, "tokenizer.json"));
  };
  const bar = createProgress(`${spec.kind} rollouts`, train.rollouts);
  const every = train.checkpointEvery;
  let lastCheckpoint: string | null = resume?.dir ?? null;
  let earlyStop: RolloutStepResult["earlyStop"] = null;
  while (trainer.rollouts < train.rollouts) {
    let result: RolloutStepResult;
    try {
      result = await trainer.rolloutStep(draw(), draw);
    } catch (error) {
      // a NaN reward or loss: name the last good checkpoint to restart from
      const message = error instanceof Error ? error.message : String(error);
      const at = error instanceof NonFiniteRewardError ? ` at step ${trainer.step + 1} (rollout ${trainer.rollouts + 1})` : "";
      throw new Error(`${message}${at} (last checkpoint: ${lastCheckpoint ?? "none; set train.checkpointEvery"})`, { cause: error });
    }
    const m = result.metrics;
    bar.update(trainer.rollouts, `reward ${m["reward"]?.toFixed(3)} kl ${m["kl_guard/kl"]?.toFixed(3)}`);
    log.event("metrics", m);
    if (result.earlyStop) {
      earlyStop = result.earlyStop;
      trainer.step = earlyStop.keptStep; // the trainer put those weights back
      break;
    }
    if (every > 0 && trainer.rollouts % every === 0 && trainer.rollouts < train.rollouts) {
      await readBackForSave([policy], trainer.optimizer);
      lastCheckpoint = writePeriodicCheckpoint(spec.out, trainer.rollouts, rng.state(), train.keepCheckpoints, save, "rollout");
      log.event("checkpoint", { step: trainer.step, rollout: trainer.rollouts, dir: lastCheckpoint });
    }
  }
  bar.finish();

  // 6. the final checkpoint (after an early stop: the kept weights), then "done"
  await readBackForSave([policy], trainer.optimizer);
  save(spec.out, trainer.step, rng.state());
  log.event("checkpoint", { step: trainer.step, rollout: trainer.rollouts, dir: spec.out, final: true });
  if (earlyStop) log.event(EARLY_STOP_EVENT, { ...earlyStop, dir: spec.out });
  trainer.dispose();
  reference.dispose();
  for (const m of [policy, rewardModel]) if (m) disposeModel(m);
  log.event("done", { kind: spec.kind, rollouts: trainer.rollouts, steps: trainer.step, ...(earlyStop ? { earlyStop: true } : {}) });
}
