/**
 * A generation run: in the server process, in the background, one chunk at a time. Each chunk's
 * rendered template goes to the generator; the pairs read from its answer become `qa` prompts
 * with a review task each (the same insert path as a Q&A import), minus exact and near duplicates
 * of the project's prompts. A chunk that fails (generator error, unreadable output) is recorded
 * with its error and the run goes on. Cancelling stops after the chunk in flight is abandoned;
 * a run whose server died is marked interrupted when its heartbeat goes stale.
 */
import { sql } from "kysely";
import type { Logger } from "pino";
import { recordAudit } from "../../auth/audit.server.ts";
import type { Db } from "../../db/database.server.ts";
import { AppError } from "../../lib/app-error.ts";
import { signatureFromBase64 } from "../../labeling/import/minhash.ts";
import type { ImportRecord } from "../../labeling/import/import-record.ts";
import { planImport } from "../../labeling/import/plan-import.ts";
import type { Project } from "../../labeling/projects.server.ts";
import { insertPrompts, type NewPrompt } from "../../labeling/prompts.server.ts";
import { plannedPrompt } from "../../labeling/import-prompts.server.ts";
import type { Generator } from "../generator.ts";
import type { GeneratorSource } from "./qa-generators.server.ts";
import { parseQaOutput, type QaPair } from "./qa-output.ts";
import { getQaTemplate } from "./qa-templates.server.ts";
import { renderTemplate } from "./qa-template.ts";
import { z } from "zod";

/** A running run whose heartbeat is older than this lost its server process. */
export const STALE_RUN_MINUTES = 10;

export const runOptionsSchema = z.object({
  /** Only these documents' chunks; all of the project's when absent. */
  documentIds: z.array(z.string().regex(/^\d{1,18}$/)).max(1_000).optional(),
  /** Also redo chunks that already produced pairs (else: pending and failed chunks only). */
  includeDone: z.boolean().default(false),
  temperature: z.number().min(0).max(2).default(0.7),
  maxTokens: z.number().int().min(16).max(8_192).default(1_024),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
});
export type RunOptions = z.infer<typeof runOptionsSchema>;

export type RunDeps = { db: Db; log: Logger };

/** Runs started by this process, to abort the request in flight on cancel. */
const active = new Map<string, { controller: AbortController; done: Promise<void> }>();

export type QaRunView = {
  id: string;
  state: string;
  generator: Record<string, unknown>;
  pairsPerChunk: number;
  totalChunks: number;
  doneChunks: number;
  failedChunks: number;
  pairsCreated: number;
  duplicatesSkipped: number;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
};

const runColumns = [
  "id", "state", "generator", "pairs_per_chunk", "total_chunks", "done_chunks", "failed_chunks", "pairs_created", "duplicates_skipped", "error", "created_at", "finished_at",
] as const;

type RunRow = { id: string; state: string; generator: Record<string, unknown>; pairs_per_chunk: number; total_chunks: number; done_chunks: number; failed_chunks: number; pairs_created: number; duplicates_skipped: number; error: string | null; created_at: Date; finished_at: Date | null };

const view = (row: RunRow): QaRunView => ({
  id: row.id,
  state: row.state,
  generator: row.generator,
  pairsPerChunk: row.pairs_per_chunk,
  totalChunks: row.total_chunks,
  doneChunks: row.done_chunks,
  failedChunks: row.failed_chunks,
  pairsCreated: row.pairs_created,
  duplicatesSkipped: row.duplicates_skipped,
  error: row.error,
  createdAt: row.created_at,
  finishedAt: row.finished_at,
});

/** Marks runs whose server went away as interrupted; their chunks wait for the next run. */
async function sweepStaleRuns(db: Db, projectId: string): Promise<void> {
  const stale = await db
    .updateTable("qa_runs")
    .set({ state: "interrupted", error: "The server running this generation stopped.", finished_at: new Date() })
    .where("project_id", "=", projectId)
    .where("state", "=", "running")
    .where("heartbeat_at", "<", sql<Date>`now() - make_interval(mins => ${STALE_RUN_MINUTES})`)
    .returning("id")
    .execute();
  if (stale.length === 0) return;
  await db
    .updateTable("document_chunks")
    .set({ status: "pending", updated_at: new Date() })
    .where("run_id", "in", stale.map((r) => r.id))
    .where("status", "=", "generating")
    .execute();
}

/**
 * Starts a run over the project's pending and failed chunks (or the chosen documents'), and
 * returns at once; the chunks are worked off in the background.
 */
export async function startQaRun(
  deps: RunDeps,
  actorId: string,
  project: Project,
  input: { source: GeneratorSource; generator: Generator; options: RunOptions },
): Promise<QaRunView> {
  const { db } = deps;
  await sweepStaleRuns(db, project.id);
  const template = await getQaTemplate(db, project.id);
  const statuses = input.options.includeDone ? (["pending", "failed", "done"] as const) : (["pending", "failed"] as const);

  const run = await db.transaction().execute(async (trx) => {
    let chunks = trx.selectFrom("document_chunks").select("id").where("project_id", "=", project.id).where("status", "in", [...statuses]);
    if (input.options.documentIds) chunks = chunks.where("document_id", "in", input.options.documentIds.length ? input.options.documentIds : ["0"]);
    const ids = (await chunks.orderBy("id").forUpdate().execute()).map((c) => c.id);
    if (ids.length === 0) throw new AppError("validation_failed", "No chunks are waiting for generation. Upload documents, or choose to redo the chunks that are done.");
    let row: RunRow;
    try {
      row = await trx
        .insertInto("qa_runs")
        .values({
          project_id: project.id,
          generator: JSON.stringify({ ...input.source, label: input.generator.label }),
          template: template.template,
          pairs_per_chunk: template.pairsPerChunk,
          decoding: JSON.stringify({ temperature: input.options.temperature, maxTokens: input.options.maxTokens, seed: input.options.seed }),
          total_chunks: ids.length,
          created_by: actorId,
        })
        .returning([...runColumns])
        .executeTakeFirstOrThrow();
    } catch (error) {
      if ((error as { code?: string }).code === "23505") throw new AppError("conflict", "A generation is already running in this project; wait for it or cancel it.");
      throw error;
    }
    for (let start = 0; start < ids.length; start += 5_000) {
      await trx
        .updateTable("document_chunks")
        .set({ status: "pending", error: null, run_id: row.id, updated_at: new Date() })
        .where("id", "in", ids.slice(start, start + 5_000))
        .execute();
    }
    await recordAudit(trx, {
      actorUserId: actorId,
      action: "qa_run.start",
      target: `project:${project.id}`,
      details: { runId: row.id, generator: input.generator.label, chunks: ids.length },
    });
    return row;
  });

  const controller = new AbortController();
  const done = executeRun(deps, project, run.id, input.generator, controller.signal, input.options)
    .catch(async (error: unknown) => {
      deps.log.error({ err: error, runId: run.id }, "Q&A generation run failed");
      await db
        .updateTable("qa_runs")
        .set({ state: "failed", error: "The run stopped on an unexpected error; see the server log.", finished_at: new Date() })
        .where("id", "=", run.id)
        .where("state", "=", "running")
        .execute()
        .catch(() => undefined);
      await db
        .updateTable("document_chunks")
        .set({ status: "pending", updated_at: new Date() })
        .where("run_id", "=", run.id)
        .where("status", "=", "generating")
        .execute()
        .catch(() => undefined);
    })
    .finally(() => active.delete(run.id));
  active.set(run.id, { controller, done });
  return view(run);
}

export async function cancelQaRun(db: Db, actorId: string, runId: string): Promise<QaRunView> {
  const row = await db
    .updateTable("qa_runs")
    .set({ state: "cancelled", finished_at: new Date() })
    .where("id", "=", runId)
    .where("state", "=", "running")
    .returning([...runColumns, "project_id"])
    .executeTakeFirst();
  if (!row) {
    await getQaRun(db, runId);
    throw new AppError("conflict", "This run is not running.");
  }
  active.get(runId)?.controller.abort();
  await recordAudit(db, { actorUserId: actorId, action: "qa_run.cancel", target: `project:${row.project_id}`, details: { runId } });
  return view(row);
}

export async function getQaRun(db: Db, runId: string): Promise<QaRunView & { projectId: string }> {
  const row = await db.selectFrom("qa_runs").select([...runColumns, "project_id"]).where("id", "=", runId).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such run.");
  return { ...view(row), projectId: row.project_id };
}

export async function listQaRuns(db: Db, projectId: string, limit = 20): Promise<QaRunView[]> {
  await sweepStaleRuns(db, projectId);
  const rows = await db.selectFrom("qa_runs").select([...runColumns]).where("project_id", "=", projectId).orderBy("id", "desc").limit(limit).execute();
  return rows.map(view);
}

/** Waits for a run this process started (tests, shutdown); resolves at once for any other. */
export async function settleQaRun(runId: string): Promise<void> {
  await active.get(runId)?.done;
}

type ChunkRow = { id: string; index: number; heading: string | null; text: string; document_id: string; document_name: string };

async function executeRun(deps: RunDeps, project: Project, runId: string, generator: Generator, signal: AbortSignal, options: RunOptions): Promise<void> {
  const { db, log } = deps;
  const run = await db.selectFrom("qa_runs").select(["template", "pairs_per_chunk"]).where("id", "=", runId).executeTakeFirstOrThrow();
  const chunkIds = (await db.selectFrom("document_chunks").select("id").where("run_id", "=", runId).where("status", "=", "pending").orderBy("id").execute()).map((c) => c.id);
  const existing = await db.selectFrom("prompts").select(["id", "content_hash", "minhash"]).where("project_id", "=", project.id).execute();
  const known = {
    hashes: new Map(existing.map((r) => [r.content_hash, r.id])),
    signatures: existing.filter((r) => r.minhash).map((r) => ({ id: r.id, signature: signatureFromBase64(r.minhash) })),
  };

  for (const chunkId of chunkIds) {
    if (signal.aborted) break;
    // A cancel from another server instance reaches this one through the row.
    const state = await db.selectFrom("qa_runs").select("state").where("id", "=", runId).executeTakeFirst();
    if (state?.state !== "running") break;
    const chunk: ChunkRow | undefined = await db
      .selectFrom("document_chunks")
      .innerJoin("documents", "documents.id", "document_chunks.document_id")
      .select(["document_chunks.id", "document_chunks.index", "document_chunks.heading", "document_chunks.text", "document_chunks.document_id", "documents.name as document_name"])
      .where("document_chunks.id", "=", chunkId)
      .where("document_chunks.run_id", "=", runId)
      .where("document_chunks.status", "=", "pending")
      .executeTakeFirst();
    if (!chunk) continue; // deleted with its document meanwhile
    await db.updateTable("document_chunks").set({ status: "generating", updated_at: new Date() }).where("id", "=", chunk.id).execute();

    const outcome = await generateChunk(generator, run.template, run.pairs_per_chunk, chunk, options, signal);
    if (signal.aborted) {
      await db.updateTable("document_chunks").set({ status: "pending", updated_at: new Date() }).where("id", "=", chunk.id).execute();
      break;
    }
    if (!outcome.ok) {
      log.info({ runId, chunkId: chunk.id, error: outcome.error }, "Q&A chunk failed");
      await db.transaction().execute(async (trx) => {
        await trx.updateTable("document_chunks").set({ status: "failed", error: outcome.error, generated: 0, updated_at: new Date() }).where("id", "=", chunk.id).execute();
        await trx.updateTable("qa_runs").set((eb) => ({ failed_chunks: eb("failed_chunks", "+", 1), heartbeat_at: new Date() })).where("id", "=", runId).execute();
      });
      continue;
    }
    await storePairs(db, project, runId, generator, chunk, outcome.pairs, outcome.notes, known);
  }

  await db
    .updateTable("qa_runs")
    .set({ state: "done", finished_at: new Date() })
    .where("id", "=", runId)
    .where("state", "=", "running")
    .execute();
}

async function generateChunk(
  generator: Generator,
  template: string,
  pairsPerChunk: number,
  chunk: ChunkRow,
  options: RunOptions,
  signal: AbortSignal,
): Promise<{ ok: true; pairs: QaPair[]; notes: string[] } | { ok: false; error: string }> {
  const prompt = renderTemplate(template, { document_title: chunk.document_name, chunk: chunk.text, n: pairsPerChunk });
  let text: string;
  try {
    const outputs = await generator.generate(
      { messages: [{ role: "user", content: prompt }], n: 1, temperature: options.temperature, maxTokens: options.maxTokens, seed: options.seed + chunk.index },
      signal,
    );
    if (outputs.length === 0) return { ok: false, error: "The generator returned no completion." };
    text = outputs[0]!.text;
  } catch (error) {
    // AppErrors carry a message meant for people; anything else is summarized, never dumped.
    const message = error instanceof AppError ? error.message : error instanceof Error ? `The generator failed: ${error.message}` : "The generator failed.";
    return { ok: false, error: message.slice(0, 1_000) };
  }
  const parsed = parseQaOutput(text, pairsPerChunk);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  return { ok: true, pairs: parsed.pairs, notes: parsed.skipped };
}

async function storePairs(
  db: Db,
  project: Project,
  runId: string,
  generator: Generator,
  chunk: ChunkRow,
  pairs: QaPair[],
  notes: string[],
  known: { hashes: Map<string, string>; signatures: Array<{ id: string; signature: Uint32Array }> },
): Promise<void> {
  const source = `${chunk.document_name} #${chunk.index + 1}`;
  const records: ImportRecord[] = pairs.map((pair, i) => ({
    line: i + 1,
    messages: [{ role: "user", content: pair.question }],
    completions: [{ text: pair.answer, model: generator.label }],
    source,
    metadata: {
      documentId: chunk.document_id,
      documentName: chunk.document_name,
      chunkId: chunk.id,
      chunkIndex: chunk.index,
      ...(chunk.heading ? { heading: chunk.heading } : {}),
      qaRunId: runId,
      generator: generator.label,
    },
  }));
  const plan = planImport<string>({ records, existing: known, nearDuplicateThreshold: project.settings.nearDuplicateThreshold, filter: project.settings.contentFilter });
  const keep = plan.items.filter((item) => item.status === "new" || item.status === "filtered");
  const toStore: NewPrompt[] = keep.map((item) => plannedPrompt(item, "review", "qa"));
  const duplicates = plan.items.length - keep.length;
  const error = duplicates > 0 || notes.length > 0 ? [duplicates > 0 ? `${duplicates} duplicate pair${duplicates === 1 ? "" : "s"} skipped` : "", ...notes].filter(Boolean).join("; ").slice(0, 1_000) : null;
  try {
    const stored = await db.transaction().execute(async (trx) => {
      const stored = toStore.length > 0 ? await insertPrompts(trx, project.id, project.settings, toStore, null) : { promptIds: [] };
      await trx.updateTable("document_chunks").set({ status: "done", error, generated: stored.promptIds.length, updated_at: new Date() }).where("id", "=", chunk.id).execute();
      await trx
        .updateTable("qa_runs")
        .set((eb) => ({
          done_chunks: eb("done_chunks", "+", 1),
          pairs_created: eb("pairs_created", "+", stored.promptIds.length),
          duplicates_skipped: eb("duplicates_skipped", "+", duplicates),
          heartbeat_at: new Date(),
        }))
        .where("id", "=", runId)
        .execute();
      return stored;
    });
    // Later chunks of this run are checked against these pairs too.
    stored.promptIds.forEach((id, i) => {
      known.hashes.set(toStore[i]!.contentHash, id);
      if (keep[i]!.signature) known.signatures.push({ id, signature: keep[i]!.signature! });
    });
  } catch (caught) {
    // An import added the same question meanwhile (unique content hash): the chunk can be retried.
    const conflict = (caught as { code?: string }).code === "23505";
    if (!conflict) throw caught;
    await db.transaction().execute(async (trx) => {
      await trx.updateTable("document_chunks").set({ status: "failed", error: "Another import added the same question meanwhile; run the chunk again.", updated_at: new Date() }).where("id", "=", chunk.id).execute();
      await trx.updateTable("qa_runs").set((eb) => ({ failed_chunks: eb("failed_chunks", "+", 1), heartbeat_at: new Date() })).where("id", "=", runId).execute();
    });
  }
}
