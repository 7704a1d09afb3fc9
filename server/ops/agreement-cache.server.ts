import type { Logger } from "pino";
import type { Db } from "../db/database.server.ts";
import { qualityReport } from "../labeling/quality-report.server.ts";

export type ProjectAgreementFigures = {
  pairwise: number | null;
  kendallTau: number | null;
  alpha: number | null;
  overlappingItems: number;
};

type Entry = { fingerprint: string; computedAt: number; figures: ProjectAgreementFigures };

/**
 * Agreement per project for the metrics scrape. The quality report reads every raw ranking of a
 * project, too much for every 15-second scrape, so a project's figures are recomputed only when its
 * ranking submissions changed (count and newest id: the fingerprint) and the last computation is at
 * least `refreshSeconds` old. A project seen for the first time is computed at once. Concurrent
 * scrapes share one refresh.
 */
export function createAgreementCache(db: Db, log: Logger, refreshSeconds: number) {
  const entries = new Map<string, Entry>();
  let inflight: Promise<void> | null = null;

  async function refresh(fingerprints: Map<string, string>, now: number): Promise<void> {
    for (const [projectId, fingerprint] of fingerprints) {
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
