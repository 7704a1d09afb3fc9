/**
 * A project's registry of OpenAI-compatible endpoints. The API key is write-only: it is
 * encrypted before it reaches the database (secret-box.server.ts) and what leaves the server is
 * `hasApiKey` and a four-character hint. Only the sampling runner and "test connection" decrypt it.
 */
import type { Selectable } from "kysely";
import { z } from "zod";
import { recordAudit } from "../../auth/audit.server.ts";
import type { Db } from "../../db/database.server.ts";
import type { ExternalEndpointsTable } from "../../db/schema.ts";
import { AppError } from "../../lib/app-error.ts";
import type { EndpointConnection } from "./openai-client.server.ts";
import { apiKeyHint, type SecretBox } from "./secret-box.server.ts";

export const decodingSchema = z.strictObject({
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  max_tokens: z.number().int().min(1).max(32_768).optional(),
  seed: z.number().int().nonnegative().max(2 ** 31 - 1).optional(),
  stop: z.array(z.string().min(1).max(100)).max(4).optional(),
});
export type Decoding = z.infer<typeof decodingSchema>;

/** The URL's parts, or null when it is not a URL (zod runs every check, so each must cope). */
const urlOf = (value: string): URL | null => (URL.canParse(value) ? new URL(value) : null);
const baseUrlSchema = z
  .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
  .max(500)
  .refine((value) => urlOf(value)?.username === "" && urlOf(value)?.password === "", {
    message: "must not carry a user name or password: put the key in API key, where it is stored encrypted",
    when: (payload) => urlOf(String(payload.value)) !== null,
  })
  .refine((value) => urlOf(value)?.search === "" && urlOf(value)?.hash === "", { message: "must not have a query string or fragment", when: (payload) => urlOf(String(payload.value)) !== null })
  .transform((value) => value.replace(/\/+$/, ""));

const settingsShape = {
  name: z.string().trim().min(1).max(100),
  baseUrl: baseUrlSchema,
  model: z.string().trim().min(1).max(200),
  decoding: decodingSchema.default({}),
  stream: z.boolean().default(false),
  timeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
  maxRetries: z.number().int().min(0).max(10).default(3),
  requestsPerMinute: z.number().int().min(1).max(100_000).nullable().default(null),
};

/** Registering: the key is optional (a local vLLM or Ollama needs none). */
export const endpointInputSchema = z.strictObject({ ...settingsShape, apiKey: z.string().trim().min(1).max(1000).nullable().optional() });
/** Editing: fields left out stay; `apiKey` left out keeps the stored key, null removes it. */
export const endpointPatchSchema = z.strictObject({
  name: settingsShape.name.optional(),
  baseUrl: baseUrlSchema.optional(),
  model: settingsShape.model.optional(),
  decoding: decodingSchema.optional(),
  stream: z.boolean().optional(),
  timeoutMs: z.number().int().min(1000).max(600_000).optional(),
  maxRetries: z.number().int().min(0).max(10).optional(),
  requestsPerMinute: z.number().int().min(1).max(100_000).nullable().optional(),
  apiKey: z.string().trim().min(1).max(1000).nullable().optional(),
});

export const publicEndpointSchema = z.object({
  id: z.string(),
  projectId: z.string(),
  name: z.string(),
  baseUrl: z.string(),
  model: z.string(),
  hasApiKey: z.boolean(),
  apiKeyHint: z.string().nullable(),
  decoding: z.record(z.string(), z.unknown()),
  stream: z.boolean(),
  timeoutMs: z.number(),
  maxRetries: z.number(),
  requestsPerMinute: z.number().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type PublicEndpoint = z.infer<typeof publicEndpointSchema>;

type Row = Selectable<ExternalEndpointsTable>;
const PUBLIC_COLUMNS = [
  "id", "project_id", "name", "base_url", "model", "api_key_hint", "decoding", "stream", "timeout_ms", "max_retries", "requests_per_minute", "created_at", "updated_at",
] as const;
type PublicRow = Pick<Row, (typeof PUBLIC_COLUMNS)[number]> & { has_key: boolean | number };

/** The additional data the key's ciphertext is bound to: it decrypts only in its own project. */
const keyContext = (projectId: string) => `external_endpoints:project:${projectId}`;

export function toPublic(row: PublicRow): PublicEndpoint {
  return {
    id: row.id, projectId: row.project_id, name: row.name, baseUrl: row.base_url, model: row.model, hasApiKey: Boolean(row.has_key), apiKeyHint: row.has_key ? row.api_key_hint : null,
    decoding: row.decoding, stream: row.stream, timeoutMs: row.timeout_ms, maxRetries: row.max_retries, requestsPerMinute: row.requests_per_minute,
    createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(),
  };
}

function selectPublic(db: Db) {
  return db.selectFrom("external_endpoints").select([...PUBLIC_COLUMNS, (eb) => eb("api_key_encrypted", "is not", null).as("has_key")]);
}

function uniqueName(error: unknown, name: string): never {
  if ((error as { code?: string }).code === "23505") throw new AppError("conflict", `This project already has an endpoint named ${JSON.stringify(name)}.`, [{ path: "name", message: "already used in this project" }]);
  throw error;
}

export async function listEndpoints(db: Db, projectId: string): Promise<PublicEndpoint[]> {
  return (await selectPublic(db).where("project_id", "=", projectId).orderBy("id").execute()).map(toPublic);
}

export async function getEndpoint(db: Db, id: string): Promise<PublicEndpoint> {
  const row = await selectPublic(db).where("id", "=", id).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such external endpoint.");
  return toPublic(row);
}

export async function createEndpoint(db: Db, box: SecretBox, actorId: string, projectId: string, input: z.infer<typeof endpointInputSchema>): Promise<PublicEndpoint> {
  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto("external_endpoints")
        .values({
          project_id: projectId, name: input.name, base_url: input.baseUrl, model: input.model,
          api_key_encrypted: input.apiKey ? box.encrypt(input.apiKey, keyContext(projectId)) : null,
          api_key_hint: input.apiKey ? apiKeyHint(input.apiKey) : null,
          decoding: JSON.stringify(input.decoding), stream: input.stream, timeout_ms: input.timeoutMs, max_retries: input.maxRetries,
          requests_per_minute: input.requestsPerMinute, created_by: actorId,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      await recordAudit(trx, { actorUserId: actorId, action: "endpoint.create", target: `external_endpoint:${row.id}`, details: { projectId, name: input.name, baseUrl: input.baseUrl } });
      return row.id;
    }).then((id) => getEndpoint(db, id));
  } catch (error) {
    return uniqueName(error, input.name);
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

export async function updateEndpoint(db: Db, box: SecretBox, actorId: string, id: string, patch: z.infer<typeof endpointPatchSchema>): Promise<PublicEndpoint> {
  const current = await getEndpoint(db, id);
  // The stored key goes only where it was entered for: moving the endpoint to another server
  // needs the key typed again (else anyone who may edit it could send it to a server of theirs).
  if (patch.baseUrl !== undefined && patch.apiKey === undefined && current.hasApiKey && originOf(patch.baseUrl) !== originOf(current.baseUrl)) {
    throw new AppError("validation_failed", "The endpoint was not changed.", [
      { path: "apiKey", message: "enter the API key again (or remove it) when moving the endpoint to another server" },
    ]);
  }
  const values: Record<string, unknown> = { updated_at: new Date() };
  if (patch.name !== undefined) values.name = patch.name;
  if (patch.baseUrl !== undefined) values.base_url = patch.baseUrl;
  if (patch.model !== undefined) values.model = patch.model;
  if (patch.decoding !== undefined) values.decoding = JSON.stringify(patch.decoding);
  if (patch.stream !== undefined) values.stream = patch.stream;
  if (patch.timeoutMs !== undefined) values.timeout_ms = patch.timeoutMs;
  if (patch.maxRetries !== undefined) values.max_retries = patch.maxRetries;
  if (patch.requestsPerMinute !== undefined) values.requests_per_minute = patch.requestsPerMinute;
  if (patch.apiKey !== undefined) {
    values.api_key_encrypted = patch.apiKey === null ? null : box.encrypt(patch.apiKey, keyContext(current.projectId));
    values.api_key_hint = patch.apiKey === null ? null : apiKeyHint(patch.apiKey);
  }
  try {
    await db.transaction().execute(async (trx) => {
      await trx.updateTable("external_endpoints").set(values).where("id", "=", id).execute();
      const changed = Object.keys(patch).filter((k) => k !== "apiKey");
      await recordAudit(trx, { actorUserId: actorId, action: "endpoint.update", target: `external_endpoint:${id}`, details: { changed, apiKey: patch.apiKey === undefined ? "kept" : patch.apiKey === null ? "removed" : "replaced" } });
    });
  } catch (error) {
    uniqueName(error, patch.name ?? current.name);
  }
  return getEndpoint(db, id);
}

export async function deleteEndpoint(db: Db, actorId: string, id: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const deleted = await trx.deleteFrom("external_endpoints").where("id", "=", id).returning(["name", "project_id"]).executeTakeFirst();
    if (!deleted) throw new AppError("not_found", "No such external endpoint.");
    await recordAudit(trx, { actorUserId: actorId, action: "endpoint.delete", target: `external_endpoint:${id}`, details: { projectId: deleted.project_id, name: deleted.name } });
  });
}

/** What the client needs to call the endpoint, key decrypted: server-side use only, never returned. */
export async function endpointConnection(db: Db, box: SecretBox, id: string): Promise<{ endpoint: PublicEndpoint; connection: EndpointConnection; decoding: Decoding }> {
  const row = await db.selectFrom("external_endpoints").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such external endpoint.");
  const apiKey = row.api_key_encrypted ? box.decrypt(row.api_key_encrypted, keyContext(row.project_id)) : null;
  return {
    endpoint: toPublic({ ...row, has_key: row.api_key_encrypted !== null }),
    connection: {
      key: `endpoint-${row.id}`, baseUrl: row.base_url, model: row.model, apiKey, stream: row.stream,
      timeoutMs: row.timeout_ms, maxRetries: row.max_retries, requestsPerMinute: row.requests_per_minute,
    },
    decoding: decodingSchema.catch({}).parse(row.decoding),
  };
}
