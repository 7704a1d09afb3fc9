/**
 * Executes cleaning jobs inside the server process, the way generation runs are executed (decision 0014's runner):
 * a job is claimed with a lease (SKIP LOCKED, renewed by a heartbeat), so two server instances never run one job, and
 * a job whose server died is claimed again once its lease expires. Documents are judged in batches; each batch's
 * verdicts, the progress and the cursor are written in one transaction that also checks the lease, so a cancelled or
 * re-claimed job writes nothing more and a resumed one goes on after its last stored batch, with its duplicate index
 * rebuilt from the signatures it stored. The duplicate index holds at most `index.maxInMemory` documents in memory and
 * spills the rest to temporary files (decision 0057), deleted when the job stops. Nothing here throws into the server: failures end on the job (failed + error).
 */
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../db/database.server.ts";
import { jobTableLease, newLeaseOwner, startLeasedRunner, type LeasedRunner } from "../lib/leased-runner.server.ts";
import { projectSettingsSchema } from "../labeling/project-settings.ts";
import { cleaningSettingsSchema, type CleaningSettings } from "./cleaning-settings.ts";
import { emptyProgress, type CleaningProgress } from "./cleaning-jobs.server.ts";
import { CorpusCleaner, type DocumentVerdict } from "./cleaner.ts";
import type { DedupIndexOptions } from "./dedup-index.ts";

export type CleaningRunner = LeasedRunner;

const LEASE_SECONDS = 30;
const HEARTBEAT_MS = 10_000;
const MAX_PARALLEL_JOBS = 2;
/** Documents judged between two writes: the most a crash or cancel can cost, and the transaction size. */
export const CLEANING_BATCH = 500;

type Claimed = { id: string; project_id: string; settings: Record<string, unknown>; progress: Record<string, unknown>; cursor: { corpus: number; afterId: string } };

export function startCleaningRunner(deps: {
  db: Db;
  log: Logger;
  pollMs: number;
  batchSize?: number;
  /** The duplicate index's memory budget and spill folder (decision 0057). */
  index?: DedupIndexOptions;
  /** Called after each stored batch (progress pushes; tests use it to stop a job at a known point). */
  onProgress?: (jobId: string, progress: CleaningProgress) => Promise<void> | void;
}): CleaningRunner {
  const { db, log } = deps;
  const batchSize = deps.batchSize ?? CLEANING_BATCH;
  const owner = newLeaseOwner("server");
  const lease = jobTableLease(db, "cleaning_jobs", owner, LEASE_SECONDS);

  /** Rebuilds the duplicate index from what this job stored before it stopped, in the order it was built. */
  async function restore(cleaner: CorpusCleaner, job: Claimed, settings: CleaningSettings): Promise<void> {
    for (let index = 0; index <= job.cursor.corpus && index < settings.corpusIds.length; index++) {
      let after = "0";
      for (;;) {
        const rows = await db
          .selectFrom("cleaning_verdicts as v")
          .innerJoin("corpus_documents as d", "d.id", "v.document_id")
          .select(["v.document_id", "d.content_hash", "v.minhash"])
          .where("v.job_id", "=", job.id)
          .where("d.corpus_id", "=", settings.corpusIds[index]!)
          .where("v.minhash", "is not", null)
          .where("v.document_id", ">", after)
          .orderBy("v.document_id")
          .limit(5_000)
          .execute();
        for (const row of rows) cleaner.restore(row.document_id, row.content_hash, row.minhash!);
        if (rows.length < 5_000) break;
        after = rows.at(-1)!.document_id;
      }
    }
  }

  /** One batch's verdicts, progress and cursor, if the lease is still ours. */
  async function store(jobId: string, projectId: string, verdicts: DocumentVerdict[], progress: CleaningProgress, cursor: { corpus: number; afterId: string }): Promise<boolean> {
    return db.transaction().execute(async (trx) => {
      const held = await trx.selectFrom("cleaning_jobs").select("id").where("id", "=", jobId).where("state", "=", "running").where("lease_owner", "=", owner).forUpdate().executeTakeFirst();
      if (!held) return false;
      if (verdicts.length > 0) {
        await trx
          .insertInto("cleaning_verdicts")
          .values(
            verdicts.map((v) => ({
              job_id: jobId, document_id: v.documentId, verdict: v.verdict, reason: v.reason, duplicate_of: v.duplicateOf, similarity: v.similarity,
              language: v.language, language_confidence: v.languageConfidence, hits: JSON.stringify(v.hits), redacted_text: v.redactedText, minhash: v.minhash,
            })),
          )
          .execute();
      }
      // What the filters flagged waits for people (decision 0040).
      const flagged = verdicts.filter((v) => v.verdict === "flagged");
      if (flagged.length > 0) {
        await trx
          .insertInto("corpus_reviews")
          .values(flagged.map((v) => ({ project_id: projectId, job_id: jobId, document_id: v.documentId, reason: v.reason ?? "content_filter" })))
          .execute();
      }
      await trx.updateTable("cleaning_jobs").set({ progress: JSON.stringify(progress), cursor: JSON.stringify(cursor), updated_at: new Date() }).where("id", "=", jobId).execute();
      return true;
    });
  }

  async function execute(job: Claimed, signal: AbortSignal): Promise<void> {
    let cleaner: CorpusCleaner | null = null;
    try {
      const settings = cleaningSettingsSchema.parse(job.settings);
      const project = await db.selectFrom("projects").select("settings").where("id", "=", job.project_id).executeTakeFirstOrThrow();
      const filter = projectSettingsSchema.parse(project.settings).contentFilter;
      cleaner = new CorpusCleaner(settings, filter, undefined, deps.index);
      await restore(cleaner, job, settings);
      const progress: CleaningProgress = { ...emptyProgress(0), ...(job.progress as Partial<CleaningProgress>) };
      progress.reasons = { ...progress.reasons };
      // Files added to a listed corpus since the job was queued are cleaned too: count them in the total.
      const counted = await db.selectFrom("corpora").select(sql<string>`coalesce(sum(document_count), 0)`.as("n")).where("id", "in", settings.corpusIds).executeTakeFirstOrThrow();
      progress.total = Number(counted.n);
      log.info({ jobId: job.id, corpora: settings.corpusIds.length, from: job.cursor, restored: cleaner.indexed }, "cleaning job started");
      let cursor = { ...job.cursor };
      while (cursor.corpus < settings.corpusIds.length) {
        const corpusId = settings.corpusIds[cursor.corpus]!;
        const docs = await db
          .selectFrom("corpus_documents")
          .select(["id", "text", "content_hash"])
          .where("corpus_id", "=", corpusId)
          .where("id", ">", cursor.afterId)
          .orderBy("id")
          .limit(batchSize)
          .execute();
        if (signal.aborted) return;
        const verdicts = docs.map((d) => cleaner!.judge({ id: d.id, text: d.text, contentHash: d.content_hash }));
        for (const v of verdicts) {
          progress.processed++;
          progress[v.verdict]++;
          if (v.reason) progress.reasons[v.reason] = (progress.reasons[v.reason] ?? 0) + 1;
        }
        cursor = docs.length < batchSize ? { corpus: cursor.corpus + 1, afterId: "0" } : { corpus: cursor.corpus, afterId: docs.at(-1)!.id };
        if (!(await store(job.id, job.project_id, verdicts, progress, cursor))) return;
        await deps.onProgress?.(job.id, progress);
      }
      await lease.finish(job.id, "done", null);
      log.info({ jobId: job.id, kept: progress.kept, flagged: progress.flagged, dropped: progress.dropped, indexSpilled: cleaner.disk.spilledDocuments }, "cleaning job finished");
    } catch (error) {
      if (signal.aborted) return;
      log.error({ err: error, jobId: job.id }, "cleaning job failed");
      await lease.finish(job.id, "failed", "The job failed unexpectedly; the server log has the details. Resume it to go on from where it stopped.").catch(() => undefined);
    } finally {
      cleaner?.close();
    }
  }

  return startLeasedRunner<Claimed>({
    what: "cleaning job", log, pollMs: deps.pollMs, maxParallel: MAX_PARALLEL_JOBS, owner,
    claim: () => lease.claim<Claimed>("id, project_id, settings, progress, cursor"),
    execute,
    heartbeat: { everyMs: HEARTBEAT_MS, renew: lease.renew },
    handBack: lease.handBack,
  });
}
