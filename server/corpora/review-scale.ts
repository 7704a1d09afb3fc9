/**
 * What people choose from in the cleaning loop (client-safe: the review and rating pages use the same lists).
 */
import { z } from "zod";
import { STORABLE_TEXT_MESSAGE, storableText } from "../lib/unsafe-text.ts";

/**
 * Why a reviewer drops or redacts a flagged document. Kept short and about harm, not topic: a sex-education text the
 * word list flagged is kept (no category needed), an explicit one is dropped as "sexual".
 */
export const reviewCategories = ["sexual", "violence", "self_harm", "weapons", "hate", "pii", "spam", "other"] as const;
export type ReviewCategory = (typeof reviewCategories)[number];

export const reviewDecisionSchema = z
  .strictObject({
    decision: z.enum(["keep", "drop", "redact"]),
    category: z.enum(reviewCategories).optional(),
    note: z.string().trim().max(2_000).refine(storableText, STORABLE_TEXT_MESSAGE).default(""),
  })
  .refine((d) => d.decision === "keep" || d.category !== undefined, { path: ["category"], message: "say which category the document is dropped or redacted for" });
export type ReviewDecision = z.infer<typeof reviewDecisionSchema>;

/**
 * The 1–5 scale raters use: educational value for pre-training, after FineWeb-Edu's additive prompt (Penedo et al.
 * 2024, "The FineWeb Datasets", §3.3), condensed to one line per point.
 */
export const qualityScale = [
  { score: 1, label: "No value", description: "Spam, navigation, ads, boilerplate, or text with no information a student could learn from." },
  { score: 2, label: "Little value", description: "Some information, but mixed with promotion or noise, or too fragmentary to follow." },
  { score: 3, label: "Useful", description: "Coherent and informative on a topic, though not written to teach (news, forum answers, product docs)." },
  { score: 4, label: "Educational", description: "Clearly explains concepts at school or university level; well organised; little irrelevant content." },
  { score: 5, label: "Outstanding", description: "Excellent teaching material: thorough, correct, step-by-step reasoning or exercises, nothing extraneous." },
] as const;

export const ratingScoreSchema = z.strictObject({ score: z.number().int().min(1, "scores run from 1 to 5").max(5, "scores run from 1 to 5") });

export const ratingSampleSchema = z.strictObject({
  /** Kept documents drawn for rating. */
  size: z.number().int().min(1).max(10_000).default(100),
  /** How many different people rate each one (agreement needs at least 2). */
  overlap: z.number().int().min(1).max(20).default(3),
  /** The draw is a seeded shuffle: the same seed draws the same documents. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
});
