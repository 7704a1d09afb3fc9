/**
 * Training a quality classifier from a cleaning job's ratings, measuring it on held-out documents against the raters'
 * own agreement, scoring every kept document, and the threshold curve (kept documents and words vs. predicted quality)
 * from which the researcher picks a threshold (decision 0041). Training and scoring run in the request: the model is a
 * sparse linear one (quality-model.ts), seconds for thousands of documents.
 */
import { createHash } from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import { recordAudit } from "../auth/audit.server.ts";
import type { Actor } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import { cleanedText, finalVerdict, type CleaningJobView } from "./cleaning-jobs.server.ts";
import { ratingsByDocument } from "./corpus-ratings.server.ts";
import { featurize, pearson, predict, raterAgreementAccuracy, rankingAuc, trainRidge, type QualityModel } from "./quality-model.ts";

export const MIN_RATED_DOCUMENTS = 10;

export const trainClassifierSchema = z.strictObject({
  /** L2 penalty on the weights (features are unit vectors): larger is smoother. */
  lambda: z.number().min(1e-6).max(100).default(0.01),
  /** Share of the rated documents kept out of training to measure the model on. */
  heldOutFraction: z.number().min(0.1).max(0.5).default(0.2),
  /** A mean rating at or above this counts as high quality for accuracy, AUC and the raters' agreement. */
  highQuality: z.number().min(1.5).max(5).default(3),
  /** log2 of the number of hashed features (2^18 = 262,144 weights, 1 MiB). */
  dimsLog2: z.number().int().min(10).max(20).default(18),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
});
export type TrainClassifierInput = z.infer<typeof trainClassifierSchema>;

export const thresholdSchema = z.strictObject({ threshold: z.number().min(-10).max(15) });

export type ClassifierMetrics = {
  trainDocuments: number;
  heldOutDocuments: number;
  iterations: number;
  heldOut: {
    /** (predicted ≥ highQuality) = (mean rating ≥ highQuality). */
    accuracy: number;
    /** Always answering the training set's majority class. */
    majorityAccuracy: number;
    /** ROC AUC of the predictions for "high quality": 0.5 is chance. */
    auc: number | null;
    pearson: number | null;
    rmse: number;
    /** One rater against the others' mean on the same documents: the accuracy the labels allow. */
    raterAgreement: number | null;
  };
  scoredDocuments: number;
};

export type ClassifierView = { id: string; jobId: string; projectId: string; settings: TrainClassifierInput; metrics: ClassifierMetrics; threshold: number | null; createdAt: Date };

const inHeldOut = (documentId: string, seed: number, fraction: number) => createHash("sha256").update(`${seed}:${documentId}`).digest().readUInt32BE(0) / 2 ** 32 < fraction;
const wordsOf = (text: string) => text.match(/\S+/g)?.length ?? 0;

/** The documents a job keeps (after review), with the text training reads, a page at a time. */
async function* keptTexts(db: Db, jobId: string, onlyIds?: readonly string[]) {
  let after = "0";
  for (;;) {
    let query = db
      .selectFrom("cleaning_verdicts as v")
      .innerJoin("corpus_documents as d", "d.id", "v.document_id")
      .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "v.job_id").onRef("r.document_id", "=", "v.document_id"))
      .select(["v.document_id", cleanedText.as("text")])
      .where("v.job_id", "=", jobId)
      .where(finalVerdict, "=", "kept")
      .where("v.document_id", ">", after);
    if (onlyIds) query = query.where("v.document_id", "in", onlyIds.length > 0 ? [...onlyIds] : ["0"]);
    const rows = await query.orderBy("v.document_id").limit(1_000).execute();
    if (rows.length > 0) yield rows;
    if (rows.length < 1_000) return;
    after = rows.at(-1)!.document_id;
  }
}

export async function trainClassifier(db: Db, actor: Actor, job: CleaningJobView, input: TrainClassifierInput): Promise<ClassifierView> {
  const ratings = await ratingsByDocument(db, job.id);
  if (ratings.size < MIN_RATED_DOCUMENTS) {
    throw new AppError("conflict", `Train the classifier once at least ${MIN_RATED_DOCUMENTS} documents are rated; ${ratings.size} are.`);
  }
  const dims = 2 ** input.dimsLog2;
  const train: Array<{ x: ReturnType<typeof featurize>; y: number }> = [];
  const heldOut: Array<{ id: string; x: ReturnType<typeof featurize>; y: number; scores: number[] }> = [];
  for await (const page of keptTexts(db, job.id, [...ratings.keys()])) {
    for (const row of page) {
      const scores = ratings.get(row.document_id)!;
      const y = scores.reduce((a, b) => a + b, 0) / scores.length;
      const x = featurize(row.text, dims);
      if (inHeldOut(row.document_id, input.seed, input.heldOutFraction)) heldOut.push({ id: row.document_id, x, y, scores });
      else train.push({ x, y });
    }
  }
  if (train.length < 2 || heldOut.length < 2) {
    throw new AppError("conflict", `The split left ${train.length} training and ${heldOut.length} held-out documents; rate more documents or change heldOutFraction.`, [{ path: "heldOutFraction", message: "leaves too few documents on one side" }]);
  }
  const model = trainRidge(train.map((t) => t.x), train.map((t) => t.y), { dims, lambda: input.lambda });

  // Held-out evaluation, at the same "high quality" line for the model and for the raters.
  const t = input.highQuality;
  const predicted = heldOut.map((h) => predict(model, h.x));
  const truth = heldOut.map((h) => h.y >= t);
  const majority = train.filter((x) => x.y >= t).length * 2 >= train.length;
  const metrics: ClassifierMetrics = {
    trainDocuments: train.length,
    heldOutDocuments: heldOut.length,
    iterations: model.iterations,
    heldOut: {
      accuracy: predicted.filter((p, i) => p >= t === truth[i]).length / heldOut.length,
      majorityAccuracy: truth.filter((v) => v === majority).length / heldOut.length,
      auc: rankingAuc(predicted, truth),
      pearson: pearson(predicted, heldOut.map((h) => h.y)),
      rmse: Math.sqrt(predicted.reduce((s, p, i) => s + (p - heldOut[i]!.y) ** 2, 0) / heldOut.length),
      raterAgreement: raterAgreementAccuracy(heldOut.map((h) => h.scores), t),
    },
    scoredDocuments: 0,
  };

  const id = await db.transaction().execute(async (trx) => {
    const weights = Buffer.alloc(dims * 4);
    model.weights.forEach((w, j) => weights.writeFloatLE(w, j * 4));
    const row = await trx
      .insertInto("quality_classifiers")
      .values({ project_id: job.projectId, job_id: job.id, settings: JSON.stringify(input), weights, bias: model.bias, metrics: JSON.stringify(metrics), created_by: actor.user.id })
      .returning("id")
      .executeTakeFirstOrThrow();
    // Every kept document gets a score (rated ones included), page by page.
    for await (const page of keptTexts(db, job.id)) {
      await trx
        .insertInto("quality_scores")
        .values(page.map((d) => ({ classifier_id: row.id, document_id: d.document_id, score: predict(model, featurize(d.text, dims)), words: wordsOf(d.text) })))
        .execute();
      metrics.scoredDocuments += page.length;
    }
    await trx.updateTable("quality_classifiers").set({ metrics: JSON.stringify(metrics) }).where("id", "=", row.id).execute();
    await recordAudit(trx, { actor, action: "quality_classifier.train", target: `project:${job.projectId}`, details: { classifierId: row.id, jobId: job.id, ...metrics.heldOut } });
    return row.id;
  });
  return getClassifier(db, id);
}

const columns = ["id", "job_id", "project_id", "settings", "metrics", "threshold", "created_at"] as const;
type Row = { id: string; job_id: string; project_id: string; settings: Record<string, unknown>; metrics: Record<string, unknown>; threshold: number | null; created_at: Date };
const view = (r: Row): ClassifierView => ({
  id: r.id, jobId: r.job_id, projectId: r.project_id, settings: trainClassifierSchema.parse(r.settings), metrics: r.metrics as ClassifierMetrics, threshold: r.threshold, createdAt: r.created_at,
});

export async function getClassifier(db: Db, classifierId: string): Promise<ClassifierView> {
  if (!/^\d{1,18}$/.test(classifierId)) throw new AppError("not_found", "No such classifier.");
  const row = await db.selectFrom("quality_classifiers").select([...columns]).where("id", "=", classifierId).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such classifier.");
  return view(row);
}

export async function listClassifiers(db: Db, jobId: string): Promise<ClassifierView[]> {
  return (await db.selectFrom("quality_classifiers").select([...columns]).where("job_id", "=", jobId).orderBy("id", "desc").execute()).map(view);
}

/** The model as stored (for scoring elsewhere, e.g. a bench). */
export async function loadModel(db: Db, classifierId: string): Promise<QualityModel> {
  const row = await db.selectFrom("quality_classifiers").select(["weights", "bias", "settings"]).where("id", "=", classifierId).executeTakeFirstOrThrow();
  const weights = new Float32Array(row.weights.length / 4);
  for (let j = 0; j < weights.length; j++) weights[j] = row.weights.readFloatLE(j * 4);
  return { dims: weights.length, weights, bias: row.bias };
}

export type CurvePoint = { threshold: number; documents: number; words: number; share: number };

/**
 * Kept documents and words at `points` thresholds, at quantiles of the predicted score, from "keep everything" down to
 * "keep the best 1/points": the researcher's trade between how much text is kept and how good it is predicted to be.
 */
export async function thresholdCurve(db: Db, classifierId: string, points = 20): Promise<CurvePoint[]> {
  const fractions = Array.from({ length: points }, (_, k) => k / points);
  const quantiles = await sql<{ q: number[] | null }>`
    select percentile_disc(${sql.val(fractions)}::float8[]) within group (order by score) as q from quality_scores where classifier_id = ${classifierId}`.execute(db);
  const thresholds = [...new Set(quantiles.rows[0]?.q ?? [])];
  if (thresholds.length === 0) return [];
  const rows = await sql<{ t: number; documents: string; words: string | null }>`
    select t, count(*) filter (where s.score >= t) as documents, sum(s.words) filter (where s.score >= t) as words
    from quality_scores s, unnest(${sql.val(thresholds)}::float8[]) as t
    where s.classifier_id = ${classifierId}
    group by t order by t`.execute(db);
  const totalWords = Number(rows.rows[0]?.words ?? 0);
  return rows.rows.map((r) => ({ threshold: r.t, documents: Number(r.documents), words: Number(r.words ?? 0), share: totalWords > 0 ? Number(r.words ?? 0) / totalWords : 0 }));
}

/** The documents just above a threshold (the ones it barely keeps), to read before choosing it. */
export async function samplesAt(db: Db, classifier: ClassifierView, threshold: number, limit = 5) {
  const rows = await db
    .selectFrom("quality_scores as s")
    .innerJoin("corpus_documents as d", "d.id", "s.document_id")
    .select(["s.document_id", "s.score", "d.title", sql<string>`left(d.text, 600)`.as("excerpt")])
    .where("s.classifier_id", "=", classifier.id)
    .where("s.score", ">=", threshold)
    .orderBy("s.score")
    .orderBy("s.document_id")
    .limit(limit)
    .execute();
  return rows.map((r) => ({ documentId: r.document_id, score: r.score, title: r.title, excerpt: r.excerpt }));
}

export async function chooseThreshold(db: Db, actor: Actor, classifier: ClassifierView, threshold: number): Promise<ClassifierView> {
  await db.updateTable("quality_classifiers").set({ threshold }).where("id", "=", classifier.id).execute();
  await recordAudit(db, { actor, action: "quality_classifier.threshold", target: `project:${classifier.projectId}`, details: { classifierId: classifier.id, threshold } });
  return getClassifier(db, classifier.id);
}
