import { createHash } from "node:crypto";
import type { ChatMessage } from "./import-record.ts";

// Zero-width spaces, joiners, soft hyphens, BOMs...: invisible, so two prompts differing only in them are the same prompt to a labeler.
const invisible = /\p{Default_Ignorable_Code_Point}/gu;
// \s is Unicode-aware without the u flag, and the regex is faster without it.
const whitespace = /\s+/g;

/** Canonical text for duplicate detection: NFKC (fullwidth → ASCII, ligatures split), lowercase, invisible characters dropped, whitespace collapsed and trimmed. */
export function normalizeForHash(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(invisible, "").replace(whitespace, " ").trim();
}

/**
 * sha256 hex of the normalized conversation. Roles are part of the hash (the same text as system vs user is a different prompt),
 * and JSON encoding keeps the turn boundaries unambiguous ("a b" + "c" ≠ "a" + "b c").
 * Completions are not part of it: the same prompt with other candidate answers is still the same prompt.
 */
export function contentHash(messages: readonly ChatMessage[]): string {
  const canonical = JSON.stringify(messages.map((message) => [message.role, normalizeForHash(message.content)]));
  return createHash("sha256").update(canonical, "utf8").digest("hex");
}
