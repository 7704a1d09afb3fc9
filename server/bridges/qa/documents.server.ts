/**
 * Storing and listing a project's documents and their chunks. An upload is all-or-nothing: any
 * problem in any file refuses the whole upload, with every problem's file and line. A document
 * already in the project (same text) is skipped and reported, not stored twice.
 */
import { sql } from "kysely";
import { recordAudit } from "../../auth/audit.server.ts";
import type { Db } from "../../db/database.server.ts";
import type { ChunkStatus } from "../../db/schema.ts";
import { AppError } from "../../lib/app-error.ts";
import { parseDocumentUpload, type DocumentUpload } from "./document-upload.ts";

export type UploadReport = {
  documents: Array<{ id: string; name: string; chunks: number }>;
  skipped: Array<{ name: string; path: string; reason: string }>;
};

const INSERT_BATCH = 1_000;

export async function uploadDocuments(db: Db, actorId: string, projectId: string, upload: DocumentUpload): Promise<UploadReport> {
  const { documents, issues } = parseDocumentUpload(upload);
  if (issues.length > 0) {
    throw new AppError("validation_failed", `The upload has ${issues.length} problem${issues.length === 1 ? "" : "s"}; nothing was stored.`, issues.slice(0, 100));
  }
  const report: UploadReport = { documents: [], skipped: [] };
  try {
    await db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom("documents")
        .select(["id", "name", "sha256"])
        .where("project_id", "=", projectId)
        .where("sha256", "in", [...new Set(documents.map((d) => d.sha256))])
        .execute();
      const known = new Map(existing.map((row) => [row.sha256, `already in the project as "${row.name}" (document ${row.id})`]));
      for (const doc of documents) {
        const where = doc.line === null ? doc.fileName : `${doc.fileName} line ${doc.line}`;
        const duplicate = known.get(doc.sha256);
        if (duplicate) {
          report.skipped.push({ name: doc.name, path: where, reason: duplicate });
          continue;
        }
        known.set(doc.sha256, `the same text as "${doc.name}" earlier in this upload`);
        const row = await trx
          .insertInto("documents")
          .values({
            project_id: projectId,
            name: doc.name,
            format: doc.format,
            file_name: doc.fileName,
            line: doc.line,
            content: doc.content,
            sha256: doc.sha256,
            metadata: JSON.stringify(doc.metadata),
            created_by: actorId,
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        for (let start = 0; start < doc.chunks.length; start += INSERT_BATCH) {
          await trx
            .insertInto("document_chunks")
            .values(doc.chunks.slice(start, start + INSERT_BATCH).map((c) => ({ document_id: row.id, project_id: projectId, index: c.index, heading: c.heading, text: c.text })))
            .execute();
        }
        report.documents.push({ id: row.id, name: doc.name, chunks: doc.chunks.length });
      }
      await recordAudit(trx, {
        actorUserId: actorId,
        action: "documents.upload",
        target: `project:${projectId}`,
        details: { files: upload.files.map((f) => f.name), documents: report.documents.length, skipped: report.skipped.length },
      });
    });
  } catch (error) {
    if ((error as { code?: string }).code === "23505") throw new AppError("conflict", "Another upload added some of these documents meanwhile; nothing was stored. Try again.");
    throw error;
  }
  return report;
}

export type DocumentSummary = {
  id: string;
  name: string;
  format: string;
  file_name: string;
  line: number | null;
  created_at: Date;
  chunks: Record<ChunkStatus, number>;
  generated: number;
};

export async function listDocuments(db: Db, projectId: string): Promise<DocumentSummary[]> {
  const docs = await db
    .selectFrom("documents")
    .select(["id", "name", "format", "file_name", "line", "created_at"])
    .where("project_id", "=", projectId)
    .orderBy("id", "desc")
    .limit(1_000)
    .execute();
  const counts = await db
    .selectFrom("document_chunks")
    .select(["document_id", "status", sql<string>`count(*)`.as("n"), sql<string>`sum(generated)`.as("generated")])
    .where("project_id", "=", projectId)
    .groupBy(["document_id", "status"])
    .execute();
  const byDoc = new Map<string, { chunks: Record<ChunkStatus, number>; generated: number }>();
  for (const row of counts) {
    const entry = byDoc.get(row.document_id) ?? { chunks: { pending: 0, generating: 0, done: 0, failed: 0 }, generated: 0 };
    entry.chunks[row.status] = Number(row.n);
    entry.generated += Number(row.generated);
    byDoc.set(row.document_id, entry);
  }
  return docs.map((d) => ({ ...d, ...(byDoc.get(d.id) ?? { chunks: { pending: 0, generating: 0, done: 0, failed: 0 }, generated: 0 }) }));
}

export async function getDocument(db: Db, documentId: string) {
  const doc = await db.selectFrom("documents").select(["id", "project_id", "name", "format", "file_name", "line", "metadata", "created_at"]).where("id", "=", documentId).executeTakeFirst();
  if (!doc) throw new AppError("not_found", "No such document.");
  return doc;
}

export async function listChunks(db: Db, documentId: string) {
  return db
    .selectFrom("document_chunks")
    .select(["id", "index", "heading", "text", "status", "error", "generated", "run_id", "updated_at"])
    .where("document_id", "=", documentId)
    .orderBy("index")
    .execute();
}

/** The chunks whose last generation failed, newest first, with their document's name. */
export async function failedChunks(db: Db, projectId: string, limit = 200) {
  return db
    .selectFrom("document_chunks")
    .innerJoin("documents", "documents.id", "document_chunks.document_id")
    .select([
      "document_chunks.id",
      "document_chunks.document_id",
      "documents.name as document_name",
      "document_chunks.index",
      "document_chunks.error",
      "document_chunks.run_id",
      "document_chunks.updated_at",
    ])
    .where("document_chunks.project_id", "=", projectId)
    .where("document_chunks.status", "=", "failed")
    .orderBy("document_chunks.updated_at", "desc")
    .orderBy("document_chunks.id")
    .limit(limit)
    .execute();
}

/** Deletes a document and its chunks; the Q&A already generated from it stays in the project. */
export async function deleteDocument(db: Db, actorId: string, documentId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const running = await trx
      .selectFrom("document_chunks")
      .select("id")
      .where("document_id", "=", documentId)
      .where("status", "=", "generating")
      .executeTakeFirst();
    if (running) throw new AppError("conflict", "A generation is working on this document; cancel it first.");
    const row = await trx.deleteFrom("documents").where("id", "=", documentId).returning(["project_id", "name"]).executeTakeFirst();
    if (!row) throw new AppError("not_found", "No such document.");
    await recordAudit(trx, { actorUserId: actorId, action: "documents.delete", target: `project:${row.project_id}`, details: { documentId, name: row.name } });
  });
}
