/**
 * The project settings form's tools and checker fields → the shape projectSettingsSchema
 * validates (trainer/contract/checker.ts). Fields of other checker kinds are left out, so what
 * the researcher typed for another kind stays in the form without being refused.
 */
import type { CheckerSpecInput } from "../../trainer/contract/checker.ts";

export const checkerKinds = [
  { kind: "numeric", label: "Numeric: the stated number equals the reference (within a tolerance)" },
  { kind: "exact", label: "Exact: the answer equals the reference after normalisation" },
  { kind: "regex", label: "Regex: the answer matches a pattern" },
  { kind: "json", label: "JSON: a field of the answer's JSON equals the reference" },
] as const;

/** The ticked tool checkboxes; the schema refuses a name that is not a tool. */
export const toolsFromForm = (form: FormData): string[] => form.getAll("tools").map(String);

/** A number as typed: empty → left to the default; anything else goes to the schema (which names a non-number). */
export function formNumber(text: string): number | string | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : trimmed;
}

/** The checker as typed, or undefined for none; unknown kinds are passed on for the schema to refuse. */
export function checkerFromForm(form: FormData): CheckerSpecInput | Record<string, unknown> | undefined {
  const text = (name: string) => String(form.get(`checker.${name}`) ?? "");
  const kind = text("kind").trim();
  if (kind === "") return undefined;
  const field = text("field").trim() === "" ? undefined : text("field");
  switch (kind) {
    case "numeric":
      return { kind, field, tolerance: formNumber(text("tolerance")), relativeTolerance: formNumber(text("relativeTolerance")) };
    case "exact":
      return { kind, field, caseSensitive: form.get("checker.caseSensitive") === "on" };
    case "regex":
      return { kind, field, pattern: text("pattern").trim() === "" ? undefined : text("pattern"), flags: text("flags") };
    case "json":
      return { kind, field, path: text("path") };
    default:
      return { kind };
  }
}
