import { parquetReadObjects } from "hyparquet";
import { findDisallowed } from "../../lib/unsafe-text.ts";
import type { Codec } from "./dataset-records.ts";

/**
 * A data file's records with their positions: JSONL (1-based line numbers; blank lines skipped)
 * or Parquet (1-based row numbers), told apart by Parquet's "PAR1" magic bytes.
 */
export type RowIssue = { line: number; reason: string };
export type Rows = { kind: "jsonl" | "parquet"; rows: Array<{ line: number; raw: unknown }>; issues: RowIssue[] };

const BOM = "\uFEFF";

export const isParquet = (bytes: Uint8Array): boolean => bytes.length >= 8 && String.fromCharCode(...bytes.subarray(0, 4)) === "PAR1";
export const isZip = (bytes: Uint8Array): boolean => bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;

export async function readRows(bytes: Uint8Array): Promise<Rows> {
  return isParquet(bytes) ? readParquet(bytes) : readJsonl(new TextDecoder("utf-8", { fatal: false }).decode(bytes));
}

export function readJsonl(content: string): Rows {
  const text = content.startsWith(BOM) ? content.slice(1) : content;
  const out: Rows = { kind: "jsonl", rows: [], issues: [] };
  text.split(/\r?\n/).forEach((source, index) => {
    if (source.trim() === "") return;
    try {
      out.rows.push({ line: index + 1, raw: JSON.parse(source) });
    } catch (error) {
      out.issues.push({ line: index + 1, reason: `invalid JSON: ${(error as Error).message}` });
    }
  });
  return out;
}

async function readParquet(bytes: Uint8Array): Promise<Rows> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const objects = await parquetReadObjects({ file });
    return { kind: "parquet", rows: objects.map((raw, i) => ({ line: i + 1, raw: withNumbers(raw) })), issues: [] };
  } catch (error) {
    return { kind: "parquet", rows: [], issues: [{ line: 0, reason: `not a readable Parquet file: ${(error as Error).message}` }] };
  }
}

/** Parquet INT64 arrives as bigint; JSON (and the records) want numbers. */
function withNumbers(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(withNumbers);
  if (value !== null && typeof value === "object" && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withNumbers(v)]));
  }
  return value;
}

/** Every row through a codec: the valid items with their line, and one issue per invalid row. */
export function decodeRows<T>(rows: Rows, codec: Codec<T>): { items: Array<{ line: number; item: T }>; issues: RowIssue[] } {
  const items: Array<{ line: number; item: T }> = [];
  const issues = [...rows.issues];
  for (const { line, raw } of rows.rows) {
    // PostgreSQL cannot store NUL nor a lone surrogate: the row is refused, naming the field (decision 0022).
    const unsafe = findDisallowed(raw);
    if (unsafe) {
      issues.push({ line, reason: `${unsafe.path} contains ${unsafe.problem}` });
      continue;
    }
    const decoded = codec.decode(raw);
    if (decoded.ok) items.push({ line, item: decoded.item });
    else issues.push({ line, reason: decoded.reason });
  }
  if (rows.rows.length === 0 && rows.issues.length === 0) issues.push({ line: 0, reason: "the file holds no records" });
  issues.sort((a, b) => a.line - b.line);
  return { items, issues };
}
