// Job specs: what the CLI reads from --config and what the server will hand a trainer.
// Paths are local to the trainer's machine.
import { z } from "zod";
import { gptConfigInputSchema } from "./gpt-config.ts";
import { llamaConfigInputSchema } from "./llama-config.ts";
import { loraConfigSchema } from "./lora-config.ts";
import { sftConfigSchema } from "./sft-config.ts";
import { rewardConfigSchema } from "./reward-config.ts";
import { dpoConfigSchema } from "./dpo-config.ts";
import { ppoConfigSchema } from "./ppo-config.ts";
import { checkerSpecSchema, TASK_TARGET_CHECKERS } from "./checker.ts";
import { grpoConfigSchema } from "./grpo-config.ts";
import { rlooConfigSchema } from "./rloo-config.ts";
import { ktoConfigSchema } from "./kto-config.ts";
import { rewardSpecSchema } from "./reward-spec.ts";
import { toolNameSchema } from "./conversation.ts";

/** Held-out answers kept to read: what a report shows unless a round asks for more (up to the max). */
export const SHOW_SAMPLES_DEFAULT = 8;
export const SHOW_SAMPLES_MAX = 500;

/**
 * Start from scratch (vocabSize follows the tokenizer; GPT-2 or Llama-family) or from a checkpoint
 * directory (full weights, or LoRA adapters over their base: checkpoint/load-model.ts).
 */
export const modelSourceSchema = z.union([
  z.strictObject({ init: z.union([gptConfigInputSchema, llamaConfigInputSchema]), seed: z.number().int().nonnegative().default(0) }),
  z.strictObject({ checkpoint: z.string().min(1) }),
]);

export type ModelSource = z.output<typeof modelSourceSchema>;

/** Where a job may train (trainer/backend/select-backend.ts tries them); "auto" picks. */
export const BACKEND_PREFERENCES = ["auto", "tfjs-node-gpu", "tfjs-node", "webgpu", "wasm", "cpu"] as const;

const base = {
  schemaVersion: z.literal(1),
  /** Directory for the checkpoint, tokenizer.json copy and metrics.jsonl. */
  out: z.string().min(1),
  /**
   * Backend preference; "auto" tries tfjs-node-gpu, tfjs-node, then wasm, then cpu (or what
   * TANDEM_BACKEND names). "webgpu" runs every job that loads a model (decisions trainer-033 to 035); a tokenizer
   * job, or one whose checkpoint cannot be read, falls back to wasm with the reason.
   */
  backend: z.enum(BACKEND_PREFERENCES).default("auto"),
  /**
   * Recompute each transformer block's forward in the backward pass instead of keeping its
   * activations (transformers' gradient_checkpointing): less memory, ≈ one more forward per step,
   * the same numbers. Off by default.
   */
  recompute: z.boolean().default(false),
};

/**
 * A checkpoint folder of an earlier run of the same job (<out>/checkpoints/step-N, or a final <out>)
 * to continue from: weights, AdamW state, step and data order are restored and training goes on to
 * `train.steps` (PPO: `train.rollouts`). `model` is still read: DPO computes its reference
 * log-probs from it, and the checkpoint must match its architecture. Refused when the kind, the
 * tokenized data or a train setting other than steps (rollouts) / checkpointEvery /
 * keepCheckpoints differs.
 */
const resume = z.string().min(1).optional();

/** Built-in tool names, each at most once. */
export const toolsSchema = z
  .array(toolNameSchema)
  .max(8)
  .refine((names) => new Set(names).size === names.length, "each tool at most once");

/**
 * Train LoRA adapters instead of every weight (Llama-family checkpoints only): the model's weights
 * stay frozen (a starting adapter checkpoint is merged into them first), only the adapters (and a
 * reward/value head) train, and the output checkpoint holds the adapters over `model` as base.
 * DPO's and PPO's reference is the model with its adapters off: no second copy of the weights.
 */
const lora = loraConfigSchema.optional();

export const samplingSchema = z.strictObject({
  maxNewTokens: z.number().int().positive().default(64),
  /** 0 = greedy. Labeling rounds want variety; RL rollouts must use top_k = 0, top_p = 1. */
  temperature: z.number().nonnegative().default(0.7),
  topK: z.number().int().nonnegative().default(0),
  topP: z.number().gt(0).max(1).default(1),
  seed: z.number().int().nonnegative().default(0),
  /** Completions per prompt (K for a ranking task). */
  n: z.number().int().positive().default(1),
  batchSize: z.number().int().positive().default(8),
  /**
   * Tools the policy may call while it answers (decision 0019): a call is run and its result
   * spliced in before the answer goes on. Unset or empty: no tools (a call the policy writes anyway
   * ends its answer there).
   */
  tools: toolsSchema.optional(),
  /** Tool calls one answer may make; later ones get an error result (default 4). */
  maxToolCalls: z.number().int().min(0).max(32).optional(),
});

/**
 * GRPO and RLOO: the policy answers prompts G times per rollout and learns from the rewards.
 *   prompts      JSONL prompt records {"prompt": "…" | [messages], "metadata": {"answer": 84, …}}; TRL's
 *                prompt-only form with extra columns ({"prompt": …, "answer": 84}) reads too, the extra
 *                columns being the metadata. A checker's field missing from a prompt is refused, by line.
 *   model        the starting policy (SFT); a frozen copy of it is the KL reference
 *   rewardModel  optional scalar-head reward model: a reward source (weight reward.weights.rewardModel)
 *   reward       the sources and weights (contract/reward-spec.ts); at least one source
 *   tools        tools the sampler runs when the policy calls them (the project's declared tools)
 */
function groupRlJob<K extends "grpo" | "rloo", S extends z.ZodType>(kind: K, train: S) {
  return z
    .strictObject({
      ...base,
      kind: z.literal(kind),
      prompts: z.string().min(1),
      tokenizer: z.string().min(1),
      model: z.strictObject({ checkpoint: z.string().min(1) }),
      rewardModel: z.strictObject({ checkpoint: z.string().min(1) }).optional(),
      reward: rewardSpecSchema,
      tools: z.array(toolNameSchema).max(8).default([]),
      /** A checkpoint of an earlier run of this job (checkpoints/rollout-N) to continue from; see `resume` above. */
      resume,
      train,
    })
    .superRefine((job, ctx) => {
      if (job.reward.weights.rewardModel !== undefined && !job.rewardModel)
        ctx.addIssue({ code: "custom", message: "a weight for the reward model, but the job names none (rewardModel)", path: ["reward", "weights", "rewardModel"] });
      if (!job.reward.checker && !job.reward.format && !job.reward.length && !job.rewardModel)
        ctx.addIssue({ code: "custom", message: "no reward source: give reward.checker, reward.format, reward.length or a rewardModel", path: ["reward"] });
    });
}

/** A named source of documents: text files (one document each) or JSONL files of {"text": …} documents. */
export const corpusSourceSchema = z.strictObject({ name: z.string().min(1).max(200), files: z.array(z.string().min(1)).min(1) });

export const jobSpecSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    ...base,
    kind: z.literal("train-tokenizer"),
    corpus: z.array(z.string().min(1)).min(1),
    vocabSize: z.number().int().min(300).default(2048),
  }),
  z
    .strictObject({
      ...base,
      kind: z.literal("pretrain"),
      /** Text files (or JSONL of {"text"} documents), every window once: the plain corpus. */
      corpus: z.array(z.string().min(1)).min(1).optional(),
      /**
       * A weighted mix instead (decision trainer-018): each source's windows are drawn in proportion to
       * its weight up to a fixed budget of steps × batchSize windows (a small source repeats, a large
       * one is subsampled), so runs with different mixes see the same number of tokens.
       */
      mix: z.array(corpusSourceSchema.extend({ weight: z.number().min(0) })).min(1).max(50).optional(),
      /** Held-out text scored before and after training (mean loss per token): <out>/lm-eval.json. */
      eval: z.array(corpusSourceSchema).max(10).default([]),
      tokenizer: z.string().min(1),
      model: modelSourceSchema,
      /** Tokens per training window; default the model's blockSize. */
      windowLength: z.number().int().positive().optional(),
      resume,
      train: sftConfigSchema.prefault({}),
    })
    .refine((j) => (j.corpus === undefined) !== (j.mix === undefined), { message: "give either corpus (files) or mix (weighted sources)", path: ["corpus"] })
    .refine((j) => !j.mix || j.mix.some((s) => s.weight > 0), { message: "at least one source needs a weight above 0", path: ["mix"] }),
  z.strictObject({
    ...base,
    /**
     * Data-mix search (decision trainer-018): one small model per candidate mixture, each from the same
     * init and seed on the same token budget, scored by its mean loss per token on the target's held-out
     * text. Writes <out>/mix-search.json; the lowest loss wins.
     */
    kind: z.literal("mix-search"),
    sources: z.array(corpusSourceSchema).min(2).max(8),
    /** Held-out text of the target domain: the lowest mean loss per token wins. */
    target: corpusSourceSchema.optional(),
    /**
     * Or a task set (decision 0054): prompt records {"prompt", "metadata"} whose metadata[checker.field] is the
     * reference answer. Each candidate answers greedily and is checked; the highest pass rate wins, ties (every
     * candidate at 0, as models this small are) to the lowest mean loss of the reference answer after the prompt.
     */
    tasks: z.strictObject({ name: z.string().min(1).max(200), prompts: z.string().min(1), checker: checkerSpecSchema, maxNewTokens: z.number().int().min(1).max(64).default(16) }).optional(),
    /** Weights per candidate, one per source (normalised to sum 1). */
    candidates: z.array(z.array(z.number().min(0))).min(1).max(64),
    tokenizer: z.string().min(1),
    model: z.strictObject({ init: z.union([gptConfigInputSchema, llamaConfigInputSchema]), seed: z.number().int().nonnegative().default(0) }),
    windowLength: z.number().int().positive().optional(),
    /**
     * A checkpoint of an earlier run of this search (<out>/checkpoints/candidate-N, decision 0056): its N candidates'
     * results are kept and the search goes on with candidate N. Refused when the model, tokenizer, data, train
     * settings (but checkpointEvery and keepCheckpoints), sources, target or those first candidates differ.
     */
    resume,
    train: sftConfigSchema.prefault({}),
  }).superRefine((j, ctx) => {
    if ((j.target === undefined) === (j.tasks === undefined)) ctx.addIssue({ code: "custom", message: "give either target (held-out text) or tasks (a task set with a checker)", path: ["target"] });
    if (j.tasks && !(TASK_TARGET_CHECKERS as readonly string[]).includes(j.tasks.checker.kind)) {
      ctx.addIssue({ code: "custom", message: `a task target needs a checker whose reference is an answer text (${TASK_TARGET_CHECKERS.join(" or ")})`, path: ["tasks", "checker", "kind"] });
    }
    j.candidates.forEach((c, i) => {
      if (c.length !== j.sources.length) ctx.addIssue({ code: "custom", message: `needs ${j.sources.length} weights, one per source`, path: ["candidates", i] });
      else if (!c.some((w) => w > 0)) ctx.addIssue({ code: "custom", message: "at least one weight above 0", path: ["candidates", i] });
    });
  }),
  z.strictObject({ ...base, kind: z.literal("sft"), data: z.string().min(1), tokenizer: z.string().min(1), model: modelSourceSchema, resume, lora, train: sftConfigSchema.prefault({}) }),
  z.strictObject({ ...base, kind: z.literal("reward"), data: z.string().min(1), tokenizer: z.string().min(1), model: modelSourceSchema, resume, lora, train: rewardConfigSchema.prefault({}) }),
  z.strictObject({ ...base, kind: z.literal("dpo"), data: z.string().min(1), tokenizer: z.string().min(1), model: modelSourceSchema, resume, lora, train: dpoConfigSchema.prefault({}) }),
  z.strictObject({
    ...base,
    kind: z.literal("ppo"),
    /** Prompt records ({"prompt": …}); rollouts draw from them. */
    prompts: z.string().min(1),
    tokenizer: z.string().min(1),
    /** The SFT policy; it is also the frozen reference. */
    model: z.strictObject({ checkpoint: z.string().min(1) }),
    /** The reward model; it also initialises the value model (TRL, OpenRLHF). */
    rewardModel: z.strictObject({ checkpoint: z.string().min(1) }),
    /**
     * More reward sources beside the reward model, as GRPO's (contract/reward-spec.ts): the score is
     * Σ wᵢ·rᵢ with the reward model weighted by `weights.rewardModel` (default 1). A checker reads
     * each prompt record's metadata. Absent: the reward model alone.
     */
    reward: rewardSpecSchema.optional(),
    /** A PPO checkpoint (policy, with the value model in value/) to continue from; see `resume` above. */
    resume,
    /** Adapters on the policy and on the value model (the reward model stays frozen as it is). */
    lora,
    /**
     * Tools the rollouts run when the policy calls them, as GRPO's do: the result is spliced in and the
     * answer goes on; the reward model reads the whole transcript, the losses the policy's tokens only.
     * Models with Tandem's chat template only (an imported template has no tool-call tokens of ours).
     */
    tools: toolsSchema.default([]),
    train: ppoConfigSchema.prefault({}),
  }),
  groupRlJob("grpo", grpoConfigSchema.prefault({})),
  groupRlJob("rloo", rlooConfigSchema.prefault({})),
  z.strictObject({
    ...base,
    kind: z.literal("kto"),
    /** Unpaired labels, TRL's format: {"prompt": …, "completion": "…" | [assistant message], "label": true | false}. */
    data: z.string().min(1),
    tokenizer: z.string().min(1),
    /** The starting policy; a frozen copy of it is the reference. */
    model: modelSourceSchema,
    resume,
    train: ktoConfigSchema.prefault({}),
  }),
  z.strictObject({
    ...base,
    /**
     * Evaluates a checkpoint on a dataset; what is measured follows from the checkpoint and data:
     *  - a policy on `messages` records: mean assistant-token loss and perplexity;
     *  - a reward model on preference/ranking records: pairwise accuracy and mean margin;
     *  - a policy with `reference` on preference/ranking records: DPO implicit rewards and a KL estimate.
     */
    kind: z.literal("eval"),
    data: z.string().min(1),
    /** Default: the tokenizer.json saved beside the model checkpoint. */
    tokenizer: z.string().min(1).optional(),
    model: z.strictObject({ checkpoint: z.string().min(1) }),
    /** The DPO reference policy (usually the SFT checkpoint the policy started from). */
    reference: z.strictObject({ checkpoint: z.string().min(1) }).optional(),
    /** Sequences per forward pass. */
    batchSize: z.number().int().positive().default(8),
    /** β of the implicit rewards β·log π/π_ref (the DPO run's beta). */
    beta: z.number().positive().default(0.1),
    /** KL(π‖π_ref) estimate from completions sampled at temperature 1; samples: 0 skips it. */
    kl: z
      .strictObject({
        samplesPerPrompt: z.number().int().nonnegative().default(1),
        maxNewTokens: z.number().int().positive().default(32),
        seed: z.number().int().nonnegative().default(0),
      })
      .prefault({}),
  }),
  z.strictObject({
    ...base,
    /**
     * Scores a policy on held-out prompts (a project's eval set) next to the policy before it, with
     * the same decoding and seeds: checker accuracy, reward-model score, length and answer health,
     * KL to the reference, and sample answers. Each model reads the tokenizer in its own folder.
     * Writes <out>/heldout.json (heldout-eval.ts documents it).
     */
    kind: z.literal("heldout"),
    /** {"prompt", "metadata"} records. */
    prompts: z.string().min(1),
    model: z.strictObject({ checkpoint: z.string().min(1) }),
    /** The policy the round started from: scored the same way, for the comparison. */
    previous: z.strictObject({ checkpoint: z.string().min(1) }).optional(),
    /** KL(π‖π_ref) on the held-out prompts against this policy (the round's SFT or base policy). */
    reference: z.strictObject({ checkpoint: z.string().min(1) }).optional(),
    /**
     * KL(π‖π_origin) as well, the same way: the policy a chain of rounds started from, when that is not the
     * reference (each round's KL is to its own start only; decision 0058).
     */
    origin: z.strictObject({ checkpoint: z.string().min(1) }).optional(),
    rewardModel: z.strictObject({ checkpoint: z.string().min(1) }).optional(),
    checker: checkerSpecSchema.optional(),
    tools: z.array(toolNameSchema).default([]),
    /** Greedy by default: the policy's best answer, the same for both policies. */
    decoding: z
      .strictObject({
        maxNewTokens: z.number().int().positive().default(64),
        temperature: z.number().nonnegative().default(0),
        seed: z.number().int().nonnegative().default(0),
      })
      .prefault({}),
    /** Samples at temperature 1 for the KL estimate (0 skips it). */
    kl: z
      .strictObject({
        samplesPerPrompt: z.number().int().nonnegative().default(2),
        maxNewTokens: z.number().int().positive().default(64),
        seed: z.number().int().nonnegative().default(0),
      })
      .prefault({}),
    batchSize: z.number().int().positive().default(8),
    /** Answers kept in heldout.json for people to read. */
    showSamples: z.number().int().nonnegative().max(SHOW_SAMPLES_MAX).default(SHOW_SAMPLES_DEFAULT),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("sample"),
    prompts: z.string().min(1),
    tokenizer: z.string().min(1),
    model: z.strictObject({ checkpoint: z.string().min(1) }),
    sampling: samplingSchema.default(samplingSchema.parse({})),
  }),
]);

/** <out>/mix-search.json: each candidate's weights (normalised), held-out loss per token on the target, and the lowest. */
export const mixSearchResultSchema = z.object({
  sources: z.array(z.string()),
  target: z.string(),
  /** loss: the lowest target loss wins; checker: the highest pass rate, then the lowest loss (a task target). */
  scoring: z.enum(["loss", "checker"]).default("loss"),
  candidates: z.array(
    z.object({
      weights: z.array(z.number()), loss: z.number(), tokens: z.number(), trainLoss: z.number().nullable(),
      /** A task target: the checker on the candidate's greedy answers (prompts without a usable reference are not scored). */
      checker: z.object({ passRate: z.number().min(0).max(1), correct: z.number().int().nonnegative(), scored: z.number().int().nonnegative() }).optional(),
    }),
  ),
  best: z.number().int().nonnegative(),
});
export type MixSearchResult = z.output<typeof mixSearchResultSchema>;

export type JobSpec = z.output<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobKind = JobSpec["kind"];
