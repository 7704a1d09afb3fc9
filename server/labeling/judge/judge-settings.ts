import { z } from "zod";

/**
 * A project's model judge (decision 0035): who judges, how it is asked, and whether labelers may
 * see what it said. Validated with the project's settings, so a value out of range is refused
 * with its field named (settings.judge.withheldShare …) and nothing is saved.
 */
export const JUDGE_PLACEHOLDERS = ["{{conversation}}", "{{answers}}"] as const;

export const defaultJudgePrompts = {
  pairwise: [
    "You compare two answers to the same conversation and say which one is better: more helpful, correct and harmless.",
    "",
    "Conversation:",
    "{{conversation}}",
    "",
    "{{answers}}",
    "",
    "Reply with exactly one of A, B or TIE and nothing else.",
  ].join("\n"),
  kway: [
    "You rank answers to the same conversation from best to worst: more helpful, correct and harmless first.",
    "",
    "Conversation:",
    "{{conversation}}",
    "",
    "{{answers}}",
    "",
    "Reply with the answers' letters only, best first, separated by > (or = for answers of equal quality), e.g. B > A = C. Use every letter once and write nothing else.",
  ].join("\n"),
} as const;

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");

export const judgeSourceSchema = z.discriminatedUnion("kind", [
  /** One of the project's external OpenAI-compatible endpoints. */
  z.strictObject({ kind: z.literal("endpoint"), endpointId: id }),
  /** A registered chat model (a policy, SFT or base model) served by the inference worker. */
  z.strictObject({ kind: z.literal("model"), modelId: id }),
  /**
   * A registered reward model (decision 0053): it scores each completion through the inference
   * worker and ranks by score; mode, prompt and maxTokens do not apply to it.
   */
  z.strictObject({ kind: z.literal("reward-model"), modelId: id }),
]);
export type JudgeSource = z.infer<typeof judgeSourceSchema>;

export const judgeSettingsSchema = z.strictObject({
  source: judgeSourceSchema,
  /** pairwise: every pair of completions, in both orders; kway: the whole list, forwards and reversed. (Chat judges only.) */
  mode: z.enum(["pairwise", "kway"]).default("pairwise"),
  /** The judging prompt; unset = the default for the mode. Must hold {{conversation}} and {{answers}}. */
  prompt: z
    .string()
    .trim()
    .min(1)
    .max(20_000)
    .refine((p) => JUDGE_PLACEHOLDERS.every((h) => p.includes(h)), { message: `must contain ${JUDGE_PLACEHOLDERS.join(" and ")}` })
    .optional(),
  /** off: labelers never see the judge (it still judges, for the audit and the export); shown: they may reveal it. */
  suggestions: z.enum(["off", "shown"]).default("off"),
  /** Share of tasks whose suggestion is withheld even when suggestions are shown (the audit slice). */
  withheldShare: z.number().min(0).max(1).default(0.2),
  /** How long judging one task may take, all its questions and retries together. */
  timeoutSeconds: z.number().int().min(1).max(600).default(120),
  maxTokens: z.number().int().min(1).max(1024).default(32),
});
export type JudgeSettings = z.infer<typeof judgeSettingsSchema>;

export const judgePrompt = (judge: JudgeSettings): string => judge.prompt ?? defaultJudgePrompts[judge.mode];
