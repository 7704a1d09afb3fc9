/**
 * The cleaning of one stream of documents, in memory and without the database, so the job, the bench and the tests
 * run the same code. Each document is judged once, in order, by the first rule it fails:
 *   1. length (minChars / maxChars), 2. language, 3. exact duplicate (the import's normalized sha256),
 *   4. near duplicate (the import's MinHash + LSH, verified on the signatures), 5. content filter, 6. PII.
 * A document that passes 1–4 enters the duplicate index even when the content filter then flags or drops it, so its
 * copies in later sources are dropped as its duplicates rather than reviewed again one by one.
 * The duplicate index keeps at most `index.maxInMemory` documents in memory and spills the rest to sorted runs in
 * temporary files (decision 0057) with the same answers, so memory does not grow with the corpus; call close() when
 * done to delete those files.
 */
import { scanText, type ContentFilterConfig, type FilterHit } from "../labeling/import/content-filter.ts";
import { chooseBands, DEFAULT_NUM_PERM, isEmptySignature, signatureFromBase64, signatureToBase64, textSignature, type Signature } from "../labeling/import/minhash.ts";
import type { CleaningVerdict } from "../db/schema.ts";
import type { CleaningSettings, DropReason } from "./cleaning-settings.ts";
import { DedupIndex, type DedupIndexOptions } from "./dedup-index.ts";
import { detectLanguage } from "./language.ts";

export type CleanerDocument = { id: string; text: string; contentHash: string };
export type StoredHit = { kind: FilterHit["kind"]; match: string; index: number };
export type DocumentVerdict = {
  documentId: string;
  verdict: CleaningVerdict;
  reason: DropReason | null;
  duplicateOf: string | null;
  similarity: number | null;
  language: string;
  languageConfidence: number;
  hits: StoredHit[];
  redactedText: string | null;
  /** Set when the document entered the duplicate index (a resumed job reads it back). */
  minhash: string | null;
};

const MAX_STORED_HITS = 50;
const MAX_MATCH_CHARS = 200;
const piiKinds = new Set<FilterHit["kind"]>(["email", "phone", "credit_card", "ip_address"]);
export const REDACTION_TOKENS: Record<string, string> = { email: "[EMAIL]", phone: "[PHONE]", credit_card: "[CREDIT_CARD]", ip_address: "[IP_ADDRESS]" };

/** The text with each PII hit replaced by its token; overlapping hits are replaced once. */
export function redact(text: string, hits: readonly FilterHit[]): string {
  const spans = hits.filter((h) => piiKinds.has(h.kind)).sort((a, b) => a.index - b.index);
  let out = "";
  let at = 0;
  for (const hit of spans) {
    if (hit.index < at) continue;
    out += text.slice(at, hit.index) + (REDACTION_TOKENS[hit.kind] ?? "[REDACTED]");
    at = hit.index + hit.match.length;
  }
  return out + text.slice(at);
}

export class CorpusCleaner {
  private readonly index: DedupIndex;

  constructor(
    private readonly settings: CleaningSettings,
    private readonly filter: ContentFilterConfig,
    private readonly numPerm = DEFAULT_NUM_PERM,
    index: DedupIndexOptions = {},
  ) {
    const { bands, rows } = chooseBands(settings.nearDuplicateThreshold, numPerm);
    this.index = new DedupIndex(bands, rows, index);
  }

  get indexed(): number {
    return this.index.size;
  }

  /** Documents of the index spilled to disk and its sorted runs (0 and 0 while it fits its memory budget). */
  get disk(): { spilledDocuments: number; runs: number } {
    return this.index.disk;
  }

  /** Deletes the duplicate index's temporary files. */
  close(): void {
    this.index.close();
  }

  /** Puts a document judged before (by this job, before it was stopped) back into the duplicate index. */
  restore(documentId: string, contentHash: string, minhash: string): void {
    this.remember(documentId, contentHash, signatureFromBase64(minhash));
  }

  private remember(documentId: string, contentHash: string, signature: Signature): void {
    this.index.add(documentId, contentHash, signature);
  }

  judge(doc: CleanerDocument): DocumentVerdict {
    const { settings } = this;
    const guess = detectLanguage(doc.text);
    const base = { documentId: doc.id, duplicateOf: null, similarity: null, language: guess.language, languageConfidence: guess.confidence, hits: [], redactedText: null, minhash: null };
    const chars = doc.text.length;
    if (chars < settings.minChars) return { ...base, verdict: "dropped", reason: "too_short" };
    if (chars > settings.maxChars) return { ...base, verdict: "dropped", reason: "too_long" };
    if (settings.languages.length > 0 && (!settings.languages.includes(guess.language) || guess.confidence < settings.minLanguageConfidence)) {
      return { ...base, verdict: "dropped", reason: "language" };
    }
    const original = this.index.exactOriginal(doc.contentHash);
    if (original !== undefined) return { ...base, verdict: "dropped", reason: "exact_duplicate", duplicateOf: original, similarity: 1 };

    const signature = textSignature(doc.text, this.numPerm);
    if (!isEmptySignature(signature)) {
      // Ties go to the earliest document, so the report is the same on every run.
      const best = this.index.nearest(signature, settings.nearDuplicateThreshold);
      if (best) return { ...base, verdict: "dropped", reason: "near_duplicate", duplicateOf: best.id, similarity: best.similarity };
    }
    this.remember(doc.id, doc.contentHash, signature);
    const minhash = signatureToBase64(signature);

    const found = scanText(doc.text, this.filter);
    const hits = found.slice(0, MAX_STORED_HITS).map((h) => ({ kind: h.kind, match: h.match.slice(0, MAX_MATCH_CHARS), index: h.index }));
    const blocked = found.some((h) => !piiKinds.has(h.kind));
    const pii = found.some((h) => piiKinds.has(h.kind));
    const redactedText = pii && settings.pii === "redact" ? redact(doc.text, found) : null;
    const judged = { ...base, hits, redactedText, minhash };
    if (blocked) return { ...judged, verdict: settings.contentFilter === "drop" ? "dropped" : "flagged", reason: "content_filter" };
    if (pii && settings.pii !== "redact") return { ...judged, verdict: settings.pii === "drop" ? "dropped" : "flagged", reason: "pii" };
    return { ...judged, verdict: "kept", reason: null };
  }
}
