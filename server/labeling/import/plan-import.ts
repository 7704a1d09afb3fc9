/**
 * The "preview before commit" report of an import: for every valid record, whether it is new, a duplicate (exact or near, of an
 * earlier line or of a prompt already in the project) or caught by the content filter. Pure: the caller loads the project's
 * hashes and signatures, shows this plan, and on commit inserts the `new` records for labelers and the `filtered` ones for review,
 * storing each one's contentHash and signature.
 */
import { contentFilterConfigSchema, scanText, type ContentFilterConfig, type FilterHit } from "./content-filter.ts";
import type { ChatMessage, ImportIssue, ImportRecord } from "./import-record.ts";
import {
  chooseBands,
  DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  DEFAULT_NUM_PERM,
  estimateJaccard,
  isEmptySignature,
  LshIndex,
  textSignature,
  type Signature,
} from "./minhash.ts";
import { contentHash } from "./normalize.ts";
import { flattenAnswer } from "../transcript.ts";

export const importStatuses = [
  "new",
  "filtered",
  "exact_duplicate_in_file",
  "exact_duplicate_in_project",
  "near_duplicate_in_file",
  "near_duplicate_in_project",
] as const;
export type ImportStatus = (typeof importStatuses)[number];

/** A filter hit and where it is: "messages[0].content" or "completions[2].text". */
export type PlannedFilterHit = FilterHit & { field: string };

export type DuplicateRef<E> = { line: number } | { id: E } | null;

export type PlannedRecord<E> = {
  line: number;
  record: ImportRecord;
  status: ImportStatus;
  /** For exact duplicates in the project this is { id } when existing.hashes is a Map, else null (a Set cannot say which prompt). */
  duplicateOf: DuplicateRef<E>;
  /** Estimated Jaccard for near duplicates, 1 for exact duplicates, null otherwise. */
  similarity: number | null;
  /** Computed for every record, so a duplicate's hits are visible too; only non-duplicates get status "filtered". */
  filterHits: PlannedFilterHit[];
  /** To store with the prompt (prompts.content_hash / near-duplicate signature). Exact duplicates are never stored, so their
   * signature is not computed (null). */
  contentHash: string;
  signature: Signature | null;
};

export type ImportPlanCounts = Record<ImportStatus, number> & {
  records: number;
  /** Distinct lines with an issue (file-level issues, line 0, not counted). */
  invalidLines: number;
  /** new (to labelers) + filtered (to review). */
  toImport: number;
};

export type ImportPlan<E> = { items: PlannedRecord<E>[]; issues: ImportIssue[]; counts: ImportPlanCounts };

export type ExistingPrompts<E> = {
  /** Content hashes already in the project; a Map also names the prompt each belongs to. */
  hashes: ReadonlySet<string> | ReadonlyMap<string, E>;
  signatures: readonly { id: E; signature: Signature }[];
};

/**
 * Near duplicates are judged on the non-system turns: many datasets share one long system prompt, which would otherwise make
 * every record look 90 % similar to every other. (The exact hash still includes the system turn.)
 */
export function nearDuplicateText(messages: readonly ChatMessage[]): string {
  const turns = messages.filter((message) => message.role !== "system");
  return (turns.length > 0 ? turns : messages).map((message) => message.content).join("\n");
}

export function scanRecord(record: ImportRecord, filter: ContentFilterConfig): PlannedFilterHit[] {
  const hits: PlannedFilterHit[] = [];
  record.messages.forEach((message, index) => {
    for (const hit of scanText(message.content, filter)) hits.push({ ...hit, field: `messages[${index}].content` });
  });
  record.completions.forEach((completion, index) => {
    // A transcript is scanned whole: a tool's result can hold what the filter looks for too.
    const text = completion.messages ? flattenAnswer(completion.messages) : completion.text;
    for (const hit of scanText(text, filter)) hits.push({ ...hit, field: `completions[${index}].${completion.messages ? "messages" : "text"}` });
  });
  return hits;
}

export function planImport<E = string>(input: {
  records: readonly ImportRecord[];
  issues?: readonly ImportIssue[];
  existing?: ExistingPrompts<E>;
  nearDuplicateThreshold?: number;
  filter?: ContentFilterConfig;
  /** Must match the length of the existing signatures. */
  numPerm?: number;
}): ImportPlan<E> {
  const threshold = input.nearDuplicateThreshold ?? DEFAULT_NEAR_DUPLICATE_THRESHOLD;
  const numPerm = input.numPerm ?? DEFAULT_NUM_PERM;
  const filter = input.filter ?? contentFilterConfigSchema.parse({});
  const existingHashes = input.existing?.hashes ?? new Set<string>();
  const existingSignatures = input.existing?.signatures ?? [];
  const { bands, rows } = chooseBands(threshold, numPerm);

  const projectIndex = new LshIndex<number>(bands, rows);
  existingSignatures.forEach((item, position) => {
    if (item.signature.length !== numPerm) {
      throw new RangeError(`existing signature for ${String(item.id)} has ${item.signature.length} values, expected ${numPerm}; recompute it with the current MINHASH_SCHEME`);
    }
    projectIndex.add(position, item.signature);
  });
  // Only kept records (new or filtered) enter the file index, so a cluster of near copies is compared with its first member
  // rather than all with all.
  const fileIndex = new LshIndex<number>(bands, rows);
  const firstLineByHash = new Map<string, number>();
  const items: PlannedRecord<E>[] = [];

  const bestMatch = (signature: Signature, index: LshIndex<number>, signatureAt: (key: number) => Signature | undefined) => {
    let best: { key: number; similarity: number } | null = null;
    for (const key of index.candidates(signature)) {
      const other = signatureAt(key);
      if (!other) continue;
      const similarity = estimateJaccard(signature, other);
      // Ties go to the earliest line / first existing prompt, so the report is deterministic.
      if (similarity >= threshold && (!best || similarity > best.similarity || (similarity === best.similarity && key < best.key))) best = { key, similarity };
    }
    return best;
  };

  for (const record of input.records) {
    const hash = contentHash(record.messages);
    const filterHits = scanRecord(record, filter);
    const exact = { line: record.line, record, contentHash: hash, signature: null, filterHits };

    if (existingHashes.has(hash)) {
      const id = existingHashes instanceof Map ? (existingHashes as ReadonlyMap<string, E>).get(hash) : undefined;
      items.push({ ...exact, status: "exact_duplicate_in_project", duplicateOf: id === undefined ? null : { id }, similarity: 1 });
      continue;
    }
    // Points at the first identical line, whatever became of it (it may itself be a near duplicate of an earlier line).
    const firstLine = firstLineByHash.get(hash);
    if (firstLine !== undefined) {
      items.push({ ...exact, status: "exact_duplicate_in_file", duplicateOf: { line: firstLine }, similarity: 1 });
      continue;
    }
    firstLineByHash.set(hash, record.line);
    const signature = textSignature(nearDuplicateText(record.messages), numPerm);
    const base = { ...exact, signature };
    if (!isEmptySignature(signature)) {
      const inProject = bestMatch(signature, projectIndex, (key) => existingSignatures[key]?.signature);
      const project = inProject ? existingSignatures[inProject.key] : undefined;
      if (inProject && project) {
        items.push({ ...base, status: "near_duplicate_in_project", duplicateOf: { id: project.id }, similarity: inProject.similarity });
        continue;
      }
      const inFile = bestMatch(signature, fileIndex, (key) => items[key]?.signature ?? undefined);
      const earlier = inFile ? items[inFile.key] : undefined;
      if (inFile && earlier) {
        items.push({ ...base, status: "near_duplicate_in_file", duplicateOf: { line: earlier.line }, similarity: inFile.similarity });
        continue;
      }
      fileIndex.add(items.length, signature);
    }
    items.push({ ...base, status: filterHits.length > 0 ? "filtered" : "new", duplicateOf: null, similarity: null });
  }

  const counts: ImportPlanCounts = {
    records: items.length,
    invalidLines: new Set((input.issues ?? []).map((issue) => issue.line).filter((line) => line > 0)).size,
    toImport: 0,
    new: 0,
    filtered: 0,
    exact_duplicate_in_file: 0,
    exact_duplicate_in_project: 0,
    near_duplicate_in_file: 0,
    near_duplicate_in_project: 0,
  };
  for (const item of items) counts[item.status]++;
  counts.toImport = counts.new + counts.filtered;
  return { items, issues: [...(input.issues ?? [])], counts };
}
