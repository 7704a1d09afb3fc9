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
