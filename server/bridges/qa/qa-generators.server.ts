/**
 * Where a Q&A run's text comes from: the project's own policy (a registered model, through the
 * inference worker) or an external OpenAI-compatible endpoint. Both become the shared
 * `Generator` shape (server/bridges/generator.ts), so the run does not care which.
 */
import { z } from "zod";
import type { Db } from "../../db/database.server.ts";
import { AppError } from "../../lib/app-error.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import type { Generator } from "../generator.ts";

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");

export const generatorSourceSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("policy"), modelId: id }),
  z.strictObject({ kind: z.literal("endpoint"), endpointId: id }),
]);
export type GeneratorSource = z.infer<typeof generatorSourceSchema>;

export type GeneratorOption = { source: GeneratorSource; label: string };

export type GeneratorDeps = { db: Db; inference: Inference };

/** The own-policy source: every generation goes through the inference worker. */
export function policyGenerator(deps: GeneratorDeps, model: { id: string; name: string }): Generator {
  return {
    label: `policy:${model.name}`,
    modelId: model.id,
    generate: async (request, signal) => {
      signal?.throwIfAborted();
      const decoding = { maxNewTokens: request.maxTokens ?? 512, temperature: request.temperature ?? 0.7, topP: request.topP ?? 1, topK: 0, seed: request.seed ?? 0 };
      const result = await deps.inference.generate(deps.db, model.id, { messages: request.messages, n: request.n, ...decoding });
      return result.choices.map((choice) => ({ text: choice.text, decoding: { ...decoding, n: request.n } }));
    },
  };
}

export async function resolveGenerator(deps: GeneratorDeps, _projectId: string, source: GeneratorSource): Promise<Generator> {
  if (source.kind === "policy") {
    const model = await deps.db.selectFrom("models").select(["id", "name", "kind"]).where("id", "=", source.modelId).executeTakeFirst();
    if (!model) throw new AppError("validation_failed", `There is no model ${source.modelId}.`, [{ path: "generator.modelId", message: "no such model" }]);
    if (model.kind === "reward") throw new AppError("validation_failed", "A reward model scores text; it does not write it. Choose a policy.", [{ path: "generator.modelId", message: "a reward model cannot generate" }]);
    return policyGenerator(deps, model);
  }
  throw new AppError("validation_failed", "External endpoints are not available in this build yet; choose one of the project's policies.", [
    { path: "generator.endpointId", message: "external endpoints are not available" },
  ]);
}

/** What the researcher can pick: every registered model that writes text (and, later, the project's endpoints). */
export async function generatorOptions(db: Db, _projectId: string): Promise<GeneratorOption[]> {
  const models = await db.selectFrom("models").select(["id", "name", "kind"]).where("kind", "!=", "reward").orderBy("id", "desc").execute();
  return models.map((m) => ({ source: { kind: "policy" as const, modelId: m.id }, label: `Policy: ${m.name} (${m.kind}, #${m.id})` }));
}
