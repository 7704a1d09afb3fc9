/**
 * Characters that must not reach a header, a redirect or PostgreSQL (decision 0022).
 * PostgreSQL refuses NUL in text and lone surrogates in jsonb; browsers silently strip tabs and
 * newlines from URLs; CR/LF in a header value makes the response itself fail.
 */

/**
 * Disallowed in stored text: C0 controls except tab, LF and CR; DEL; lone UTF-16 surrogates
 * (`\p{Cs}` matches only unpaired halves under the `u` flag, paired ones are one code point).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const DISALLOWED_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\p{Cs}]/u;

/** Disallowed in URLs we redirect to: every control and whitespace character, invisible ones too. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const UNSAFE_URL_CHARS = /[\u0000-\u001f\u007f-\u009f\s\u200b-\u200f\ufeff\p{Cs}]/u;

/** A short description of the first disallowed character, for error messages. */
export function describeDisallowed(value: string, pattern: RegExp = DISALLOWED_TEXT): string | null {
  const match = pattern.exec(value);
  if (!match) return null;
  const code = match[0].codePointAt(0)!;
  if (code === 0) return "a NUL character";
  if (code >= 0xd800 && code <= 0xdfff) return "a lone surrogate (not valid Unicode)";
  return `the control character U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Where in a parsed JSON value (or query / form fields) the first disallowed character is. */
export type DisallowedAt = { path: string; problem: string };

/**
 * Walks a value as it came off the wire (JSON body, query, path parameters, one imported record)
 * and names the first string, object key included, holding a disallowed character. Paths read
 * like zod's (`items.3.prompt`), so the 422 names the field the way other validation errors do.
 */
export function findDisallowed(value: unknown, path: Array<string | number> = [], depth = 0): DisallowedAt | null {
  if (typeof value === "string") {
    const problem = describeDisallowed(value);
    return problem ? { path: path.join(".") || "(root)", problem } : null;
  }
  if (value === null || typeof value !== "object" || depth > 64) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findDisallowed(value[i], [...path, i], depth + 1);
      if (found) return found;
    }
    return null;
  }
  if (ArrayBuffer.isView(value) || value instanceof Date) return null;
  for (const [key, child] of Object.entries(value)) {
    const keyProblem = describeDisallowed(key);
    if (keyProblem) return { path: [...path, key].join("."), problem: `${keyProblem} in its name` };
    const found = findDisallowed(child, [...path, key], depth + 1);
    if (found) return found;
  }
  return null;
}

/** For zod `.refine`: text PostgreSQL can store and a person can see (decision 0022). */
export const storableText = (value: string): boolean => !DISALLOWED_TEXT.test(value);
export const STORABLE_TEXT_MESSAGE = "Remove control characters (such as NUL) and broken Unicode.";
