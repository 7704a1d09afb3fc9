/**
 * Odd characters in every field of every operation (issue 12, finding 3). Generated from the
 * server's own OpenAPI document: for each operation a plausible request is built from its schema,
 * then every string in the JSON body, every query parameter and every path parameter in turn gets
 * a NUL or a lone surrogate. No answer may be a 5xx, and the database must be unchanged after the
 * whole walk (refused requests change nothing). Decision 0022.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { createApiToken } from "../../server/auth/tokens.server.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  minimum?: number;
  minItems?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
};
type Operation = {
  parameters?: Array<{ name: string; in: "path" | "query" | "header"; schema?: Schema }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
};
type OpenApi = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };

let server: TestServer;
let admin: HttpClient;
let trainerToken: string;
let doc: OpenApi;
let projectId: string;

before(async () => {
  server = await startTestServer();
  admin = (await server.newUser("admin")).client;
  const owner = await server.db.selectFrom("users").select("id").where("role", "=", "admin").orderBy("id").executeTakeFirstOrThrow();
  trainerToken = (await createApiToken(server.db, owner.id, { name: "odd characters trainer", role: "trainer" })).secret;
  const project = await admin.json("POST", "/api/v1/projects", { name: "Odd characters" });
  projectId = ((await project.json()) as { id: string }).id;
  doc = (await (await admin.get("/api/v1/openapi.json")).json()) as OpenApi;
});
after(() => server.stop());

const NUL = "\u0000";
const LONE_SURROGATE = "\ud800";

function resolve(schema: Schema): Schema {
  if (schema.$ref) return resolve(doc.components!.schemas![schema.$ref.split("/").pop()!]!);
  if (schema.allOf) return schema.allOf.map(resolve).reduce((a, b) => ({ ...a, ...b, properties: { ...a.properties, ...b.properties } }), {});
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return resolve(options.find((o) => resolve(o).type !== "null") ?? options[0]!);
  return schema;
}

/** A string the schema accepts, so that only the injected character is wrong. */
function sampleString(s: Schema): string {
  if (s.enum) return String(s.enum[0]);
  if (s.const !== undefined) return String(s.const);
  if (s.format === "email") return "someone@example.test";
  if (s.format === "uri" || s.format === "url") return "http://127.0.0.1:9/v1";
  if (s.format === "date-time") return new Date(0).toISOString();
  const candidates = ["1", "x", "abc", "fails_task", "text", "a".repeat(Math.max(1, s.minLength ?? 1))];
  if (s.pattern) return candidates.find((c) => new RegExp(s.pattern!, "u").test(c)) ?? "x";
  return "x".repeat(Math.max(1, s.minLength ?? 1));
}

function sample(raw: Schema, depth = 0): unknown {
  const s = resolve(raw);
  if (depth > 8) return undefined;
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  if (type === "object" || s.properties) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(s.properties ?? {})) out[key] = sample(child, depth + 1);
    return out;
  }
  if (type === "array") return s.items ? [sample(s.items, depth + 1)] : [];
  if (type === "string") return sampleString(s);
  if (type === "integer" || type === "number") return s.minimum ?? 1;
  if (type === "boolean") return false;
  if (s.default !== undefined) return s.default;
  return "x";
}

/** Every path to a string in a JSON value. */
function stringPaths(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value === "string") return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...path, k]));
  return [];
}
function withValue(value: unknown, path: Array<string | number>, replace: (old: string) => string): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  node[last] = replace(node[last] as string);
  return copy;
}

/** Every table's rows, hashed; the columns a read legitimately touches are left out. */
async function fingerprint(): Promise<Record<string, string>> {
  const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not in ('rate_limits', 'kysely_migration', 'kysely_migration_lock') order by 1`.execute(server.db);
  const out: Record<string, string> = {};
  for (const { table_name } of tables.rows) {
    const row = await sql<{ h: string | null }>`select md5(string_agg((to_jsonb(t) - 'last_used_at')::text, ',' order by (to_jsonb(t) - 'last_used_at')::text)) as h from ${sql.table(table_name)} t`.execute(server.db);
    out[table_name] = row.rows[0]?.h ?? "empty";
  }
  return out;
}

test("a NUL or a lone surrogate in any field of any operation: no 5xx, nothing changes", async () => {
  const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
  assert.ok(operations.length > 40, `the OpenAPI document lists ${operations.length} operations`);
  const before = await fingerprint();
  const failures: string[] = [];
  let requests = 0;
  let refused = 0;

  for (const { path, method, op } of operations) {
    const params = op.parameters ?? [];
    const pathParams = Object.fromEntries(params.filter((p) => p.in === "path").map((p) => [p.name, p.name === "id" ? projectId : sampleString(resolve(p.schema ?? {}))]));
    const queryParams = Object.fromEntries(params.filter((p) => p.in === "query").map((p) => [p.name, String(sample(p.schema ?? { type: "string" }))]));
    const jsonSchema = op.requestBody?.content["application/json"]?.schema;
    const body = jsonSchema ? sample(jsonSchema) : undefined;
    // Trainer operations take an API token; everything else the admin's browser session.
    const headers: Record<string, string> = path.startsWith("/api/v1/trainer/") ? { authorization: `Bearer ${trainerToken}` } : {};
    const client = path.startsWith("/api/v1/trainer/") ? server.client() : admin;

    const send = async (what: string, pathValues: Record<string, string>, query: Record<string, string>, rawQuery: string, json: unknown) => {
      const url =
        path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(pathValues[name] ?? "1")) +
        "?" +
        [new URLSearchParams(query).toString(), rawQuery].filter(Boolean).join("&");
      const response = json === undefined ? await client.request(method.toUpperCase(), url, { headers }) : await client.json(method.toUpperCase(), url, json, headers);
      await response.arrayBuffer();
      requests++;
      if (response.status === 422 || response.status === 400) refused++;
      if (response.status >= 500) failures.push(`${method.toUpperCase()} ${path} ${what}: ${response.status}`);
      if (response.status < 400) failures.push(`${method.toUpperCase()} ${path} ${what}: accepted (${response.status})`);
    };

    for (const bad of [NUL, LONE_SURROGATE]) {
      const label = bad === NUL ? "NUL" : "lone surrogate";
      if (body !== undefined) {
        for (const stringPath of stringPaths(body)) {
          await send(`body ${stringPath.join(".")} with ${label}`, pathParams, queryParams, "", withValue(body, stringPath, (old) => old + bad));
        }
      }
      // A query string cannot carry a lone surrogate as UTF-8; its CESU-8 bytes are what a client would send.
      const encodedBad = bad === NUL ? "%00" : "%ED%A0%80";
      for (const name of Object.keys(queryParams)) {
        const { [name]: old, ...rest } = queryParams;
        await send(`query ${name} with ${label}`, pathParams, rest, `${encodeURIComponent(name)}=${encodeURIComponent(old ?? "")}${encodedBad}`, body);
      }
      if (bad === NUL) {
        for (const name of Object.keys(pathParams)) await send(`path ${name} with NUL`, { ...pathParams, [name]: pathParams[name] + bad }, queryParams, "", body);
      }
    }
  }

  // A lone surrogate in a query string arrives as U+FFFD, which is ordinary text: such a request
  // may legitimately succeed, so only the NUL and body cases must be refused.
  const unexpected = failures.filter((f) => !/query \w+ with lone surrogate: accepted/.test(f));
  assert.deepEqual(unexpected, [], `${unexpected.length} of ${requests} requests were not refused cleanly`);
  assert.ok(refused > requests / 2, `${refused} of ${requests} refused with 400/422`);
  assert.deepEqual(await fingerprint(), before, "refused requests changed nothing");
});

test("the 422 names the field", async () => {
  const response = await admin.json("POST", "/api/v1/projects", { name: `bad${NUL}name` });
  assert.equal(response.status, 422);
  const problem = (await response.json()) as { code: string; errors: Array<{ path: string; message: string }> };
  assert.equal(problem.code, "validation_failed");
  assert.equal(problem.errors[0]?.path, "name");
  assert.match(problem.errors[0]!.message, /NUL/);
  const query = await admin.get("/api/v1/audit?actor=a%00b");
  assert.equal(query.status, 422);
  assert.equal(((await query.json()) as { errors: Array<{ path: string }> }).errors[0]?.path, "actor");
  // Page query strings too (the audit page filters by actor): 400, never 500.
  assert.equal((await admin.get("/admin/audit?actor=a%00b")).status, 400);
});

test("a \\u0000 escape inside an imported file or a JSONL document is refused per line, and stores nothing", async () => {
  const prompts = async () => (await server.db.selectFrom("prompts").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n;
  const documents = async () => (await server.db.selectFrom("documents").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n;
  const [promptsBefore, documentsBefore] = [await prompts(), await documents()];
  const file = ['{"prompt": "fine"}', '{"prompt": "a\\u0000b"}', '{"prompt": "c\\ud800d"}'].join("\n");
  const imported = await admin.json("POST", `/api/v1/projects/${projectId}/imports`, { content: file, filename: "odd.jsonl", commit: true });
  assert.ok(imported.status < 500, String(imported.status));
  const report = JSON.stringify(await imported.json());
  assert.match(report, /NUL/);
  assert.match(report, /surrogate/);
  assert.equal(await prompts(), promptsBefore, "a file with refused lines imports nothing");
  const uploaded = await admin.json("POST", `/api/v1/projects/${projectId}/documents`, { files: [{ name: "odd.jsonl", content: '{"title": "t", "text": "x\\u0000y"}' }] });
  assert.equal(uploaded.status, 422);
  assert.match(await uploaded.text(), /NUL/);
  assert.equal(await documents(), documentsBefore);
});
