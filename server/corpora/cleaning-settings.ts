/**
 * What a cleaning job is asked to do, validated at launch; an out-of-range threshold is refused with its field named.
 * Client-safe (no server imports): the corpora page builds its form from the same defaults and bounds.
 */
import { z } from "zod";
import { SUPPORTED_LANGUAGES } from "./language.ts";

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");

export const MAX_CORPORA_PER_JOB = 50;
export const piiActions = ["redact", "flag", "drop"] as const;
export const filterActions = ["flag", "drop"] as const;

export const cleaningSettingsSchema = z
  .strictObject({
    /** The sources, deduplicated together in this order: a document is kept over its duplicates in later sources. */
    corpusIds: z
      .array(id)
      .min(1, "choose at least one corpus")
      .max(MAX_CORPORA_PER_JOB, `at most ${MAX_CORPORA_PER_JOB} corpora in one job`)
      .refine((ids) => new Set(ids).size === ids.length, "a corpus is listed twice"),
    /** Shorter documents are dropped (boilerplate, navigation, stubs). */
    minChars: z.number().int().min(0).max(1_000_000).default(200),
    /** Longer documents are dropped (dumps, logs, concatenated files). */
    maxChars: z.number().int().min(1).max(1_000_000).default(1_000_000),
    /** Keep only documents in these languages (language.ts's codes); empty keeps every language. */
    languages: z.array(z.enum(SUPPORTED_LANGUAGES as [string, ...string[]], { error: `must be one of ${SUPPORTED_LANGUAGES.join(", ")}` })).max(20).default([]),
    /** A document whose guess is less sure than this fails the language filter too. */
    minLanguageConfidence: z.number().min(0).max(1).default(0.5),
    /** Estimated Jaccard similarity of word 3-gram shingles at or above which a document is a near duplicate. */
    nearDuplicateThreshold: z.number().min(0.5).max(0.99).default(0.8),
    /** E-mail addresses, phone, card numbers and IP addresses (the import's patterns): replaced by [EMAIL], …, sent to review, or dropped. */
    pii: z.enum(piiActions).default("redact"),
    /** Blocked words and patterns of the project's content filter: to review (people catch false positives) or dropped. */
    contentFilter: z.enum(filterActions).default("flag"),
  })
  .refine((s) => s.minChars <= s.maxChars, { path: ["maxChars"], message: "must be at least minChars" });

export type CleaningSettings = z.infer<typeof cleaningSettingsSchema>;
export type CleaningSettingsInput = z.input<typeof cleaningSettingsSchema>;

export const dropReasons = ["too_short", "too_long", "language", "exact_duplicate", "near_duplicate", "content_filter", "pii"] as const;
export type DropReason = (typeof dropReasons)[number];
