/**
 * PII masking at import (decision 0037): the content filter's PII detectors (e-mail, phone, card
 * number, IP address) find the spans; each becomes a typed placeholder, so a labeler still sees
 * that an e-mail was there without reading it. Pure: the import decides what to do with the
 * result (store masked, send to review, keep the original for researchers).
 */
import { scanText, type ContentFilterConfig, type FilterHitKind } from "./content-filter.ts";
import type { ImportRecord } from "./import-record.ts";

export const PII_PLACEHOLDERS: Partial<Record<FilterHitKind, string>> = {
  email: "[EMAIL]",
  phone: "[PHONE]",
  credit_card: "[CARD_NUMBER]",
  ip_address: "[IP_ADDRESS]",
};

export const isPiiKind = (kind: FilterHitKind): boolean => kind in PII_PLACEHOLDERS;

/** The text with every PII span replaced by its placeholder; overlapping hits keep the first. */
export function maskPii(text: string, filter: ContentFilterConfig): { text: string; masked: number } {
  const hits = scanText(text, filter).filter((h) => isPiiKind(h.kind));
  let out = "";
  let at = 0;
  let masked = 0;
  for (const hit of hits) {
    if (hit.index < at) continue;
    out += text.slice(at, hit.index) + PII_PLACEHOLDERS[hit.kind]!;
    at = hit.index + hit.match.length;
    masked++;
  }
  return { text: out + text.slice(at), masked };
}

const onlyPlaceholders = new RegExp(`^(?:\\s|[.,;:!?]|${Object.values(PII_PLACEHOLDERS).map((p) => p.replace(/[[\]]/g, "\\$&")).join("|")})*$`);

/**
 * The record with its messages and completions masked. `emptied`: a user turn held nothing but
 * PII, so what is left is no prompt at all (the import then sends it to review instead).
 */
export function redactRecord(record: ImportRecord, filter: ContentFilterConfig): { record: ImportRecord; masked: number; emptied: boolean } {
  let masked = 0;
  const mask = (text: string) => {
    const result = maskPii(text, filter);
    masked += result.masked;
    return result.text;
  };
  const messages = record.messages.map((m) => ({ ...m, content: mask(m.content) }));
  const completions = record.completions.map((c) => ({
    ...c,
    text: mask(c.text),
    ...(c.messages ? { messages: c.messages.map((m) => ({ ...m, content: mask(m.content) })) } : {}),
  }));
  const emptied = messages.some((m, i) => m.role === "user" && record.messages[i]!.content.trim() !== "" && onlyPlaceholders.test(m.content));
  return { record: { ...record, messages, completions }, masked, emptied };
}
