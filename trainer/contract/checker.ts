// Verifiable checkers: a project declares how an answer is checked against a field of each
// prompt's metadata (its reference answer), and the same function scores answers everywhere —
// GRPO/RLOO rewards in the trainer, held-out evaluation, and the round report in the server.
// Pure functions and zod only, so the web app can import it.
//
// A checker gives 1 (right) or 0 (wrong), with a reason when it could not read the answer or the
// prompt has no reference: an unreadable answer is wrong (reward 0) and counted by its reason; a
// prompt without the field is not scored at all (null), so it neither helps nor hurts.
import { z } from "zod";

/** A top-level key of a prompt's metadata (`answer`, `label`, …). */
export const metadataField = z
  .string()
  .trim()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a metadata key: letters, digits and _, starting with a letter or _");

export const checkerSpecSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    /** The stated number ("the answer is N", else the last number) equals the reference within a tolerance. */
    kind: z.literal("numeric"),
    field: metadataField.default("answer"),
    /** Absolute tolerance; 0 = exact. */
    tolerance: z.number().min(0).max(1e9).default(0),
    /** Tolerance as a share of |reference| instead (0.01 = 1 %). */
    relativeTolerance: z.number().min(0).max(1).default(0),
  }),
  z.strictObject({
    /** The answer equals the reference after normalisation (case, whitespace, surrounding punctuation and quotes). */
    kind: z.literal("exact"),
    field: metadataField.default("answer"),
    caseSensitive: z.boolean().default(false),
  }),
  z.strictObject({
    /**
     * The answer matches a regular expression: the prompt's own (metadata[field] holds the pattern)
     * or one fixed pattern for the project (`pattern`). Matched against the first 4,000 characters.
     */
    kind: z.literal("regex"),
    field: metadataField.optional(),
    pattern: z
      .string()
      .min(1)
      .max(500)
      .refine((p) => compiles(p), "not a valid regular expression")
      .optional(),
    flags: z.string().regex(/^[imsu]{0,4}$/, "flags: i, m, s, u").default("i"),
  }),
  z.strictObject({
    /** The answer holds a JSON object whose value at `path` (a.b.0) equals the reference. */
    kind: z.literal("json"),
    field: metadataField.default("answer"),
    path: z.string().trim().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, "a dotted path such as result.value"),
  }),
]).refine((c) => c.kind !== "regex" || (c.field === undefined) !== (c.pattern === undefined), {
  message: "a regex checker takes either `pattern` (one for the project) or `field` (a pattern per prompt), not both",
  path: ["pattern"],
});

export type CheckerSpec = z.output<typeof checkerSpecSchema>;
export type CheckerSpecInput = z.input<typeof checkerSpecSchema>;

function compiles(pattern: string, flags = ""): boolean {
  try {
    new RegExp(pattern, flags);
    return true;
  } catch {
    return false;
  }
}

/** Why an answer scored 0 without being compared, or why a prompt was not scored. */
export type CheckFailure = "no_reference" | "bad_reference" | "no_number" | "no_json" | "no_json_field" | "empty_answer";

export type CheckResult =
  | { score: 0 | 1; reason?: Exclude<CheckFailure, "no_reference" | "bad_reference"> }
  /** The prompt cannot be scored: no (usable) reference in its metadata. */
  | { score: null; reason: "no_reference" | "bad_reference" };

/** The metadata field a checker reads (none for a fixed-pattern regex). */
export function checkerField(spec: CheckerSpec): string | null {
  return spec.field ?? null;
}

/** How pages name a checker: "numeric on metadata.answer", or the kind alone when it reads no field. */
export function checkerLabel(spec: CheckerSpec): string {
  return spec.field ? `${spec.kind} on metadata.${spec.field}` : spec.kind;
}

const ANSWER_LIMIT = 4000;
const NUMBER = /-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?/gi;

/** "The answer is 1,234.5" → 1234.5; else the last number in the text; null when there is none. */
export function statedNumber(answer: string): number | null {
  const text = answer.slice(-ANSWER_LIMIT);
  const stated = /answer\s*(?:is|:|=)\s*\**\s*(-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?)/i.exec(text)?.[1] ?? text.match(NUMBER)?.at(-1);
  if (stated === undefined) return null;
  const value = Number(stated.replace(/,/g, ""));
  return Number.isFinite(value) ? value : null;
}

export function referenceNumber(reference: unknown): number | null {
  if (typeof reference === "number") return Number.isFinite(reference) ? reference : null;
  if (typeof reference === "string" && reference.trim() !== "") {
    const value = Number(reference.trim().replace(/,/g, ""));
    return Number.isFinite(value) ? value : null;
  }
  return null;
}

/**
 * Partial credit for a number: the share of digit places (and the sign) where the stated number
 * agrees with the reference, places aligned on the decimal point, a place only one side has counting
 * as a miss. 1776 against 1767 is 2/4, against 776 3/4, against 17760 1/5; the same number is 1.
 * Numbers too large or small for plain notation score 1 when equal, else 0.
 */
export function digitAgreement(stated: number, reference: number): number {
  if (stated === reference) return 1;
  const plain = (n: number) => {
    const text = String(Math.abs(n));
    if (/e/i.test(text)) return null;
    const [whole = "", fraction = ""] = text.split(".");
    return { negative: n < 0, whole, fraction };
  };
  const a = plain(stated);
  const b = plain(reference);
  if (a === null || b === null) return 0;
  const wholeLength = Math.max(a.whole.length, b.whole.length);
  const fractionLength = Math.max(a.fraction.length, b.fraction.length);
  const signed = a.negative || b.negative;
  let agree = signed && a.negative === b.negative ? 1 : 0;
  const wholeA = a.whole.padStart(wholeLength, " ");
  const wholeB = b.whole.padStart(wholeLength, " ");
  for (let i = 0; i < wholeLength; i++) if (wholeA[i] === wholeB[i]) agree++;
  const fractionA = a.fraction.padEnd(fractionLength, " ");
  const fractionB = b.fraction.padEnd(fractionLength, " ");
  for (let i = 0; i < fractionLength; i++) if (fractionA[i] === fractionB[i]) agree++;
  return agree / (wholeLength + fractionLength + (signed ? 1 : 0));
}

/** Lower case (unless asked not to), single spaces, no surrounding quotes or final punctuation. */
export function normalizeAnswer(text: string, caseSensitive = false): string {
  const collapsed = text.normalize("NFKC").replace(/\s+/g, " ").trim().replace(/^["'`“‘]+|["'`”’.!?;:,]+$/g, "").trim();
  return caseSensitive ? collapsed : collapsed.toLowerCase();
}

/** The first parseable JSON object in the text (a fenced block or a bare {...}). */
function firstJsonObject(text: string): unknown {
  const bounded = text.slice(0, ANSWER_LIMIT * 4);
  for (let start = bounded.indexOf("{"); start !== -1; start = bounded.indexOf("{", start + 1)) {
    let depth = 0;
    let inString = false;
    for (let i = start; i < bounded.length; i++) {
      const ch = bounded[i];
      if (inString) {
        if (ch === "\\") i++;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === "{") depth++;
      else if (ch === "}" && --depth === 0) {
        try {
          return JSON.parse(bounded.slice(start, i + 1));
        } catch {
          break; // not JSON from this brace: try the next one
        }
      }
    }
  }
  return undefined;
}

function atPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "number" || typeof b === "number") {
    const x = referenceNumber(a);
    const y = referenceNumber(b);
    return x !== null && y !== null && x === y;
  }
  if (typeof a === "string" && typeof b === "string") return normalizeAnswer(a) === normalizeAnswer(b);
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Scores one final answer (the assistant's last message, without tool calls or tool results)
 * against a prompt's metadata.
 */
export function checkAnswer(spec: CheckerSpec, answer: string, metadata: Record<string, unknown> | null | undefined): CheckResult {
  const reference = spec.field !== undefined ? metadata?.[spec.field] : undefined;
  if (spec.field !== undefined && (reference === undefined || reference === null)) return { score: null, reason: "no_reference" };
  if (answer.trim() === "") return { score: 0, reason: "empty_answer" };
  switch (spec.kind) {
    case "numeric": {
      const expected = referenceNumber(reference);
      if (expected === null) return { score: null, reason: "bad_reference" };
      const stated = statedNumber(answer);
      if (stated === null) return { score: 0, reason: "no_number" };
      const allowed = Math.max(spec.tolerance, spec.relativeTolerance * Math.abs(expected));
      return { score: Math.abs(stated - expected) <= allowed + 1e-12 * Math.max(1, Math.abs(expected)) ? 1 : 0 };
    }
    case "exact": {
      if (typeof reference !== "string" && typeof reference !== "number" && typeof reference !== "boolean") return { score: null, reason: "bad_reference" };
      return { score: normalizeAnswer(answer, spec.caseSensitive) === normalizeAnswer(String(reference), spec.caseSensitive) ? 1 : 0 };
    }
    case "regex": {
      const pattern = spec.pattern ?? reference;
      if (typeof pattern !== "string" || pattern.length > 500 || !compiles(pattern, spec.flags)) return { score: null, reason: "bad_reference" };
      return { score: new RegExp(pattern, spec.flags).test(answer.slice(0, ANSWER_LIMIT)) ? 1 : 0 };
    }
    case "json": {
      const parsed = firstJsonObject(answer);
      if (parsed === undefined) return { score: 0, reason: "no_json" };
      const value = atPath(parsed, spec.path);
      if (value === undefined) return { score: 0, reason: "no_json_field" };
      return { score: sameValue(value, reference) ? 1 : 0 };
    }
  }
}

/** Checkers whose reference is an answer text, so a model's likelihood of it can be measured (a mix search's task target). */
export const TASK_TARGET_CHECKERS = ["numeric", "exact"] as const;

/**
 * The text of a prompt's reference answer ("7", "Paris") for the checkers in TASK_TARGET_CHECKERS; null when the
 * checker has none to write (regex, json) or the prompt's metadata has no usable value.
 */
export function referenceText(spec: CheckerSpec, metadata: Record<string, unknown> | null | undefined): string | null {
  if (spec.kind !== "numeric" && spec.kind !== "exact") return null;
  const value = metadata?.[spec.field];
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : null;
  if (typeof value === "string") return value.trim() === "" ? null : value.trim();
  if (typeof value === "boolean" && spec.kind === "exact") return String(value);
  return null;
}

/** Counts of scored answers and of each failure reason, for reports. */
export interface CheckerTally {
  scored: number;
  correct: number;
  /** Share correct among scored answers (null when none was scored). */
  accuracy: number | null;
  reasons: Partial<Record<CheckFailure, number>>;
}

export function tallyChecks(results: CheckResult[]): CheckerTally {
  const reasons: Partial<Record<CheckFailure, number>> = {};
  let scored = 0;
  let correct = 0;
  for (const r of results) {
    if (r.reason) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
    if (r.score === null) continue;
    scored++;
    correct += r.score;
  }
  return { scored, correct, accuracy: scored > 0 ? correct / scored : null, reasons };
}
