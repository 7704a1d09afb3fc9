import { CsvError, parse } from "csv-parse/sync";
import { MAX_COMPLETIONS, normalizeImportRecord, type ImportIssue, type ImportRecord } from "./import-record.ts";

export type ImportFormat = "jsonl" | "csv" | "json";
export type ParsedImportFile = { records: ImportRecord[]; issues: ImportIssue[]; format: ImportFormat };

const BOM = "\uFEFF";

/** Extension first (the user told us), then the first non-space character (a pasted or extension-less upload). */
export function detectImportFormat(content: string, filename?: string): ImportFormat {
  const extension = filename?.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  if (extension === "jsonl" || extension === "ndjson") return "jsonl";
  if (extension === "json") return "json";
  if (extension === "csv" || extension === "tsv") return "csv";
  const text = content.startsWith(BOM) ? content.slice(1) : content;
  const first = text.match(/\S/)?.[0];
  if (first === "[") return "json";
  if (first !== "{") return "csv";
  // "{" starts both JSONL and { "prompts": [...] }. JSON.parse on JSONL fails at the second line, so this stays cheap.
  try {
    const whole: unknown = JSON.parse(text);
    const singleLine = text.trim().split(/\r?\n/).length === 1;
    return typeof whole === "object" && whole !== null && "prompts" in whole ? "json" : singleLine ? "jsonl" : "json";
  } catch {
    return "jsonl";
  }
}

export function parseImportFile(content: string, format: ImportFormat | "auto", filename?: string): ParsedImportFile {
  const resolved = format === "auto" ? detectImportFormat(content, filename) : format;
  const text = content.startsWith(BOM) ? content.slice(1) : content;
  const result = resolved === "jsonl" ? parseJsonl(text) : resolved === "json" ? parseJson(text) : parseCsv(text);
  if (result.records.length === 0 && result.issues.length === 0) result.issues.push({ line: 0, reason: "the file holds no records" });
  return { ...result, format: resolved };
}

type Collected = { records: ImportRecord[]; issues: ImportIssue[] };

function collect(into: Collected, raw: unknown, line: number): void {
  const outcome = normalizeImportRecord(raw, line);
  if (outcome.ok) into.records.push(outcome.record);
  else into.issues.push(outcome.issue);
}

function parseJsonl(text: string): Collected {
  const out: Collected = { records: [], issues: [] };
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const source = lines[index] ?? "";
    if (source.trim() === "") continue;
    let raw: unknown;
    try {
      raw = JSON.parse(source);
    } catch (error) {
      out.issues.push({ line: index + 1, reason: `invalid JSON: ${(error as Error).message}` });
      continue;
    }
    collect(out, raw, index + 1);
  }
  return out;
}

/** V8 reports "at position N"; the user wants a line number. */
function lineOfPosition(text: string, message: string): number {
  const position = Number(message.match(/position (\d+)/)?.[1]);
  if (!Number.isFinite(position)) return 0;
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function parseJson(text: string): Collected {
  const out: Collected = { records: [], issues: [] };
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    out.issues.push({ line: lineOfPosition(text, message), reason: `invalid JSON: ${message}` });
    return out;
  }
  let items: unknown = root;
  if (typeof root === "object" && root !== null && !Array.isArray(root) && "prompts" in root) {
    const extra = Object.keys(root).filter((key) => key !== "prompts");
    if (extra.length > 0) out.issues.push({ line: 0, reason: `unknown top-level key${extra.length > 1 ? "s" : ""} ${extra.map((k) => `"${k}"`).join(", ")}; allowed: prompts` });
    items = (root as { prompts: unknown }).prompts;
  }
  if (!Array.isArray(items)) {
    out.issues.push({ line: 0, reason: 'a JSON file must hold an array of records or { "prompts": [...] } (for one record per line, use JSONL)' });
    return out;
  }
  // JSON records are numbered by array position: a pretty-printed file has no useful per-record line.
  items.forEach((item, index) => collect(out, item, index + 1));
  return out;
}

const completionColumns = ["completion", ...Array.from({ length: MAX_COMPLETIONS }, (_, i) => `completion_${i + 1}`)];
const csvColumns = ["prompt", "messages", "system", "source", "model", "metadata", ...completionColumns];

/** Excel in many locales writes ";" and some tools write tabs; the header line tells which. */
function sniffDelimiter(text: string): string {
  const header = text.slice(0, text.search(/\r?\n|$/));
  if (header.includes(",")) return ",";
  if (header.includes("\t")) return "\t";
  if (header.includes(";")) return ";";
  return ",";
}

function parseCsv(text: string): Collected {
  const out: Collected = { records: [], issues: [] };
  const rows: { cells: string[]; startLine: number }[] = [];
  // csv-parse's own line counter counts a CRLF inside a quoted cell as two lines, so lines are counted from the cells themselves.
  let nextLine = 1;
  let syntaxError: CsvError | undefined;
  try {
    // on_record keeps what was read before a syntax error, which the sync API would otherwise throw away.
    parse(text, {
      delimiter: sniffDelimiter(text),
      relax_column_count: true,
      skip_empty_lines: false,
      on_record: (record: string[]) => {
        rows.push({ cells: record, startLine: nextLine });
        nextLine += 1 + record.reduce((breaks, cell) => breaks + (cell.match(/\r\n|\r|\n/g)?.length ?? 0), 0);
        return null;
      },
    });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    syntaxError = error;
  }

  const [header, ...data] = rows;
  if (!header) {
    if (syntaxError) out.issues.push({ line: 1, reason: `CSV syntax error: ${syntaxError.message}` });
    return out;
  }
  const names = header.cells.map((cell) => cell.trim().toLowerCase());
  const unknownColumns = names.filter((name) => !csvColumns.includes(name));
  const duplicates = names.filter((name, i) => names.indexOf(name) !== i);
  if (unknownColumns.length > 0) {
    out.issues.push({
      line: header.startLine,
      reason: `unknown column${unknownColumns.length > 1 ? "s" : ""} ${unknownColumns.map((n) => `"${n}"`).join(", ")} (ignored if you import the valid lines); allowed: prompt or messages, system, source, model, metadata, completion or completion_1..completion_${MAX_COMPLETIONS}`,
    });
  }
  if (duplicates.length > 0) out.issues.push({ line: header.startLine, reason: `duplicate column${duplicates.length > 1 ? "s" : ""} ${[...new Set(duplicates)].map((n) => `"${n}"`).join(", ")}` });
  if (!names.includes("prompt") && !names.includes("messages")) {
    out.issues.push({ line: header.startLine, reason: 'the header needs a "prompt" column (or a "messages" column holding a JSON array)' });
    return out;
  }
  if (duplicates.length > 0) return out;

  for (const row of data) {
    // A quoted cell may span lines; the row is reported at the line where it starts, which is what an editor shows.
    const line = row.startLine;
    if (row.cells.every((cell) => cell.trim() === "")) continue;
    if (row.cells.length > names.length) {
      out.issues.push({ line, reason: `the row has ${row.cells.length} cells but the header has ${names.length} columns (an unquoted comma?)` });
      continue;
    }
    const cell = (name: string): string | undefined => {
      const index = names.indexOf(name);
      const value = index >= 0 ? row.cells[index] : undefined;
      return value === undefined || value.trim() === "" ? undefined : value;
    };
    const raw: Record<string, unknown> = {};
    const jsonProblems: string[] = [];
    const jsonCell = (name: string): unknown => {
      const value = cell(name);
      if (value === undefined) return undefined;
      try {
        return JSON.parse(value);
      } catch (error) {
        jsonProblems.push(`${name}: invalid JSON: ${(error as Error).message}`);
        return undefined;
      }
    };
    // An empty prompt cell is reported as an error rather than skipped: the row has other cells, so something was meant.
    const messages = jsonCell("messages");
    const promptIndex = names.indexOf("prompt");
    const prompt = promptIndex >= 0 ? (row.cells[promptIndex] ?? "") : undefined;
    if (messages !== undefined) raw.messages = messages;
    if (prompt !== undefined && (messages === undefined || prompt.trim() !== "")) raw.prompt = prompt;
    for (const name of ["system", "source", "model"] as const) {
      const value = cell(name);
      if (value !== undefined) raw[name] = value;
    }
    const metadata = jsonCell("metadata");
    if (metadata !== undefined) raw.metadata = metadata;
    const completions = completionColumns.map(cell).filter((value): value is string => value !== undefined);
    if (completions.length > 0) raw.completions = completions;
    if (jsonProblems.length > 0) {
      out.issues.push({ line, reason: jsonProblems.join("; ") });
      continue;
    }
    collect(out, raw, line);
  }
  if (syntaxError) {
    out.issues.push({ line: nextLine, reason: `CSV syntax error: ${syntaxError.message}; rows from here on were not read` });
  }
  return out;
}
