import { z } from "zod";

/**
 * Labeler wellbeing per project (decision 0036): what counts as sensitive, how much of it one
 * person is served a day, and when the task page suggests a break. Validated with the project's
 * settings, so an out-of-range value is refused with its field named.
 */
export const categorySchema = z.string().regex(/^[a-z][a-z0-9_]{0,47}$/, "categories are lowercase letters, digits and _");

export const wellbeingSettingsSchema = z.strictObject({
  /** Sensitive tasks one labeler is served per UTC day in this project; null = no cap. */
  dailySensitiveCap: z.number().int().min(0).max(10_000).nullable().default(null),
  /** Flag ids (of the project's taxonomy) whose use by a labeler marks the prompt sensitive in that category. */
  sensitiveFlags: z.array(categorySchema).max(40).default(["sexual_content", "violent_content", "encourages_harm", "denigrates_protected_class"]),
  /** A classifier's scores at import: metadata[field] = { category: score } in 0–1; at or above the threshold marks the prompt. */
  classifierField: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a metadata field name").default("sensitivity"),
  classifierThreshold: z.number().min(0).max(1).default(0.8),
  /** Minutes on tasks after which the task page suggests a break; null = no reminder. */
  breakAfterMinutes: z.number().int().min(5).max(480).nullable().default(60),
});
export type WellbeingSettings = z.infer<typeof wellbeingSettingsSchema>;
