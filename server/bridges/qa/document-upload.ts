/**
 * Reads an upload of documents: plain text, markdown, or JSONL with one document per line
 * ({"title", "text"}, optionally "format" and "metadata"). Pure: every problem is reported with
 * its file and line, and the caller stores nothing unless there are none.
 */
import { findDisallowed } from "../../lib/unsafe-text.ts";
import { createHash } from "node:crypto";
import { z } from "zod";
import { chunkDocument, DEFAULT_CHUNK_CHARS, MAX_CHUNK_CHARS, MIN_CHUNK_CHARS, type Chunk, type DocumentFormat } from "./chunking.ts";

export const MAX_DOCUMENT_CHARS = 1_000_000;
export const MAX_FILES_PER_UPLOAD = 50;
export const MAX_DOCUMENTS_PER_UPLOAD = 10_000;
export const MAX_CHUNKS_PER_UPLOAD = 20_000;
export const MAX_TITLE_CHARS = 300;
const MAX_METADATA_JSON_CHARS = 16_000;

export const documentUploadSchema = z.object({
  files: z
    .array(
      z.object({
        name: z.string().trim().min(1, "Name the file.").max(200),
        /** auto: by the file name's extension (.md/.markdown, .jsonl/.ndjson, anything else is plain text). */
        format: z.enum(["auto", "text", "markdown", "jsonl"]).default("auto"),
        content: z.string(),
      }),
    )
    .min(1, "Choose at least one file.")
    .max(MAX_FILES_PER_UPLOAD, `Upload at most ${MAX_FILES_PER_UPLOAD} files at once.`),
  chunkChars: z.number().int().min(MIN_CHUNK_CHARS).max(MAX_CHUNK_CHARS).default(DEFAULT_CHUNK_CHARS),
});
export type DocumentUpload = z.infer<typeof documentUploadSchema>;

export type ParsedDocument = {
  name: string;
  format: DocumentFormat;
  fileName: string;
  line: number | null;
  content: string;
  sha256: string;
  metadata: Record<string, unknown>;
  chunks: Chunk[];
};
export type UploadIssue = { path: string; message: string };

const jsonlLineSchema = z
  .object({
    title: z.string({ error: '"title" must be a string' }).max(MAX_TITLE_CHARS, `"title" is longer than ${MAX_TITLE_CHARS} characters`).optional().nullable(),
    text: z.string({ error: '"text" is missing or not a string' }),
    format: z.enum(["text", "markdown"], { error: '"format" must be "text" or "markdown"' }).optional(),
    metadata: z.record(z.string(), z.unknown(), { error: '"metadata" must be an object' }).optional(),
  })
  .loose();

export function documentSha256(text: string): string {
  return createHash("sha256").update(normalizeText(text), "utf8").digest("hex");
}

const normalizeText = (text: string) => text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").trim();

export function formatOf(name: string, format: DocumentUpload["files"][number]["format"]): DocumentFormat | "jsonl" {
  if (format !== "auto") return format;
  const lower = name.toLowerCase();
  if (/\.(md|markdown|mdx)$/.test(lower)) return "markdown";
  if (/\.(jsonl|ndjson)$/.test(lower)) return "jsonl";
  return "text";
}

/** Every document of the upload with its chunks, or every problem in it (file and line named). */
export function parseDocumentUpload(upload: DocumentUpload): { documents: ParsedDocument[]; issues: UploadIssue[] } {
  const documents: ParsedDocument[] = [];
  const issues: UploadIssue[] = [];
  const add = (doc: Omit<ParsedDocument, "sha256" | "chunks">, where: string) => {
    if (doc.content.trim() === "") return issues.push({ path: where, message: "The document is empty." });
    // A `\u0000` escape in a JSONL line becomes a NUL that PostgreSQL cannot store (decision 0022).
    const unsafe = findDisallowed({ title: doc.name, text: doc.content, metadata: doc.metadata });
    if (unsafe) return issues.push({ path: where, message: `"${unsafe.path}" contains ${unsafe.problem}.` });
    if (doc.content.length > MAX_DOCUMENT_CHARS) {
      return issues.push({ path: where, message: `The document has ${doc.content.length.toLocaleString("en")} characters; the limit is ${MAX_DOCUMENT_CHARS.toLocaleString("en")}. Split it into smaller files.` });
    }
    const content = normalizeText(doc.content);
    documents.push({ ...doc, content, sha256: documentSha256(content), chunks: chunkDocument(content, doc.format, upload.chunkChars) });
  };

  for (const file of upload.files) {
    const format = formatOf(file.name, file.format);
    if (format !== "jsonl") {
      add({ name: stripExtension(file.name), format, fileName: file.name, line: null, content: file.content, metadata: {} }, file.name);
      continue;
    }
    const lines = file.content.replace(/^\uFEFF/, "").split(/\r?\n/);
    let found = 0;
    lines.forEach((raw, i) => {
      const line = i + 1;
      const where = `${file.name} line ${line}`;
      if (raw.trim() === "") return;
      found++;
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch (error) {
        return issues.push({ path: where, message: `not valid JSON (${(error as Error).message})` });
      }
      if (!value || typeof value !== "object" || Array.isArray(value)) return issues.push({ path: where, message: 'must be a JSON object like {"title": "…", "text": "…"}' });
      const parsed = jsonlLineSchema.safeParse(value);
      if (!parsed.success) return issues.push({ path: where, message: parsed.error.issues.map((issue) => issue.message).join("; ") });
      const { title, text, format: lineFormat, metadata, ...extra } = parsed.data;
      // Other top-level fields (id, url, source, …) are kept as metadata, like the prompt import does.
      const allMetadata = { ...extra, ...metadata };
      if (JSON.stringify(allMetadata).length > MAX_METADATA_JSON_CHARS) return issues.push({ path: where, message: `the metadata is larger than ${MAX_METADATA_JSON_CHARS} characters of JSON` });
      const name = title?.trim() || `${stripExtension(file.name)} #${line}`;
      add({ name, format: lineFormat ?? "text", fileName: file.name, line, content: text, metadata: allMetadata }, where);
    });
    if (found === 0) issues.push({ path: file.name, message: "The file is empty." });
  }

  if (documents.length > MAX_DOCUMENTS_PER_UPLOAD) issues.push({ path: "(upload)", message: `The upload holds ${documents.length} documents; the limit is ${MAX_DOCUMENTS_PER_UPLOAD}.` });
  const chunkCount = documents.reduce((sum, d) => sum + d.chunks.length, 0);
  if (chunkCount > MAX_CHUNKS_PER_UPLOAD) {
    issues.push({ path: "(upload)", message: `The upload makes ${chunkCount} chunks; the limit is ${MAX_CHUNKS_PER_UPLOAD}. Upload fewer documents at once or raise the chunk size.` });
  }
  return { documents, issues };
}

function stripExtension(name: string): string {
  const base = name.replace(/^.*[\\/]/, "");
  const stripped = base.replace(/\.[^.]+$/, "");
  return stripped || base;
}
