/**
 * A Tandem round, written as the commands of a distributed engine (OpenRLHF or TRL). Each
 * training step of the round's path becomes one shell script; models chain the way Tandem's own
 * trainer chains them (SFT → DPO, SFT → RM → PPO). Hyperparameters keep their meaning where the
 * engine has the same knob, and the README of the bundle lists the ones that only approximate
 * (see `MAPPING_NOTES`). Flags follow OpenRLHF 0.11 (dotted names) and TRL 1.x YAML configs.
 */
import { z } from "zod";
import { ROUND_PATHS, stepKlTarget, type RoundSpec, type TrainStepKind } from "../../../trainer/contract/round.ts";

export const ENGINES = ["openrlhf", "trl"] as const;
export type Engine = (typeof ENGINES)[number];

/** What a researcher adds to a round to run it on a cluster. Everything here reaches a shell script, so it is strict. */
export const handOffSchema = z.strictObject({
  engine: z.enum(ENGINES).default("openrlhf"),
  /** A Hugging Face model id or a path on the cluster, e.g. Qwen/Qwen2.5-0.5B-Instruct. */
  baseModel: z
    .string()
    .trim()
    .min(1, "Name the base model (a Hugging Face id or a path on the cluster).")
    .max(300)
    .regex(/^[A-Za-z0-9/][A-Za-z0-9._\-/:@]*$/, "may hold only letters, digits and . _ - / : @, and may not start with -"),
  /** GPUs the entrypoint reserves (entrypoint_num_gpus); 0 lets the engine's own Ray actors ask for them. */
  numGpus: z.number().int().min(0).max(64).default(1),
});
export type HandOff = z.output<typeof handOffSchema>;

/** Rows in each dataset of the bundle: the engines count in epochs, Tandem in optimizer steps. */
export type DatasetCounts = { sft: number; preferences: number; prompts: number };

export type EngineStep = {
  kind: TrainStepKind;
  /** Folder under $TANDEM_OUTPUT_DIR the step writes its Hugging Face checkpoint to. */
  output: string;
  /** The script's file name inside the engine's folder, e.g. 01-sft.sh. */
  script: string;
  /** The script body (bash). */
  body: string;
  /** Extra files (TRL's YAML configs), path → text. */
  files: Record<string, string>;
};

export class UnsupportedStepError extends Error {}

// corpus steps are never handed off (launchRound refuses them with a Ray executor; NOT_HANDED_OFF below)
const DATASET_OF: Record<TrainStepKind, keyof DatasetCounts> = {
  sft: "sft", dpo: "preferences", reward: "preferences", ppo: "prompts", grpo: "prompts", rloo: "prompts", kto: "preferences", pretrain: "sft", midtrain: "sft", "mix-search": "sft",
};

/** Steps Tandem's trainer runs that the bundle does not map to an engine yet (their rewards and data differ). */
const NOT_HANDED_OFF: readonly TrainStepKind[] = ["grpo", "rloo", "kto", "pretrain", "midtrain", "mix-search"];

/** The models each step reads and writes, chained like Tandem's trainer: policy steps feed the next, PPO also reads the RM. */
export function chainSteps(spec: RoundSpec): Array<{ kind: TrainStepKind; input: string; reward: string | null; output: string }> {
  const out: Array<{ kind: TrainStepKind; input: string; reward: string | null; output: string }> = [];
  let policy = "$TANDEM_BASE_MODEL";
  let reward: string | null = null;
  ROUND_PATHS[spec.path].forEach((kind, i) => {
    const output = `$TANDEM_OUTPUT_DIR/${String(i + 1).padStart(2, "0")}-${kind}`;
    out.push({ kind, input: policy, reward: kind === "ppo" ? reward : null, output });
    if (kind === "reward") reward = output;
    else policy = output;
  });
  return out;
}

/** Tandem counts optimizer steps; OpenRLHF counts passes over the data. Rounded, at least one. */
export function epochsFor(steps: number, batchSize: number, rows: number): number {
  if (rows <= 0) return 1;
  return Math.max(1, Math.round((steps * batchSize) / rows));
}

export function engineSteps(spec: RoundSpec, engine: Engine, counts: DatasetCounts): EngineStep[] {
  const unmapped = ROUND_PATHS[spec.path].find((kind) => NOT_HANDED_OFF.includes(kind));
  if (unmapped) throw new UnsupportedStepError(`A ${unmapped.toUpperCase()} step runs on Tandem's own trainer service only (its verifiable rewards and unpaired data are not mapped to OpenRLHF or TRL yet).`);
  return chainSteps(spec).map(({ kind, input, reward, output }, i) => {
    const script = `${String(i + 1).padStart(2, "0")}-${kind}.sh`;
    const rows = counts[DATASET_OF[kind]];
    if (engine === "openrlhf") return { kind, output, script, body: shellScript(openrlhfCommand(spec, kind, input, reward, output, rows)), files: {} };
    return trlStep(spec, kind, input, output, script);
  });
}

// ---------------------------------------------------------------- OpenRLHF

type Arg = [flag: string, value?: string | number | ReadonlyArray<string | number>];

function openrlhfCommand(spec: RoundSpec, kind: TrainStepKind, input: string, reward: string | null, output: string, rows: number): string[] {
  const adam = (o: RoundSpec["sft"]["optim"], prefix = ""): Arg[] => [
    [`--${prefix}adam.lr`, o.lr],
    [`--${prefix}adam.betas`, [o.beta1, o.beta2]],
    [`--${prefix}adam.eps`, o.eps],
    [`--${prefix}adam.weight_decay`, o.weightDecay],
    [`--${prefix}lr_warmup_ratio`, ratio(o.warmupSteps, o.totalSteps ?? 1)],
    [`--${prefix}min_lr_ratio`, ratio(o.minLr, o.lr)],
    [`--${prefix}max_norm`, o.gradClip],
  ];
  const common: Arg[] = [["--ckpt.output_dir", output], ["--ds.zero_stage", 2], ["--ds.param_dtype", "bf16"], ["--ckpt.save_hf"]];
  if (kind === "sft") {
    const c = spec.sft;
    return launch("deepspeed --module openrlhf.cli.train_sft", [
      ["--model.model_name_or_path", input], ["--data.dataset", "datasets/sft"], ["--data.input_key", "messages"],
      ["--data.apply_chat_template"], ["--data.multiturn"],
      ["--train.batch_size", c.batchSize], ["--train.micro_batch_size", micro(c.batchSize, c.optim.gradAccumSteps)],
      ["--train.max_epochs", epochsFor(c.steps, c.batchSize, rows)], ["--train.seed", c.seed], ...adam(c.optim), ...common,
    ]);
  }
  if (kind === "dpo") {
    const c = spec.dpo;
    if (c.lossType === "hinge") throw new UnsupportedStepError("OpenRLHF's DPO has no hinge loss; choose sigmoid or ipo, or the TRL engine.");
    return launch("deepspeed --module openrlhf.cli.train_dpo", [
      ["--model.model_name_or_path", input], ["--ref.model_name_or_path", input], ...preferenceData(),
      ["--model.beta", c.beta], ...(c.lossType === "ipo" ? ([["--model.ipo_enable"]] as Arg[]) : []), ["--model.label_smoothing", c.labelSmoothing],
      // RPO's α is OpenRLHF's NLL coefficient on the chosen answers
      ["--model.nll_loss_coef", c.rpoAlpha],
      ["--data.max_len", c.maxLength], ["--train.batch_size", c.batchSize], ["--train.micro_batch_size", micro(c.batchSize, c.optim.gradAccumSteps)],
      ["--train.max_epochs", epochsFor(c.steps, c.batchSize, rows)], ["--train.seed", c.seed], ...adam(c.optim), ...common,
    ]);
  }
  if (kind === "reward") {
    const c = spec.reward;
    return launch("deepspeed --module openrlhf.cli.train_rm", [
      ["--model.model_name_or_path", input], ...preferenceData(), ["--model.loss_type", "sigmoid"],
      ["--data.max_len", c.maxLength], ["--train.batch_size", c.batchSize], ["--train.micro_batch_size", micro(c.batchSize, c.optim.gradAccumSteps)],
      ["--train.max_epochs", epochsFor(c.steps, c.batchSize, rows)], ["--train.seed", c.seed], ...adam(c.optim), ...common,
    ]);
  }
  const c = spec.ppo;
  if (!reward) throw new UnsupportedStepError("PPO needs the round's reward model, and the path has no reward step before it.");
  return launch("python3 -m openrlhf.cli.train_ppo_ray", [
    ["--actor.model_name_or_path", input], ["--reward.model_name_or_path", reward], ["--critic.model_name_or_path", reward],
    ["--data.prompt_dataset", "datasets/prompts"], ["--data.input_key", "prompt"], ["--data.apply_chat_template"],
    ["--rollout.batch_size", c.rolloutBatchSize], ["--rollout.n_samples_per_prompt", 1], ["--rollout.max_new_tokens", c.responseLength],
    ["--rollout.temperature", c.temperature], ["--train.batch_size", c.miniBatchSize], ["--train.max_epochs", c.ppoEpochs],
    ["--train.num_episodes", epochsFor(c.rollouts, c.rolloutBatchSize, rows)], ["--algo.advantage.estimator", "gae"],
    ["--algo.advantage.gamma", c.gamma], ["--algo.advantage.lambd", c.lam], ["--algo.kl.init_coef", c.klCoef],
    // OpenRLHF's adaptive KL is the counterpart of klControl "adaptive"; it has no early stop (MAPPING_NOTES)
    ...(c.klControl === "adaptive" && stepKlTarget(spec, "ppo") !== null ? ([["--algo.kl.target", stepKlTarget(spec, "ppo")], ["--algo.kl.horizon", c.klHorizon]] as Arg[]) : []),
    ["--actor.eps_clip", c.cliprange], ["--critic.value_clip", c.cliprangeValue], ["--train.seed", c.seed],
    ...adam(c.optim, "actor."), ...common,
  ]);
}

const preferenceData = (): Arg[] => [
  ["--data.dataset", "datasets/preferences"], ["--data.prompt_key", "prompt"], ["--data.chosen_key", "chosen"], ["--data.rejected_key", "rejected"],
  ["--data.apply_chat_template"],
];

const micro = (batch: number, accum: number) => Math.max(1, Math.floor(batch / Math.max(1, accum)));
const ratio = (a: number, b: number) => (b > 0 ? Number((a / b).toPrecision(6)) : 0);

function launch(program: string, args: Arg[]): string[] {
  return [program, ...args.map(([flag, value]) => (value === undefined ? flag : `${flag} ${(Array.isArray(value) ? value : [value]).map(shellWord).join(" ")}`))];
}

// ---------------------------------------------------------------- TRL

function trlStep(spec: RoundSpec, kind: TrainStepKind, input: string, output: string, script: string): EngineStep {
  if (kind === "ppo") {
    throw new UnsupportedStepError("TRL's PPO trainer is experimental and has no command line; choose the openrlhf engine for PPO paths.");
  }
  const config = kind === "sft" ? spec.sft : kind === "dpo" ? spec.dpo : spec.reward;
  const o = config.optim;
  const yaml: Record<string, string | number | boolean> = {
    dataset_name: kind === "sft" ? "datasets/sft" : "datasets/preferences",
    max_steps: config.steps,
    per_device_train_batch_size: micro(config.batchSize, o.gradAccumSteps),
    gradient_accumulation_steps: Math.max(1, o.gradAccumSteps),
    learning_rate: o.lr,
    lr_scheduler_type: "cosine_with_min_lr",
    warmup_steps: o.warmupSteps,
    adam_beta1: o.beta1,
    adam_beta2: o.beta2,
    adam_epsilon: o.eps,
    weight_decay: o.weightDecay,
    max_grad_norm: o.gradClip,
    seed: config.seed,
    bf16: true,
    save_strategy: "no",
    logging_steps: 1,
    report_to: "none",
  };
  if (kind === "dpo") Object.assign(yaml, { beta: spec.dpo.beta, loss_type: spec.dpo.lossType, max_length: spec.dpo.maxLength });
  if (kind === "reward") {
    Object.assign(yaml, { max_length: spec.reward.maxLength });
    if (spec.reward.centerCoefficient > 0) yaml["center_rewards_coefficient"] = spec.reward.centerCoefficient;
  }
  const name = `trl/${kind}.yaml`;
  const text = [
    `# Tandem round "${oneLine(spec.name)}", step ${kind}: generated; see README.md for the mapping.`,
    ...Object.entries(yaml).map(([key, value]) => `${key}: ${typeof value === "string" ? JSON.stringify(value) : value}`),
    `lr_scheduler_kwargs: {"min_lr": ${o.minLr}}`,
    "",
  ].join("\n");
  // model and output come from the environment at run time, so one bundle fits any cluster path.
  const command = [`trl ${kind} --config trl/${kind}.yaml`, `--model_name_or_path ${input.startsWith("$") ? `"${input}"` : shellWord(input)}`, `--output_dir "${output}"`];
  return { kind, output, script, body: shellScript(command), files: { [name]: text } };
}

/**
 * A researcher's text inside a YAML comment: every character YAML (PyYAML) takes as a line break
 * — \r, \n, NEL, LS, PS — or any other control character becomes a space, so it cannot add keys.
 */
export function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, " ");
}

// ---------------------------------------------------------------- shell

/** A word that is safe in bash: environment references stay expandable, anything else is single-quoted. */
export function shellWord(value: string | number): string {
  const text = String(value);
  if (/^\$[A-Z_]+(\/[\w.-]+)*$/.test(text)) return `"${text}"`;
  if (/^[\w./:=@-]+$/.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function shellScript(command: string[]): string {
  return ["#!/usr/bin/env bash", "set -euo pipefail", 'cd "$(dirname "$0")/.."', command.join(" \\\n  "), ""].join("\n");
}

/** Where the engines' knobs differ from Tandem's: written into the bundle's README. */
export const MAPPING_NOTES = [
  "OpenRLHF trains in epochs: `--train.max_epochs` = round(steps × batch size ÷ rows), at least 1. TRL keeps Tandem's `steps` as `max_steps`.",
  "The learning-rate schedule becomes cosine with a floor: warmup ratio = warmupSteps ÷ totalSteps, `min_lr_ratio` = minLr ÷ lr.",
  "`gradAccumSteps` splits the batch into micro-batches (`--train.micro_batch_size`, TRL `per_device_train_batch_size`).",
  "PPO: `--train.num_episodes` = round(rollouts × rolloutBatchSize ÷ prompts); the critic starts from the reward model, as in OpenRLHF's examples.",
  "PPO on OpenRLHF rewards with the reward model alone and runs no tools: the round's other rewards (the project's checker by default) and its tools apply on Tandem's own trainer service only (decision 0065).",
  "PPO's KL target maps to OpenRLHF's adaptive KL (`--algo.kl.target`) only under `klControl: \"adaptive\"`. Its default, an early stop at the target (decision 0066), has no counterpart: OpenRLHF's PPO runs every episode at a fixed β.",
  "Tandem-only settings have no counterpart and are left out: the reward model's `centerCoefficient` on OpenRLHF, PPO's `vfCoef`, `missingEosPenalty`, `whitenRewards` and `criticWarmupRollouts` (OpenRLHF's `--freezing_actor_steps` counts its own steps, so it is not mapped).",
  "DPO `hinge` is TRL-only; PPO runs on OpenRLHF only (TRL's PPO has no command line).",
  "DPO's `dpopLambda` (DPOP's penalty, Tandem's default 0.3, or 10 after an RL step) has no counterpart in OpenRLHF or TRL: the engines train plain DPO.",
];
