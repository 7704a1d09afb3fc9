/**
 * Rounds that train on corpora (decisions 0050, 0051): pretrain (from scratch on a mix of cleaned corpora), midtrain
 * (a base model continued on specialised data with a replay share of its original mix) and mix-search (a small model
 * per candidate mixture, scored on the target domain). At launch the mix is resolved and validated with the field
 * named, and the exact documents are frozen into the round's snapshot — which cleaning job, which classifier and
 * threshold, which document ids per part — so a model's lineage goes back to them. A job streams its parts from
 * /trainer/jobs/:id/corpus/:part.jsonl while it holds the lease.
 */
import { createHash } from "node:crypto";
import { sql, type Transaction } from "kysely";
import type { Db } from "../db/database.server.ts";
import type { Database } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { cleanedText, finalVerdict } from "../corpora/cleaning-jobs.server.ts";
import { cleaningSettingsSchema } from "../corpora/cleaning-settings.ts";
import { simplexGrid, type CorpusMix, type MixTaskTarget, type RoundSpec } from "../../trainer/contract/round.ts";
import { checkerField, TASK_TARGET_CHECKERS, type CheckerSpec } from "../../trainer/contract/checker.ts";
import { projectSettingsSchema } from "../labeling/project-settings.ts";
import { mixSearchResultSchema, type MixSearchResult } from "../../trainer/contract/job.ts";

type DbOrTrx = Db | Transaction<Database>;

/** A mix as launched: one cleaning job, its classifier and threshold (if any), corpora with weights summing to 1. */
export type ResolvedMix = {
  mixId: string | null;
  cleaningJobId: string;
  classifier: { id: string; threshold: number } | null;
  sources: Array<{ corpusId: string; name: string; weight: number }>;
};

/** One stream of documents a job reads: its documents as id ranges (exact and small), and what it is for. */
export type CorpusPart = {
  name: string;
  /** train (weighted, pretrain/midtrain), eval (held-out loss), source and target (mix-search). */
  role: "train" | "eval" | "source" | "target";
  weight?: number;
  corpusIds: string[];
  documents: number;
  ranges: Array<[number, number]>;
};

/** The corpus side of a round's data snapshot: what a pretrain, midtrain or mix-search round trains and measures on. */
export type CorpusSnapshot = {
  cleaningJobId: string;
  classifier: { id: string; threshold: number } | null;
  /** The mix trained on (pretrain), the specialised data (midtrain), or the sources with equal weights (mix-search). */
  mix: ResolvedMix;
  /** The mix a later midtrain replays: a pretrain round's own mix, a midtrain round's replay mix. */
  originalMix: ResolvedMix | null;
  replay: { share: number; mix: ResolvedMix; from: "base" | "spec" } | null;
  heldOut: { share: number; seed: number };
  /** mix-search: the candidates' weights, one per source. */
  candidates?: number[][];
  /** mix-search on a task set (decision 0054): the eval-set prompts (ids as ranges, hashed) and the checker that scores them. */
  tasks?: { name: string; checker: CheckerSpec; maxNewTokens: number; prompts: number; ranges: Array<[number, number]>; hash: string };
  parts: CorpusPart[];
  /** sha256 over the parts' document ids. */
  hash: string;
};

const invalid = (path: string, message: string) => new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path, message }]);

/** Resolves a mix (saved or given) against the project, naming the field that is wrong. */
export async function resolveMix(db: DbOrTrx, projectId: string, mix: CorpusMix, field: string): Promise<ResolvedMix> {
  let given = mix;
  let mixId: string | null = null;
  if (mix.mixId !== undefined) {
    const saved = await db.selectFrom("data_mixes").select(["id", "project_id", "cleaning_job_id", "classifier_id", "sources"]).where("id", "=", mix.mixId).executeTakeFirst();
    if (!saved || saved.project_id !== projectId) throw invalid(`${field}.mixId`, "no such saved mix in this project");
    mixId = saved.id;
    given = { cleaningJobId: saved.cleaning_job_id, ...(saved.classifier_id ? { classifierId: saved.classifier_id } : {}), sources: saved.sources };
  }
  const job = await db.selectFrom("cleaning_jobs").select(["id", "project_id", "state", "settings"]).where("id", "=", given.cleaningJobId!).executeTakeFirst();
  if (!job || job.project_id !== projectId) throw invalid(`${field}.cleaningJobId`, "no such cleaning job in this project");
  if (job.state !== "done") throw invalid(`${field}.cleaningJobId`, `the cleaning job is ${job.state}: its kept documents are not final until it is done`);
  const cleaned = cleaningSettingsSchema.parse(job.settings).corpusIds;
  const sources = given.sources ?? [];
  const corpora = await db.selectFrom("corpora").select(["id", "name", "project_id"]).where("id", "in", sources.map((s) => s.corpusId)).execute();
  for (const [i, s] of sources.entries()) {
    const corpus = corpora.find((c) => c.id === s.corpusId);
    if (!corpus) throw invalid(`${field}.sources.${i}.corpusId`, `no such corpus: ${s.corpusId}`);
    if (corpus.project_id !== projectId) throw invalid(`${field}.sources.${i}.corpusId`, `corpus ${s.corpusId} belongs to another project`);
    if (!cleaned.includes(s.corpusId)) throw invalid(`${field}.sources.${i}.corpusId`, `corpus ${corpus.name} was not cleaned by cleaning job ${job.id}`);
  }
  const classifier = given.classifierId ? await classifierOf(db, job.id, given.classifierId, `${field}.classifierId`) : null;
  const total = sources.reduce((a, s) => a + s.weight, 0);
  return {
    mixId, cleaningJobId: job.id, classifier,
    sources: sources.filter((s) => s.weight > 0).map((s) => ({ corpusId: s.corpusId, name: corpora.find((c) => c.id === s.corpusId)!.name, weight: s.weight / total })),
  };
}

async function classifierOf(db: DbOrTrx, jobId: string, classifierId: string, field: string) {
  const row = await db.selectFrom("quality_classifiers").select(["id", "job_id", "threshold"]).where("id", "=", classifierId).executeTakeFirst();
  if (!row || row.job_id !== jobId) throw invalid(field, "no such quality classifier for this cleaning job");
  if (row.threshold === null) throw invalid(field, "choose the classifier's threshold first");
  return { id: row.id, threshold: row.threshold };
}

/** Kept documents of one corpus in a cleaning job (after review), at or above the classifier's threshold when given. */
async function keptIds(db: DbOrTrx, mix: Pick<ResolvedMix, "cleaningJobId" | "classifier">, corpusId: string): Promise<number[]> {
  let query = db
    .selectFrom("cleaning_verdicts as v")
    .innerJoin("corpus_documents as d", "d.id", "v.document_id")
    .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "v.job_id").onRef("r.document_id", "=", "v.document_id"))
    .select("v.document_id")
    .where("v.job_id", "=", mix.cleaningJobId)
    .where("d.corpus_id", "=", corpusId)
    .where(finalVerdict, "=", "kept");
  const classifier = mix.classifier;
  if (classifier) {
    query = query.where((eb) =>
      eb.exists(eb.selectFrom("quality_scores as q").select("q.document_id").whereRef("q.document_id", "=", "v.document_id").where("q.classifier_id", "=", classifier.id).where("q.score", ">=", classifier.threshold)),
    );
  }
  return (await query.orderBy("v.document_id").execute()).map((r) => Number(r.document_id));
}

/**
 * A seeded split by document id: a document is held out when sha256(seed:id) falls below `share`. With two or
 * more documents at least one is held out (the one with the lowest hash) and at least one is kept, so a tiny
 * corpus still has loss to measure and text to train on.
 */
export function splitHeldOut(ids: number[], share: number, seed: number): { train: number[]; heldOut: number[] } {
  const u = (id: number) => parseInt(createHash("sha256").update(`${seed}:${id}`).digest("hex").slice(0, 8), 16) / 0x1_0000_0000;
  const scored = ids.map((id) => ({ id, u: u(id) }));
  let held = new Set(scored.filter((s) => s.u < share).map((s) => s.id));
  if (ids.length >= 2) {
    const sorted = [...scored].sort((a, b) => a.u - b.u);
    if (held.size === 0) held = new Set([sorted[0]!.id]);
    if (held.size === ids.length) held.delete(sorted.at(-1)!.id);
  }
  return { train: ids.filter((id) => !held.has(id)), heldOut: ids.filter((id) => held.has(id)) };
}

function rangesOf(ids: number[]): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const last = ranges.at(-1);
    if (last && id === last[1] + 1) last[1] = id;
    else ranges.push([id, id]);
  }
  return ranges;
}

const part = (name: string, role: CorpusPart["role"], corpusIds: string[], ids: number[], weight?: number): CorpusPart => ({
  name, role, ...(weight !== undefined ? { weight } : {}), corpusIds, documents: ids.length, ranges: rangesOf(ids),
});

/** Train parts (one per source, weight × scale) and the held-out ids of a mix. */
async function splitMix(db: DbOrTrx, mix: ResolvedMix, heldOut: { share: number; seed: number }, scale: number, field: string, prefix = "") {
  const train: CorpusPart[] = [];
  const held: number[] = [];
  for (const [i, s] of mix.sources.entries()) {
    const ids = await keptIds(db, mix, s.corpusId);
    if (ids.length === 0) throw invalid(`${field}.sources.${i}.corpusId`, `corpus ${s.name} has no kept documents in cleaning job ${mix.cleaningJobId}${mix.classifier ? " at the classifier's threshold" : ""}`);
    const split = splitHeldOut(ids, heldOut.share, heldOut.seed);
    train.push(part(`${prefix}${s.name}`, "train", [s.corpusId], split.train, s.weight * scale));
    held.push(...split.heldOut);
  }
  return { train, held };
}

/**
 * The corpus snapshot a midtrain round's base came from: the registered base model's (copied from its round), or,
 * for a round that waits for another (base.afterRound), that round's. null: no corpus lineage.
 */
export async function baseCorpusLineage(db: DbOrTrx, base: { modelId: string } | { afterRound: string } | null): Promise<CorpusSnapshot | null> {
  if (!base) return null;
  const row =
    "modelId" in base
      ? await db.selectFrom("models").select("data_snapshot").where("id", "=", base.modelId).executeTakeFirst()
      : await db.selectFrom("rounds").select("data_snapshot").where("id", "=", base.afterRound).executeTakeFirst();
  return (row?.data_snapshot as { corpus?: CorpusSnapshot } | null)?.corpus ?? null;
}

const hashParts = (parts: CorpusPart[]) => createHash("sha256").update(JSON.stringify(parts.map((p) => [p.name, p.role, p.ranges]))).digest("hex");

/** Resolves and freezes a corpus round's data at launch; every refusal names its field. */
export async function corpusSnapshot(db: DbOrTrx, projectId: string, spec: RoundSpec, baseLineage: CorpusSnapshot | null): Promise<CorpusSnapshot> {
  if (spec.path === "mix-search") return mixSearchSnapshot(db, projectId, spec);
  const corpus = spec.corpus!;
  const heldOut = { share: corpus.heldOutShare, seed: corpus.seed };
  const mix = await resolveMix(db, projectId, corpus.mix, "corpus.mix");
  if (spec.path === "pretrain") {
    const { train, held } = await splitMix(db, mix, heldOut, 1, "corpus.mix");
    const parts = [...train, part("mix", "eval", mix.sources.map((s) => s.corpusId), held)];
    return { cleaningJobId: mix.cleaningJobId, classifier: mix.classifier, mix, originalMix: mix, replay: null, heldOut, parts, hash: hashParts(parts) };
  }
  // midtrain: the specialised data, and the original mix replayed (its held-out side measures forgetting)
  const lineage = corpus.replay?.mix || !baseLineage?.originalMix ? null : { mix: baseLineage.originalMix, heldOut: baseLineage.heldOut };
  const replayMix = corpus.replay?.mix ? await resolveMix(db, projectId, corpus.replay.mix, "corpus.replay.mix") : (lineage?.mix ?? null);
  // unset: the schema's default share when there is a mix to replay, none when the base has no corpus lineage
  const share = corpus.replay?.share ?? (replayMix ? 0.25 : 0);
  if (!replayMix && share > 0) throw invalid("corpus.replay.mix", "the base model was not pretrained on a corpus mix in Tandem: name the mix to replay");
  const domain = await splitMix(db, mix, heldOut, 1 - (replayMix ? share : 0), "corpus.mix", "domain:");
  const parts = [...domain.train, part("domain", "eval", mix.sources.map((s) => s.corpusId), domain.held)];
  if (replayMix) {
    // the base's own split, so the replay's held-out documents are ones the base never trained on
    const replay = await splitMix(db, replayMix, lineage?.heldOut ?? heldOut, share, "corpus.replay.mix", "replay:");
    if (share > 0) parts.push(...replay.train);
    parts.push(part("replay", "eval", replayMix.sources.map((s) => s.corpusId), replay.held));
  }
  return {
    cleaningJobId: mix.cleaningJobId, classifier: mix.classifier, mix, originalMix: replayMix, heldOut, parts, hash: hashParts(parts),
    replay: replayMix ? { share, mix: replayMix, from: corpus.replay?.mix ? "spec" : "base" } : null,
  };
}

async function mixSearchSnapshot(db: DbOrTrx, projectId: string, spec: RoundSpec): Promise<CorpusSnapshot> {
  const search = spec.mixSearch!;
  const mix = await resolveMix(
    db, projectId,
    { cleaningJobId: search.cleaningJobId, ...(search.classifierId ? { classifierId: search.classifierId } : {}), sources: search.sources.map((corpusId) => ({ corpusId, weight: 1 })) },
    "mixSearch",
  );
  const candidates = search.candidates ?? simplexGrid(search.sources.length, search.levels);
  if (search.target.tasks) {
    // a task set: every source's kept documents are trained on; the eval-set prompts are the target
    const tasks = await taskTarget(db, projectId, search.target.tasks);
    const parts: CorpusPart[] = [];
    for (const [i, s] of mix.sources.entries()) {
      const ids = await keptIds(db, mix, s.corpusId);
      if (ids.length === 0) throw invalid(`mixSearch.sources.${i}`, `corpus ${s.name} has no kept documents to train on in cleaning job ${mix.cleaningJobId}`);
      parts.push(part(s.name, "source", [s.corpusId], ids));
    }
    const hash = createHash("sha256").update(JSON.stringify([hashParts(parts), tasks.hash, tasks.checker])).digest("hex");
    return { cleaningJobId: mix.cleaningJobId, classifier: mix.classifier, mix, originalMix: null, replay: null, heldOut: { share: 1, seed: search.seed }, candidates, parts, tasks, hash };
  }
  const targetCorpusId = search.target.corpusId!;
  const targetMix = await resolveMix(db, projectId, { cleaningJobId: search.cleaningJobId, sources: [{ corpusId: targetCorpusId, weight: 1 }] }, "mixSearch.target").catch((error: unknown) => {
    // name the target's own field, not the generic mix one
    if (error instanceof AppError) throw invalid("mixSearch.target.corpusId", error.fieldErrors[0]?.message ?? error.message);
    throw error;
  });
  const heldOut = { share: search.target.share, seed: search.seed };
  const targetIds = await keptIds(db, { cleaningJobId: mix.cleaningJobId, classifier: null }, targetCorpusId);
  if (targetIds.length === 0) throw invalid("mixSearch.target.corpusId", `corpus ${targetMix.sources[0]!.name} has no kept documents in cleaning job ${mix.cleaningJobId}`);
  const targetSplit = search.target.share >= 1 ? { train: [], heldOut: targetIds } : splitHeldOut(targetIds, search.target.share, search.seed);
  const parts: CorpusPart[] = [];
  for (const [i, s] of mix.sources.entries()) {
    // the target's held-out documents are never trained on, also when the target is one of the sources
    const ids = s.corpusId === targetCorpusId ? targetSplit.train : await keptIds(db, mix, s.corpusId);
    if (ids.length === 0) throw invalid(`mixSearch.sources.${i}`, `corpus ${s.name} has no kept documents to train on in cleaning job ${mix.cleaningJobId}`);
    parts.push(part(s.name, "source", [s.corpusId], ids));
  }
  parts.push(part(`target:${targetMix.sources[0]!.name}`, "target", [targetCorpusId], targetSplit.heldOut));
  return { cleaningJobId: mix.cleaningJobId, classifier: mix.classifier, mix, originalMix: null, replay: null, heldOut, candidates, parts, hash: hashParts(parts) };
}

/**
 * A task set as the search's target: the project's eval-set prompts and the checker (the round's, else the project's).
 * Refused with the field named: no checker, one whose reference is not an answer text, no eval set, and prompts whose
 * metadata lacks the checker's field (named, with the first prompts that lack it).
 */
async function taskTarget(db: DbOrTrx, projectId: string, tasks: MixTaskTarget): Promise<NonNullable<CorpusSnapshot["tasks"]>> {
  const project = await db.selectFrom("projects").select("settings").where("id", "=", projectId).executeTakeFirstOrThrow();
  const checker = tasks.checker ?? projectSettingsSchema.parse(project.settings).checker;
  if (!checker) throw invalid("mixSearch.target.tasks.checker", "the project has no checker: declare one in the project settings (kind and metadata field), or give one here");
  if (!(TASK_TARGET_CHECKERS as readonly string[]).includes(checker.kind)) {
    throw invalid("mixSearch.target.tasks.checker", `a ${checker.kind} checker has no answer text to measure a small model's loss on: use ${TASK_TARGET_CHECKERS.join(" or ")}`);
  }
  const field = checkerField(checker)!;
  const prompts = await db
    .selectFrom("prompts")
    .select(["id", sql<boolean>`coalesce(jsonb_typeof(metadata -> ${field}), 'null') in ('number', 'string', 'boolean')`.as("has")])
    .where("project_id", "=", projectId).where("held_out", "=", true).where("kind", "=", "prompt").where("excluded_at", "is", null)
    .orderBy("id")
    .execute();
  if (prompts.length === 0) throw invalid("mixSearch.target.tasks", "the project has no eval set: hold prompts with reference answers out first (import with \"split\": \"eval\")");
  const lacking = prompts.filter((p) => !p.has).map((p) => p.id);
  if (lacking.length > 0) {
    throw invalid(
      "mixSearch.target.tasks",
      `${lacking.length} of ${prompts.length} eval-set prompts have no metadata.${field}, the reference answer the ${checker.kind} checker reads (prompt ${lacking.slice(0, 5).join(", ")}${lacking.length > 5 ? ", …" : ""})`,
    );
  }
  const ids = prompts.map((p) => Number(p.id));
  return { name: "tasks:eval-set", checker, maxNewTokens: tasks.maxNewTokens, prompts: ids.length, ranges: rangesOf(ids), hash: createHash("sha256").update(ids.join(",")).digest("hex") };
}

/** The corpora a round reads (round_corpora keeps them from being deleted while the round exists). */
export function corporaOf(snapshot: CorpusSnapshot): string[] {
  return [...new Set(snapshot.parts.flatMap((p) => p.corpusIds))];
}

/** The `corpus` field of a claimed job: one URL per part, with the lease's attempt. */
export function corpusForJob(snapshot: CorpusSnapshot, kind: string, jobId: string, attempt: number) {
  const url = (i: number) => `/api/v1/trainer/jobs/${jobId}/corpus/${i}.jsonl?attempt=${attempt}`;
  const indexed = snapshot.parts.map((p, i) => ({ ...p, url: url(i) }));
  if (kind === "mix-search") {
    const sources = indexed.filter((p) => p.role === "source").map((p) => ({ name: p.name, url: p.url }));
    // a task target's prompts come from the job's promptsUrl (insertJob writes their ids)
    const tasks = snapshot.tasks;
    if (tasks) return { sources, tasks: { name: tasks.name, checker: tasks.checker, maxNewTokens: tasks.maxNewTokens }, candidates: snapshot.candidates ?? [] };
    const target = indexed.find((p) => p.role === "target")!;
    return { sources, target: { name: target.name, url: target.url }, candidates: snapshot.candidates ?? [] };
  }
  return {
    train: indexed.filter((p) => p.role === "train" && (p.weight ?? 0) > 0).map((p) => ({ name: p.name, url: p.url, weight: p.weight ?? 0 })),
    eval: indexed.filter((p) => p.role === "eval" && p.documents > 0).map((p) => ({ name: p.name, url: p.url })),
  };
}

/** One part's documents as JSONL ({"text"}), in id order, with PII and reviewers' redactions applied; one range at a time. */
export async function* corpusPartLines(db: Db, snapshot: CorpusSnapshot, index: number): AsyncGenerator<string> {
  const p = snapshot.parts[index];
  if (!p) throw new AppError("not_found", "This job has no such corpus part.");
  for (const [first, last] of p.ranges) {
    for (let from = first; from <= last; from += 500) {
      const rows = await db
        .selectFrom("cleaning_verdicts as v")
        .innerJoin("corpus_documents as d", "d.id", "v.document_id")
        .leftJoin("corpus_reviews as r", (join) => join.onRef("r.job_id", "=", "v.job_id").onRef("r.document_id", "=", "v.document_id"))
        .select([cleanedText.as("text")])
        .where("v.job_id", "=", snapshot.cleaningJobId)
        .where("v.document_id", ">=", String(from))
        .where("v.document_id", "<=", String(Math.min(last, from + 499)))
        .orderBy("v.document_id")
        .execute();
      if (rows.length > 0) yield rows.map((r) => JSON.stringify({ text: r.text })).join("\n") + "\n";
    }
  }
}

/** mix-search.json as the trainer writes it (corpus-jobs.ts), checked before it is stored. */
export function parseMixSearch(text: string | null, snapshot: CorpusSnapshot): MixSearchResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? "");
  } catch {
    parsed = null;
  }
  const checked = mixSearchResultSchema.safeParse(parsed);
  if (!checked.success) throw new AppError("validation_failed", "mix-search.json is not the mix search's output.");
  const value: MixSearchResult = checked.data;
  const n = snapshot.mix.sources.length;
  const ok = value.candidates.length === (snapshot.candidates ?? []).length && value.candidates.every((c) => c.weights.length === n) && value.best < value.candidates.length;
  if (!ok) throw new AppError("validation_failed", "mix-search.json does not match the round's candidates.");
  return value;
}

/** The search's table for the round's report, and the chosen mix saved for pretrain rounds (data_mixes). */
export async function saveSearchResult(trx: Transaction<Database>, round: { id: string; project_id: string; name: string; spec: RoundSpec; created_by?: string | null }, snapshot: CorpusSnapshot, result: MixSearchResult) {
  const sources = snapshot.mix.sources.map((s) => ({ corpusId: s.corpusId, name: s.name }));
  const table = result.candidates.map((c, i) => ({
    index: i, weights: c.weights, loss: c.loss, trainLoss: c.trainLoss, tokens: c.tokens, chosen: i === result.best, ...(c.checker ? { checker: c.checker } : {}),
  }));
  const best = result.candidates[result.best]!;
  const saved = await trx
    .insertInto("data_mixes")
    .values({
      project_id: round.project_id, name: round.spec.mixSearch?.saveAs ?? round.name, cleaning_job_id: snapshot.cleaningJobId, classifier_id: snapshot.classifier?.id ?? null,
      sources: JSON.stringify(sources.map((s, i) => ({ corpusId: s.corpusId, weight: best.weights[i] ?? 0 }))),
      round_id: round.id, results: JSON.stringify({ target: result.target, scoring: result.scoring, table }), created_by: round.created_by ?? null,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { sources, target: result.target, scoring: result.scoring, candidates: table, best: result.best, mixId: saved.id };
}

/** lm-eval.json (held-out loss per set, before and after training) for the round's report. */
export function parseLmEval(text: string | null): Array<{ name: string; tokens: number; lossBefore: number; lossAfter: number }> | null {
  if (text === null) return null;
  try {
    const sets = (JSON.parse(text) as { sets?: Array<Record<string, unknown>> }).sets ?? [];
    return sets
      .filter((s) => typeof s["name"] === "string" && typeof s["lossAfter"] === "number" && typeof s["lossBefore"] === "number")
      .map((s) => ({ name: s["name"] as string, tokens: Number(s["tokens"] ?? 0), lossBefore: s["lossBefore"] as number, lossAfter: s["lossAfter"] as number }));
  } catch {
    throw new AppError("validation_failed", "lm-eval.json is not the pretrain job's held-out report.");
  }
}

/** Saved mixes of a project, newest first. */
export function listDataMixes(db: Db, projectId: string) {
  return db
    .selectFrom("data_mixes")
    .select(["id", "name", "cleaning_job_id", "classifier_id", "sources", "round_id", "results", "created_at"])
    .where("project_id", "=", projectId)
    .orderBy("id", "desc")
    .execute();
}


