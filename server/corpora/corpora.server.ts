/**
 * A project's source corpora: named, licensed, with a provenance note; filled by streamed uploads (one file per
 * request) or read from a folder on the server under TANDEM_CORPUS_DIR. A file is stored in one transaction: its
 * documents and its reading problems (by file and line) land together, or, when the upload breaks off, not at all.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { sql, type Transaction } from "kysely";
import { z } from "zod";
import { recordAudit } from "../auth/audit.server.ts";
import type { Actor } from "../auth/actor.ts";
import type { Config } from "../config.server.ts";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { normalizeForHash } from "../labeling/import/normalize.ts";
import { STORABLE_TEXT_MESSAGE, storableText } from "../lib/unsafe-text.ts";
import { corpusFormats, readCorpusFile, type CorpusFormat, type ReadDocument, type ReadIssue } from "./corpus-reader.ts";

const text = (max: number) => z.string().trim().max(max).refine(storableText, STORABLE_TEXT_MESSAGE);

export const corpusInputSchema = z.strictObject({
  name: text(200).pipe(z.string().min(1, "Name the corpus.")),
  /** SPDX id or words ("CC-BY-4.0", "proprietary, internal use"): what the data may be used for travels with it. */
  license: text(200).pipe(z.string().min(1, "Say under which license the corpus may be used (or \"unknown\").")),
  /** Where it came from: URL, crawl date, who collected it, what was already done to it. */
  provenance: text(4_000).default(""),
});
export type CorpusInput = z.infer<typeof corpusInputSchema>;

export const corpusPathInputSchema = corpusInputSchema.extend({
  /** A file or folder under TANDEM_CORPUS_DIR (relative to it, or absolute inside it); a folder's files are read in name order. */
  path: z.string().trim().min(1, "Give the file or folder.").max(1_000).refine(storableText, STORABLE_TEXT_MESSAGE),
  format: z.enum(corpusFormats).default("auto"),
});

export const uploadQuerySchema = z.object({
  name: z.string().trim().min(1, "Name the file (?name=…).").max(200).refine(storableText, STORABLE_TEXT_MESSAGE),
  format: z.enum(corpusFormats).default("auto"),
});

export type CorpusView = {
  id: string;
  projectId: string;
  name: string;
  license: string;
  provenance: string;
  origin: "upload" | "path";
  path: string | null;
  documents: number;
  bytes: number;
  issues: number;
  createdAt: Date;
};

const columns = ["id", "project_id", "name", "license", "provenance", "origin", "path", "document_count", "byte_count", "issue_count", "created_at"] as const;
type Row = { id: string; project_id: string; name: string; license: string; provenance: string; origin: "upload" | "path"; path: string | null; document_count: number; byte_count: string; issue_count: number; created_at: Date };
const view = (r: Row): CorpusView => ({
  id: r.id, projectId: r.project_id, name: r.name, license: r.license, provenance: r.provenance, origin: r.origin, path: r.path,
  documents: r.document_count, bytes: Number(r.byte_count), issues: r.issue_count, createdAt: r.created_at,
});

/** Problems kept per file; the count goes on. */
export const MAX_STORED_ISSUES_PER_FILE = 1_000;
const INSERT_DOCUMENTS = 500;
const INSERT_CHARS = 4_000_000;

export function corpusRoot(config: Pick<Config, "TANDEM_DATA_DIR" | "TANDEM_CORPUS_DIR">): string {
  return path.resolve(config.TANDEM_CORPUS_DIR ?? path.join(config.TANDEM_DATA_DIR, "corpora"));
}

export const contentHashOf = (value: string) => createHash("sha256").update(normalizeForHash(value), "utf8").digest("hex");

async function insertCorpus(db: Db | Transaction<Database>, actorId: string, projectId: string, input: CorpusInput, origin: "upload" | "path", where: string | null): Promise<Row> {
  try {
    return await db
      .insertInto("corpora")
      .values({ project_id: projectId, name: input.name, license: input.license, provenance: input.provenance, origin, path: where, created_by: actorId })
      .returning([...columns])
      .executeTakeFirstOrThrow();
  } catch (error) {
    if ((error as { code?: string }).code === "23505") {
      throw new AppError("conflict", "The project already has a corpus with this name.", [{ path: "name", message: `"${input.name}" is taken in this project` }]);
    }
    throw error;
  }
}

export async function createCorpus(db: Db, actor: Actor, projectId: string, input: CorpusInput): Promise<CorpusView> {
  return db.transaction().execute(async (trx) => {
    const row = await insertCorpus(trx, actor.user.id, projectId, input, "upload", null);
    await recordAudit(trx, { actor, action: "corpus.create", target: `project:${projectId}`, details: { corpusId: row.id, name: input.name, license: input.license } });
    return view(row);
  });
}

export async function getCorpus(db: Db, corpusId: string): Promise<CorpusView> {
  if (!/^\d{1,18}$/.test(corpusId)) throw new AppError("not_found", "No such corpus.");
  const row = await db.selectFrom("corpora").select([...columns]).where("id", "=", corpusId).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such corpus.");
  return view(row);
}

export async function listCorpora(db: Db, projectId: string): Promise<CorpusView[]> {
  return (await db.selectFrom("corpora").select([...columns]).where("project_id", "=", projectId).orderBy("id").execute()).map(view);
}

export async function listCorpusIssues(db: Db, corpusId: string, limit = 500) {
  return db.selectFrom("corpus_issues").select(["file_name as fileName", "line", "message"]).where("corpus_id", "=", corpusId).orderBy("id").limit(limit).execute();
}

export type FileReport = { file: string; bytes: number; documents: number; issues: number; firstIssues: ReadIssue[] };

/** Reads one file into the corpus inside `trx`, in batches, so memory holds one batch and one line. */
async function storeFile(trx: Transaction<Database>, corpusId: string, source: AsyncIterable<Uint8Array>, file: { name: string; format: CorpusFormat; maxBytes: number }): Promise<FileReport> {
  let batch: ReadDocument[] = [];
  let batchChars = 0;
  const firstIssues: ReadIssue[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await trx
      .insertInto("corpus_documents")
      .values(batch.map((d) => ({ corpus_id: corpusId, file_name: d.fileName, line: d.line, title: d.title, text: d.text, chars: d.text.length, content_hash: contentHashOf(d.text), metadata: JSON.stringify(d.metadata) })))
      .execute();
    batch = [];
    batchChars = 0;
  };
  let stored = 0;
  let stats;
  try {
    stats = await readCorpusFile(
      source,
      file,
      async (doc) => {
        batch.push(doc);
        batchChars += doc.text.length;
        if (batch.length >= INSERT_DOCUMENTS || batchChars >= INSERT_CHARS) await flush();
      },
      async (issue) => {
        if (firstIssues.length < 100) firstIssues.push(issue);
        if (stored++ < MAX_STORED_ISSUES_PER_FILE) await trx.insertInto("corpus_issues").values({ corpus_id: corpusId, file_name: issue.fileName, line: issue.line, message: issue.message }).execute();
      },
    );
  } catch (error) {
    if (error instanceof RangeError) throw new AppError("payload_too_large", `${file.name} is larger than the corpus upload limit (TANDEM_CORPUS_UPLOAD_LIMIT); nothing of it was stored.`);
    throw error;
  }
  await flush();
  await trx
    .updateTable("corpora")
    .set({
      document_count: sql`document_count + ${stats.documents}`,
      byte_count: sql`byte_count + ${stats.bytes}`,
      issue_count: sql`issue_count + ${stats.issues}`,
      updated_at: new Date(),
    })
    .where("id", "=", corpusId)
    .execute();
  return { file: file.name, bytes: stats.bytes, documents: stats.documents, issues: stats.issues, firstIssues };
}

/** One streamed file (the request body) into an uploaded corpus. */
export async function uploadCorpusFile(db: Db, actor: Actor, corpus: CorpusView, source: AsyncIterable<Uint8Array>, file: { name: string; format: CorpusFormat; maxBytes: number }): Promise<FileReport> {
  if (corpus.origin !== "upload") throw new AppError("conflict", "This corpus is read from a folder on the server; upload into a corpus made for uploads.");
  return db.transaction().execute(async (trx) => {
    const report = await storeFile(trx, corpus.id, source, file);
    await recordAudit(trx, { actor, action: "corpus.upload", target: `project:${corpus.projectId}`, details: { corpusId: corpus.id, file: file.name, bytes: report.bytes, documents: report.documents, issues: report.issues } });
    return report;
  });
}

const invalidPath = (message: string) => new AppError("validation_failed", "The corpus was not registered.", [{ path: "path", message }]);

/** The file or folder, resolved through symlinks, refused unless it lies inside the corpus root; a folder gives its files. */
async function filesInside(root: string, given: string): Promise<string[]> {
  const realRoot = await fsp.realpath(root).catch(() => null);
  if (!realRoot) throw invalidPath(`the corpus folder does not exist on the server (set TANDEM_CORPUS_DIR)`);
  const real = await fsp.realpath(path.resolve(realRoot, given)).catch(() => null);
  if (!real) throw invalidPath(`nothing at ${given} under the corpus folder`);
  const relative = path.relative(realRoot, real);
  if (relative.startsWith("..") || path.isAbsolute(relative)) throw invalidPath("must be a file or folder under the corpus folder (TANDEM_CORPUS_DIR)");
  const stat = await fsp.stat(real);
  if (stat.isFile()) return [real];
  if (!stat.isDirectory()) throw invalidPath(`${given} is neither a file nor a folder`);
  const entries = (await fsp.readdir(real, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith(".")).map((e) => e.name).sort();
  if (entries.length === 0) throw invalidPath(`the folder ${given} holds no files`);
  if (entries.length > 10_000) throw invalidPath(`the folder ${given} holds ${entries.length} files; at most 10,000 are read`);
  return entries.map((name) => path.join(real, name));
}

/** Registers a corpus from the server's disk and reads it (streamed, file by file) in one transaction. */
export async function registerCorpusPath(db: Db, config: Pick<Config, "TANDEM_DATA_DIR" | "TANDEM_CORPUS_DIR">, actor: Actor, projectId: string, input: z.infer<typeof corpusPathInputSchema>) {
  const root = corpusRoot(config);
  const files = await filesInside(root, input.path);
  return db.transaction().execute(async (trx) => {
    const row = await insertCorpus(trx, actor.user.id, projectId, input, "path", input.path);
    const reports: FileReport[] = [];
    for (const file of files) {
      const name = path.relative(await fsp.realpath(root), file);
      reports.push(await storeFile(trx, row.id, fs.createReadStream(file, { highWaterMark: 1 << 20 }), { name, format: input.format, maxBytes: Infinity }));
    }
    await recordAudit(trx, { actor, action: "corpus.register", target: `project:${projectId}`, details: { corpusId: row.id, name: input.name, path: input.path, files: files.length } });
    return { corpus: await getCorpusIn(trx, row.id), files: reports };
  });
}

async function getCorpusIn(trx: Transaction<Database>, corpusId: string): Promise<CorpusView> {
  return view(await trx.selectFrom("corpora").select([...columns]).where("id", "=", corpusId).executeTakeFirstOrThrow());
}

/**
 * Deletes a corpus with its documents and cleaning verdicts, unless a round trains on it (round_corpora, which the
 * database also enforces) or a queued or running cleaning job reads it.
 */
export async function deleteCorpus(db: Db, actor: Actor, corpus: CorpusView): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.selectFrom("corpora").select("id").where("id", "=", corpus.id).forUpdate().executeTakeFirst();
    const rounds = await trx.selectFrom("round_corpora").select("round_id").where("corpus_id", "=", corpus.id).orderBy("round_id").execute();
    if (rounds.length > 0) {
      throw new AppError("conflict", `Round${rounds.length === 1 ? "" : "s"} ${rounds.map((r) => r.round_id).join(", ")} use${rounds.length === 1 ? "s" : ""} this corpus; it cannot be deleted.`);
    }
    const jobs = await trx
      .selectFrom("cleaning_jobs")
      .select("id")
      .where("project_id", "=", corpus.projectId)
      .where("state", "in", ["queued", "running"])
      .where(sql<boolean>`settings->'corpusIds' ? ${corpus.id}`)
      .execute();
    if (jobs.length > 0) throw new AppError("conflict", `Cleaning job ${jobs.map((j) => j.id).join(", ")} is reading this corpus; cancel it first.`);
    try {
      await trx.deleteFrom("corpora").where("id", "=", corpus.id).execute();
    } catch (error) {
      if ((error as { code?: string }).code === "23503") throw new AppError("conflict", "A round uses this corpus; it cannot be deleted.");
      throw error;
    }
    await recordAudit(trx, { actor, action: "corpus.delete", target: `project:${corpus.projectId}`, details: { corpusId: corpus.id, name: corpus.name } });
  });
}
