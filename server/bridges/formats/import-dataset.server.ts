import type { Readable } from "node:stream";
import { sql } from "kysely";
import { z } from "zod";
import { recordAudit } from "../../auth/audit.server.ts";
import type { Db } from "../../db/database.server.ts";
import { importPromptRecords, type ImportReport } from "../../labeling/import-prompts.server.ts";
import type { ImportPlanCounts } from "../../labeling/import/plan-import.ts";
import type { Project } from "../../labeling/projects.server.ts";
import { AppError } from "../../lib/app-error.ts";
import { datasetKinds, type DatasetItem, type DatasetKind } from "./dataset-records.ts";
import { codecFor, datasetOptionsSchema, type DataFormat, type DatasetOptions, type FileFormat } from "./dataset-files.server.ts";
import { unzipDataset } from "./hf-layout.ts";
import { openRlhfOptionShape } from "./openrlhf-format.ts";
import { decodeRows, isZip, readRows, type RowIssue } from "./read-rows.ts";
import { storeLabeled, type LabeledImport } from "./store-labeled.server.ts";
import { verlOptionsSchema } from "./verl-format.ts";
import { answerMessages, describeProblems, undeclaredToolProblems, type Answer } from "../../labeling/transcript.ts";
import type { PreferenceItem, SftItem, UnpairedItem } from "./dataset-records.ts";

const flag = z.enum(["true", "false"]).default("false").transform((v) => v === "true");

/** The import's options, in the query string (the body is the file itself). */
export const datasetImportQuerySchema = z.object({
  /** What the records are; an hf zip's card says it itself. */
  dataset: z.enum(datasetKinds).optional(),
  filename: z.string().max(200).optional(),
  /** false: only report what would happen (the preview). */
  commit: flag,
  /** A file with invalid records imports nothing unless this is set. */
  importValidLines: flag,
  /** prompts only: near duplicates are left out unless this is set. */
  includeNearDuplicates: flag,
  ...openRlhfOptionShape,
  ...verlOptionsSchema.shape,
  /** hf only: the format of the data files when the card does not say. */
  data: z.enum(["trl", "openrlhf", "verl"]).optional(),
});
export type DatasetImportQuery = z.infer<typeof datasetImportQuerySchema>;

export type DatasetImportReport = ImportReport & { dataset: DatasetKind };

const REPORT_ITEMS = 500;

/** The request body, refused past `maxBytes` while it arrives (a chunked upload has no Content-Length). */
export async function readUpload(source: Readable, maxBytes: number, label: string): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of source) {
    bytes += (chunk as Buffer).length;
    if (bytes > maxBytes) throw new AppError("payload_too_large", `The file is larger than ${label} (TANDEM_IMPORT_LIMIT).`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

type Decoded = { dataset: DatasetKind; format: string; items: Array<{ line: number; item: unknown }>; issues: RowIssue[] };

async function decodeFile(format: FileFormat, bytes: Uint8Array, query: DatasetImportQuery): Promise<Decoded> {
  if (bytes.length === 0) throw new AppError("validation_failed", "The file is empty.");
  if (format !== "hf") {
    // A veRL file is always a prompt set.
    const dataset = query.dataset ?? (format === "verl" ? "prompts" : undefined);
    if (!dataset) throw new AppError("validation_failed", "Say which dataset the file holds.", [{ path: "dataset", message: `one of ${datasetKinds.join(", ")}` }]);
    const codec = codecFor(format, dataset, asOptions(query));
    const rows = await readRows(bytes);
    return { dataset, format: `${format} (${rows.kind})`, ...decodeRows(rows, codec) };
  }
  if (!isZip(bytes)) throw new AppError("validation_failed", "A Hugging Face dataset is imported as a .zip of its folder (README.md and data/).");
  let folder: ReturnType<typeof unzipDataset>;
  try {
    folder = unzipDataset(bytes);
  } catch (error) {
    throw new AppError("validation_failed", `The zip cannot be read: ${(error as Error).message}.`);
  }
  const card = folder.card?.tandem ?? null;
  const dataset = (datasetKinds as readonly string[]).includes(String(card?.dataset)) ? (card!.dataset as DatasetKind) : query.dataset;
  if (!dataset) throw new AppError("validation_failed", "The dataset card does not say which dataset this is; choose one.", [{ path: "dataset", message: `one of ${datasetKinds.join(", ")}` }]);
  const data: DataFormat = query.data ?? (["trl", "openrlhf", "verl"].includes(String(card?.format)) ? (card!.format as DataFormat) : "trl");
  // The card records the options the files were written with; they win over the defaults.
  const options = asOptions({ ...query, ...(card?.format === data && card.options ? card.options : {}) });
  const codec = codecFor(data, dataset, options);
  if (folder.files.length === 0) throw new AppError("validation_failed", "The zip holds no data files (data/*.jsonl, data/*.parquet or the files its card names).");
  const out: Decoded = { dataset, format: `hf: ${data} (${folder.files.map((f) => f.path).join(", ")})`, items: [], issues: [] };
  for (const file of folder.files) {
    const decoded = decodeRows(await readRows(file.bytes), codec);
    out.items.push(...decoded.items);
    out.issues.push(...decoded.issues.map((issue) => ({ line: issue.line, reason: `${file.path}: ${issue.reason}` })));
  }
  return out;
}

/**
 * A record whose answer calls a tool the project does not declare becomes an issue of its line
 * (the call named), like any invalid record: the project's tasks could never run that tool.
 */
function refuseUndeclaredTools(decoded: Decoded, tools: readonly string[]): Decoded {
  if (decoded.dataset === "prompts") return decoded;
  const answers = (item: unknown): Array<[string, Answer]> => {
    if (decoded.dataset === "preferences") return [["chosen", (item as PreferenceItem).chosen], ["rejected", (item as PreferenceItem).rejected]];
    if (decoded.dataset === "sft") return [["prompt", (item as SftItem).prompt], ["completion", (item as SftItem).completion]];
    return [["completion", (item as UnpairedItem).completion]];
  };
  const issues = [...decoded.issues];
  const items = decoded.items.filter(({ line, item }) => {
    const reason = answers(item)
      .map(([key, answer]) => describeProblems(undeclaredToolProblems(answerMessages(answer), tools), key))
      .filter((r) => r !== "")
      .join("; ");
    if (reason) issues.push({ line, reason });
    return reason === "";
  });
  issues.sort((a, b) => a.line - b.line);
  return { ...decoded, items, issues };
}

function asOptions(values: Record<string, unknown>): DatasetOptions {
  const parsed = datasetOptionsSchema.safeParse(values);
  if (!parsed.success) throw AppError.fromZod(parsed.error, "The format options are not valid.");
  return parsed.data;
}

function emptyCounts(records: number, invalidLines: number): ImportPlanCounts {
  return {
    records,
    invalidLines,
    toImport: records,
    new: records,
    filtered: 0,
    exact_duplicate_in_file: 0,
    exact_duplicate_in_project: 0,
    near_duplicate_in_file: 0,
    near_duplicate_in_project: 0,
  };
}

/**
 * Imports one file of a dataset format: preview (commit=false) or commit. Prompts go through the
 * prompt import (duplicates, content filter); labeled records become completed tasks with one
 * submission each (store-labeled.server.ts). One transaction: a refused file changes nothing.
 */
export async function importDataset(db: Db, actorId: string, project: Project, format: FileFormat, bytes: Uint8Array, query: DatasetImportQuery): Promise<DatasetImportReport> {
  const decoded = refuseUndeclaredTools(await decodeFile(format, bytes, query), project.settings.tools);
  const { dataset } = decoded;
  if (dataset === "prompts") {
    const records = decoded.items.map(({ line, item }) => {
      const p = item as DatasetItem["prompts"];
      return { line, messages: p.messages, completions: [], source: query.filename ?? null, metadata: p.metadata };
    });
    const report = await importPromptRecords(db, actorId, project, { records, issues: decoded.issues, format: decoded.format }, { ...query, purpose: "prompts" });
    return { ...report, dataset };
  }

  const invalidLines = new Set(decoded.issues.map((i) => i.line).filter((l) => l > 0)).size;
  const report: DatasetImportReport = {
    dataset,
    format: decoded.format,
    counts: emptyCounts(decoded.items.length, invalidLines),
    issues: decoded.issues.slice(0, REPORT_ITEMS),
    flagged: [],
    committed: null,
  };
  if (!query.commit) return report;
  if (decoded.issues.length > 0 && !query.importValidLines) {
    throw new AppError(
      "validation_failed",
      `The file has ${invalidLines || decoded.issues.length} invalid records; nothing was imported. Fix them, or choose to import the valid lines only.`,
      decoded.issues.slice(0, 50).map((issue) => ({ path: `line ${issue.line}`, message: issue.reason })),
    );
  }
  if (decoded.items.length === 0) throw new AppError("validation_failed", "The file holds no valid records; nothing was imported.");
  const data = { dataset, items: decoded.items.map((i) => i.item) } as LabeledImport;
  try {
    const stored = await db.transaction().execute(async (trx) => {
      const counts = await storeLabeled(trx, project.id, actorId, data, query.filename ?? null);
      await recordAudit(trx, {
        actorUserId: actorId,
        action: "dataset.import",
        target: `project:${project.id}`,
        details: { dataset, format: decoded.format, filename: query.filename ?? null, records: decoded.items.length, prompts: counts.prompts, existingPrompts: counts.existingPrompts },
      });
      return counts;
    });
    report.committed = { prompts: stored.prompts, tasks: stored.tasks, gold: 0, heldOut: 0 };
    if (decoded.items.length >= 1000) await sql`analyze prompts, completions, tasks, assignments, submissions`.execute(db);
  } catch (error) {
    if ((error as { code?: string }).code === "23505") throw new AppError("conflict", "Another import added some of these prompts meanwhile; nothing was imported. Preview again.");
    throw error;
  }
  return report;
}
