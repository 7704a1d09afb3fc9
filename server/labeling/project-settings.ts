import { z } from "zod";
import { contentFilterConfigSchema } from "./import/content-filter.ts";
import { judgeSettingsSchema } from "./judge/judge-settings.ts";
import { wellbeingSettingsSchema } from "./wellbeing/wellbeing-settings.ts";
import { adaptiveOverlapSchema } from "./adaptive-overlap.ts";
import { uncertaintyQueueSchema } from "./active/uncertainty-queue.ts";
import { checkerSpecSchema } from "../../trainer/contract/checker.ts";
import { toolNameSchema } from "../../trainer/contract/conversation.ts";

/**
 * InstructGPT's per-output metadata (Ouyang et al. 2022, Table 3), the default flag
 * taxonomy; projects edit it. Quality is a separate 1–7 Likert score.
 */
export const instructGptFlags = [
  { id: "fails_task", label: "Fails to follow the instruction or task" },
  { id: "inappropriate_for_assistant", label: "Inappropriate for a customer assistant" },
  { id: "hallucination", label: "Hallucination" },
  { id: "satisfies_constraint", label: "Satisfies a constraint in the instruction" },
  { id: "sexual_content", label: "Contains sexual content" },
  { id: "violent_content", label: "Contains violent content" },
  { id: "encourages_harm", label: "Encourages or fails to discourage violence, abuse, terrorism or self-harm" },
  { id: "denigrates_protected_class", label: "Denigrates a protected class" },
  { id: "harmful_advice", label: "Gives harmful advice" },
  { id: "expresses_opinion", label: "Expresses an opinion" },
  { id: "moral_judgment", label: "Expresses a moral judgment" },
] as const;

type PerTaskType = { demonstrate: number; rank: number; review: number; compare: number };

const perTaskType = (defaults: PerTaskType, number: z.ZodNumber) =>
  z
    .object({
      demonstrate: number.default(defaults.demonstrate),
      rank: number.default(defaults.rank),
      review: number.default(defaults.review),
      compare: number.default(defaults.compare),
    })
    .default(defaults);

export const flagSchema = z.object({
  id: z.string().regex(/^[a-z][a-z0-9_]{0,47}$/, "flag ids are lowercase letters, digits and _"),
  label: z.string().trim().min(1).max(120),
});

export const projectSettingsSchema = z.object({
  /** Completions per ranking task (InstructGPT used 4–9). */
  k: z.number().int().min(2).max(9).default(4),
  /** How many different people complete each task of a type. */
  overlap: perTaskType({ demonstrate: 1, rank: 3, review: 1, compare: 3 }, z.number().int().min(1).max(20)),
  /** Relative chance of each task type when several have work (OpenAssistant: ranking 10, replies 2). */
  taskWeights: perTaskType({ demonstrate: 2, rank: 10, review: 5, compare: 5 }, z.number().min(0).max(100)),
  flags: z.array(flagSchema).max(40).default([...instructGptFlags]),
  quality: z.object({ min: z.number().int(), max: z.number().int() }).default({ min: 1, max: 7 }),
  chatTemplate: z.enum(["chatml", "plain"]).default("chatml"),
  /**
   * Share of a labeler's ranking claims that draw a gold task (known answer) first, while one
   * is left that they have not done. Gold measures each labeler; it is not training data (decision 0010).
   */
  goldRate: z.number().min(0).max(1).default(0.1),
  leaseMinutes: z.number().int().min(1).max(24 * 60).default(30),
  maxPendingPerUser: z.number().int().min(1).max(50).default(5),
  nearDuplicateThreshold: z.number().min(0.5).max(1).default(0.8),
  /** Word lists, patterns and PII checks; a hit sends the prompt to review instead of labelers. */
  contentFilter: contentFilterConfigSchema.default(contentFilterConfigSchema.parse({})),
  /**
   * What a PII hit does at import (decision 0037): review (send the prompt to review, as before),
   * mask (typed placeholders, then to labelers), or both (masked, and to review). keepOriginal:
   * store the unmasked record apart, readable by researchers only.
   */
  piiRedaction: z
    .strictObject({ mode: z.enum(["review", "mask", "both"]).default("review"), keepOriginal: z.boolean().default(false) })
    .default({ mode: "review", keepOriginal: false }),
  /** Tools the policy may call while it answers this project's prompts (sampling, rollouts, playground). */
  tools: z.array(toolNameSchema).max(8).default([]),
  /**
   * How an answer is checked against each prompt's reference (a field of its metadata): the
   * verifiable reward of GRPO/RLOO rounds and the held-out checker score. Unset = no checker.
   */
  checker: checkerSpecSchema.optional(),
  /** A model judge that pre-ranks ranking tasks and pre-picks comparisons (decision 0035). Unset = no judge. */
  judge: judgeSettingsSchema.optional(),
  /** Ranking tasks start with fewer labelers and grow on disagreement (decision 0038). */
  adaptiveOverlap: adaptiveOverlapSchema.default(adaptiveOverlapSchema.parse({})),
  /** Serve first the tasks the reward model is least sure of, mixed with random ones (decision 0048). Off by default. */
  uncertaintyQueue: uncertaintyQueueSchema,
  /** Sensitive content, exposure caps and break reminders (decision 0036). */
  wellbeing: wellbeingSettingsSchema.default(wellbeingSettingsSchema.parse({})),
});

export type ProjectSettings = z.infer<typeof projectSettingsSchema>;

/**
 * Why the import cannot use a near-duplicate threshold, or null. Stored settings may still hold
 * 1 (accepted before), so this is checked on every write and again before an import.
 */
export function nearDuplicateThresholdProblem(threshold: number): string | null {
  if (threshold < 1) return null;
  return "must be below 1: at 1 a near duplicate would have to be identical, which the exact-duplicate check already leaves out, and the near-duplicate search cannot be tuned for it. Use 0.99 at most for the strictest check.";
}

/** What a person sends: the stored shape, plus the checks that stored rows from before may fail. */
const projectSettingsInputSchema = projectSettingsSchema.superRefine((settings, ctx) => {
  const problem = nearDuplicateThresholdProblem(settings.nearDuplicateThreshold);
  if (problem) ctx.addIssue({ code: "custom", path: ["nearDuplicateThreshold"], message: problem });
});

export const projectInputSchema = z.object({
  name: z.string().trim().min(1, "Name the project.").max(120),
  guidelines: z.string().max(100_000).default(""),
  settings: projectSettingsInputSchema.default(projectSettingsSchema.parse({})),
});

export type ProjectInput = z.infer<typeof projectInputSchema>;
