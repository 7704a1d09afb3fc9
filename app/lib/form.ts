import type { z } from "zod";

export type FieldErrors = Record<string, string>;

/** zod issues → one message per field, for showing beside the inputs. */
export function fieldErrors(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.join(".") || "form";
    errors[key] ??= issue.message;
  }
  return errors;
}

/** The text fields as typed, so a refused form comes back filled in (passwords excluded). */
export function typedValues(form: FormData, keep: string[]): Record<string, string> {
  return Object.fromEntries(keep.map((key) => [key, String(form.get(key) ?? "")]));
}
