/**
 * Reads one corpus file as a stream of documents, holding at most one line (and, for text, one document) in memory:
 * plain text and markdown (one document per file, or several separated by lines reading `<|endoftext|>`, the GPT-2
 * corpus convention) and JSONL with one {"text", "title"?, …} per line (other fields are kept as metadata, as the
 * document upload does). What cannot be read is reported with its file and line, and reading goes on: a JSONL line that
 * is not valid UTF-8, not JSON or has no text is skipped; in a text file the bad line is left out of its document.
 */
import { z } from "zod";
import { formatOf } from "../bridges/qa/document-upload.ts";
import { MAX_DOCUMENT_CHARS, MAX_TITLE_CHARS } from "../bridges/qa/document-upload.ts";
import { describeDisallowed } from "../lib/unsafe-text.ts";

export const corpusFormats = ["auto", "text", "markdown", "jsonl"] as const;
export type CorpusFormat = (typeof corpusFormats)[number];
export const DOCUMENT_SEPARATOR = "<|endoftext|>";
/** A JSONL line may hold a whole document: MAX_DOCUMENT_CHARS characters at up to 4 UTF-8 bytes, plus JSON escapes. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const MAX_METADATA_JSON_CHARS = 16_000;

export type ReadDocument = { fileName: string; line: number; title: string | null; text: string; metadata: Record<string, unknown> };
export type ReadIssue = { fileName: string; line: number; message: string };
export type ReadStats = { bytes: number; lines: number; documents: number; issues: number };

type Line = { line: number; text: string } | { line: number; error: string };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Splits a byte stream into lines (LF or CRLF) and decodes each on its own, so one wrongly encoded line is reported by
 * number instead of failing (or silently mangling) the file. A UTF-16 file is refused at its first bytes.
 */
export async function* readLines(source: AsyncIterable<Uint8Array>, stats: ReadStats, maxBytes = Infinity): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let overlong = false;
  let line = 0;
  let first = true;
  const finish = (): Line | null => {
    line++;
    stats.lines = line;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partBytes);
    parts = [];
    partBytes = 0;
    if (overlong) {
      overlong = false;
      return { line, error: `the line is longer than ${MAX_LINE_BYTES / 1024 / 1024} MB` };
    }
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    let start = 0;
    if (line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    try {
      return { line, text: utf8.decode(bytes.subarray(start, end)) };
    } catch {
      return { line, error: "the line is not valid UTF-8 text (save the file as UTF-8)" };
    }
  };
  for await (const chunk of source) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    stats.bytes += buffer.length;
    if (stats.bytes > maxBytes) throw new RangeError(`more than ${maxBytes} bytes`);
    if (first && buffer.length > 0) {
      first = false;
      if ((buffer[0] === 0xff && buffer[1] === 0xfe) || (buffer[0] === 0xfe && buffer[1] === 0xff)) {
        yield { line: 0, error: "the file is UTF-16 text; save it as UTF-8" };
        return;
      }
    }
    let start = 0;
    for (let newline = buffer.indexOf(0x0a, start); newline !== -1; newline = buffer.indexOf(0x0a, start)) {
      if (!overlong) parts.push(buffer.subarray(start, newline));
      partBytes += newline - start;
      if (partBytes > MAX_LINE_BYTES) overlong = true;
      const done = finish();
      if (done) yield done;
      start = newline + 1;
    }
    if (start < buffer.length) {
      partBytes += buffer.length - start;
      if (partBytes > MAX_LINE_BYTES) {
        overlong = true;
        parts = [];
      }
      // Copied: the stream may reuse its chunk's memory once we hand it back.
      if (!overlong) parts.push(Buffer.from(buffer.subarray(start)));
    }
  }
  if (partBytes > 0 || overlong) {
    const done = finish();
    if (done) yield done;
  }
}

const jsonlLineSchema = z
  .object({
    text: z.string({ error: '"text" is missing or not a string' }),
    title: z.string({ error: '"title" must be a string' }).max(MAX_TITLE_CHARS, `"title" is longer than ${MAX_TITLE_CHARS} characters`).nullable().optional(),
    metadata: z.record(z.string(), z.unknown(), { error: '"metadata" must be an object' }).optional(),
  })
  .loose();

const stem = (fileName: string) => fileName.replace(/^.*[\\/]/, "").replace(/\.[^.]+$/, "") || fileName;

/**
 * Every document of one file, in order, through `onDocument` (awaited, so a slow database slows the reading instead of
 * filling memory); every problem through `onIssue`.
 */
export async function readCorpusFile(
  source: AsyncIterable<Uint8Array>,
  file: { name: string; format: CorpusFormat; maxBytes?: number },
  onDocument: (doc: ReadDocument) => Promise<void> | void,
  onIssue: (issue: ReadIssue) => Promise<void> | void,
): Promise<ReadStats> {
  const stats: ReadStats = { bytes: 0, lines: 0, documents: 0, issues: 0 };
  const format = formatOf(file.name, file.format);
  const issue = async (line: number, message: string) => {
    stats.issues++;
    await onIssue({ fileName: file.name, line, message });
  };
  const emit = async (doc: ReadDocument) => {
    if (doc.text.trim() === "") return;
    stats.documents++;
    await onDocument(doc);
  };

  if (format === "jsonl") {
    for await (const read of readLines(source, stats, file.maxBytes)) {
      if ("error" in read) {
        await issue(read.line, read.error);
        if (read.line === 0) break;
        continue;
      }
      if (read.text.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(read.text);
      } catch (error) {
        await issue(read.line, `not valid JSON (${(error as Error).message})`);
        continue;
      }
      if (!value || typeof value !== "object" || Array.isArray(value)) {
        await issue(read.line, 'must be a JSON object like {"text": "…"}');
        continue;
      }
      const parsed = jsonlLineSchema.safeParse(value);
      if (!parsed.success) {
        await issue(read.line, parsed.error.issues.map((i) => i.message).join("; "));
        continue;
      }
      const { text, title, metadata, ...extra } = parsed.data;
      const allMetadata = { ...extra, ...metadata };
      // A `\u0000` escape decodes to a NUL that PostgreSQL cannot store (decision 0022).
      const unsafe = describeDisallowed(text) ?? describeDisallowed(title ?? "") ?? describeDisallowed(JSON.stringify(allMetadata));
      if (unsafe) {
        await issue(read.line, `contains ${unsafe}`);
        continue;
      }
      if (text.length > MAX_DOCUMENT_CHARS) {
        await issue(read.line, `the document has ${text.length.toLocaleString("en")} characters; the limit is ${MAX_DOCUMENT_CHARS.toLocaleString("en")}`);
        continue;
      }
      if (JSON.stringify(allMetadata).length > MAX_METADATA_JSON_CHARS) {
        await issue(read.line, `the metadata is larger than ${MAX_METADATA_JSON_CHARS} characters of JSON`);
        continue;
      }
      await emit({ fileName: file.name, line: read.line, title: title?.trim() || null, text, metadata: allMetadata });
    }
    return stats;
  }

  // Text and markdown: lines gather into the current document until a separator line or the end of the file.
  let lines: string[] = [];
  let chars = 0;
  let startLine = 1;
  let tooLong = false;
  let part = 0;
  const flush = async (nextStart: number) => {
    if (tooLong) await issue(startLine, `the document starting here is longer than ${MAX_DOCUMENT_CHARS.toLocaleString("en")} characters; split it with ${DOCUMENT_SEPARATOR} lines`);
    else if (lines.length > 0) {
      part++;
      await emit({ fileName: file.name, line: startLine, title: `${stem(file.name)}${part > 1 ? ` #${part}` : ""}`, text: lines.join("\n").trim(), metadata: { format } });
    }
    lines = [];
    chars = 0;
    tooLong = false;
    startLine = nextStart;
  };
  for await (const read of readLines(source, stats, file.maxBytes)) {
    if ("error" in read) {
      await issue(read.line, read.error);
      if (read.line === 0) return stats;
      continue;
    }
    if (read.text.trim() === DOCUMENT_SEPARATOR) {
      await flush(read.line + 1);
      continue;
    }
    const unsafe = describeDisallowed(read.text);
    if (unsafe) {
      await issue(read.line, `contains ${unsafe}; the line is left out`);
      continue;
    }
    if (tooLong) continue;
    if (lines.length === 0 && read.text.trim() === "") {
      startLine = read.line + 1;
      continue;
    }
    chars += read.text.length + 1;
    if (chars > MAX_DOCUMENT_CHARS) {
      tooLong = true;
      lines = [];
      continue;
    }
    lines.push(read.text);
  }
  await flush(stats.lines + 1);
  return stats;
}
