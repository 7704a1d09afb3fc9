/**
 * The prompt that turns one chunk into Q&A pairs. Researchers edit it per project; it may use
 * three placeholders, {{document_title}}, {{chunk}} and {{n}}, and must use {{chunk}}. Anything
 * else between double braces is an error, so a typo ({{chunck}}) is caught when the template is
 * saved rather than sent to a model.
 */
import { z } from "zod";

export const TEMPLATE_PLACEHOLDERS = ["document_title", "chunk", "n"] as const;
export type TemplateValues = { document_title: string; chunk: string; n: number };

export const MAX_TEMPLATE_CHARS = 20_000;
export const MAX_PAIRS_PER_CHUNK = 20;
export const DEFAULT_PAIRS_PER_CHUNK = 3;

export const DEFAULT_QA_TEMPLATE = `You write question-and-answer pairs for training a helpful assistant.

Read the passage below from "{{document_title}}" and write {{n}} question-and-answer pairs about it.
Each question must be answerable from the passage alone and make sense without it (do not write "the passage" or "the text").
Each answer must be correct, complete and written as a helpful assistant would answer.

Reply with only a JSON array, no other text:
[{"question": "...", "answer": "..."}]

Passage:
"""
{{chunk}}
"""`;

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;

export type TemplateIssue = { line: number; message: string };

/** Every problem with a template, each with its line number (1-based); empty when it is fine. */
export function templateIssues(template: string): TemplateIssue[] {
  const issues: TemplateIssue[] = [];
  if (template.trim() === "") return [{ line: 1, message: "The template is empty." }];
  if (template.length > MAX_TEMPLATE_CHARS) issues.push({ line: 1, message: `The template is longer than ${MAX_TEMPLATE_CHARS.toLocaleString("en")} characters.` });
  let usesChunk = false;
  template.split("\n").forEach((text, i) => {
    const line = i + 1;
    for (const match of text.matchAll(PLACEHOLDER)) {
      const name = match[1]!.trim();
      if ((TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name)) {
        if (name === "chunk") usesChunk = true;
      } else {
        issues.push({ line, message: `Unknown placeholder {{${match[1]}}}; use ${TEMPLATE_PLACEHOLDERS.map((p) => `{{${p}}}`).join(", ")}.` });
      }
    }
    // Braces left over once the placeholders are gone: "{{chunk" or "n}}".
    const rest = text.replace(PLACEHOLDER, "");
    if (rest.includes("{{") || rest.includes("}}")) issues.push({ line, message: "Unbalanced {{ or }}: a placeholder must look like {{chunk}}." });
  });
  if (!usesChunk) issues.push({ line: 1, message: "The template must contain {{chunk}}, or the model never sees the document." });
  return issues;
}

/** Fills the placeholders in one pass, so text inside a chunk that looks like {{n}} stays as it is. */
export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (whole, raw: string) => {
    const name = raw.trim() as keyof TemplateValues;
    return name in values ? String(values[name]) : whole;
  });
}

export const qaTemplateInputSchema = z.object({
  template: z.string().max(MAX_TEMPLATE_CHARS, `The template is longer than ${MAX_TEMPLATE_CHARS.toLocaleString("en")} characters.`),
  pairsPerChunk: z.number().int().min(1).max(MAX_PAIRS_PER_CHUNK).default(DEFAULT_PAIRS_PER_CHUNK),
});
export type QaTemplateInput = z.infer<typeof qaTemplateInputSchema>;
