/**
 * Content filter for imported prompts and completions: blocked words, blocked regexes and PII patterns. A hit does not drop the
 * record; the caller routes it to the review queue, so the detectors lean towards recall and the false-positive guards below
 * only exclude shapes that are clearly not PII (years, decimals, version strings, loopback addresses).
 */
import { isIPv6 } from "node:net";
import { z } from "zod";

export const MAX_BLOCKED_WORDS = 10_000;
export const MAX_BLOCKED_PATTERNS = 500;
export const MAX_PATTERN_CHARS = 1_000;

/** Blocked patterns are case-insensitive and, when they allow it, Unicode-aware ("u" flag). */
function compilePattern(source: string): RegExp {
  try {
    return new RegExp(source, "giu");
  } catch {
    // Some valid non-Unicode patterns (e.g. "\-" outside a class) are syntax errors under "u"; accept them as written.
    return new RegExp(source, "gi");
  }
}

export const contentFilterConfigSchema = z.strictObject({
  blockedWords: z
    .array(z.string().trim().min(1, { error: "a blocked word must not be empty" }).max(200))
    .max(MAX_BLOCKED_WORDS)
    .default([]),
  blockedPatterns: z
    .array(z.string().min(1, { error: "a blocked pattern must not be empty" }).max(MAX_PATTERN_CHARS))
    .max(MAX_BLOCKED_PATTERNS)
    .default([])
    .superRefine((patterns, ctx) => {
      patterns.forEach((source, index) => {
        let pattern: RegExp;
        try {
          pattern = compilePattern(source);
        } catch (error) {
          ctx.addIssue({ code: "custom", path: [index], message: `invalid regular expression /${source}/: ${(error as Error).message}` });
          return;
        }
        // A pattern that matches "" would flag every text (and loop forever in a naive scanner).
        pattern.lastIndex = 0;
        if (pattern.test("")) ctx.addIssue({ code: "custom", path: [index], message: `the pattern /${source}/ matches the empty string, so it would flag every text` });
      });
    }),
  pii: z
    .strictObject({
      email: z.boolean().default(true),
      phone: z.boolean().default(true),
      creditCard: z.boolean().default(true),
      ipAddress: z.boolean().default(true),
    })
    .default({ email: true, phone: true, creditCard: true, ipAddress: true }),
});
export type ContentFilterConfig = z.infer<typeof contentFilterConfigSchema>;
export type ContentFilterConfigInput = z.input<typeof contentFilterConfigSchema>;

export const defaultContentFilterConfig: ContentFilterConfig = contentFilterConfigSchema.parse({});

export type FilterHitKind = "word" | "pattern" | "email" | "phone" | "credit_card" | "ip_address";
export type FilterHit = { kind: FilterHitKind; match: string; index: number };

const wordChar = "[\\p{L}\\p{N}\\p{M}_]";
// Scripts written without spaces have no word boundaries to require.
const unspaced = /^[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Thai}\p{sc=Lao}\p{sc=Khmer}\p{sc=Myanmar}\s]+$/u;
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

type CompiledFilter = { words: RegExp | null; patterns: RegExp[]; pii: ContentFilterConfig["pii"] };
const compiled = new WeakMap<ContentFilterConfig, CompiledFilter>();

function compile(config: ContentFilterConfig): CompiledFilter {
  const cached = compiled.get(config);
  if (cached) return cached;
  const alternatives = [...new Set(config.blockedWords.map((word) => word.trim()).filter((word) => word.length > 0))]
    // Longest first, so "bad word" wins over "bad" at the same position.
    .sort((a, b) => b.length - a.length)
    .map((word) => {
      const body = word.split(/\s+/u).map(escapeRegExp).join("\\s+");
      return unspaced.test(word) ? body : `(?<!${wordChar})${body}(?!${wordChar})`;
    });
  const result: CompiledFilter = {
    words: alternatives.length > 0 ? new RegExp(alternatives.join("|"), "giu") : null,
    patterns: config.blockedPatterns.map(compilePattern),
    pii: config.pii,
  };
  compiled.set(config, result);
  return result;
}

function* matches(pattern: RegExp, text: string): Generator<RegExpExecArray> {
  pattern.lastIndex = 0;
  let found: RegExpExecArray | null;
  while ((found = pattern.exec(text)) !== null) {
    if (found[0].length === 0) {
      pattern.lastIndex++;
      continue;
    }
    yield found;
  }
}

// Bounded repetitions (RFC 5321 sizes) keep the backtracking linear on hostile input such as "@" followed by 30,000 letters.
const emailPattern = /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]{1,64}@(?:[\p{L}\p{N}-]{1,63}\.){1,8}\p{L}{2,24}(?![\p{L}\p{N}-])/gu;

// Digits with single space, dash or dot separators, optional "+" country code and one parenthesised area code.
const phoneCandidate = /(?<![\p{L}\p{N}.,+\-/])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,12}(?:[ .-]\d{1,12})*(?![\p{L}\p{N}]|[.,-]\d)/gu;

function isPhone(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, "");
  if (digits.length < 9 || digits.length > 15) return false;
  const international = candidate.startsWith("+");
  const hasParens = candidate.includes("(");
  const groups = candidate.replace(/^\+\d{1,3}[ .-]?/, "").split(/[ .\-()]+/).filter((group) => group.length > 0);
  if (groups.length === 1) {
    // A bare digit run is only a phone with a "+" or a national trunk "0", or as a Chinese mobile (1[3-9] + 9 digits);
    // otherwise it is an order number or a timestamp.
    return international || hasParens || /^0\d{8,}$/.test(digits) || /^1[3-9]\d{9}$/.test(digits);
  }
  // "1 2 3 4 5 6 7 8 9" is a list; real numbers have at most one single-digit group (a leading "1-800-...").
  if (groups.filter((group) => group.length === 1).length > 1) return false;
  if (!international && !hasParens) {
    const separators = new Set(candidate.match(/[ .-]/g));
    // Dotted phones ("555.123.4567", "06.12.34.56.78") have no one-digit group; "10.0.19045.3803" is a build number.
    if (separators.size === 1 && separators.has(".") && groups.some((group) => group.length === 1)) return false;
    // "3.14159265" and "1.000.000.000" / "1 000 000 000" are numbers, not phones.
    if (groups.length === 2 && separators.has(".")) return false;
    if (groups.slice(1).every((group) => group.length === 3) && (groups[0]?.length ?? 0) <= 3 && !separators.has("-")) return false;
    // Four dot-separated groups of ≤ 3 digits is an IPv4 address, which has its own detector.
    if (separators.size === 1 && separators.has(".") && groups.length === 4 && groups.every((group) => group.length <= 3)) return false;
  }
  return groups.every((group) => group.length <= 8);
}

const cardCandidate = /(?<![\p{L}\p{N}])\d(?:[ -]?\d){12,18}(?![\p{L}\p{N}])/gu;

/** Luhn checksum, so a random 16-digit number is flagged only 1 time in 10. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return digits.length > 0 && sum % 10 === 0;
}

function isCreditCard(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, "");
  // Issuer prefixes: 2 (Mastercard 2-series), 3 (Amex, Diners, JCB), 4 (Visa), 5 (Mastercard, Maestro), 6 (Discover, UnionPay, Maestro).
  return digits.length >= 13 && digits.length <= 19 && /^[2-6]/.test(digits) && luhnValid(digits) && !/^(\d)\1+$/.test(digits);
}

const ipv4Pattern = /(?<![\p{L}\p{N}.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\p{N}]|\.\d)/gu;
const ipv6Hint = /:[0-9A-Fa-f]{0,4}:/;
const ipv6Candidate = /(?<![\p{L}\p{N}:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[0-9A-Za-z]+)?(?![\p{L}\p{N}:])/gu;

function isReportableIpv4(address: string, text: string, index: number): boolean {
  // "v1.2.3.4" / "version 1.2.3.4" are version strings.
  if (/(?:\bv|version\s*)$/i.test(text.slice(Math.max(0, index - 8), index))) return false;
  // Unspecified, loopback, broadcast and netmasks identify no one.
  return !/^(?:0\.0\.0\.0|127\.\d+\.\d+\.\d+|255\.255\.\d+\.\d+)$/.test(address);
}

const overlaps = (a: { index: number; match: string }, b: { index: number; match: string }): boolean =>
  a.index < b.index + b.match.length && b.index < a.index + a.match.length;

/**
 * All hits in a text, sorted by position. The config must be a parsed ContentFilterConfig (compiled regexes are cached per
 * config object, so reuse the same object across a whole import).
 */
export function scanText(text: string, config: ContentFilterConfig): FilterHit[] {
  const filter = compile(config);
  const hits: FilterHit[] = [];
  if (filter.words) for (const found of matches(filter.words, text)) hits.push({ kind: "word", match: found[0], index: found.index });
  for (const pattern of filter.patterns) for (const found of matches(pattern, text)) hits.push({ kind: "pattern", match: found[0], index: found.index });

  const pii: FilterHit[] = [];
  // Cheap literal pre-checks: the PII regexes start with lookbehinds and character classes that V8 tries at every position,
  // which made them most of the filter's cost on texts that cannot match.
  if (filter.pii.email && text.includes("@")) for (const found of matches(emailPattern, text)) pii.push({ kind: "email", match: found[0], index: found.index });
  if (filter.pii.creditCard) {
    for (const found of matches(cardCandidate, text)) if (isCreditCard(found[0])) pii.push({ kind: "credit_card", match: found[0], index: found.index });
  }
  if (filter.pii.ipAddress) {
    for (const found of matches(ipv4Pattern, text)) if (isReportableIpv4(found[0], text, found.index)) pii.push({ kind: "ip_address", match: found[0], index: found.index });
    if (ipv6Hint.test(text)) for (const found of matches(ipv6Candidate, text)) {
      const address = found[0].replace(/%.*$/, "");
      if (isIPv6(address) && address !== "::" && address !== "::1") pii.push({ kind: "ip_address", match: found[0], index: found.index });
    }
  }
  if (filter.pii.phone) {
    for (const found of matches(phoneCandidate, text)) {
      const hit: FilterHit = { kind: "phone", match: found[0].trim(), index: found.index };
      // A card number or an address inside an e-mail is reported once, as what it is.
      if (isPhone(hit.match) && !pii.some((other) => overlaps(other, hit))) pii.push(hit);
    }
  }
  hits.push(...pii);
  return hits.sort((a, b) => a.index - b.index || a.kind.localeCompare(b.kind));
}
