/**
 * Streams a preference export of ITEMS × 10 pairs (default 1,000,000) over real HTTP and
 * samples the process's memory while it runs (the server is in-process). Constant memory
 * means the peak does not grow with ITEMS: run it at two sizes and compare. For scale, the
 * bench also loads the same rows with one raw query, as a non-streaming export would.
 *   npm run bench:export            ITEMS=20000 npm run bench:export
 */
import { performance } from "node:perf_hooks";
import { sql } from "kysely";
import { startTestServer } from "../tests/support/test-server.ts";

const ITEMS = Number(process.env.ITEMS ?? 100_000); // × C(5,2) = 10 pairs each
const K = 5;
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

const server = await startTestServer();
const researcher = await server.newUser("researcher");
const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Export bench", settings: { k: K } });
const projectId = ((await created.json()) as { id: string }).id;

// Seed in SQL: ITEMS prompts with K completions, one rank task and one submission each.
let t = performance.now();
const userId = researcher.id;
await sql`
  with p as (
    insert into prompts (project_id, messages, content_hash, minhash, status)
    select ${projectId}, jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question number ' || g || ': what is ' || g || ' + ' || g || '?')),
           'bench-' || g, '', 'active'
    from generate_series(1, ${ITEMS}) g
    returning id
  ), c as (
    insert into completions (prompt_id, model_name, text)
    select p.id, 'bench', 'Answer ' || k || ' for prompt ' || p.id || ': ' || repeat('lorem ipsum ', 20)
    from p, generate_series(1, ${K}) k
    returning id, prompt_id
  ), t as (
    insert into tasks (project_id, prompt_id, type, state, overlap_target, completion_ids)
    select ${projectId}, prompt_id, 'rank', 'complete', 1, jsonb_agg(id::text order by id) from c group by prompt_id
    returning id, completion_ids
  ), a as (
    insert into assignments (task_id, user_id, state, lease_expires_at, shown_order)
    select id, ${userId}, 'submitted', now(), completion_ids from t
    returning id, task_id, shown_order
  )
  insert into submissions (assignment_id, task_id, user_id, payload, idempotency_key)
  select a.id, a.task_id, ${userId},
         jsonb_build_object('ranking', jsonb_build_object('tiers', (select jsonb_agg(jsonb_build_array(x)) from jsonb_array_elements(a.shown_order) x))),
         'bench-' || a.id
  from a`.execute(server.db);
// Fresh statistics, as autovacuum (or the import itself) would leave them after a bulk load.
await sql`analyze`.execute(server.db);
console.log(`seeded ${ITEMS} ranked items (${ITEMS * 10} pairs) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

// Tandem: stream over HTTP, sampling this process's RSS (the server runs in-process).
async function measure(file: string, countRows: (chunk: Uint8Array) => number): Promise<void> {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t = performance.now();
  const response = await researcher.client.get(`/api/v1/projects/${projectId}/exports/${file}?format=standard`);
  let bytes = 0;
  let rows = 0;
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    rows += countRows(value);
  }
  const seconds = (performance.now() - t) / 1000;
  clearInterval(sampler);
  const rate = rows > 0 ? ` (${Math.round(rows / seconds)} pairs/s)` : "";
  console.log(`tandem ${file}: ${rows > 0 ? `${rows} pairs, ` : ""}${mib(bytes)} MiB in ${seconds.toFixed(1)} s${rate}; RSS before ${mib(rssBefore)} MiB, peak ${mib(peak)} MiB (+${mib(peak - rssBefore)} MiB)`);
}
await measure("preferences.jsonl", (chunk) => chunk.reduce((n, byte) => n + (byte === 10 ? 1 : 0), 0));
// Parquet rows are not countable from the bytes; the pairs are the same as the JSONL's.
await measure("preferences.parquet", () => 0);

// Baseline: one query that loads every submission with its completion texts into memory.
global.gc?.();
const baseBefore = process.memoryUsage().rss;
let basePeak = baseBefore;
const baseSampler = setInterval(() => (basePeak = Math.max(basePeak, process.memoryUsage().rss)), 50);
t = performance.now();
const all = await sql<{ payload: unknown; texts: unknown }>`
  select s.payload, (select jsonb_agg(c.text) from completions c where c.prompt_id = tk.prompt_id) as texts
  from submissions s join tasks tk on tk.id = s.task_id where tk.project_id = ${projectId}`.execute(server.db);
const baseSeconds = (performance.now() - t) / 1000;
clearInterval(baseSampler);
console.log(`raw load-everything query (no pairs, no JSON lines): ${all.rows.length} rows in ${baseSeconds.toFixed(1)} s; RSS peak +${mib(basePeak - baseBefore)} MiB`);
await server.stop();
