/**
 * Generation runs: "fill ranking (or A/B compare) tasks for these prompts from these sources".
 * A run is created by a researcher and executed in the background by the runner
 * (generation-runner.server.ts). This module holds the spec, the launch checks, one prompt's
 * work, and the queries the API and the page need.
 */
import { z } from "zod";
import type { Db } from "../../db/database.server.ts";
import type { GenerationRunState } from "../../db/schema.ts";
import { AppError } from "../../lib/app-error.ts";
import type { ProjectSettings } from "../../labeling/project-settings.ts";
import { distinctCompletions, insertCompletionTask, type NewTaskCompletion } from "../../rounds/samples.server.ts";
import type { GeneratedText, Generator, GeneratorMessage } from "../generator.ts";
import { decodingSchema } from "./endpoints.server.ts";
import { ExternalRequestError } from "./openai-client.server.ts";

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");
const sourceSchema = z.union([z.strictObject({ endpointId: id }), z.strictObject({ modelId: id })]);
export type RunSource = z.infer<typeof sourceSchema>;

/** What a researcher sends to start a run. */
export const generationRunInputSchema = z
  .strictObject({
    kind: z.enum(["rank", "compare"]).default("rank"),
    /** rank: one or more sources share the K completions; compare: exactly two, one completion each. */
    sources: z.array(sourceSchema).min(1).max(8),
    prompts: z.union([
      z.strictObject({ ids: z.array(id).min(1).max(10_000) }),
      z.strictObject({ withoutCompletions: z.literal(true), limit: z.number().int().min(1).max(10_000).default(100) }),
    ]),
    /** Completions per ranking task; the project's K when left out. */
    k: z.number().int().min(2).max(9).optional(),
    /** Fewest distinct completions a prompt needs for a ranking task; K when left out. */
    minCompletions: z.number().int().min(2).max(9).optional(),
    /** Overrides the endpoints' decoding defaults for this run. */
    decoding: decodingSchema.omit({ stop: true }).default({}),
    /** A run stops (failed) after this many prompts in a row got no completion at all. */
    maxConsecutiveFailures: z.number().int().min(1).max(1000).default(10),
  })
  .refine((v) => v.kind !== "compare" || v.sources.length === 2, { path: ["sources"], message: "a compare run needs exactly two sources (A and B)" })
  .refine((v) => v.minCompletions === undefined || v.k === undefined || v.minCompletions <= v.k, { path: ["minCompletions"], message: "must not exceed k" });
export type GenerationRunInput = z.infer<typeof generationRunInputSchema>;

/** The stored spec: prompts fixed at launch, K and the threshold resolved. */
export const storedSpecSchema = z.object({
  sources: z.array(sourceSchema),
  promptIds: z.array(z.string()),
  k: z.number().int(),
  minCompletions: z.number().int(),
  decoding: decodingSchema,
  maxConsecutiveFailures: z.number().int(),
});
export type StoredSpec = z.infer<typeof storedSpecSchema>;

export type RunProgress = { prompts: number; next: number; completions: number; tasks: number; failedRequests: number; skippedPrompts: number };
export const emptyProgress = (prompts: number): RunProgress => ({ prompts, next: 0, completions: 0, tasks: 0, failedRequests: 0, skippedPrompts: 0 });

export async function createGenerationRun(db: Db, actorId: string, projectId: string, settings: ProjectSettings, input: GenerationRunInput): Promise<{ id: string; prompts: number }> {
  const endpointIds = input.sources.flatMap((s) => ("endpointId" in s ? [s.endpointId] : []));
  const modelIds = input.sources.flatMap((s) => ("modelId" in s ? [s.modelId] : []));
  if (endpointIds.length > 0) {
    const found = await db.selectFrom("external_endpoints").select("id").where("project_id", "=", projectId).where("id", "in", endpointIds).execute();
    const missing = endpointIds.filter((e) => !found.some((f) => f.id === e));
    if (missing.length > 0) throw new AppError("validation_failed", "A source is not an endpoint of this project.", [{ path: "sources", message: `no endpoint ${missing.join(", ")} in this project` }]);
  }
  if (modelIds.length > 0) {
    const found = await db.selectFrom("models").select(["id", "kind", "external_uri"]).where("id", "in", modelIds).execute();
    const bad = modelIds.filter((m) => !found.some((f) => f.id === m && f.kind !== "reward" && f.external_uri === null));
    if (bad.length > 0) throw new AppError("validation_failed", "A source is not a registered policy.", [{ path: "sources", message: `model ${bad.join(", ")} is unknown, a reward model, or trained outside Tandem (no files here)` }]);
  }
  let promptIds: string[];
  if ("ids" in input.prompts) {
    const wanted = [...new Set(input.prompts.ids)];
    const found = await db.selectFrom("prompts").select("id").where("project_id", "=", projectId).where("status", "=", "active").where("kind", "=", "prompt").where("id", "in", wanted).execute();
    const missing = wanted.filter((p) => !found.some((f) => f.id === p));
    if (missing.length > 0) throw new AppError("validation_failed", "Some prompts are not active prompts of this project.", [{ path: "prompts.ids", message: `not usable: ${missing.slice(0, 20).join(", ")}` }]);
    promptIds = wanted;
  } else {
    const rows = await db
      .selectFrom("prompts")
      .select("id")
      .where("project_id", "=", projectId)
      .where("status", "=", "active")
      .where("kind", "=", "prompt")
      .where((eb) => eb.not(eb.exists(eb.selectFrom("completions").select("completions.id").whereRef("completions.prompt_id", "=", "prompts.id"))))
      .orderBy("id")
      .limit(input.prompts.limit)
      .execute();
    promptIds = rows.map((r) => r.id);
    if (promptIds.length === 0) throw new AppError("validation_failed", "Every active prompt of this project already has completions; choose prompts by id.", [{ path: "prompts", message: "no prompt without completions" }]);
  }
  const k = input.kind === "compare" ? 2 : (input.k ?? settings.k);
  const spec: StoredSpec = {
    sources: input.sources, promptIds, k, minCompletions: input.kind === "compare" ? 2 : Math.min(input.minCompletions ?? k, k),
    decoding: input.decoding, maxConsecutiveFailures: input.maxConsecutiveFailures,
  };
  const row = await db
    .insertInto("generation_runs")
    .values({ project_id: projectId, kind: input.kind, spec: JSON.stringify(spec), progress: JSON.stringify(emptyProgress(promptIds.length)), created_by: actorId })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { id: row.id, prompts: promptIds.length };
}

/** How each source's share of K is split: as evenly as the count allows, earlier sources first. */
export function shares(k: number, sources: number): number[] {
  return Array.from({ length: sources }, (_, i) => Math.floor(k / sources) + (i < k % sources ? 1 : 0));
}

export type FailedRequest = { source: string; kind: string; status: number | null; attempts: number; message: string };
export type PromptOutcome = { completions: NewTaskCompletion[]; failures: FailedRequest[]; skipped: string | null };

function failureOf(source: string, error: unknown): FailedRequest {
  if (error instanceof ExternalRequestError) return { source, kind: error.kind, status: error.status, attempts: error.attempts, message: error.message };
  // A registered policy's failure (the inference worker): its message is written for people.
  if (error instanceof AppError) return { source, kind: "model", status: null, attempts: 1, message: error.message };
  return { source, kind: "internal", status: null, attempts: 1, message: "The source failed unexpectedly; the server log has the details." };
}

/**
 * One prompt: asks every source for its share (in parallel), keeps the distinct completions,
 * and says whether they make a task. Failures are returned, never thrown (a cancel is).
 */
export async function generateForPrompt(
  kind: "rank" | "compare",
  generators: Generator[],
  messages: GeneratorMessage[],
  spec: StoredSpec,
  settings: ProjectSettings,
  seed: number,
  signal: AbortSignal,
): Promise<PromptOutcome & { unexpected: unknown[] }> {
  const counts = kind === "compare" ? [1, 1] : shares(spec.k, generators.length);
  const unexpected: unknown[] = [];
  const results = await Promise.all(
    generators.map(async (generator, i): Promise<{ texts: GeneratedText[]; failure: FailedRequest | null }> => {
      const n = counts[i] ?? 0;
      if (n === 0) return { texts: [], failure: null };
      try {
        const texts = await generator.generate(
          {
            messages, n, seed: spec.decoding.seed ?? seed + i * 1000,
            ...(spec.decoding.temperature !== undefined ? { temperature: spec.decoding.temperature } : {}),
            ...(spec.decoding.top_p !== undefined ? { topP: spec.decoding.top_p } : {}),
            ...(spec.decoding.max_tokens !== undefined ? { maxTokens: spec.decoding.max_tokens } : {}),
          },
          signal,
        );
        return { texts, failure: null };
      } catch (error) {
        if (signal.aborted) throw error;
        if (!(error instanceof ExternalRequestError) && !(error instanceof AppError)) unexpected.push(error);
        return { texts: [], failure: failureOf(generator.label, error) };
      }
    }),
  );
  const failures = results.flatMap((r) => (r.failure ? [r.failure] : []));
  const samples = results.flatMap((r, i) => r.texts.map((t) => ({ completion: t.text, messages: t.messages ?? null, generator: generators[i]!, decoding: t.decoding })));
  const { kept } = distinctCompletions(samples, settings.nearDuplicateThreshold);
  const completions = kept.map((s) => ({ text: s.completion, messages: s.messages, modelName: s.generator.label, modelId: s.generator.modelId, decoding: s.decoding }));
  const needed = spec.minCompletions;
  let skipped: string | null = null;
  if (kind === "compare" && (kept.length < 2 || kept[0]!.generator === kept[1]!.generator)) {
    skipped = failures.length > 0 ? "a source failed, so there is nothing to compare" : "the two completions are empty or near-duplicates";
  } else if (kind === "rank" && completions.length < needed) {
    skipped = `${completions.length} distinct completion(s) of the ${needed} needed for a ranking task${samples.length > completions.length ? ` (${samples.length - completions.length} empty or near-duplicate dropped)` : ""}`;
  }
  return { completions, failures, skipped, unexpected };
}

export async function storePromptOutcome(
  db: Db,
  run: { id: string; projectId: string; kind: "rank" | "compare"; owner: string },
  promptId: string,
  outcome: PromptOutcome,
  settings: ProjectSettings,
  spec: StoredSpec,
  progress: RunProgress,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    // The lease is checked in the same transaction: a cancelled or re-claimed run writes nothing.
    const held = await trx
      .selectFrom("generation_runs")
      .select("id")
      .where("id", "=", run.id)
      .where("state", "=", "running")
      .where("lease_owner", "=", run.owner)
      .forUpdate()
      .executeTakeFirst();
    if (!held) return false;
    const errors = [...outcome.failures];
    if (outcome.skipped) errors.push({ source: "run", kind: "too_few", status: null, attempts: 0, message: `No task: ${outcome.skipped}.` });
    if (errors.length > 0) {
      await trx
        .insertInto("generation_errors")
        .values(errors.map((e) => ({ run_id: run.id, prompt_id: promptId, source: e.source, kind: e.kind, status: e.status, attempts: e.attempts, message: e.message })))
        .execute();
    }
    const next: RunProgress = { ...progress, next: progress.next + 1, failedRequests: progress.failedRequests + outcome.failures.length };
    if (outcome.skipped) next.skippedPrompts++;
    else {
      await insertCompletionTask(trx, { projectId: run.projectId, promptId, type: run.kind, settings: { ...settings, k: spec.k }, roundId: null }, outcome.completions.map((c) => ({ ...c, decoding: { ...c.decoding, generationRun: run.id } })));
      next.completions += outcome.completions.length;
      next.tasks++;
    }
    await trx.updateTable("generation_runs").set({ progress: JSON.stringify(next), updated_at: new Date() }).where("id", "=", run.id).execute();
    Object.assign(progress, next);
    return true;
  });
}

// --- queries for the API and the page -------------------------------------------------------
const runColumns = ["id", "project_id", "kind", "spec", "state", "progress", "error", "created_at", "updated_at", "finished_at"] as const;

export const publicRunSchema = z.object({
  id: z.string(),
  projectId: z.string(),
  kind: z.enum(["rank", "compare"]),
  state: z.string(),
  sources: z.array(z.record(z.string(), z.string())),
  k: z.number(),
  progress: z.record(z.string(), z.number()),
  error: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

type RunRow = { id: string; project_id: string; kind: "rank" | "compare"; spec: Record<string, unknown>; state: GenerationRunState; progress: Record<string, unknown>; error: string | null; created_at: Date; finished_at: Date | null };
function toPublicRun(row: RunRow): z.infer<typeof publicRunSchema> {
  const spec = storedSpecSchema.safeParse(row.spec);
  return {
    id: row.id, projectId: row.project_id, kind: row.kind, state: row.state,
    sources: spec.success ? spec.data.sources : [], k: spec.success ? spec.data.k : 0,
    progress: Object.fromEntries(Object.entries(row.progress).filter(([, v]) => typeof v === "number")) as Record<string, number>,
    error: row.error, createdAt: row.created_at.toISOString(), finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

export async function listGenerationRuns(db: Db, projectId: string, limit = 50) {
  return (await db.selectFrom("generation_runs").select(runColumns).where("project_id", "=", projectId).orderBy("id", "desc").limit(limit).execute()).map(toPublicRun);
}

export async function generationRunDetail(db: Db, runId: string) {
  const row = await db.selectFrom("generation_runs").select(runColumns).where("id", "=", runId).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such generation run.");
  const errors = await db
    .selectFrom("generation_errors")
    .select(["id", "prompt_id", "source", "kind", "status", "attempts", "message", "created_at"])
    .where("run_id", "=", runId)
    .orderBy("id")
    .limit(1000)
    .execute();
  return {
    ...toPublicRun(row),
    errors: errors.map((e) => ({ id: e.id, promptId: e.prompt_id, source: e.source, kind: e.kind, status: e.status, attempts: e.attempts, message: e.message, at: e.created_at.toISOString() })),
  };
}

export async function cancelGenerationRun(db: Db, runId: string): Promise<void> {
  const run = await db.selectFrom("generation_runs").select("state").where("id", "=", runId).executeTakeFirst();
  if (!run) throw new AppError("not_found", "No such generation run.");
  const result = await db
    .updateTable("generation_runs")
    .set({ state: "cancelled", lease_owner: null, lease_expires_at: null, finished_at: new Date(), updated_at: new Date() })
    .where("id", "=", runId)
    .where("state", "in", ["queued", "running"])
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw new AppError("conflict", `The run is already ${run.state}.`);
}
