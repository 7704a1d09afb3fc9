import type { Logger } from "pino";
import type { Db } from "../db/database.server.ts";
import { qualityReport } from "../labeling/quality-report.server.ts";

export type ProjectAgreementFigures = {
  pairwise: number | null;
  kendallTau: number | null;
  alpha: number | null;
  overlappingItems: number;
};

/**
 * Most time one scrape spends computing agreement (Prometheus' default scrape timeout is 10 s):
 * projects left over keep their last figures and are computed on the next scrape.
 */
export const AGREEMENT_BUDGET_MS = 3000;

type Entry = { fingerprint: string; computedAt: number; figures: ProjectAgreementFigures };

/**
 * Agreement per project for the metrics scrape. The quality report reads every raw ranking of a
 * project, too much for every 15-second scrape, so a project's figures are recomputed only when its
 * ranking submissions changed (count and newest id: the fingerprint) and the last computation is at
 * least `refreshSeconds` old. A project seen for the first time is computed at once (within the
 * scrape's time budget). Concurrent scrapes share one refresh.
 */
export function createAgreementCache(db: Db, log: Logger, refreshSeconds: number, budgetMs = AGREEMENT_BUDGET_MS) {
  const entries = new Map<string, Entry>();
  let inflight: Promise<void> | null = null;

  async function refresh(fingerprints: Map<string, string>, now: number): Promise<void> {
    const started = Date.now();
    // Never computed first, then the stalest: a project cannot starve behind the others.
    const order = [...fingerprints].sort(([a], [b]) => (entries.get(a)?.computedAt ?? -1) - (entries.get(b)?.computedAt ?? -1));
    for (const [projectId, fingerprint] of order) {
      if (Date.now() - started > budgetMs) break;
      const entry = entries.get(projectId);
      if (entry && (entry.fingerprint === fingerprint || now - entry.computedAt < refreshSeconds * 1000)) continue;
      try {
        const report = await qualityReport(db, projectId);
        entries.set(projectId, {
          fingerprint,
          computedAt: now,
          figures: {
            pairwise: report.project.pairwise.rate,
            kendallTau: report.project.kendall.meanTau,
            alpha: report.project.alpha.alpha,
            overlappingItems: report.project.overlappingItems,
          },
        });
      } catch (error) {
        // One project's bad data must not take the whole scrape down; its last figures stay.
        log.warn({ err: error, projectId }, "agreement for metrics failed");
      }
    }
    for (const projectId of entries.keys()) if (!fingerprints.has(projectId)) entries.delete(projectId);
  }

  return {
    /** `fingerprints`: project id → a value that changes when its ranking submissions change. */
    async figures(fingerprints: Map<string, string>, now = Date.now()): Promise<Map<string, ProjectAgreementFigures>> {
      inflight ??= refresh(fingerprints, now).finally(() => (inflight = null));
      await inflight;
      return new Map([...entries].map(([id, e]) => [id, e.figures]));
    },
  };
}
