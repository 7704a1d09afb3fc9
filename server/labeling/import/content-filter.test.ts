import assert from "node:assert/strict";
import { test } from "node:test";
import { contentFilterConfigSchema, defaultContentFilterConfig, luhnValid, scanText, type ContentFilterConfigInput, type FilterHitKind } from "./content-filter.ts";

const config = (input: ContentFilterConfigInput = {}) => contentFilterConfigSchema.parse(input);
const kinds = (text: string, filter = defaultContentFilterConfig) => scanText(text, filter).map((hit) => `${hit.kind}:${hit.match}`);
const only = (kind: FilterHitKind) =>
  config({ pii: { email: kind === "email", phone: kind === "phone", creditCard: kind === "credit_card", ipAddress: kind === "ip_address" } });

test("defaults: PII detection on, word and pattern lists empty", () => {
  assert.deepEqual(defaultContentFilterConfig, { blockedWords: [], blockedPatterns: [], pii: { email: true, phone: true, creditCard: true, ipAddress: true } });
  assert.deepEqual(config({ pii: { phone: false } }).pii, { email: true, phone: false, creditCard: true, ipAddress: true });
  assert.deepEqual(scanText("A perfectly ordinary question about cooking pasta.", defaultContentFilterConfig), []);
});

test("config: an invalid regex is an error naming the pattern; empty-matching patterns and unknown keys are refused", () => {
  const bad = contentFilterConfigSchema.safeParse({ blockedPatterns: ["ok\\d+", "(unclosed", "[z-a]"] });
  assert.equal(bad.success, false);
  const messages = bad.error?.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`) ?? [];
  assert.equal(messages.length, 2);
  assert.match(messages[0] ?? "", /^blockedPatterns\.1: invalid regular expression \/\(unclosed\//);
  assert.match(messages[1] ?? "", /^blockedPatterns\.2: invalid regular expression \/\[z-a\]\//);
  const empty = contentFilterConfigSchema.safeParse({ blockedPatterns: ["a*"] });
  assert.match(empty.error?.issues[0]?.message ?? "", /matches the empty string/);
  assert.equal(contentFilterConfigSchema.safeParse({ blockedWord: ["x"] }).success, false);
  assert.equal(contentFilterConfigSchema.safeParse({ blockedWords: ["  "] }).success, false);
});

test("blocked words: whole word, case-insensitive, Unicode-aware, phrases across whitespace", () => {
  const filter = config({ blockedWords: ["ass", "Straße", "bad idea", "écrasé", "毒品"] });
  assert.deepEqual(kinds("You ASS. Pass the classic assessment.", filter), ["word:ASS"]);
  assert.deepEqual(kinds("Die STRASSE ist lang; die straße auch.", filter), ["word:straße"]);
  assert.deepEqual(kinds("a Bad\n  Idea, baddie ideas", filter), ["word:Bad\n  Idea"]);
  // letters with accents are word characters: "écrasée" is not "écrasé"
  assert.deepEqual(kinds("écrasé! écrasée", filter), ["word:écrasé"]);
  // no word boundaries in Chinese: a substring match
  assert.deepEqual(kinds("他们在卖毒品吗", filter), ["word:毒品"]);
  const hit = scanText("xx ass", filter)[0];
  assert.deepEqual(hit, { kind: "word", match: "ass", index: 3 });
});

test("blocked patterns are case-insensitive regexes and report every match with its index", () => {
  const filter = config({ blockedPatterns: ["how to (make|build) a bomb", "\\bkill\\s+(him|her)\\b"] });
  assert.deepEqual(scanText("How to BUILD a bomb? then kill him", filter).map((hit) => [hit.kind, hit.match, hit.index]), [
    ["pattern", "How to BUILD a bomb", 0],
    ["pattern", "kill him", 26],
  ]);
});

test("e-mail addresses", () => {
  const filter = only("email");
  assert.deepEqual(kinds("Write to john.doe+tag@example.co.uk, or José@correo.es.", filter), ["email:john.doe+tag@example.co.uk", "email:José@correo.es"]);
  assert.deepEqual(kinds("@mention me, user@localhost, a@b, x @ y.com", filter), []);
  // a long "@" run must not hang (bounded repetition)
  const started = performance.now();
  scanText(`a@${"b".repeat(30_000)}`, filter);
  assert.ok(performance.now() - started < 1_000);
});

test("phone numbers: international and national formats with ≥ 9 digits", () => {
  const filter = only("phone");
  for (const phone of ["+1 (555) 123-4567", "(555) 123-4567", "555-123-4567", "555.123.4567", "+44 20 7946 0958", "+49 30 12345678", "06 12 34 56 78", "030 12345678", "+7 (495) 123-45-67", "1-800-555-1234", "+33612345678", "0612345678", "13812345678"]) {
    assert.deepEqual(kinds(`call ${phone} today`, filter), [`phone:${phone}`], phone);
  }
});

test("phone false-positive guards: years, decimals, short numbers, big numbers, lists, timestamps, dates", () => {
  const filter = only("phone");
  for (const text of ["In 2024 and 1999", "pi is 3.14159 or 3.14159265358979", "it costs 1 000 000 000 dollars", "1.000.000.000", "count 1 2 3 4 5 6 7 8 9 10", "at 1700000000 (unix)", "on 2024-01-15", "ISO 9001", "order 123456789", "version 10.0.19045.3803", "12:30:45"]) {
    assert.deepEqual(kinds(text, filter), [], text);
  }
});

test("credit cards: Luhn-checked, with or without separators", () => {
  assert.equal(luhnValid("4111111111111111"), true);
  assert.equal(luhnValid("4111111111111112"), false);
  const filter = only("credit_card");
  assert.deepEqual(kinds("cards 4111 1111 1111 1111, 5500-0000-0000-0004 and 378282246310005", filter), [
    "credit_card:4111 1111 1111 1111",
    "credit_card:5500-0000-0000-0004",
    "credit_card:378282246310005",
  ]);
  // Luhn fails, all zeros, too short, inside a longer number
  assert.deepEqual(kinds("4111 1111 1111 1112, 0000000000000000, 411111111111, 94111111111111111", filter), []);
});

test("a card number is not also reported as a phone", () => {
  assert.deepEqual(kinds("Amex 3782 822463 10005"), ["credit_card:3782 822463 10005"]);
});

test("IP addresses: IPv4 and IPv6, but not versions, loopback or out-of-range quads", () => {
  const filter = only("ip_address");
  assert.deepEqual(kinds("from 203.0.113.7 and 2001:db8::ff00:42:8329", filter), ["ip_address:203.0.113.7", "ip_address:2001:db8::ff00:42:8329"]);
  assert.deepEqual(kinds("v1.2.3.4, version 10.0.0.1, 127.0.0.1, ::1, 0.0.0.0, 256.1.1.1, 1.2.3.4.5, 12:30:45, std::vector", filter), []);
  // and an IPv4 address is not a phone number
  assert.deepEqual(kinds("host 192.168.100.200"), ["ip_address:192.168.100.200"]);
});

test("hits come back sorted by position, with every kind together", () => {
  const filter = config({ blockedWords: ["secret"] });
  const hits = scanText("secret: mail a@example.com from 10.1.2.3, call +1 555 123 4567", filter);
  assert.deepEqual(hits.map((hit) => hit.kind), ["word", "email", "ip_address", "phone"]);
  assert.deepEqual(hits.map((hit) => hit.index), [0, 13, 32, 47]);
});
