/**
 * Rounds: a researcher's launch becomes a row with its steps (e.g. sft → dpo → sample) and a
 * frozen data snapshot; each step becomes one job, created when the step before it finished,
 * because it needs that step's model. See docs/decisions/0010-rounds-and-jobs.md.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { readIfPresent, removeDir, resumeDir, stagingDir } from "./model-files.server.ts";
import { spareSamples } from "./samples.server.ts";
import { sql, type Transaction } from "kysely";
import type { Db } from "../db/database.server.ts";
import type { Database, JobKind, RoundState } from "../db/schema.ts";
import { AppError } from "../lib/app-error.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { projectAccessOf } from "../auth/project-access.server.ts";
import { hasRole } from "../auth/roles.ts";
import { qualityReport } from "../labeling/quality-report.server.ts";
import { MIX_SOURCES_OF, mixParam, mixWeight, type DataMix, type MixSource } from "../labeling/data-mix.ts";
import type { PairMode } from "../labeling/quality/pair-builder.ts";
import { projectSettingsSchema, type ProjectSettings } from "../labeling/project-settings.ts";
import type { Project } from "../labeling/projects.server.ts";
import { isCorpusPath, readsPreferencePairs, RL_STEPS, ROUND_PATHS, roundSpecSchema, stepKlTarget, type RoundRewards, type RoundSpec } from "../../trainer/contract/round.ts";
import { dpopLambdaFor } from "../../trainer/contract/dpo-config.ts";
import { baseCorpusLineage, corporaOf, corpusSnapshot, type CorpusSnapshot } from "./corpus-rounds.server.ts";
import { checkerField, type CheckerSpec } from "../../trainer/contract/checker.ts";
import { SHOW_SAMPLES_DEFAULT } from "../../trainer/contract/job.ts";
import type { RewardSpecInput } from "../../trainer/contract/reward-spec.ts";

type DbOrTrx = Db | Transaction<Database>;

/** Which submissions a round trains on: the filters, the cut-off time, and the ids themselves. */
export type DataSnapshot = {
  until: string;
  since: string | null;
  labeler: string | null;
  /** Preference filters, applied by the export (the counts and ids above are before them). */
  minAgreement: number | null;
  consensus: boolean;
  /** Which pairs each ranking yields (pair-builder.ts); missing on rounds from before it existed: all. */
  pairs?: PairMode;
  /**
   * data.rightChosenOnly (decision 0063): the project's checker at launch, which leaves out every preference pair whose
   * chosen answer it marks wrong. null or missing = every pair.
   */
  chosenChecker?: CheckerSpec | null;
  /**
   * The gold filter: rankings and A/B choices only from these labelers (those whose agreement
   * with gold was at least minGoldAgreement at launch). null = no gold filter.
   */
  gold?: { minAgreement: number; labelers: string[]; measured: number } | null;
  /** Data-mix weights per source (data-mix.ts); null = every source as labeled. */
  mix?: DataMix | null;
  /**
   * Where the labels come from: the round's project and any others named, or only the tasks of
   * the named rounds (each in its own project). Missing on rounds from before it existed: the
   * round's own project.
   */
  sources?: { projects: string[]; rounds: Array<{ id: string; projectId: string }> | null };
  /**
   * The project's held-out eval set at launch (issue #11): the round's policy is scored on exactly
   * these prompts. null = none (or evaluation off). Missing on rounds from before it existed.
   */
  evalSet?: { count: number; ranges: Array<[number, number]>; hash: string } | null;
  /**
   * The prompt split that keeps a share of preference pairs away from the round's reward model
   * (eval-split.ts), so its accuracy is measured on pairs it never trained on. null = none.
   */
  promptSplit?: { seed: string; share: number } | null;
  /** Submissions per task type. */
  counts: Record<"demonstrate" | "rank" | "review" | "compare", number>;
  /** The submission ids as inclusive ranges [first, last]: exact and small. */
  ranges: Array<[number, number]>;
  /** sha256 of the ids, comma-joined in ascending order (corpus rounds: of their documents, corpus.hash). */
  hash: string;
  /** pretrain, midtrain and mix-search rounds: the cleaning job, classifier and documents they read (decision 0051). */
  corpus?: CorpusSnapshot;
};

/** Training steps, then the held-out evaluation (when there is an eval set), then sampling the next batch. */
export function stepsOf(spec: RoundSpec, snapshot: Pick<DataSnapshot, "evalSet">): JobKind[] {
  // a base model or a mix search answers no prompts: no held-out prompt evaluation, no batch for labelers
  if (isCorpusPath(spec.path)) return [...ROUND_PATHS[spec.path]];
  const evaluate = spec.evaluation.heldOut !== "off" && (snapshot.evalSet?.count ?? 0) > 0;
  return [...ROUND_PATHS[spec.path], ...(evaluate ? (["evaluate"] as const) : []), ...(spec.next.prompts > 0 ? (["sample"] as const) : [])];
}

/** Ids of numeric ranges back to a list. */
export function idsOfRanges(ranges: Array<[number, number]>): string[] {
  return ranges.flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_, i) => String(first + i)));
}

export function idRanges(ids: number[]): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const id of ids) {
    const last = ranges[ranges.length - 1];
    if (last && id === last[1] + 1) last[1] = id;
    else ranges.push([id, id]);
  }
  return ranges;
}

async function snapshotData(db: DbOrTrx, projectId: string, spec: Pick<RoundSpec, "data" | "evaluation" | "path">, until: Date, checker?: CheckerSpec): Promise<DataSnapshot> {
  const data = spec.data;
  if (isCorpusPath(spec.path)) {
    // corpus rounds read no labels: the corpus part of the snapshot is added by the launch
    return { until: until.toISOString(), since: null, labeler: null, minAgreement: null, consensus: false, gold: null, mix: null, sources: { projects: [projectId], rounds: null }, evalSet: null, promptSplit: null, counts: { demonstrate: 0, rank: 0, review: 0, compare: 0 }, ranges: [], hash: "" };
  }
  const sources = await dataSources(db, projectId, data);
  const gold = data.minGoldAgreement === undefined ? null : await goldPassing(db, sources.projects, data.minGoldAgreement);
  let query = db
    .selectFrom("submissions")
    .innerJoin("tasks", "tasks.id", "submissions.task_id")
    .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
    .select(["submissions.id", "tasks.type"])
    .where("submissions.created_at", "<", until)
    // Excluded prompts' labels are not training data (decision 0032).
    .where("prompts.excluded_at", "is", null)
    .orderBy("submissions.id");
  query = sources.rounds ? query.where("tasks.round_id", "in", sources.rounds.map((r) => r.id)) : query.where("tasks.project_id", "in", sources.projects);
  if (data.since) query = query.where("submissions.created_at", ">=", new Date(data.since));
  if (data.labeler) query = query.where("submissions.user_id", "=", data.labeler);
  if (gold) {
    const passed = gold.labelers;
    query = query.where((eb) => eb.or([eb("tasks.type", "not in", ["rank", "compare"]), ...(passed.length > 0 ? [eb("submissions.user_id", "in", passed)] : [])]));
  }
  const rows = await query.execute();
  const counts = { demonstrate: 0, rank: 0, review: 0, compare: 0 };
  for (const row of rows) counts[row.type]++;
  const ids = rows.map((r) => Number(r.id));
  const hash = createHash("sha256").update(ids.join(",")).digest("hex");
  return {
    until: until.toISOString(),
    since: data.since ?? null,
    labeler: data.labeler ?? null,
    minAgreement: data.minAgreement ?? null,
    consensus: data.consensus,
    pairs: data.pairs ?? "all",
    chosenChecker: data.rightChosenOnly && checker ? checker : null,
    gold,
    mix: data.mix ?? null,
    sources,
    evalSet: spec.evaluation.heldOut === "off" ? null : await evalSetAt(db, projectId),
    // seeded by the data itself, so the same data splits the same way
    promptSplit: ROUND_PATHS[spec.path].includes("reward" as never) && spec.evaluation.rewardSplit > 0 ? { seed: hash.slice(0, 16), share: spec.evaluation.rewardSplit } : null,
    counts,
    ranges: idRanges(ids),
    hash,
  };
}

/** The project's eval set as it is now, frozen into a snapshot (null when empty). */
async function evalSetAt(db: DbOrTrx, projectId: string): Promise<NonNullable<DataSnapshot["evalSet"]> | null> {
  const rows = await db.selectFrom("prompts").select("id").where("project_id", "=", projectId).where("held_out", "=", true).orderBy("id").execute();
  if (rows.length === 0) return null;
  const ids = rows.map((r) => Number(r.id));
  return { count: ids.length, ranges: idRanges(ids), hash: createHash("sha256").update(ids.join(",")).digest("hex") };
}

/**
 * Labelers whose agreement with the project's gold tasks is at least `min`, from the quality
 * report's numbers. Someone who never ranked a gold task has not been measured and does not pass.
 */
async function goldPassing(db: DbOrTrx, projectIds: string[], min: number): Promise<NonNullable<DataSnapshot["gold"]>> {
  // Over several projects a labeler passes where measured in any of them (gold is per project).
  const measured = new Set<string>();
  const passed = new Set<string>();
  for (const projectId of projectIds) {
    for (const l of (await qualityReport(db as Db, projectId)).labelers) {
      if (l.goldSubmissions === 0 || l.vsGold.rate === null) continue;
      measured.add(l.labelerId);
      if (l.vsGold.rate >= min) passed.add(l.labelerId);
    }
  }
  return { minAgreement: min, labelers: [...passed].sort((a, b) => Number(a) - Number(b)), measured: measured.size };
}

/** The projects and rounds a round's data comes from; an unknown one is refused with its field named. */
async function dataSources(db: DbOrTrx, projectId: string, data: RoundSpec["data"]): Promise<NonNullable<DataSnapshot["sources"]>> {
  const invalid = (path: string, message: string) => new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path, message }]);
  const others = [...new Set(data.projects ?? [])].filter((id) => id !== projectId);
  if (others.length > 0) {
    const found = new Set((await db.selectFrom("projects").select("id").where("id", "in", others).execute()).map((p) => p.id));
    const missing = others.filter((id) => !found.has(id));
    if (missing.length > 0) throw invalid("data.projects", `no such project: ${missing.join(", ")}`);
  }
  let rounds: Array<{ id: string; projectId: string }> | null = null;
  if (data.rounds) {
    const ids = [...new Set(data.rounds)];
    const rows = await db.selectFrom("rounds").select(["id", "project_id"]).where("id", "in", ids).execute();
    const missing = ids.filter((id) => !rows.some((r) => r.id === id));
    if (missing.length > 0) throw invalid("data.rounds", `no such round: ${missing.join(", ")}`);
    rounds = ids.map((id) => ({ id, projectId: rows.find((r) => r.id === id)!.project_id }));
  }
  return { projects: [projectId, ...others], rounds };
}

/**
 * Data from other projects, and a base model of another project, is the launcher's to read only if
 * they are a researcher there (decision 0031): otherwise a researcher of one project could train on,
 * or sample from, a members-only project they cannot open. The launcher's current role is read;
 * a round launched with a lower-role token was already refused for this project.
 */
async function refuseForeignSources(db: DbOrTrx, actorId: string, projectId: string, snapshot: DataSnapshot, base: { id: string; project_id: string | null } | null): Promise<void> {
  const user = await db.selectFrom("users").select(["id", "role"]).where("id", "=", actorId).executeTakeFirst();
  if (!user) throw new AppError("forbidden", "Unknown launcher.");
  const caller = { user: { id: user.id }, role: user.role };
  const sources = snapshot.sources ?? { projects: [projectId], rounds: null };
  const checks: Array<{ projectId: string; path: string; what: string }> = [
    ...sources.projects.filter((id) => id !== projectId).map((id) => ({ projectId: id, path: "data.projects", what: `project ${id}` })),
    ...(sources.rounds ?? []).filter((r) => r.projectId !== projectId).map((r) => ({ projectId: r.projectId, path: "data.rounds", what: `round ${r.id}` })),
  ];
  if (base?.project_id && base.project_id !== projectId) checks.push({ projectId: base.project_id, path: "base.modelId", what: `model ${base.id}` });
  for (const check of checks) {
    const access = await projectAccessOf(db, caller, check.projectId);
    if (!access || !(access.role === "trainer" || hasRole(access.role, "researcher"))) {
      throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [
        { path: check.path, message: `${check.what} belongs to a project you are not a researcher of` },
      ]);
    }
  }
}

/** One export per part of the data: per project, or per round (in its project). */
export function snapshotParts(snapshot: DataSnapshot, projectId: string): Array<{ projectId: string; round?: string }> {
  const sources = snapshot.sources ?? { projects: [projectId], rounds: null };
  return sources.rounds ? sources.rounds.map((r) => ({ projectId: r.projectId, round: r.id })) : sources.projects.map((id) => ({ projectId: id }));
}

/** The gold filter as an export parameter. No one passing is written as user 0, which no one is (ids start at 1). */
export function goldLabelersParam(gold: NonNullable<DataSnapshot["gold"]>): string {
  return gold.labelers.length > 0 ? gold.labelers.join(",") : "0";
}

/**
 * The export URL a job pulls its data from: the researcher's own download, with the snapshot's
 * filters; `side` takes one side of the snapshot's prompt split (the reward model's train or eval pairs).
 */
function exportUrls(projectId: string, dataset: "sft" | "preferences" | "unpaired", snapshot: DataSnapshot, side?: "train" | "eval"): string[] {
  return snapshotParts(snapshot, projectId).map((part) => exportUrl(part.projectId, dataset, snapshot, part.round, side));
}

/** A job's dataset: the first part as dataUrl, the rest (other projects or rounds) after it. */
function dataUrls(projectId: string, dataset: "sft" | "preferences" | "unpaired", snapshot: DataSnapshot, side?: "train" | "eval") {
  const [dataUrl, ...more] = exportUrls(projectId, dataset, snapshot, side);
  return { dataUrl, ...(more.length > 0 ? { moreDataUrls: more } : {}) };
}

function exportUrl(projectId: string, dataset: "sft" | "preferences" | "unpaired", snapshot: DataSnapshot, round?: string, side?: "train" | "eval"): string {
  const query = snapshotQuery(snapshot, dataset, round);
  if (side && snapshot.promptSplit) Object.assign(query, { promptSplit: side, promptSplitSeed: snapshot.promptSplit.seed, promptSplitShare: String(snapshot.promptSplit.share) });
  // KTO's unpaired labels are TRL's {prompt, completion, label}, from the dataset-format exports
  const file = dataset === "unpaired" ? "trl/unpaired" : dataset;
  return `/api/v1/projects/${projectId}/exports/${file}.jsonl?${new URLSearchParams(query).toString()}`;
}

/**
 * The export query that reproduces a round's snapshot for one dataset (one part of it when
 * `round` is given): what its trainer jobs and its bundle download with. Filters a dataset
 * cannot take are left out rather than refused; prompts take none.
 */
export function snapshotQuery(snapshot: DataSnapshot, dataset: "sft" | "preferences" | "unpaired" | "prompts", round?: string): Record<string, string> {
  if (dataset === "prompts") return {};
  const query: Record<string, string> = { until: snapshot.until, ...(round ? { round } : {}) };
  if (snapshot.since) query["since"] = snapshot.since;
  if (snapshot.labeler) query["labeler"] = snapshot.labeler;
  if (dataset === "preferences") {
    if (snapshot.minAgreement !== null && snapshot.minAgreement !== undefined) query["minAgreement"] = String(snapshot.minAgreement);
    if (snapshot.consensus) query["consensus"] = "true";
    if (snapshot.pairs && snapshot.pairs !== "all") query["pairs"] = snapshot.pairs;
    if (snapshot.chosenChecker) query["chosenChecker"] = JSON.stringify(snapshot.chosenChecker);
  }
  // the gold filter chooses whose rankings count: the pairs', and the favourites' when SFT reads them
  if (snapshot.gold && (dataset === "preferences" || (dataset === "sft" && mixWeight(snapshot.mix, "rankedBest") > 0))) query["labelers"] = goldLabelersParam(snapshot.gold);
  const mix = snapshot.mix ? mixParam(snapshot.mix, MIX_SOURCES_OF[dataset]) : null;
  if (mix) query["mix"] = mix;
  return query;
}

/**
 * Where a round runs: Tandem's trainer service (its first job is queued here), or somewhere else
 * that takes over from the stored round, e.g. a Ray cluster (server/bridges/ray). `check` runs
 * before anything is written; `start` inside the launch transaction, instead of the first job.
 */
export type RoundExecutor = {
  check: (spec: RoundSpec) => void;
  start: (trx: Transaction<Database>, roundId: string) => Promise<void>;
  /** External engines train and stop: Tandem's sampling step is not theirs. */
  trainingOnly: boolean;
  audit: Record<string, unknown>;
};

export async function launchRound(db: Db, actorId: string, project: Project, input: unknown, leaseSeconds: number, executor?: RoundExecutor) {
  const parsed = roundSpecSchema.safeParse(input);
  if (!parsed.success) throw AppError.fromZod(parsed.error, "The round is not valid; nothing was launched.");
  const spec = parsed.data;
  executor?.check(spec);
  const noLora = ROUND_PATHS[spec.path].find((k) => !LORA_STEPS.includes(k));
  if (spec.lora && noLora) {
    throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "lora", message: `LoRA adapters train in SFT, reward, DPO and PPO steps; this path's ${noLora.toUpperCase()} step trains every weight` }]);
  }
  if (executor && spec.recompute) {
    throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "recompute", message: "Recomputing activations is a setting of Tandem's trainer; a round handed to Ray trains as its engine's own flags say" }]);
  }
  if (executor && spec.lora) {
    throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "lora", message: "LoRA here is for Tandem's trainer; a round handed to Ray trains as its engine's own flags say" }]);
  }
  return db.transaction().execute(async (trx) => {
    let baseModel: { id: string; project_id: string | null } | null = null;
    if ("modelId" in spec.base) {
      const base = await trx.selectFrom("models").select(["id", "kind", "external_uri", "project_id"]).where("id", "=", spec.base.modelId).executeTakeFirst();
      if (!base) throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "base.modelId", message: "no such model" }]);
      // A Ray round's checkpoint lives on the cluster: Tandem's trainer cannot start from it (a Ray round names its own base).
      if (base.external_uri && !executor) {
        throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "base.modelId", message: `trained outside Tandem; its files are at ${base.external_uri}` }]);
      }
      if (base.kind === "reward") throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "base.modelId", message: "a reward model cannot be a policy" }]);
      baseModel = base;
      if (spec.lora && !(await isLlamaFamily(trx, base.id))) {
        throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "lora", message: "LoRA adapters need a Llama-family base (import one from Hugging Face); this base is GPT-2" }]);
      }
    }
    // A round that starts from another round's policy waits for it; a failed or cancelled one cannot be waited for.
    let waitFor: { id: string; done: boolean } | null = null;
    if ("afterRound" in spec.base) {
      // Locked: a round finishing (or failing) at this moment updates this row, so its startFollowers or
      // failFollowers either sees this launch committed or waits, and this launch reads its final state.
      const before = await trx.selectFrom("rounds").select(["id", "state", "project_id"]).where("id", "=", spec.base.afterRound).forUpdate().executeTakeFirst();
      const refuse = (message: string) => new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "base.afterRound", message }]);
      if (!before || before.project_id !== project.id) throw refuse("no such round in this project");
      if (before.state === "failed" || before.state === "cancelled") throw refuse(`round ${before.id} is ${before.state}: retry it first`);
      if (executor) throw refuse("a round handed to a cluster names its own base model");
      waitFor = { id: before.id, done: before.state === "done" };
    }
    // DPOP's λ left blank: chosen now and kept in the spec, so the round, its retries and the API show what trains (decision 0064)
    if (ROUND_PATHS[spec.path].includes("dpo" as never) && spec.dpo.dpopLambda === undefined) {
      spec.dpo.dpopLambda = dpopLambdaFor(undefined, (await rlStepBehind(trx, spec.base)) !== null);
    }
    const { now } = await sql<{ now: Date }>`select now() as now`.execute(trx).then((r) => r.rows[0]!);
    const rightChosen = rightChosenNeeds(spec, project.settings);
    if (rightChosen) throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [rightChosen]);
    const snapshot = await snapshotData(trx, project.id, spec, now, project.settings.checker);
    if (isCorpusPath(spec.path)) {
      if (executor) throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "path", message: "corpus rounds run on Tandem's trainer" }]);
      const lineage = "init" in spec.base ? null : await baseCorpusLineage(trx, spec.base);
      snapshot.corpus = await corpusSnapshot(trx, project.id, spec, lineage);
      snapshot.hash = snapshot.corpus.hash;
    }
    await refuseForeignSources(trx, actorId, project.id, snapshot, baseModel);
    if (spec.evaluation.heldOut === "required" && !snapshot.evalSet) {
      throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [{ path: "evaluation.heldOut", message: "the project has no eval set: hold some prompts out first (import with \"split\": \"eval\", or Eval set on the project page)" }]);
    }
    const steps: JobKind[] = executor?.trainingOnly ? [...ROUND_PATHS[spec.path]] : stepsOf(spec, snapshot);
    const needs = dataNeeds(steps, snapshot) ?? (await rewardNeeds(trx, project, spec));
    if (needs) throw new AppError("validation_failed", "The round is not valid; nothing was launched.", [needs]);
    const round = await trx
      .insertInto("rounds")
      .values({ project_id: project.id, name: spec.name, spec: JSON.stringify(spec), steps: JSON.stringify(steps), data_snapshot: JSON.stringify(snapshot), created_by: actorId })
      .returning(["id"])
      .executeTakeFirstOrThrow();
    // lineage, and the corpora a round reads cannot be deleted under it (decision 0039)
    const corpora = snapshot.corpus ? corporaOf(snapshot.corpus) : [];
    if (corpora.length > 0) await trx.insertInto("round_corpora").values(corpora.map((corpusId) => ({ round_id: round.id, corpus_id: corpusId }))).execute();
    if (executor) await executor.start(trx, round.id);
    // a round waiting for another starts when that one is done (startFollowers)
    else if (!waitFor || waitFor.done) await insertJob(trx, { id: round.id, project_id: project.id, spec, data_snapshot: snapshot, steps }, 0, leaseSeconds);
    await recordAudit(trx, {
      actorUserId: actorId, action: "round.launch", target: `round:${round.id}`,
      details: { project: project.id, path: spec.path, hash: snapshot.hash, ...(executor ? executor.audit : {}) },
    });
    return { id: round.id, steps, dataSnapshot: snapshot };
  });
}

/** Whether a registered model is a Llama-family decoder (its manifest's modelConfig says so). */
async function isLlamaFamily(trx: DbOrTrx, modelId: string): Promise<boolean> {
  const row = await trx.selectFrom("models").select("config").where("id", "=", modelId).executeTakeFirst();
  return (row?.config as { modelConfig?: { architecture?: string } } | undefined)?.modelConfig?.architecture === "llama";
}

/** data.rightChosenOnly needs the project's checker and a step that reads preference pairs (DPO or a reward model). */
function rightChosenNeeds(spec: RoundSpec, settings: ProjectSettings): { path: string; message: string } | null {
  if (!spec.data.rightChosenOnly) return null;
  if (!settings.checker) return { path: "data.rightChosenOnly", message: "the project has no checker to mark chosen answers wrong: declare one in the project settings (kind and metadata field)" };
  if (!readsPreferencePairs(ROUND_PATHS[spec.path])) return { path: "data.rightChosenOnly", message: `only DPO and reward-model steps read preference pairs; the ${spec.path} path has neither` };
  return null;
}

/** A step that would train on nothing is refused at launch, naming what is missing. */
function dataNeeds(steps: JobKind[], snapshot: DataSnapshot): { path: string; message: string } | null {
  // A source weighted 0 is left out of the datasets, so it counts as none here.
  const weighed = (count: number, source: MixSource) => (mixWeight(snapshot.mix, source) === 0 ? 0 : count);
  // the rankings' favourites count for SFT only when the mix asks for them (decision 0069)
  const favourites = weighed(snapshot.counts.rank, "rankedBest");
  if (steps.includes("sft") && weighed(snapshot.counts.demonstrate, "demonstrations") + weighed(snapshot.counts.review, "qa") + favourites === 0 && snapshot.counts.demonstrate + snapshot.counts.review > 0) {
    return { path: "data.mix", message: "the mix leaves SFT with nothing: demonstrations and reviewed Q&A are both weighted 0" };
  }
  if (readsPreferencePairs(steps) && snapshot.counts.rank + snapshot.counts.compare + snapshot.counts.review > 0 &&
    weighed(snapshot.counts.rank, "rankings") + weighed(snapshot.counts.compare, "compares") + weighed(snapshot.counts.review, "corrections") === 0) {
    return { path: "data.mix", message: "the mix leaves DPO and the reward model with nothing: rankings, compares and corrections are weighted 0" };
  }
  const { demonstrate, rank, review, compare } = snapshot.counts;
  if (steps.includes("sft") && demonstrate + review + favourites === 0) {
    return { path: "data", message: `SFT needs demonstrations or reviewed answers${mixWeight(snapshot.mix, "rankedBest") > 0 ? " or rankings (for their favourites)" : ""}, and the selection has none` };
  }
  if (steps.includes("kto") && rank + compare + review === 0) {
    return { path: "data", message: "KTO needs labels it can read as good or bad (rankings, A/B compares or review verdicts), and the selection has none" };
  }
  if (readsPreferencePairs(steps) && rank + compare + review === 0) {
    if (snapshot.gold) {
      return { path: "data.minGoldAgreement", message: `no rankings pass the gold filter: ${snapshot.gold.labelers.length} of ${snapshot.gold.measured} labelers measured on gold reach ${snapshot.gold.minAgreement}` };
    }
    return { path: "data", message: "DPO and reward models need rankings or comparisons, and the selection has none" };
  }
  return null;
}

/**
 * GRPO, RLOO and PPO reward what the round names (rewards) or, by default, the project's checker and the
 * round's own reward model (PPO always has one: it also starts the value model; decision 0065). Refused at
 * launch, with the field named: rewards on a path without such a step, a checker the project does not have
 * or whose field no prompt carries, a reward model that is not one, PPO rewards that leave out the round's
 * reward model or name another, and a GRPO/RLOO step left with nothing to reward.
 */
async function rewardNeeds(db: DbOrTrx, project: Project, spec: RoundSpec): Promise<{ path: string; message: string } | null> {
  const rl = ROUND_PATHS[spec.path].some((k) => k === "grpo" || k === "rloo" || k === "ppo");
  const ppo = ROUND_PATHS[spec.path].includes("ppo" as never);
  const named = Object.keys(spec.rewards) as Array<keyof RoundRewards>;
  if (!rl) return named.length > 0 ? { path: `rewards.${named[0]}`, message: `rewards are for GRPO, RLOO and PPO paths; the ${spec.path} path does not use them` } : null;
  if (ppo && named.length > 0) {
    if (!spec.rewards.rewardModel) return { path: "rewards.rewardModel", message: "PPO rewards with the round's reward model (it also starts the value model): keep it among the rewards, with weight 0 to leave its score out" };
    if (spec.rewards.rewardModel.modelId) return { path: "rewards.rewardModel.modelId", message: "PPO rewards with the reward model its round trains; it takes no other" };
  }
  const sources = rewardSpecFor(spec, project.settings, ROUND_PATHS[spec.path].includes("reward" as never) ? "round" : null);
  if (spec.rewards.checker && !project.settings.checker) return { path: "rewards.checker", message: "the project has no checker: declare one in the project settings (kind and metadata field)" };
  if (spec.rewards.digits && project.settings.checker?.kind !== "numeric") {
    return { path: "rewards.digits", message: "partial credit per digit reads the numeric checker's reference: declare a numeric checker in the project settings" };
  }
  // the checker and the digits term read the same metadata field: some training prompt must carry it. PPO's reward
  // model scores every answer, so its default checker only adds to it where a prompt has the reference: checked
  // only when the round names the checker or the digits term.
  const reading = ppo && !spec.rewards.checker && !spec.rewards.digits ? null : sources.reward.checker ? "rewards.checker" : sources.reward.digits ? "rewards.digits" : null;
  const field = reading && project.settings.checker ? checkerField(project.settings.checker) : null;
  if (reading && field !== null) {
    const carrying = await db
      .selectFrom("prompts").select("id").where("project_id", "=", project.id).where("held_out", "=", false).where("kind", "=", "prompt")
      .where(sql<boolean>`coalesce(jsonb_typeof(metadata -> ${field}), 'null') <> 'null'`).limit(1).executeTakeFirst();
    if (!carrying) return { path: reading, message: `the ${reading === "rewards.checker" ? "checker" : "digits term"} reads metadata.${field}, and no training prompt of this project has it` };
  }
  const modelId = spec.rewards.rewardModel?.modelId;
  if (modelId) {
    const model = await db.selectFrom("models").select(["kind", "external_uri"]).where("id", "=", modelId).executeTakeFirst();
    if (!model || model.kind !== "reward" || model.external_uri) return { path: "rewards.rewardModel.modelId", message: "not a reward model of Tandem's registry" };
  } else if (spec.rewards.rewardModel && sources.rewardModel !== "round") {
    return { path: "rewards.rewardModel", message: "name a registered reward model (modelId), or choose a path that trains one (reward → GRPO)" };
  }
  if (spec.rewards.toolResult && project.settings.tools.length === 0) {
    return { path: "rewards.toolResult", message: "the project declares no tools, so no answer has a tool result to state: turn a tool on in the project settings" };
  }
  if (!sources.reward.checker && !sources.reward.format && !sources.reward.length && !sources.reward.toolResult && !sources.reward.digits && sources.rewardModel === null) {
    return { path: "rewards", message: "GRPO and RLOO need something to reward: a checker (declare one in the project settings), a reward model, a format, a length, a tool-result or a digits term" };
  }
  return null;
}

/** The trainer's reward spec for a round's GRPO/RLOO step, and where its reward model comes from. */
export function rewardSpecFor(spec: RoundSpec, settings: ProjectSettings, roundTrainsRewardModel: "round" | null): { reward: RewardSpecInput; rewardModel: "round" | string | null } {
  const r = spec.rewards;
  const explicit = Object.keys(r).length > 0;
  const checker = explicit ? (r.checker && settings.checker ? { spec: settings.checker, weight: r.checker.weight } : null) : settings.checker ? { spec: settings.checker, weight: 1 } : null;
  const rewardModel = r.rewardModel?.modelId ?? (explicit ? (r.rewardModel ? roundTrainsRewardModel : null) : roundTrainsRewardModel);
  // partial credit per digit reads the numeric checker's reference field (checked at launch)
  const digits = r.digits && settings.checker?.kind === "numeric" ? { field: settings.checker.field, weight: r.digits.weight } : null;
  const weights = {
    ...(checker ? { checker: checker.weight } : {}),
    ...(rewardModel ? { rewardModel: r.rewardModel?.weight ?? 1 } : {}),
    ...(r.format ? { format: r.format.weight } : {}),
    ...(r.length ? { length: r.length.weight } : {}),
    ...(r.toolResult ? { toolResult: r.toolResult.weight } : {}),
    ...(digits ? { digits: digits.weight } : {}),
  };
  return {
    reward: {
      ...(checker ? { checker: checker.spec } : {}),
      ...(r.format ? { format: { pattern: r.format.pattern, flags: r.format.flags } } : {}),
      ...(r.length ? { length: { target: r.length.target } } : {}),
      ...(r.toolResult ? { toolResult: {} } : {}),
      ...(digits ? { digits: { field: digits.field } } : {}),
      weights,
    },
    rewardModel,
  };
}

/**
 * What PPO's job adds to its reward model's score (decision 0065): the round's rewards, or by default the
 * project's checker, weighted as GRPO's; null when that is the reward model alone at weight 1, as before.
 */
export function ppoRewardSpec(spec: RoundSpec, settings: ProjectSettings): RewardSpecInput | null {
  const { reward } = rewardSpecFor(spec, settings, "round");
  const { weights = {}, ...sources } = reward;
  const others = Object.keys(sources).length > 0 || Object.entries(weights).some(([name, w]) => name !== "rewardModel" || w !== 1);
  return others ? reward : null;
}

/** The steps that train LoRA adapters when a round names them. */
const LORA_STEPS: readonly JobKind[] = ["sft", "reward", "dpo", "ppo"];

type RoundForJobs = { id: string; project_id: string; spec: RoundSpec; data_snapshot: DataSnapshot; steps: JobKind[] };

/**
 * Creates the job for step `index`: its model is the round's latest policy (or the base),
 * PPO also gets the round's reward model; sampling gets the next prompts without round tasks.
 */
export async function insertJob(trx: Transaction<Database>, round: RoundForJobs, index: number, leaseSeconds: number): Promise<string> {
  const kind = round.steps[index]!;
  const spec = round.spec;
  const made = await trx.selectFrom("models").select(["id", "kind"]).where("round_id", "=", round.id).orderBy("id").execute();
  const latest = (kinds: string[]) => made.filter((m) => kinds.includes(m.kind)).at(-1)?.id;
  const baseId = await baseModelId(trx, spec);
  const policyId = latest(["sft", "policy"]) ?? baseId ?? undefined;
  if (!policyId && !("init" in spec.base)) throw new AppError("conflict", "The round it starts from made no policy.");
  const model = policyId ? { modelId: policyId } : spec.base;
  const job: Record<string, unknown> = { schemaVersion: 1, kind, model, leaseSeconds, ...(spec.lora && LORA_STEPS.includes(kind) ? { lora: spec.lora } : {}), ...(spec.recompute ? { recompute: true } : {}) };
  // the project's settings, read by the steps that need them (its checker, tools, K)
  const projectSettings = async () => projectSettingsSchema.parse((await trx.selectFrom("projects").select("settings").where("id", "=", round.project_id).executeTakeFirstOrThrow()).settings);
  if (kind === "sft") Object.assign(job, { ...dataUrls(round.project_id, "sft", round.data_snapshot), train: resumable(spec.sft) });
  // their corpus URLs are written at claim (they carry the attempt): corpusForJob. pretrain and midtrain checkpoint
  // like SFT, so a re-claimed or retried step resumes; a mix search checkpoints after each candidate (decision 0056)
  // and a re-claimed or retried one trains only the candidates not yet done.
  if (kind === "pretrain" || kind === "midtrain") Object.assign(job, { train: resumable(spec.pretrain) });
  if (kind === "mix-search") {
    const tasks = round.data_snapshot.corpus?.tasks;
    Object.assign(job, { train: spec.pretrain, ...(tasks ? { promptIds: idsOfRanges(tasks.ranges) } : {}) });
  }
  if (kind === "dpo") Object.assign(job, { ...dataUrls(round.project_id, "preferences", round.data_snapshot), train: resumable({ ...spec.dpo, klTarget: stepKlTarget(spec, "dpo") }) });
  if (kind === "kto") Object.assign(job, { ...dataUrls(round.project_id, "unpaired", round.data_snapshot), train: resumable({ ...spec.kto, klTarget: stepKlTarget(spec, "kto") }) });
  if (kind === "grpo" || kind === "rloo") {
    const settings = await projectSettings();
    const { reward, rewardModel } = rewardSpecFor(spec, settings, ROUND_PATHS[spec.path].includes("reward" as never) ? "round" : null);
    const rewardId = rewardModel === "round" ? latest(["reward"]) : rewardModel;
    if (rewardModel === "round" && !rewardId) throw new AppError("conflict", `${kind.toUpperCase()} rewards the round's reward model, and there is none.`);
    const train = { ...spec[kind], klTarget: stepKlTarget(spec, kind) };
    Object.assign(job, {
      reward, ...(rewardId ? { rewardModel: { modelId: rewardId } } : {}), tools: settings.tools,
      // a long run checkpoints at least every tenth of its rollouts, so a retry resumes near where it stopped
      train: train.checkpointEvery > 0 ? train : { ...train, checkpointEvery: Math.max(1, Math.ceil(train.rollouts / 10)) },
      promptIds: await promptIdsFor(trx, round.project_id, "all", 10_000),
    });
  }
  // the reward model trains on one side of the prompt split and is measured on the other (evaluate)
  if (kind === "reward") Object.assign(job, { ...dataUrls(round.project_id, "preferences", round.data_snapshot, "train"), train: resumable(spec.reward) });
  if (kind === "evaluate") {
    const settings = await projectSettings();
    const previous = baseId;
    const reference = policyId ? (await trx.selectFrom("models").select("parent_id").where("id", "=", policyId).executeTakeFirst())?.parent_id ?? null : null;
    // where a chain of rounds started (decision 0058): the KL per round is to that round's own start only. A path
    // that starts with SFT has moved the policy before the step whose reference that SFT is, so its origin is found
    // from the round's base, where there is one (decision 0069): the KL from there counts the SFT's move too.
    const ownSft = reference !== null && made.some((m) => m.id === reference && m.kind === "sft");
    const origin = ownSft && baseId ? await originOf(trx, baseId) : reference ? await originOf(trx, reference) : null;
    const rewardId = latest(["reward"]);
    const judge = rewardId ?? (await trx.selectFrom("models").select("id").where("project_id", "=", round.project_id).where("kind", "=", "reward").where("external_uri", "is", null).orderBy("id", "desc").limit(1).executeTakeFirst())?.id;
    const split = round.data_snapshot.promptSplit;
    Object.assign(job, {
      promptIds: idsOfRanges(round.data_snapshot.evalSet?.ranges ?? []),
      heldOut: {
        ...(previous && previous !== policyId ? { previousModelId: previous } : {}),
        ...(reference ? { referenceModelId: reference } : {}),
        // only when it differs from the reference: a trainer of the version before this field refuses unknown keys
        ...(origin && origin !== reference ? { originModelId: origin } : {}),
        ...(judge ? { rewardModelId: judge } : {}),
        ...(settings.checker ? { checker: settings.checker } : {}),
        tools: settings.tools,
        decoding: { maxNewTokens: spec.evaluation.maxNewTokens, temperature: spec.evaluation.temperature, seed: spec.evaluation.seed },
        // only when asked: a trainer of the version before this field refuses unknown keys
        ...(spec.evaluation.examples !== SHOW_SAMPLES_DEFAULT ? { showSamples: spec.evaluation.examples } : {}),
        ...(rewardId && split ? { rewardAccuracy: { modelId: rewardId, dataUrl: exportUrls(round.project_id, "preferences", round.data_snapshot, "eval")[0]! } } : {}),
      },
    });
  }
  if (kind === "ppo") {
    const rewardId = latest(["reward"]);
    if (!rewardId) throw new AppError("conflict", "PPO needs the round's reward model, and there is none.");
    const settings = await projectSettings();
    // the reward model alone, or beside the round's other sources (decision 0065), and the rollouts run the project's
    // tools, as GRPO's and the sampling's do. Each only when there is one: a trainer of the version before these
    // fields refuses unknown keys.
    const reward = ppoRewardSpec(spec, settings);
    Object.assign(job, {
      rewardModel: { modelId: rewardId }, train: { ...spec.ppo, klTarget: stepKlTarget(spec, "ppo") }, promptIds: await promptIdsFor(trx, round.project_id, "all", spec.ppo.rolloutBatchSize * 64),
      ...(reward ? { reward } : {}), ...(settings.tools.length > 0 ? { tools: settings.tools } : {}),
    });
  }
  if (kind === "sample") {
    const { k, tools } = await projectSettings();
    const { prompts, ...decoding } = spec.next;
    Object.assign(job, {
      sampling: { ...decoding, n: k + spareSamples(k), batchSize: 8 }, promptIds: await promptIdsFor(trx, round.project_id, "unsampled", prompts),
      ...(tools.length > 0 ? { tools } : {}),
    });
    // The policy the round started from answers the same prompts, for human A/B compares.
    const previous = baseId;
    if (previous && previous !== policyId) {
      Object.assign(job, { baselineModel: { modelId: previous } });
      // The reward model judges new against previous: the round's own, else the project's latest.
      const judge = latest(["reward"]) ??
        (await trx.selectFrom("models").select("id").where("project_id", "=", round.project_id).where("kind", "=", "reward").where("external_uri", "is", null).orderBy("id", "desc").limit(1).executeTakeFirst())?.id;
      if (judge) Object.assign(job, { rewardModel: { modelId: judge } });
    }
    // The final policy against the model its last step started from (DPO's reference, PPO's SFT policy),
    // on the round's preferences: KL and implicit rewards for the round's report.
    const reference = policyId ? (await trx.selectFrom("models").select("parent_id").where("id", "=", policyId).executeTakeFirst())?.parent_id : null;
    const { rank, compare, review } = round.data_snapshot.counts;
    if (reference && rank + compare + review > 0) {
      // The evaluation reads the first part of the preference data (the round's own project, or its first round).
      Object.assign(job, { evaluation: { referenceModelId: reference, dataUrl: exportUrls(round.project_id, "preferences", round.data_snapshot)[0]!, beta: spec.dpo.beta } });
    }
  }
  const row = await trx.insertInto("jobs").values({ round_id: round.id, step_index: index, kind, spec: JSON.stringify(job) }).returning("id").executeTakeFirstOrThrow();
  await trx.updateTable("rounds").set({ current_step: index, updated_at: new Date() }).where("id", "=", round.id).execute();
  return row.id;
}

/** How far up a lineage originOf looks: far more rounds than a chain has, few enough to bound a corrupt one. */
const LINEAGE_DEPTH = 256;

/**
 * The origin of a policy's lineage (decision 0058): walking parent_id up from `reference`, the nearest supervised
 * policy (kind "sft"), else the lineage's root. `reference` itself when it is one. Null when the walk meets a cycle,
 * runs past LINEAGE_DEPTH or reaches a model whose files are not here (trained outside Tandem): no origin to measure.
 */
export async function originOf(db: DbOrTrx, reference: string): Promise<string | null> {
  const seen = new Set<string>();
  let id: string | null = reference;
  while (id !== null) {
    if (seen.has(id) || seen.size >= LINEAGE_DEPTH) return null;
    seen.add(id);
    const row = await db.selectFrom("models").select(["kind", "parent_id", "external_uri"]).where("id", "=", id).executeTakeFirst();
    if (!row || row.external_uri !== null) return null;
    if (row.kind === "sft" || row.parent_id === null) return id;
    id = row.parent_id;
  }
  return null;
}

/**
 * The RL step (GRPO, RLOO or PPO) that taught the policy a round starts from, or a policy it descends from; null
 * when none did. Follows base.afterRound through the rounds (the one followed may not be done yet: its steps say
 * what it will train) and base.modelId through the models' parents, up to LINEAGE_DEPTH links; a model without a
 * parent (imported, or trained from scratch) ends the walk.
 */
export async function rlStepBehind(db: DbOrTrx, base: RoundSpec["base"]): Promise<string | null> {
  const rlStepOf = (steps: unknown): string | undefined => (steps as string[]).find((k) => (RL_STEPS as readonly string[]).includes(k));
  let next: RoundSpec["base"] = base;
  for (let depth = 0; depth < LINEAGE_DEPTH; depth++) {
    if ("afterRound" in next) {
      const round = await db.selectFrom("rounds").select(["steps", "spec"]).where("id", "=", next.afterRound).executeTakeFirst();
      if (!round) return null;
      const rl = rlStepOf(round.steps);
      if (rl) return rl;
      next = (round.spec as RoundSpec).base;
    } else if ("modelId" in next) {
      const model = await db.selectFrom("models").select(["kind", "parent_id", "round_id"]).where("id", "=", next.modelId).executeTakeFirst();
      if (!model) return null;
      // a round's RL step makes its "policy"; no path has both an RL step and another policy-making step (DPO, KTO)
      if (model.kind === "policy" && model.round_id !== null) {
        const round = await db.selectFrom("rounds").select("steps").where("id", "=", model.round_id).executeTakeFirst();
        const rl = rlStepOf(round?.steps ?? []);
        if (rl) return rl;
      }
      if (model.parent_id === null) return null;
      next = { modelId: model.parent_id };
    } else return null;
  }
  return null;
}

/** The registered policy a round starts from: its base model, or the final policy of the round it follows (null from scratch). */
export async function baseModelId(db: DbOrTrx, spec: RoundSpec): Promise<string | null> {
  if ("modelId" in spec.base) return spec.base.modelId;
  if (!("afterRound" in spec.base)) return null;
  // a pretrain or midtrain round's base model counts: SFT or midtraining may follow it
  const made = await db.selectFrom("models").select("id").where("round_id", "=", spec.base.afterRound).where("kind", "in", ["sft", "policy", "base"]).orderBy("id", "desc").limit(1).executeTakeFirst();
  return made?.id ?? null;
}

/** Rounds waiting for `roundId` (base.afterRound) and not started yet: their first job is queued now. */
export async function startFollowers(trx: Transaction<Database>, roundId: string, leaseSeconds: number): Promise<string[]> {
  const waiting = await waitingFor(trx, roundId);
  for (const follower of waiting) {
    const round = await loadRound(trx, follower.id);
    await insertJob(trx, round, 0, leaseSeconds);
  }
  return waiting.map((r) => r.id);
}

/** Rounds waiting for a round that failed or was cancelled cannot start: they fail, saying why. */
export async function failFollowers(trx: Transaction<Database>, roundId: string, why: string): Promise<string[]> {
  const waiting = await waitingFor(trx, roundId);
  const failed: string[] = [];
  for (const follower of waiting) {
    await trx.updateTable("rounds").set({ state: "failed", error: `round ${roundId}, which this round starts from, ${why}`, finished_at: new Date(), updated_at: new Date() }).where("id", "=", follower.id).execute();
    // a chain (A ← B ← C): C waits for B, which will now never start
    failed.push(follower.id, ...(await failFollowers(trx, follower.id, "failed before it started")));
  }
  return failed;
}

async function waitingFor(trx: Transaction<Database>, roundId: string) {
  return trx
    .selectFrom("rounds")
    .select("id")
    .where(sql<boolean>`spec -> 'base' ->> 'afterRound' = ${roundId}`)
    .where("state", "=", "queued")
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom("jobs").select("jobs.id").whereRef("jobs.round_id", "=", "rounds.id"))))
    .orderBy("id")
    .execute();
}

/**
 * A round's training step checkpoints at least every tenth of its steps (unless the researcher
 * chose a cadence), so a step whose trainer died resumes near where it stopped.
 */
function resumable<T extends { steps: number; checkpointEvery: number }>(train: T): T {
  return train.checkpointEvery > 0 ? train : { ...train, checkpointEvery: Math.max(1, Math.ceil(train.steps / 10)) };
}

/**
 * Prompts a job draws from, oldest first: for sampling, the active prompts no round has sampled
 * yet (so each round brings new work); for PPO rollouts, any active prompt. Never the eval set.
 */
async function promptIdsFor(trx: Transaction<Database>, projectId: string, which: "all" | "unsampled", limit: number): Promise<string[]> {
  let query = trx
    .selectFrom("prompts")
    .select("prompts.id")
    .where("prompts.project_id", "=", projectId)
    .where("prompts.status", "=", "active")
    .where("prompts.kind", "=", "prompt")
    .where("prompts.held_out", "=", false)
    .where("prompts.excluded_at", "is", null)
    .orderBy("prompts.id")
    .limit(limit);
  if (which === "unsampled") {
    query = query.where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom("tasks").select("tasks.id").whereRef("tasks.prompt_id", "=", "prompts.id").where("tasks.round_id", "is not", null))),
    );
  }
  return (await query.execute()).map((r) => r.id);
}

export async function loadRound(db: DbOrTrx, roundId: string) {
  if (!/^\d{1,18}$/.test(roundId)) throw new AppError("not_found", "No such round.");
  const round = await db.selectFrom("rounds").selectAll().where("id", "=", roundId).executeTakeFirst();
  if (!round) throw new AppError("not_found", "No such round.");
  return { ...round, spec: roundSpecSchema.parse(storedSpec(round.spec)), data_snapshot: round.data_snapshot as DataSnapshot };
}

/**
 * A stored spec as today's schema reads it. Before decision 0066 a PPO `klTarget` steered its adaptive β (PPO had
 * no early stop): a spec stored then, with a target and no `klControl`, keeps that meaning on retry.
 */
export function storedSpec(spec: unknown): unknown {
  const ppo = (spec as { ppo?: Record<string, unknown> } | null)?.ppo;
  if (!ppo || ppo["klControl"] !== undefined || ppo["klTarget"] === undefined || ppo["klTarget"] === null) return spec;
  return { ...(spec as object), ppo: { ...ppo, klControl: "adaptive" } };
}

export async function roundDetail(db: DbOrTrx, roundId: string) {
  const round = await loadRound(db, roundId);
  const jobs = await db
    .selectFrom("jobs")
    .select(["id", "step_index", "kind", "state", "attempts", "worker", "error", "created_at", "finished_at"])
    .where("round_id", "=", roundId)
    .orderBy("id")
    .execute();
  const models = await db.selectFrom("models").select(["id", "name", "kind", "parent_id", "metrics", "external_uri", "created_at"]).where("round_id", "=", roundId).orderBy("id").execute();
  const policy = models.filter((m) => m.kind === "policy" || m.kind === "sft").at(-1);
  return { ...round, jobs, models, humanEval: policy ? await humanCompareResult(db, roundId, policy.id) : null };
}

/**
 * The human A/B verdict on the round's compare tasks: how often people preferred the new
 * policy's answer over the previous policy's (a tie counts half), updated as compares come in.
 */
export async function humanCompareResult(db: DbOrTrx, roundId: string, policyId: string) {
  const rows = await sql<{ winner_model: string | null; choice: string }>`
    select c.model_id as winner_model, s.payload->>'choice' as choice
    from submissions s
    join tasks t on t.id = s.task_id
    left join completions c on c.id = nullif(s.payload->>'winner', '')::bigint
    where t.round_id = ${roundId} and t.type = 'compare'`.execute(db);
  const judged = rows.rows.length;
  const wins = rows.rows.filter((r) => r.winner_model === policyId).length;
  const ties = rows.rows.filter((r) => r.choice === "tie").length;
  return { judged, newWins: wins, previousWins: judged - wins - ties, ties, winRate: judged > 0 ? (wins + ties / 2) / judged : null };
}

export function listRounds(db: Db, projectId: string) {
  return db
    .selectFrom("rounds")
    .select(["id", "name", "state", "steps", "current_step", "error", "created_at", "finished_at"])
    .where("project_id", "=", projectId)
    .orderBy("id", "desc")
    .execute();
}

/** Metric and progress events of a round, in order; `after` pages on from an event id. */
export function roundEvents(db: Db, roundId: string, after = "0", limit = 5000) {
  return db
    .selectFrom("job_events")
    .innerJoin("jobs", "jobs.id", "job_events.job_id")
    .select(["job_events.id", "job_events.job_id", "jobs.kind", "jobs.step_index", "job_events.attempt", "job_events.type", "job_events.payload", "job_events.created_at"])
    .where("job_events.round_id", "=", roundId)
    .where("job_events.id", ">", after)
    .orderBy("job_events.id")
    .limit(limit)
    .execute();
}

/**
 * A round's whole history for its page, at most about `maxMetrics` metric points: a long run's
 * metrics are thinned to every n-th per job attempt (its last one always kept), every other event
 * (progress, checkpoints, backend, start) kept, so the curves span the whole run however long.
 */
export async function roundEventsForPage(db: Db, roundId: string, maxMetrics = 20_000) {
  const { n } = await db
    .selectFrom("job_events")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("round_id", "=", roundId)
    .where("type", "=", "metrics")
    .executeTakeFirstOrThrow();
  const stride = Math.max(1, Math.ceil(Number(n) / maxMetrics));
  if (stride === 1) return roundEvents(db, roundId, "0", Number.MAX_SAFE_INTEGER);
  const rows = await sql<Awaited<ReturnType<typeof roundEvents>>[number]>`
    select id, job_id, kind, step_index, attempt, type, payload, created_at from (
      select e.id, e.job_id, j.kind, j.step_index, e.attempt, e.type, e.payload, e.created_at,
        row_number() over (partition by e.job_id, e.attempt, e.type order by e.id) as nth,
        count(*) over (partition by e.job_id, e.attempt, e.type) as total
      from job_events e join jobs j on j.id = e.job_id
      where e.round_id = ${roundId}
    ) numbered
    where type <> 'metrics' or nth % ${stride} = 0 or nth = total
    order by id`.execute(db);
  return rows.rows;
}

const FINISHED: RoundState[] = ["done", "failed", "cancelled"];

/**
 * Cancels a round: its open jobs stop at their next heartbeat and can no longer register anything.
 * Their half-uploaded outputs are removed; a periodic checkpoint stays, for a retry to resume from.
 */
export async function cancelRound(db: Db, actorId: string, roundId: string, dataDir?: string) {
  if (!/^\d{1,18}$/.test(roundId)) throw new AppError("not_found", "No such round.");
  const result = await db.transaction().execute(async (trx) => {
    // Jobs first, then the round: the order trainer calls take (job row, then its round), so the two never deadlock.
    const open = await trx.selectFrom("jobs").select(["id", "attempts"]).where("round_id", "=", roundId).where("state", "in", ["queued", "running"]).forUpdate().execute();
    const round = await trx.selectFrom("rounds").select(["id", "state"]).where("id", "=", roundId).forUpdate().executeTakeFirst();
    if (!round) throw new AppError("not_found", "No such round.");
    if (FINISHED.includes(round.state)) throw new AppError("conflict", `The round is already ${round.state}.`);
    await trx.updateTable("jobs").set({ state: "cancelled", finished_at: new Date(), updated_at: new Date() }).where("round_id", "=", roundId).where("state", "in", ["queued", "running"]).execute();
    await trx.updateTable("rounds").set({ state: "cancelled", finished_at: new Date(), updated_at: new Date() }).where("id", "=", roundId).execute();
    await failFollowers(trx, roundId, "was cancelled");
    await recordAudit(trx, { actorUserId: actorId, action: "round.cancel", target: `round:${roundId}` });
    return { state: "cancelled" as const, open };
  });
  if (dataDir) for (const job of result.open) if (job.attempts > 0) await removeDir(stagingDir(dataDir, job.id, job.attempts)).catch(() => undefined);
  return { state: result.state };
}

/**
 * Retries a failed or cancelled round from the step that did not finish. With `dataDir`, the new
 * job takes over the last periodic checkpoint the failed one uploaded (a NaN at step 80 retries
 * from the checkpoint before it, not from step 1): the folder moves inside the transaction and
 * moves back if the transaction fails.
 */
export async function retryRound(db: Db, actorId: string, roundId: string, leaseSeconds: number, dataDir?: string) {
  if (!/^\d{1,18}$/.test(roundId)) throw new AppError("not_found", "No such round.");
  const moved: Array<{ from: string; to: string }> = [];
  try {
    return await db.transaction().execute(async (trx) => {
      const locked = await trx.selectFrom("rounds").select("id").where("id", "=", roundId).forUpdate().executeTakeFirst();
      if (!locked) throw new AppError("not_found", "No such round.");
      const round = await loadRound(trx, roundId);
      if (round.state !== "failed" && round.state !== "cancelled") throw new AppError("conflict", `Only a failed or cancelled round can be retried; this one is ${round.state}.`);
      const spec = round.spec;
      const started = await trx.selectFrom("jobs").select("id").where("round_id", "=", roundId).limit(1).executeTakeFirst();
      if (!started && "afterRound" in spec.base) {
        // it never started: it starts from the awaited round's policy once that round is done, not before
        const awaited = await trx.selectFrom("rounds").select(["id", "state"]).where("id", "=", spec.base.afterRound).forUpdate().executeTakeFirstOrThrow();
        if (awaited.state === "failed" || awaited.state === "cancelled") throw new AppError("conflict", `This round starts from round ${awaited.id}, which is ${awaited.state}: retry that one first.`);
        if (awaited.state !== "done") {
          await trx.updateTable("rounds").set({ state: "queued", error: null, finished_at: null, updated_at: new Date() }).where("id", "=", roundId).execute();
          await recordAudit(trx, { actorUserId: actorId, action: "round.retry", target: `round:${roundId}`, details: { step: 0, waitsFor: awaited.id } });
          return { state: "queued" as const, step: 0, resumeStep: null };
        }
      }
      const previous = await trx.selectFrom("jobs").select("id").where("round_id", "=", roundId).where("step_index", "=", round.current_step).orderBy("id", "desc").limit(1).executeTakeFirst();
      const jobId = await insertJob(trx, round, round.current_step, leaseSeconds);
      let resumeStep: number | null = null;
      if (dataDir && previous) {
        const from = path.join(resumeDir(dataDir, previous.id), "latest");
        const manifest = await readIfPresent(path.join(from, "manifest.json"));
        if (manifest !== null) {
          const to = path.join(resumeDir(dataDir, jobId), "latest");
          await fs.mkdir(path.dirname(to), { recursive: true });
          await fs.rename(from, to);
          moved.push({ from, to });
          resumeStep = Number((JSON.parse(manifest) as { step?: number }).step) || null;
        }
      }
      await trx.updateTable("rounds").set({ state: "queued", error: null, finished_at: null, updated_at: new Date() }).where("id", "=", roundId).execute();
      await recordAudit(trx, { actorUserId: actorId, action: "round.retry", target: `round:${roundId}`, details: { step: round.current_step, resumeStep } });
      return { state: "queued" as const, step: round.current_step, resumeStep };
    });
  } catch (error) {
    for (const { from, to } of moved) await fs.rename(to, from).catch(() => undefined);
    throw error;
  }
}
