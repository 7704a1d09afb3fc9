/**
 * Where a Q&A run's text comes from: the project's own policy (a registered model, through the
 * inference worker) or one of the project's external OpenAI-compatible endpoints. Both become the
 * shared `Generator` shape (server/bridges/generator.ts, built by bridges/external), so the run
 * does not care which.
 */
import { z } from "zod";
import type { Db } from "../../db/database.server.ts";
import { AppError } from "../../lib/app-error.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import type { ExternalModels } from "../external/external-models.server.ts";
import { endpointConnection, listEndpoints } from "../external/endpoints.server.ts";
import { externalGenerator, policyGenerator } from "../external/external-generator.server.ts";
import type { Generator } from "../generator.ts";

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");

export const generatorSourceSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("policy"), modelId: id }),
  z.strictObject({ kind: z.literal("endpoint"), endpointId: id }),
]);
export type GeneratorSource = z.infer<typeof generatorSourceSchema>;

export type GeneratorOption = { source: GeneratorSource; label: string };

export type GeneratorDeps = { db: Db; inference: Inference; external: Pick<ExternalModels, "box"> };

export async function resolveGenerator(deps: GeneratorDeps, projectId: string, source: GeneratorSource): Promise<Generator> {
  if (source.kind === "policy") {
    const model = await deps.db.selectFrom("models").select(["id", "name", "kind", "external_uri"]).where("id", "=", source.modelId).executeTakeFirst();
    if (!model) throw new AppError("validation_failed", `There is no model ${source.modelId}.`, [{ path: "generator.modelId", message: "no such model" }]);
    if (model.external_uri) throw new AppError("validation_failed", `Model ${model.id} was trained outside Tandem; its files are not here.`, [{ path: "generator.modelId", message: "trained outside Tandem (no files here)" }]);
    if (model.kind === "reward") throw new AppError("validation_failed", "A reward model scores text; it does not write it. Choose a policy.", [{ path: "generator.modelId", message: "a reward model cannot generate" }]);
    return policyGenerator(deps.db, deps.inference, model.id, `policy:${model.name}`);
  }
  const row = await deps.db.selectFrom("external_endpoints").select(["id", "project_id"]).where("id", "=", source.endpointId).executeTakeFirst();
  if (!row || row.project_id !== projectId) {
    throw new AppError("validation_failed", `This project has no external endpoint ${source.endpointId}.`, [{ path: "generator.endpointId", message: "not an endpoint of this project" }]);
  }
  // The key is decrypted here, for the client only; the run stores the endpoint id and label.
  const { endpoint, connection, decoding } = await endpointConnection(deps.db, deps.external.box, source.endpointId);
  return externalGenerator(connection, { label: `endpoint:${endpoint.name}/${endpoint.model}`, defaults: decoding });
}

/** What the researcher can pick: the project's external endpoints and every registered model that writes text. */
export async function generatorOptions(db: Db, projectId: string): Promise<GeneratorOption[]> {
  const endpoints = await listEndpoints(db, projectId);
  const models = await db.selectFrom("models").select(["id", "name", "kind"]).where("kind", "!=", "reward").where("external_uri", "is", null).orderBy("id", "desc").execute();
  return [
    ...endpoints.map((e) => ({ source: { kind: "endpoint" as const, endpointId: e.id }, label: `Endpoint: ${e.name} (${e.model})` })),
    ...models.map((m) => ({ source: { kind: "policy" as const, modelId: m.id }, label: `Policy: ${m.name} (${m.kind}, #${m.id})` })),
  ];
}
