/**
 * The cleaning job's duplicate index (exact hashes + MinHash/LSH buckets) with a memory budget (decision 0057).
 *
 * Documents enter an in-memory tier (a Map of content hashes, an LshIndex, the signatures), exactly what the cleaner
 * held before. When the tier holds `maxInMemory` documents it is spilled to temporary files and emptied:
 *  - a records file, one fixed-size record per indexed document in index order (content hash, document id, signature);
 *  - a sorted run: every key of the spilled documents (the exact-hash key and one key per LSH band) with the record
 *    number, sorted by (key, record), 12 bytes an entry, with an in-memory fence (the first key of every block of 128
 *    entries) so a lookup reads one block;
 *  - runs are merged like a binary counter (two runs of the same level become one of the next), so there are at most
 *    log2(documents / maxInMemory) + 1 of them, each merge a streaming pass with fixed buffers.
 * A lookup asks the tier and every run; matches on disk are verified against the record (the full content hash, the
 * signature), so the answers are the in-memory index's: the earliest document with the same hash, and among LSH
 * candidates at or above the threshold the most similar, ties to the earliest. Memory is the tier, fixed buffers and
 * the fences (8 bytes per 128 run entries, ~1 byte per indexed document), not the corpus.
 * File access is synchronous (readSync/writeSync): the cleaner judges a batch synchronously anyway.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { estimateJaccard, isEmptySignature, LshIndex, type Signature } from "../labeling/import/minhash.ts";

export type DedupIndexOptions = {
  /** Documents held in memory before the tier is spilled to disk (default 100,000: ≈ 270 MB at 128 permutations). */
  maxInMemory?: number;
  /** Folder for the temporary files (a fresh subfolder is made and removed by close()); default the OS temp folder. */
  spillDir?: string;
};

export const DEFAULT_MAX_IN_MEMORY = 100_000;
/** Exact-hash keys use high words from 2^20 up; band keys use the band number (< 2^20) as the high word. */
const EXACT_HI = 0x100000;
const ENTRY_BYTES = 12;
const BLOCK_ENTRIES = 128;
const HASH_FIELD = 96;
const ID_FIELD = 32;
const MERGE_BUFFER_ENTRIES = 8_192;

type Run = { path: string; fd: number; entries: number; fences: Float64Array; level: number };
export type NearestMatch = { id: string; similarity: number };

/** Two independent 32-bit FNV-1a hashes of a content hash, folded into a key below 2^53 (exact in a double). */
function exactKey(contentHash: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < contentHash.length; i++) {
    const c = contentHash.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (EXACT_HI + ((b >>> 0) & 0xfffff)) * 2 ** 32 + (a >>> 0);
}

function writeField(buffer: Buffer, offset: number, size: number, value: string, what: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length >= size) throw new RangeError(`${what} is longer than ${size - 1} bytes: ${value.slice(0, 40)}`);
  buffer[offset] = bytes.length;
  bytes.copy(buffer, offset + 1);
}

const readField = (buffer: Buffer, offset: number): string => buffer.toString("utf8", offset + 1, offset + 1 + (buffer[offset] ?? 0));

/** Writes entries (already sorted) to a run file, 12 bytes each, and returns the block fences. */
class RunWriter {
  private readonly buffer = Buffer.alloc(MERGE_BUFFER_ENTRIES * ENTRY_BYTES);
  private buffered = 0;
  private written = 0;
  private readonly fences: number[] = [];
  readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, "w+");
  }

  push(key: number, value: number): void {
    if (this.written % BLOCK_ENTRIES === 0) this.fences.push(key);
    const at = this.buffered * ENTRY_BYTES;
    this.buffer.writeUInt32LE(Math.floor(key / 2 ** 32), at);
    this.buffer.writeUInt32LE(key % 2 ** 32, at + 4);
    this.buffer.writeUInt32LE(value, at + 8);
    this.buffered++;
    this.written++;
    if (this.buffered === MERGE_BUFFER_ENTRIES) this.drain();
  }

  private drain(): void {
    if (this.buffered === 0) return;
    writeSync(this.fd, this.buffer, 0, this.buffered * ENTRY_BYTES, (this.written - this.buffered) * ENTRY_BYTES);
    this.buffered = 0;
  }

  finish(level: number): Run {
    this.drain();
    return { path: this.path, fd: this.fd, entries: this.written, fences: Float64Array.from(this.fences), level };
  }
}

/** Reads a run from the start with a fixed buffer. */
class RunReader {
  private readonly buffer = Buffer.alloc(MERGE_BUFFER_ENTRIES * ENTRY_BYTES);
  private loaded = 0;
  private at = 0;
  private next = 0;
  key = 0;
  value = 0;

  constructor(private readonly run: Run) {}

  /** Moves to the next entry; false at the end. */
  advance(): boolean {
    if (this.at === this.loaded) {
      const count = Math.min(MERGE_BUFFER_ENTRIES, this.run.entries - this.next);
      if (count <= 0) return false;
      readSync(this.run.fd, this.buffer, 0, count * ENTRY_BYTES, this.next * ENTRY_BYTES);
      this.next += count;
      this.loaded = count;
      this.at = 0;
    }
    const offset = this.at * ENTRY_BYTES;
    this.key = this.buffer.readUInt32LE(offset) * 2 ** 32 + this.buffer.readUInt32LE(offset + 4);
    this.value = this.buffer.readUInt32LE(offset + 8);
    this.at++;
    return true;
  }
}

export class DedupIndex {
  readonly maxInMemory: number;
  private readonly recordBytes: number;
  private readonly tierExact = new Map<string, string>();
  private tierIndex: LshIndex<number>;
  private tierIds: string[] = [];
  private tierHashes: string[] = [];
  private tierSignatures: Signature[] = [];
  /** Records on disk; the tier's records are numbered from here. */
  private spilled = 0;
  private dir: string | null = null;
  private recordsFd: number | null = null;
  private runs: Run[] = [];
  private runCounter = 0;
  private readonly block = Buffer.alloc(BLOCK_ENTRIES * ENTRY_BYTES);
  private readonly record: Buffer;

  constructor(
    readonly bands: number,
    readonly rows: number,
    private readonly options: DedupIndexOptions = {},
  ) {
    this.maxInMemory = options.maxInMemory ?? DEFAULT_MAX_IN_MEMORY;
    if (!Number.isInteger(this.maxInMemory) || this.maxInMemory < 1) throw new RangeError(`maxInMemory must be a positive integer, got ${this.maxInMemory}`);
    this.recordBytes = HASH_FIELD + ID_FIELD + 4 * bands * rows;
    this.record = Buffer.alloc(this.recordBytes);
    this.tierIndex = new LshIndex<number>(bands, rows);
  }

  /** Documents in the index. */
  get size(): number {
    return this.spilled + this.tierIds.length;
  }

  /** How many times the tier went to disk and how many sorted runs there are now (for tests and the bench). */
  get disk(): { spilledDocuments: number; runs: number } {
    return { spilledDocuments: this.spilled, runs: this.runs.length };
  }

  /** The first indexed document with this content hash. */
  exactOriginal(contentHash: string): string | undefined {
    if (this.runs.length > 0) {
      let first = Infinity;
      for (const run of this.runs) for (const record of this.lookup(run, exactKey(contentHash))) if (record < first && this.readRecord(record).hash === contentHash) first = record;
      if (first !== Infinity) return this.readRecord(first).id;
    }
    return this.tierExact.get(contentHash);
  }

  /** Among the LSH candidates at or above the threshold, the most similar; ties go to the earliest document. */
  nearest(signature: Signature, threshold: number): NearestMatch | null {
    let best: { position: number; similarity: number } | null = null;
    const consider = (position: number, other: Signature): void => {
      const similarity = estimateJaccard(signature, other);
      if (similarity >= threshold && (!best || similarity > best.similarity || (similarity === best.similarity && position < best.position))) best = { position, similarity };
    };
    if (this.runs.length > 0) {
      const seen = new Set<number>();
      for (let band = 0; band < this.bands; band++) {
        const key = band * 2 ** 32 + this.tierIndex.bandKey(signature, band);
        for (const run of this.runs) {
          for (const record of this.lookup(run, key)) {
            if (seen.has(record)) continue;
            seen.add(record);
            consider(record, this.readRecord(record, true).signature!);
          }
        }
      }
    }
    for (const position of this.tierIndex.candidates(signature)) consider(position, this.tierSignatures[position - this.spilled]!);
    const found = best as { position: number; similarity: number } | null;
    if (!found) return null;
    const id = found.position >= this.spilled ? this.tierIds[found.position - this.spilled]! : this.readRecord(found.position).id;
    return { id, similarity: found.similarity };
  }

  /** Adds a document (its exact hash always, its bands when the signature is not empty). */
  add(documentId: string, contentHash: string, signature: Signature): void {
    if (signature.length !== this.bands * this.rows) throw new RangeError(`signature has ${signature.length} values, the index expects ${this.bands * this.rows}`);
    const position = this.size;
    if (!this.tierExact.has(contentHash)) this.tierExact.set(contentHash, documentId);
    if (!isEmptySignature(signature)) this.tierIndex.add(position, signature);
    this.tierIds.push(documentId);
    this.tierHashes.push(contentHash);
    this.tierSignatures.push(signature);
    if (this.tierIds.length >= this.maxInMemory) this.spill();
  }

  /** Closes and deletes the temporary files. The index is empty afterwards. */
  close(): void {
    for (const run of this.runs) closeSync(run.fd);
    if (this.recordsFd !== null) closeSync(this.recordsFd);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.runs = [];
    this.recordsFd = null;
    this.dir = null;
    this.spilled = 0;
    this.clearTier();
  }

  private clearTier(): void {
    this.tierExact.clear();
    this.tierIndex = new LshIndex<number>(this.bands, this.rows);
    this.tierIds = [];
    this.tierHashes = [];
    this.tierSignatures = [];
  }

  private readRecord(position: number, withSignature = false): { hash: string; id: string; signature?: Signature } {
    const bytes = withSignature ? this.recordBytes : HASH_FIELD + ID_FIELD;
    readSync(this.recordsFd!, this.record, 0, bytes, position * this.recordBytes);
    const hash = readField(this.record, 0);
    const id = readField(this.record, HASH_FIELD);
    if (!withSignature) return { hash, id };
    const signature = new Uint32Array(this.bands * this.rows);
    for (let i = 0; i < signature.length; i++) signature[i] = this.record.readUInt32LE(HASH_FIELD + ID_FIELD + 4 * i);
    return { hash, id, signature };
  }

  /** Record numbers stored under a key in one run, in record order. */
  private lookup(run: Run, key: number): number[] {
    const { fences } = run;
    // First block whose first key is ≥ key; equal keys may start at the end of the block before it.
    let lo = 0;
    let hi = fences.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fences[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    const found: number[] = [];
    for (let block = Math.max(0, lo - 1); block < fences.length && fences[block]! <= key; block++) {
      const count = Math.min(BLOCK_ENTRIES, run.entries - block * BLOCK_ENTRIES);
      readSync(run.fd, this.block, 0, count * ENTRY_BYTES, block * BLOCK_ENTRIES * ENTRY_BYTES);
      for (let i = 0; i < count; i++) {
        const offset = i * ENTRY_BYTES;
        const entryKey = this.block.readUInt32LE(offset) * 2 ** 32 + this.block.readUInt32LE(offset + 4);
        if (entryKey === key) found.push(this.block.readUInt32LE(offset + 8));
        else if (entryKey > key) return found;
      }
    }
    return found;
  }

  /** Writes the tier's records and a sorted run of its keys, merges runs of equal level, and empties the tier. */
  private spill(): void {
    if (!this.dir) {
      this.dir = mkdtempSync(join(this.options.spillDir ?? tmpdir(), "tandem-dedup-"));
      this.recordsFd = openSync(join(this.dir, "records.bin"), "w+");
    }
    const count = this.tierIds.length;
    // Records, in chunks of 1,024.
    const chunk = Buffer.alloc(Math.min(count, 1_024) * this.recordBytes);
    for (let start = 0; start < count; start += 1_024) {
      const n = Math.min(1_024, count - start);
      chunk.fill(0);
      for (let i = 0; i < n; i++) {
        const at = i * this.recordBytes;
        writeField(chunk, at, HASH_FIELD, this.tierHashes[start + i]!, "a content hash");
        writeField(chunk, at + HASH_FIELD, ID_FIELD, this.tierIds[start + i]!, "a document id");
        const signature = this.tierSignatures[start + i]!;
        for (let k = 0; k < signature.length; k++) chunk.writeUInt32LE(signature[k]!, at + HASH_FIELD + ID_FIELD + 4 * k);
      }
      writeSync(this.recordsFd!, chunk, 0, n * this.recordBytes, (this.spilled + start) * this.recordBytes);
    }
    // Keys in record order, then a stable sort by key keeps equal keys in record order.
    const keys: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < count; i++) {
      const position = this.spilled + i;
      keys.push(exactKey(this.tierHashes[i]!));
      values.push(position);
      const signature = this.tierSignatures[i]!;
      if (isEmptySignature(signature)) continue;
      for (let band = 0; band < this.bands; band++) {
        keys.push(band * 2 ** 32 + this.tierIndex.bandKey(signature, band));
        values.push(position);
      }
    }
    const order = Uint32Array.from(keys.keys()).sort((a, b) => keys[a]! - keys[b]! || a - b);
    const writer = new RunWriter(join(this.dir, `run-${this.runCounter++}.bin`));
    for (const i of order) writer.push(keys[i]!, values[i]!);
    this.runs.push(writer.finish(0));
    this.spilled += count;
    this.clearTier();
    while (this.runs.length >= 2 && this.runs.at(-1)!.level === this.runs.at(-2)!.level) this.mergeLastTwo();
  }

  /** Streams the two newest runs into one of the next level (equal keys: the older run's records first). */
  private mergeLastTwo(): void {
    const newer = this.runs.pop()!;
    const older = this.runs.pop()!;
    const writer = new RunWriter(join(this.dir!, `run-${this.runCounter++}.bin`));
    const a = new RunReader(older);
    const b = new RunReader(newer);
    let hasA = a.advance();
    let hasB = b.advance();
    while (hasA || hasB) {
      if (hasA && (!hasB || a.key < b.key || (a.key === b.key && a.value <= b.value))) {
        writer.push(a.key, a.value);
        hasA = a.advance();
      } else {
        writer.push(b.key, b.value);
        hasB = b.advance();
      }
    }
    this.runs.push(writer.finish(older.level + 1));
    for (const run of [older, newer]) {
      closeSync(run.fd);
      rmSync(run.path, { force: true });
    }
  }
}
