// Rounds and remote jobs: what a researcher launches, what the server hands a trainer service,
// and what the trainer reports back. Zod only, so the web app can import it.
import { z } from "zod";
import { gptConfigInputSchema } from "./gpt-config.ts";
import { sftConfigSchema } from "./sft-config.ts";
import { rewardConfigSchema } from "./reward-config.ts";
import { dpoConfigSchema } from "./dpo-config.ts";
import { ppoConfigSchema } from "./ppo-config.ts";
import { grpoConfigSchema } from "./grpo-config.ts";
import { rlooConfigSchema } from "./rloo-config.ts";
import { ktoConfigSchema } from "./kto-config.ts";
import { SHOW_SAMPLES_DEFAULT, SHOW_SAMPLES_MAX, samplingSchema, toolsSchema } from "./job.ts";
import { checkerSpecSchema } from "./checker.ts";
import { rewardSpecSchema } from "./reward-spec.ts";
import { toolNameSchema } from "./conversation.ts";
import { loraConfigSchema } from "./lora-config.ts";

/** The training paths a round can take; each ends with sampling the next batch for labelers. */
export const ROUND_PATHS = {
  "sft-dpo": ["sft", "dpo"],
  "sft-reward-ppo": ["sft", "reward", "ppo"],
  sft: ["sft"],
  dpo: ["dpo"],
  "reward-ppo": ["reward", "ppo"],
  // group-sampled RL with pluggable rewards (a verifiable checker, a reward model, format and length terms)
  grpo: ["grpo"],
  "sft-grpo": ["sft", "grpo"],
  "reward-grpo": ["reward", "grpo"],
  rloo: ["rloo"],
  "sft-rloo": ["sft", "rloo"],
  // unpaired labels: thumbs up/down, best and worst of a ranking, A/B outcomes, review verdicts
  kto: ["kto"],
  "sft-kto": ["sft", "kto"],
  // base models from corpora (decisions 0050, 0051): from scratch on a mix of cleaned corpora, continued on
  // specialised data with a replay share of the original mix, and the search for the mix itself
  pretrain: ["pretrain"],
  midtrain: ["midtrain"],
  "mix-search": ["mix-search"],
} as const;
export type RoundPath = keyof typeof ROUND_PATHS;

/**
 * How a K-way ranking becomes preference pairs (server/labeling/quality/pair-builder.ts): every pair across tiers,
 * adjacent tiers only, or the top tier against every other. Here because the round spec names it and the trainer's
 * contract imports nothing from the server; the export's filter and the pair builder read it from here.
 */
export const PAIR_MODES = ["all", "adjacent", "best_vs_rest"] as const;
export type TrainStepKind = "sft" | "reward" | "dpo" | "ppo" | "grpo" | "rloo" | "kto" | "pretrain" | "midtrain" | "mix-search";

/** Paths that train on corpora, not on labels: no held-out prompt evaluation, no sampling for labelers. */
export const CORPUS_PATHS = ["pretrain", "midtrain", "mix-search"] as const satisfies readonly RoundPath[];
export const isCorpusPath = (path: RoundPath): path is (typeof CORPUS_PATHS)[number] => (CORPUS_PATHS as readonly string[]).includes(path);

/** Whether any of these steps reads the preference pairs (DPO, or a reward model): what the preference filters apply to. */
export const readsPreferencePairs = (steps: readonly string[]): boolean => steps.includes("dpo") || steps.includes("reward");

/** Steps that move a policy against a reference: they take the round's klTarget. */
export const KL_STEPS = ["dpo", "kto", "ppo", "grpo", "rloo"] as const;
/** Steps that teach a policy from rewards it samples (a checker, a reward model): what DPOP's automatic λ looks for (decision 0064). */
export const RL_STEPS = ["ppo", "grpo", "rloo"] as const;

const rewardWeight = z.number().min(-100).max(100);

/**
 * What GRPO and RLOO steps reward, each source with its weight (Σ wᵢ·rᵢ): the project's checker,
 * a reward model (the round's own when the path trains one, else a registered one), a format
 * pattern, a length target, credit for stating the last tool result (toolResult, for projects
 * with tools), and partial credit per digit (digits, for projects with a numeric checker: it reads the
 * checker's field). Empty: the checker when the project has one, plus the round's reward model when the
 * path trains one. PPO steps take the same sources (decision 0065); their reward model is always the round's.
 */
export const roundRewardsSchema = z.strictObject({
  checker: z.strictObject({ weight: rewardWeight.default(1) }).optional(),
  rewardModel: z.strictObject({ weight: rewardWeight.default(1), modelId: z.string().regex(/^\d{1,18}$/, "must be a numeric id").optional() }).optional(),
  format: z
    .strictObject({ pattern: z.string().min(1).max(500), flags: z.string().regex(/^[imsu]{0,4}$/, "flags: i, m, s, u").default(""), weight: rewardWeight.default(1) })
    .refine((f) => {
      try {
        new RegExp(f.pattern, f.flags);
        return true;
      } catch {
        return false;
      }
    }, { message: "not a valid regular expression", path: ["pattern"] })
    .optional(),
  length: z.strictObject({ target: z.number().int().positive().max(100_000), weight: rewardWeight.default(1) }).optional(),
  toolResult: z.strictObject({ weight: rewardWeight.default(1) }).optional(),
  digits: z.strictObject({ weight: rewardWeight.default(1) }).optional(),
});
export type RoundRewards = z.output<typeof roundRewardsSchema>;

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");

/** A fresh model needs a tokenizer: the trainer fits one to the round's own text. */
export const freshModelSchema = z.strictObject({
  init: gptConfigInputSchema,
  /** Byte-level BPE vocabulary trained on the round's data (≥ 256 bytes + special tokens). */
  vocabSize: z.number().int().min(300).max(50257).default(512),
  seed: z.number().int().nonnegative().default(0),
});

/** A source's weight in a mix: relative (normalised to sum 1), so 1 and 3 is 25 % and 75 %. */
export const MIX_WEIGHT_MAX = 100;

/**
 * A mix of cleaned corpora (decision 0051): a saved mix (`mixId`, from a mix search or an earlier round), or
 * the kept documents of one cleaning job — optionally only those its quality classifier scores at or above
 * the chosen threshold — from these corpora, each with its weight.
 */
export const corpusMixSchema = z
  .strictObject({
    mixId: id.optional(),
    cleaningJobId: id.optional(),
    classifierId: id.optional(),
    sources: z.array(z.strictObject({ corpusId: id, weight: z.number().min(0).max(MIX_WEIGHT_MAX) })).max(20).optional(),
  })
  .superRefine((m, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", message, path: [path] });
    if (m.mixId !== undefined) {
      if (m.sources || m.cleaningJobId || m.classifierId) issue("mixId", "a saved mix names its own sources and cleaning job: give either mixId or sources");
      return;
    }
    if (!m.sources || m.sources.length === 0) return issue("sources", "the mix is empty: choose at least one corpus");
    if (m.cleaningJobId === undefined) issue("cleaningJobId", "which cleaning job's kept documents: choose one");
    if (new Set(m.sources.map((s) => s.corpusId)).size !== m.sources.length) issue("sources", "a corpus is listed twice");
    if (!m.sources.some((s) => s.weight > 0)) issue("sources", "the weights add up to 0: give at least one corpus a weight above 0");
  });
export type CorpusMix = z.output<typeof corpusMixSchema>;

/** What a pretrain or midtrain round trains on, and the documents it holds out to measure loss on. */
export const roundCorpusSchema = z.strictObject({
  /** pretrain: the mix it trains on; midtrain: the specialised data. */
  mix: corpusMixSchema,
  /**
   * midtrain only: a share of the training windows drawn from the original mix, to limit forgetting.
   * Without `mix`: the mix the base model was pretrained on (its round's lineage).
   */
  replay: z.strictObject({ share: z.number().min(0).max(0.9).default(0.25), mix: corpusMixSchema.optional() }).optional(),
  /** Share of each source's documents (a seeded split, frozen at launch) kept out of training to measure loss on. */
  heldOutShare: z.number().min(0.01).max(0.5).default(0.1),
  seed: z.number().int().nonnegative().default(0),
});

/**
 * The data-mix search (decision 0050): a small model per candidate mixture of the sources, the same token
 * budget each, scored on the target domain's held-out text; the best mix is saved for pretrain rounds.
 */
/**
 * A task set as a mix search's target (decision 0054): the project's eval-set prompts, their metadata holding the
 * reference answers, scored per candidate by a checker on its greedy answers, and by the loss of the reference answer
 * after the prompt (what separates models too small to answer right).
 */
export const mixTaskTargetSchema = z.strictObject({
  /** Which prompts: the project's eval set (held-out prompts, never labeling tasks or training data). */
  prompts: z.literal("eval-set").default("eval-set"),
  /** numeric or exact, whose reference is an answer text; default the project's checker. */
  checker: checkerSpecSchema.optional(),
  /** Tokens each candidate writes per prompt for the checker. */
  maxNewTokens: z.number().int().min(1).max(64).default(16),
});

export const mixSearchSchema = z
  .strictObject({
    cleaningJobId: id,
    classifierId: id.optional(),
    sources: z.array(id).min(2, "a search needs at least two sources").max(8),
    /**
     * The target: a corpus's kept documents, or a share of them (then never trained on) — or `tasks`, prompts with
     * reference answers scored by a checker (decision 0054). Exactly one of corpusId and tasks.
     */
    target: z
      .strictObject({ corpusId: id.optional(), share: z.number().gt(0).max(1).default(1), tasks: mixTaskTargetSchema.optional() })
      .refine((t) => (t.corpusId === undefined) !== (t.tasks === undefined), { message: "choose the target: a corpus (corpusId) or a task set (tasks)", path: ["corpusId"] }),
    /** Weight levels per source on the simplex grid (3: 0, ½, 1): every mixture whose weights are multiples of 1/(levels − 1). */
    levels: z.number().int().min(2).max(11).default(3),
    /** Explicit candidates instead of the grid: one weight per source each. */
    candidates: z.array(z.array(z.number().min(0).max(MIX_WEIGHT_MAX))).min(1).max(32).optional(),
    /** The name the chosen mix is saved under (default: the round's name). */
    saveAs: z.string().trim().min(1).max(120).optional(),
    seed: z.number().int().nonnegative().default(0),
  })
  .superRefine((m, ctx) => {
    if (new Set(m.sources).size !== m.sources.length) ctx.addIssue({ code: "custom", message: "a corpus is listed twice", path: ["sources"] });
    if (m.target.corpusId !== undefined && m.sources.includes(m.target.corpusId) && m.target.share > 0.5) {
      ctx.addIssue({ code: "custom", message: "the target is also a source: hold out at most half of it (share ≤ 0.5), the rest is trained on", path: ["target", "share"] });
    }
    m.candidates?.forEach((c, i) => {
      if (c.length !== m.sources.length) ctx.addIssue({ code: "custom", message: `needs ${m.sources.length} weights, one per source`, path: ["candidates", i] });
      else if (!c.some((w) => w > 0)) ctx.addIssue({ code: "custom", message: "the weights add up to 0", path: ["candidates", i] });
    });
    if (!m.candidates && simplexGrid(m.sources.length, m.levels).length > 32) {
      ctx.addIssue({ code: "custom", message: `${simplexGrid(m.sources.length, m.levels).length} candidates: at most 32 (fewer levels or sources)`, path: ["levels"] });
    }
  });
export type MixSearchSpec = z.output<typeof mixSearchSchema>;
export type MixTaskTarget = z.output<typeof mixTaskTargetSchema>;

/** Every mixture of `n` sources whose weights are multiples of 1/(levels − 1) and sum to 1, in a fixed order. */
export function simplexGrid(n: number, levels: number): number[][] {
  const steps = levels - 1;
  const out: number[][] = [];
  const walk = (prefix: number[], left: number) => {
    if (prefix.length === n - 1) return void out.push([...prefix, left].map((k) => k / steps));
    for (let k = left; k >= 0; k--) walk([...prefix, k], left - k);
  };
  walk([], steps);
  return out;
}

export const roundSpecSchema = z
  .strictObject({
    name: z.string().trim().min(1, "Name the round.").max(120),
    path: z.enum(Object.keys(ROUND_PATHS) as [RoundPath, ...RoundPath[]]),
    /**
     * The starting policy: a registered model, the final policy of another round of this project
     * (`afterRound`: this round waits until that one is done, then starts from what it made), or a
     * new one trained from scratch on this data.
     */
    base: z.union([z.strictObject({ modelId: id }), z.strictObject({ afterRound: id }), freshModelSchema]),
    /** Which labels to train on (submissions of this project and any others named, frozen at launch). */
    data: z
      .strictObject({
        /** Other projects whose labels join this project's (their own filters as below). */
        projects: z.array(id).max(20).optional(),
        /** Only tasks these rounds sampled (their ranking and A/B tasks, in whichever project). */
        rounds: z.array(id).min(1).max(50).optional(),
        labeler: id.optional(),
        since: z.iso.datetime({ offset: true }).optional(),
        /** Preferences only: items whose overlapping rankings agree at least this much (0–1). */
        minAgreement: z.number().min(0).max(1).optional(),
        /** Preferences only: one pair set per item from the consensus ranking instead of every labeler's. */
        consensus: z.boolean().default(false),
        /**
         * Preferences only: which pairs a ranking yields (the export's `pairs`): every pair across tiers (the default),
         * adjacent tiers only, or the top tier against every other.
         */
        pairs: z.enum(PAIR_MODES).optional(),
        /**
         * Preferences only, in a project with a checker (decision 0063): keep a pair only when the checker does not
         * mark its chosen answer wrong (a prompt without a reference keeps its pairs). The project's checker is frozen
         * into the snapshot at launch; a project without one is refused with this field named.
         */
        rightChosenOnly: z.boolean().optional(),
        /**
         * Rankings and A/B choices only from labelers whose agreement with gold tasks is at least
         * this (0–1); labelers never measured on gold are left out. Fixed at launch.
         */
        minGoldAgreement: z.number().min(0).max(1).optional(),
        /**
         * Data-mix weights per source (0–10; 1 = as labeled, 0 = left out, 2 = twice): demonstrations
         * and reviewed Q&A for SFT; rankings, A/B compares and reviewers' corrections for preferences.
         * rankedBest, blank = 0: each ranking's top answer as an SFT example too (decision 0069).
         */
        mix: z
          .strictObject({
            demonstrations: z.number().min(0).max(10).optional(),
            qa: z.number().min(0).max(10).optional(),
            rankedBest: z.number().min(0).max(10).optional(),
            rankings: z.number().min(0).max(10).optional(),
            compares: z.number().min(0).max(10).optional(),
            corrections: z.number().min(0).max(10).optional(),
          })
          .optional(),
      })
      .default({ consensus: false }),
    /**
     * Train LoRA adapters on the registered base in every training step instead of every weight
     * (Llama-family bases; PEFT's defaults: r 8, alpha 8, q_proj + v_proj). The registry records
     * each adapter with its base as parent; serving loads base + adapter.
     */
    lora: loraConfigSchema.optional(),
    /**
     * Every training step recomputes each transformer block's forward in the backward pass instead
     * of keeping its activations (decision trainer-013): about half the peak memory for about one
     * more forward per step, the same numbers. For a model that would not fit otherwise.
     */
    recompute: z.boolean().default(false),
    sft: sftConfigSchema.default(sftConfigSchema.parse({})),
    reward: rewardConfigSchema.default(rewardConfigSchema.parse({})),
    dpo: dpoConfigSchema.default(dpoConfigSchema.parse({})),
    ppo: ppoConfigSchema.default(ppoConfigSchema.parse({})),
    grpo: grpoConfigSchema.default(grpoConfigSchema.parse({})),
    rloo: rlooConfigSchema.default(rlooConfigSchema.parse({})),
    kto: ktoConfigSchema.default(ktoConfigSchema.parse({})),
    /** pretrain and midtrain: the corpus mix; mix-search: its sources and target. */
    corpus: roundCorpusSchema.optional(),
    mixSearch: mixSearchSchema.optional(),
    /** The training of pretrain and midtrain, and of each mix-search candidate (steps × batchSize windows: the token budget). */
    pretrain: sftConfigSchema.default(sftConfigSchema.parse({})),
    /** GRPO, RLOO and PPO: the reward sources and their weights (PPO's always include the round's reward model). */
    rewards: roundRewardsSchema.default({}),
    /**
     * The most KL to the reference the round may spend, in nats per answer. When set, every DPO, KTO,
     * PPO, GRPO and RLOO step takes it as its own klTarget (their guards stop, or steer β, at it); unset,
     * each step keeps its own (default 6). The report warns above whichever applied.
     */
    klTarget: z.number().positive().max(1000).optional(),
    /** How the round is judged on the project's held-out eval set, and how its reward model is checked. */
    evaluation: z
      .strictObject({
        /** auto: when the project has an eval set; required: refuse to launch without one; off: never. */
        heldOut: z.enum(["auto", "required", "off"]).default("auto"),
        maxNewTokens: z.number().int().positive().max(2048).default(64),
        /** 0 = greedy: each policy's best answer. */
        temperature: z.number().min(0).max(2).default(0),
        seed: z.number().int().nonnegative().default(0),
        /** Held-out answers kept in the report to read (the first N prompts; up to 500 for an analysis of all of them). */
        examples: z.number().int().min(0).max(SHOW_SAMPLES_MAX).default(SHOW_SAMPLES_DEFAULT),
        /**
         * Share of prompts (a seeded split frozen at launch) whose preference pairs the round's reward
         * model does not train on, so its accuracy is measured on pairs it never saw. 0 = train on all.
         */
        rewardSplit: z.number().min(0).max(0.5).default(0.1),
      })
      .prefault({}),
    /** Sampling the next batch: how many prompts get K fresh completions each. 0 = no sampling. */
    next: z
      .strictObject({
        prompts: z.number().int().min(0).max(10_000).default(16),
        maxNewTokens: samplingSchema.shape.maxNewTokens,
        temperature: samplingSchema.shape.temperature,
        topP: samplingSchema.shape.topP,
        topK: samplingSchema.shape.topK,
        seed: samplingSchema.shape.seed,
      })
      .default({ prompts: 16, maxNewTokens: 64, temperature: 0.9, topP: 1, topK: 0, seed: 0 }),
  })
  .refine((r) => !("init" in r.base) || ROUND_PATHS[r.path][0] === "sft" || r.path === "pretrain" || r.path === "mix-search", {
    message: "a model trained from scratch must start with SFT or pretraining (choose an sft or pretrain path, or a registered base model)",
    path: ["base"],
  })
  .refine((r) => !(r.path === "pretrain" || r.path === "mix-search") || "init" in r.base, {
    message: "pretraining and the mix search start from scratch: give base.init (a preset such as nano) and vocabSize",
    path: ["base"],
  })
  .refine((r) => r.path !== "midtrain" || !("init" in r.base), { message: "midtraining continues a base model: give base.modelId (or base.afterRound)", path: ["base"] })
  .refine((r) => !(r.path === "pretrain" || r.path === "midtrain") || r.corpus !== undefined, { message: "choose the corpus mix to train on", path: ["corpus"] })
  .refine((r) => r.path !== "mix-search" || r.mixSearch !== undefined, { message: "choose the sources and the target of the search", path: ["mixSearch"] })
  .refine((r) => r.corpus === undefined || r.path === "pretrain" || r.path === "midtrain", { message: "a corpus mix is for pretrain and midtrain paths", path: ["corpus"] })
  .refine((r) => r.mixSearch === undefined || r.path === "mix-search", { message: "mixSearch is for the mix-search path", path: ["mixSearch"] })
  .refine((r) => r.corpus?.replay === undefined || r.path === "midtrain", { message: "replay is for midtraining (pretraining trains on its mix alone)", path: ["corpus", "replay"] })
  .refine((r) => !r.lora || !("init" in r.base), {
    message: "LoRA adapters train on a registered (imported) base model, not on one trained from scratch",
    path: ["lora"],
  });

export type RoundSpec = z.output<typeof roundSpecSchema>;

/** The KL target (nats per answer) a round's step trains under: the round's, else the step's own. */
export function stepKlTarget(spec: RoundSpec, kind: (typeof KL_STEPS)[number]): number | null {
  return spec.klTarget ?? spec[kind].klTarget;
}

/** The KL target a round's report warns above: the last KL-guarded step's, else the round's, else 6. */
export function reportKlTarget(spec: RoundSpec): number {
  const last = [...ROUND_PATHS[spec.path]].reverse().find((k): k is (typeof KL_STEPS)[number] => (KL_STEPS as readonly string[]).includes(k));
  return (last ? stepKlTarget(spec, last) : spec.klTarget) ?? 6;
}
export type RoundSpecInput = z.input<typeof roundSpecSchema>;

/** Where a job's model comes from: a registered model's files, or a fresh init (with its tokenizer). */
const jobModelSchema = z.union([z.strictObject({ modelId: id }), freshModelSchema]);

/**
 * One job as the server hands it to a trainer service. URLs are paths on the server.
 *
 * What each kind reads (besides `model` and `train`, the kind's config in trainer/contract/*-config.ts):
 *   sft, reward, dpo  dataUrl (+ moreDataUrls): the SFT / preference export
 *   ppo               promptsUrl; rewardModel (required: the reward and the value model's start); reward
 *                     (optional): more sources beside the reward model, weighted as GRPO's; tools (optional)
 *   grpo, rloo        promptsUrl: prompt records WITH metadata, one per line:
 *                       {"prompt": "…" | [messages], "metadata": {"answer": 84, …}}
 *                     (TRL's form with the metadata as extra columns, {"prompt": …, "answer": 84}, reads too);
 *                     reward (required): the reward spec, contract/reward-spec.ts — checker inline, format and
 *                     length terms, weights; rewardModel (optional): a reward source weighted by
 *                     reward.weights.rewardModel; tools (optional): the tools the sampler runs.
 *                     model must be a registered model (modelId): the starting policy and the KL reference.
 *   kto               dataUrl (+ moreDataUrls): the unpaired export, TRL's {"prompt", "completion", "label"}
 *   evaluate          promptsUrl (the eval set, with metadata); heldOut as below; writes heldout.json
 *   sample            promptsUrl; sampling; baselineModel, evaluation, rewardModel as below
 *   pretrain, midtrain  corpus.train (weighted parts) and corpus.eval (held-out parts), one URL each
 *   mix-search        corpus.sources, corpus.target (text) or corpus.tasks with promptsUrl, corpus.candidates;
 *                     writes mix-search.json
 * A grpo, rloo, kto, pretrain or midtrain job resumes from the same files as sft/dpo (RESUME_FILES): its periodic
 * checkpoints are named checkpoints/rollout-N (grpo, rloo) or step-N (the others) and their events carry `step`.
 * A mix search checkpoints after each candidate (MIX_SEARCH_RESUME_FILES: the results so far and the tokenizer, step =
 * candidates done, decision 0056): a re-claimed or retried one keeps those results and trains only the rest.
 */
export const remoteJobSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    jobId: id,
    roundId: id,
    attempt: z.number().int().positive(),
    kind: z.enum(["sft", "reward", "dpo", "ppo", "grpo", "rloo", "kto", "evaluate", "sample", "pretrain", "midtrain", "mix-search"]),
    model: jobModelSchema,
    /**
     * PPO's reward model (also the value model's start); GRPO/RLOO's optional reward-model source; for
     * sampling with a baseline, the judge of new vs previous policy.
     */
    rewardModel: z.strictObject({ modelId: id }).optional(),
    /** Sampling only: the previous policy, which answers the same prompts once for A/B compares. */
    baselineModel: z.strictObject({ modelId: id }).optional(),
    /** Sampling only: evaluate the policy against its reference on the round's preferences (KL, implicit rewards). */
    evaluation: z.strictObject({ referenceModelId: id, dataUrl: z.string().startsWith("/api/v1/"), beta: z.number().positive() }).optional(),
    /**
     * Evaluate only: score `model` (the round's final policy) on the project's eval set (promptsUrl)
     * next to the previous policy, with KL to the reference, and the round's reward model on the
     * held-out side of the preference split. Output: heldout.json (and rm-heldout.json).
     */
    heldOut: z
      .strictObject({
        previousModelId: id.optional(),
        referenceModelId: id.optional(),
        /**
         * Where the chain of rounds started (the nearest supervised policy up the lineage, decision 0058): KL from it
         * too. Sent only when it is not the reference (a trainer before this field refuses unknown keys).
         */
        originModelId: id.optional(),
        rewardModelId: id.optional(),
        checker: checkerSpecSchema.optional(),
        tools: z.array(toolNameSchema).default([]),
        decoding: z.strictObject({ maxNewTokens: z.number().int().positive(), temperature: z.number().nonnegative(), seed: z.number().int().nonnegative() }),
        /** Answers kept for the report (evaluation.examples). */
        showSamples: z.number().int().min(0).max(SHOW_SAMPLES_MAX).optional(),
        /** The round's own reward model against the preference pairs it did not train on. */
        rewardAccuracy: z.strictObject({ modelId: id, dataUrl: z.string().startsWith("/api/v1/") }).optional(),
      })
      .optional(),
    /** The dataset, streamed from the same export endpoint a researcher downloads from. */
    dataUrl: z.string().startsWith("/api/v1/").optional(),
    /** More parts of the dataset (other projects' or rounds' exports), appended to dataUrl's in order. */
    moreDataUrls: z.array(z.string().startsWith("/api/v1/")).max(100).optional(),
    /** Prompt records for PPO/GRPO/RLOO rollouts and sampling, in a fixed order ({"prompt": …}, GRPO/RLOO with "metadata"). */
    promptsUrl: z.string().startsWith("/api/v1/").optional(),
    /** GRPO/RLOO: what the policy is rewarded for; PPO: what it is rewarded for beside its reward model (absent: that alone). */
    reward: rewardSpecSchema.optional(),
    /**
     * pretrain, midtrain: `train` (weighted sources) and `eval` (held-out sets, loss before and after);
     * mix-search: `sources`, `target` and `candidates` (one weight per source each). Each URL streams
     * JSONL documents {"text": …} frozen in the round's snapshot.
     */
    corpus: z
      .strictObject({
        train: z.array(z.strictObject({ name: z.string(), url: z.string().startsWith("/api/v1/"), weight: z.number().min(0) })).optional(),
        eval: z.array(z.strictObject({ name: z.string(), url: z.string().startsWith("/api/v1/") })).optional(),
        sources: z.array(z.strictObject({ name: z.string(), url: z.string().startsWith("/api/v1/") })).optional(),
        target: z.strictObject({ name: z.string(), url: z.string().startsWith("/api/v1/") }).optional(),
        /** A task set instead of target text: the prompts are at promptsUrl (with metadata), checked by `checker`. */
        tasks: z.strictObject({ name: z.string(), checker: checkerSpecSchema, maxNewTokens: z.number().int().min(1).max(64) }).optional(),
        candidates: z.array(z.array(z.number().min(0))).optional(),
      })
      .optional(),
    /**
     * The tools the project declares (settings.tools): every generation of this job may call them —
     * sampling and the baseline's answers (unless `sampling.tools` says otherwise), RL rollouts and
     * the held-out evaluation.
     */
    tools: toolsSchema.optional(),
    train: z.record(z.string(), z.unknown()).optional(),
    /** Train LoRA adapters on `model` (the round's `lora`); absent: every weight trains. */
    lora: loraConfigSchema.optional(),
    /** Recompute activations in the backward pass (the round's `recompute`). */
    recompute: z.boolean().optional(),
    sampling: samplingSchema.optional(),
    /** A checkpoint an earlier attempt uploaded: continue from its step instead of starting over. */
    resume: z.strictObject({ step: z.number().int().positive() }).optional(),
    /** Lease length; heartbeats come at a third of it. */
    leaseSeconds: z.number().int().positive(),
  })
  .superRefine((job, ctx) => {
    const need = (ok: boolean, path: string, message: string) => {
      if (!ok) ctx.addIssue({ code: "custom", message, path: [path] });
    };
    if (job.kind === "grpo" || job.kind === "rloo") {
      need(job.reward !== undefined, "reward", `a ${job.kind} job needs its reward spec`);
      need(job.promptsUrl !== undefined, "promptsUrl", `a ${job.kind} job needs its prompts`);
      need("modelId" in job.model, "model", `a ${job.kind} job starts from a registered model`);
      if (job.reward?.weights.rewardModel !== undefined) need(job.rewardModel !== undefined, "rewardModel", "reward.weights.rewardModel weighs a reward model the job does not name");
    } else if (job.kind === "ppo") {
      // PPO's reward model scores every answer and starts its value model: it is never optional
      need(job.rewardModel !== undefined, "rewardModel", "a ppo job needs its reward model");
      need(job.promptsUrl !== undefined, "promptsUrl", "a ppo job needs its prompts");
    } else {
      need(job.reward === undefined, "reward", `only grpo, rloo and ppo jobs take a reward spec, not ${job.kind}`);
    }
    if (job.kind === "kto") need(job.dataUrl !== undefined, "dataUrl", "a kto job needs the unpaired export");
    if (job.kind === "pretrain" || job.kind === "midtrain") need((job.corpus?.train?.length ?? 0) > 0, "corpus", `a ${job.kind} job needs its corpus sources`);
    if (job.kind === "mix-search") {
      const target = !!job.corpus?.target !== (!!job.corpus?.tasks && job.promptsUrl !== undefined);
      need(!!job.corpus?.sources && target && !!job.corpus.candidates && "init" in job.model, "corpus", "a mix-search job needs its sources, one target (text, or tasks with their prompts), candidates and a fresh model");
    }
    if (job.kind === "evaluate") need(job.heldOut !== undefined && job.promptsUrl !== undefined, "heldOut", "an evaluate job needs its eval set and settings");
  });
export type RemoteJob = z.output<typeof remoteJobSchema>;

/** Events the trainer streams: the CLI's JSON lines (metrics use TRL's names). */
export const jobEventSchema = z.looseObject({
  type: z.string().min(1).max(40),
  time: z.string().optional(),
});
export const jobEventsBodySchema = z.strictObject({ events: z.array(jobEventSchema).min(1).max(500) });

/** The files a finished job uploads before it reports completion. */
export const JOB_OUTPUT_FILES = [
  "model.safetensors", "manifest.json", "tokenizer.json", "samples.jsonl", "baseline-samples.jsonl", "eval.json", "reward-eval.json", "heldout.json", "rm-heldout.json",
  "lm-eval.json", "mix-search.json",
] as const;
export type JobOutputFile = (typeof JOB_OUTPUT_FILES)[number];

/** A periodic checkpoint of a running job, uploaded so that a re-claimed job resumes from it. */
export const RESUME_FILES = ["model.safetensors", "optimizer.safetensors", "manifest.json", "tokenizer.json"] as const;
/** A PPO checkpoint also holds the value model (its folder value/); uploaded flat under these names. */
export const VALUE_RESUME_FILES = { "value-model.safetensors": "value/model.safetensors", "value-manifest.json": "value/manifest.json" } as const;
export const RESUME_UPLOAD_FILES = [...RESUME_FILES, ...(Object.keys(VALUE_RESUME_FILES) as Array<keyof typeof VALUE_RESUME_FILES>)] as const;
export type ResumeFile = (typeof RESUME_UPLOAD_FILES)[number];
/** A mix search's checkpoint: the candidates done with their results (manifest.json) and the tokenizer they used. */
export const MIX_SEARCH_RESUME_FILES = ["manifest.json", "tokenizer.json"] as const;
/** The files one job kind's checkpoint is made of (PPO: the value model too; a mix search: no weights). */
export function resumeFilesOf(kind: string): ResumeFile[] {
  return kind === "ppo" ? [...RESUME_UPLOAD_FILES] : kind === "mix-search" ? [...MIX_SEARCH_RESUME_FILES] : [...RESUME_FILES];
}
export const resumeReadySchema = z.strictObject({ step: z.number().int().positive() });

export const jobCompleteSchema = z.strictObject({
  /** Final metrics of the step (last logged values), kept with the registered model. */
  metrics: z.record(z.string(), z.number()).default({}),
});

export const jobFailSchema = z.strictObject({
  message: z.string().min(1).max(4000),
  /** The step where training stopped, when known (a NaN loss names it). */
  step: z.number().int().nonnegative().optional(),
});
