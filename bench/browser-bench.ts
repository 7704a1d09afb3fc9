// Data browser bench (issue 14, item 1 and its Performance line: "the data browser's search and filters at 1M prompts and
// 3M submissions: p95 < 200 ms per page on this machine").
//
// Usage: tsx tests/support/with-postgres.ts tsx bench/browser-bench.ts [--prompts 1000000] [--labelers 60] [--requests 20]
//          [--sql-runs 3] [--only prompts|tasks|submissions|<label substring>]
// (npm run bench:browser -- …). Needs `npm run build` (it starts a real Tandem with tests/support/test-server.ts) and
// DATABASE_URL pointing at an empty database (with-postgres.ts makes one on an embedded PostgreSQL in a temp dir and
// removes it afterwards, so no big database is left behind).
//
// Seeding is done inside PostgreSQL with generate_series (INSERT … SELECT), not row by row through the app: a million
// prompts through the import path would take hours and measure the import, not the browser. To be fast it (1) sets
// explicit ids (OVERRIDING SYSTEM VALUE) so completions, tasks, assignments and submissions can name each other without
// joins, (2) drops the secondary indexes of the big tables and recreates them from their own definitions afterwards
// (one sorted build each instead of millions of inserts into them), and (3) runs with session_replication_role =
// replica, which skips foreign-key checks and the closed_at trigger (the seed writes closed_at itself). The schema and
// indexes the app queries are exactly the migrations'.
//
// One project, N prompts (each with two completions from several models, one of several sources, created over 180
// days), one rank task per prompt (one in twenty an A/B compare; 2 % cancelled, 10 % open, 1 % gold, a fifth from one
// of four rounds), one prompt in ten also a demonstration task, three submissions per complete task from several
// labelers (one labeler is new: ~N/5000 submissions), rankings with tiers (some ties), quality scores on a third,
// flags on a few, rationales on a tenth, ~2 % disputed (one labeler of three reverses the order), 2 % of rank and
// demonstration submissions reviewed, 0.2 % of prompts excluded.
//
// Then each listing and filter the browser offers is requested ~20 times through the real HTTP API as a reviewer
// member of the project (p50 / p95 wall time, one request at a time), and beside it the SQL the same request runs:
// the statements are captured by calling the same server function on a logging Kysely, then each is run under
// EXPLAIN (ANALYZE, TIMING OFF) and its planning + execution times are summed (median of --sql-runs). HTTP minus SQL
// is the app's overhead (HTTP, auth, membership, the project's settings, zod, JSON).
// Wall-clock on a shared machine: read the load average printed with the figures.
import os from "node:os";
import { performance } from "node:perf_hooks";
import { Kysely, PostgresDialect, type CompiledQuery } from "kysely";
import type pg from "pg";
import { createPool } from "../server/db/database.server.ts";
import type { Database } from "../server/db/schema.ts";
import { browsePrompts, browseQuerySchema, encodeCursor } from "../server/labeling/browser.server.ts";
import { browseSubmissions, browseTasks, submissionBrowseSchema, taskBrowseSchema } from "../server/labeling/browser-items.server.ts";
import { projectSettingsSchema } from "../server/labeling/project-settings.ts";
import { startTestServer, type HttpClient } from "../tests/support/test-server.ts";
import { arg } from "./cli-arg.ts";

const N = Number(arg("prompts", "1000000"));
const LABELERS = Number(arg("labelers", "60"));
const REQUESTS = Number(arg("requests", "20"));
const SQL_RUNS = Number(arg("sql-runs", "3"));
const ONLY = arg("only", "");
/** Keep the seeded database this many seconds after measuring (its URL is printed), to look at plans by hand. */
const HOLD_S = Number(arg("hold-seconds", "0"));
/** A query whose samples have taken this long stops early (it is slow either way; the bench must finish). */
const QUERY_BUDGET_MS = Number(arg("query-budget-ms", "30000"));
/** One request (or one statement of the SQL baseline) longer than this is cut off and counted as "> timeout". */
const TIMEOUT_MS = Number(arg("timeout-ms", "30000"));
if (!Number.isInteger(N) || N < 1000) throw new Error("--prompts: a whole number ≥ 1000");
if (!Number.isInteger(LABELERS) || LABELERS < 10 || LABELERS % 13 === 0) throw new Error("--labelers: a whole number ≥ 10, not a multiple of 13");

// Words for the prompts' text: a search for one of them finds ~4/|WORDS| of the prompts. RARE_WORD is in one prompt of 997.
const WORDS = (
  "apple anchor autumn badger bakery banner basket beacon bishop blanket bottle bridge bucket butter cabin camera candle canyon carpet castle " +
  "cellar cement chapel cherry circus cobalt comet copper cotton crater crystal dagger desert dinner doctor dragon engine fabric falcon " +
  "feather fiddle forest fossil garden garlic ginger glacier goblet gravel guitar hammer harbor helmet hermit honey island jacket jungle " +
  "kettle ladder lantern lemon lizard magnet marble meadow mirror monkey mortar mussel needle nickel noodle oyster paddle palace parrot " +
  "pencil pepper pillow planet pocket potato puzzle quartz rabbit radish ribbon rocket saddle salmon sandal season shovel silver sketch " +
  "socket spider spiral statue summer tablet teapot thimble timber tomato tunnel turnip velvet violin walnut wallet window winter wizard"
).split(" ");
const RARE_WORD = "kaleidoscope";
const MODELS = ["llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "mistral-7b-instruct", "tandem-round-2"];
const RARE_MODEL = "gpt-4o-2024-08-06";
const DAYS = 180;

const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is not set: run through tests/support/with-postgres.ts");

// ---------------------------------------------------------------------------------------------------------------------
// seeding

type Seeded = { projectId: string; labelers: string[]; newcomer: string; rounds: string[]; start: Date };

const BIG_TABLES = ["prompts", "completions", "tasks", "assignments", "submissions", "annotation_reviews"];

async function seed(pool: pg.Pool): Promise<Seeded> {
  const client = await pool.connect();
  const q = async <R extends pg.QueryResultRow = Record<string, string>>(text: string, values: unknown[] = []) => (await client.query<R>(text, values)).rows;
  const step = async (label: string, text: string, values: unknown[] = []) => {
    const t0 = performance.now();
    const result = await client.query(text, values);
    console.log(`  ${label.padEnd(34)} ${String(result.rowCount ?? "").padStart(9)} rows ${((performance.now() - t0) / 1000).toFixed(1).padStart(7)} s`);
  };
  try {
    await q("set maintenance_work_mem = '1GB'");
    await q("set synchronous_commit = off");
    try {
      await q("set session_replication_role = replica");
    } catch {
      console.log("  (not a superuser: foreign keys and triggers are checked while seeding, which is slower)");
    }
    const settings = projectSettingsSchema.parse({ k: 2, overlap: { rank: 3, compare: 3, demonstrate: 1 } });
    const [project] = await q(`insert into projects (name, settings, access) values ('Browser bench', $1, 'members') returning id`, [JSON.stringify(settings)]);
    const projectId = project!.id!;
    const users = await q(
      `insert into users (email, name, password_hash, role) select 'labeler-' || g || '@bench.invalid', 'Labeler ' || g, 'x', 'labeler' from generate_series(1, $1) g returning id`,
      [LABELERS + 2],
    );
    const labelers = users.slice(0, LABELERS).map((u) => u.id!);
    const newcomer = users[LABELERS]!.id!;
    const reviewer = users[LABELERS + 1]!.id!;
    const rounds = (
      await q(
        `insert into rounds (project_id, name, spec, steps, state, data_snapshot) select $1, 'round ' || g, '{}', '["dpo"]', 'done', '{}' from generate_series(1, 4) g returning id`,
        [projectId],
      )
    ).map((r) => r.id!);

    // Secondary indexes go while the rows go in, and come back afterwards from their own definitions.
    const indexes = await q<{ name: string; def: string }>(
      `select i.indexname as name, i.indexdef as def from pg_indexes i
       where i.schemaname = 'public' and i.tablename = any($1) and not exists (select 1 from pg_constraint c where c.conname = i.indexname)`,
      [BIG_TABLES],
    );
    for (const index of indexes) await q(`drop index ${index.name}`);

    // Ids: the next free of each table, so rows can name each other by arithmetic.
    const base = async (table: string) => Number((await q(`select coalesce(max(id), 0) as m from ${table}`))[0]!.m);
    const pb = await base("prompts");
    const cb = await base("completions");
    const tb = await base("tasks");
    const ab = await base("assignments");
    const sb = await base("submissions");
    const start = new Date(Date.now() - DAYS * 86_400_000);
    const secondsPerPrompt = (DAYS * 86_400 - 7 * 3600) / N;
    const w = (mult: number, add: number) => `($3::text[])[1 + (g * ${mult} + ${add}) % ${WORDS.length}]`;

    await step(
      "prompts",
      `insert into prompts (id, project_id, messages, content_hash, minhash, source, status, kind, created_at, excluded_at, exclusion_reason)
       overriding system value
       select $1::bigint + g, $2::bigint,
         jsonb_build_array(jsonb_build_object('role', 'user', 'content',
           'Ticket ' || g || ': ' || ${w(7, 0)} || ' and ' || ${w(13, 5)} || ', then the ' || ${w(31, 11)} || ' near the ' || ${w(61, 29)} ||
           case when g % 997 = 0 then ' seen through a ' || $6::text else '' end || '. Explain it step by step, with one example and one caveat.')),
         'bench-' || g, '', case when g % 200 = 0 then 'support-tickets' else 'import-' || (g % 7) end, 'active', 'prompt',
         $4::timestamptz + make_interval(secs => g * $5::float8),
         case when g % 500 = 3 then now() end, case when g % 500 = 3 then 'bench: excluded' end
       from generate_series(1, $7::int) g`,
      [pb, projectId, WORDS, start, secondsPerPrompt, RARE_WORD, N],
    );
    await step(
      "completions (2 per prompt)",
      `insert into completions (id, prompt_id, model_name, text, created_at)
       overriding system value
       select $1::bigint + 2 * g - 1 + k, $2::bigint + g,
         case when k = 1 and g % 1000 = 0 then $3 else ($4::text[])[1 + (g + k) % 4] end,
         'Answer ' || (k + 1) || ' to ticket ' || g || ': ' || repeat('a reasonable reply ', 8), $5::timestamptz + make_interval(secs => g * $6::float8)
       from generate_series(1, $7::int) g cross join generate_series(0, 1) k`,
      [cb, pb, RARE_MODEL, MODELS, start, secondsPerPrompt, N],
    );
    // Main task of prompt g: id tb + g. c1, c2: its completions. Demonstration task of prompt g (g % 10 = 0): id tb + N + g.
    const c1 = `($3::bigint + 2 * g - 1)::text`;
    const c2 = `($3::bigint + 2 * g)::text`;
    // 2 % cancelled; gold tasks stay open (decision 0010); 10 % open with fewer labels than their target; the rest complete.
    const gold = `((g * 13) % 100 = 0 and g % 20 <> 1)`;
    const state = `case when (g * 7) % 100 < 2 then 'cancelled' when ${gold} or (g * 7) % 100 < 12 then 'open' else 'complete' end`;
    await step(
      "tasks (rank, compare, demonstrate)",
      `insert into tasks (id, project_id, prompt_id, type, state, overlap_target, completion_ids, round_id, gold, created_at, closed_at)
       overriding system value
       select $1::bigint + g, $2::bigint, $4::bigint + g, case when g % 20 = 1 then 'compare' else 'rank' end, ${state}, 3,
         jsonb_build_array(${c1}, ${c2}),
         case when (g * 17) % 10 < 2 then ($5::bigint[])[1 + (g / 10) % 4] end,
         case when ${gold} then jsonb_build_object('ranking', jsonb_build_object('tiers', jsonb_build_array(jsonb_build_array(${c1}), jsonb_build_array(${c2})))) end,
         $6::timestamptz + make_interval(secs => g * $7::float8),
         case ${state} when 'complete' then $6::timestamptz + make_interval(secs => g * $7::float8 + 3 * 3600 + 600) when 'cancelled' then $6::timestamptz + make_interval(secs => g * $7::float8) end
       from generate_series(1, $8::int) g
       union all
       select $1::bigint + $8::int + g, $2::bigint, $4::bigint + g, 'demonstrate', 'complete', 1, '[]'::jsonb, null, null,
         $6::timestamptz + make_interval(secs => g * $7::float8), $6::timestamptz + make_interval(secs => g * $7::float8 + 1800)
       from generate_series(10, $8::int, 10) g`,
      [tb, projectId, cb, pb, rounds, start, secondsPerPrompt, N],
    );
    // Slot k of the main task of prompt g: assignment and submission ab + 3g + k (and sb + 3g + k); labelers distinct per
    // task (13 and 26 are distinct, non-zero modulo LABELERS). A demonstration's: ab + 3N + g. Complete tasks have 3,
    // open ones (g*7 % 3) — fewer than their target — and cancelled ones none.
    const slots = `
      select g, k, $1::bigint + 3 * g + k as aid, $2::bigint + 3 * g + k as sid, $3::bigint + g as tid,
        case when k = 2 and g % 4999 = 0 then $4::bigint else ($5::bigint[])[1 + (g * 7 + k * 13) % $6::int] end as uid,
        g % 20 = 1 as compare,
        $7::timestamptz + make_interval(secs => g * $8::float8 + k * 3600) as at
      from generate_series(1, $9::int) g cross join generate_series(0, 2) k
      where k < case when (g * 7) % 100 < 2 then 0 when ${gold} then 3 when (g * 7) % 100 < 12 then (g * 7) % 3 else 3 end
      union all
      select g, 0, $1::bigint + 3 * $9::int + g, $2::bigint + 3 * $9::int + g, $3::bigint + $9::int + g, ($5::bigint[])[1 + (g * 11) % $6::int], false,
        $7::timestamptz + make_interval(secs => g * $8::float8 + 900)
      from generate_series(10, $9::int, 10) g`;
    const slotArgs = [ab, sb, tb, newcomer, labelers, LABELERS, start, secondsPerPrompt, N];
    await step(
      "assignments",
      `insert into assignments (id, task_id, user_id, state, lease_expires_at, shown_order, created_at, updated_at)
       overriding system value
       select aid, tid, uid, 'submitted', at + interval '30 minutes',
         case when tid > $3::bigint + $9::int then '[]'::jsonb when k % 2 = 0 then jsonb_build_array(${c1.replace("$3", "$10")}, ${c2.replace("$3", "$10")})
           else jsonb_build_array(${c2.replace("$3", "$10")}, ${c1.replace("$3", "$10")}) end,
         at, at + make_interval(secs => 30 + (g * 31 + k) % 600)
       from (${slots}) s`,
      [...slotArgs, cb],
    );
    // Rankings prefer c1 on even prompts and c2 on odd ones; slot 2 of one prompt in fifty reverses it (disputed);
    // one ranking in 97 is a tie.
    const first = `case when g % 2 = 0 then ${c1.replace("$3", "$10")} else ${c2.replace("$3", "$10")} end`;
    const second = `case when g % 2 = 0 then ${c2.replace("$3", "$10")} else ${c1.replace("$3", "$10")} end`;
    const reversed = `(k = 2 and g % 50 = 7)`;
    await step(
      "submissions",
      `insert into submissions (id, assignment_id, task_id, user_id, payload, timings, idempotency_key, created_at)
       overriding system value
       select sid, aid, tid, uid,
         case
           when tid > $3::bigint + $9::int then jsonb_build_object('text', 'Demonstration for ticket ' || g || ': first the ' || ($11::text[])[1 + (g * 3) % ${WORDS.length}] || ', then the rest.')
           when compare then jsonb_build_object('choice', case when ${reversed} then 'B' else 'A' end, 'rationale', '',
             'winner', case when ${reversed} then ${second} else ${first} end, 'loser', case when ${reversed} then ${first} else ${second} end)
           else jsonb_build_object(
             'ranking', jsonb_build_object('tiers', case
               when (g * 3 + k) % 97 = 0 then jsonb_build_array(jsonb_build_array(${first}, ${second}))
               when ${reversed} then jsonb_build_array(jsonb_build_array(${second}), jsonb_build_array(${first}))
               else jsonb_build_array(jsonb_build_array(${first}), jsonb_build_array(${second})) end),
             'quality', case when (g + k) % 3 = 0 then jsonb_build_object(${c1.replace("$3", "$10")}, 1 + (g + k) % 7, ${c2.replace("$3", "$10")}, 1 + (g * 3 + k) % 7) else '{}'::jsonb end,
             'flags', case when (g * 5 + k) % 25 = 0 then jsonb_build_object(${c2.replace("$3", "$10")}, jsonb_build_array('hallucination'))
                           when (g * 11 + k) % 331 = 0 then jsonb_build_object(${c1.replace("$3", "$10")}, jsonb_build_array('harmful_advice', 'fails_task'))
                           else '{}'::jsonb end,
             'rationale', case when (g + k) % 10 = 0 then 'The first answer names the ' || ($11::text[])[1 + (g * 5 + k) % ${WORDS.length}] || ' correctly.' else '' end)
         end,
         '{}', 'bench-' || sid, at + make_interval(secs => 30 + (g * 31 + k) % 600)
       from (${slots}) s`,
      [...slotArgs, cb, WORDS],
    );
    // 2 % of the labelers' rankings and demonstrations (not gold) were sampled for annotation review. (Statistics first:
    // without them the planner joins these tables as if they were empty.)
    await q("analyze tasks, submissions");
    await step(
      "annotation reviews",
      `insert into annotation_reviews (project_id, submission_id, state, reviewer_id, lease_expires_at, mode, decision, comment, override_payload, decided_at, created_at)
       select $1::bigint, s.id, case when s.id % 100 = 8 then 'open' else 'decided' end, $2::bigint,
         case when s.id % 100 = 8 then now() + interval '30 minutes' end, 'random',
         case when s.id % 100 = 8 then null when (s.id / 100) % 10 < 7 then 'accept' when (s.id / 100) % 10 < 9 then 'override' else 'send_back' end,
         case when s.id % 100 = 7 and (s.id / 100) % 10 = 9 then 'Please look again at the second answer.' else '' end,
         case when s.id % 100 = 7 and (s.id / 100) % 10 in (7, 8) then s.payload end,
         case when s.id % 100 = 7 then s.created_at + interval '1 day' end, s.created_at + interval '12 hours'
       from submissions s join tasks t on t.id = s.task_id
       where t.project_id = $1 and s.id % 100 in (7, 8) and t.type in ('rank', 'demonstrate') and t.gold is null`,
      [projectId, reviewer],
    );
    for (const table of ["prompts", "completions", "tasks", "assignments", "submissions"]) {
      await q(`select setval(pg_get_serial_sequence('${table}', 'id'), (select max(id) from ${table}))`);
    }
    await q("set session_replication_role = origin");
    // Indexes of the other tables first: the agreement backfill looks submissions up by task; the tasks' and prompts'
    // come after the backfills have rewritten those rows.
    const onTasks = (index: { def: string }) => / ON public\.(tasks|prompts) /.test(index.def);
    for (const index of indexes.filter((i) => !onTasks(i))) await step(`index ${index.name}`, index.def);
    const storedColumns = await q(`select 1 from information_schema.columns where table_name = 'tasks' and column_name = 'agreement'`);
    if (storedColumns.length > 0) {
      // The triggers that keep tasks.agreement and flag_ids and the prompts' quality sums did not fire (replica mode):
      // backfill them as migration 0027 does for existing data.
      await q("analyze tasks, submissions, assignments");
      await step(
        "tasks.agreement (backfill)",
        `update tasks t set agreement = task_agreement(t.id) where t.project_id = $1 and t.type in ('rank', 'compare') and (select count(*) from submissions s where s.task_id = t.id) >= 2`,
        [projectId],
      );
      await step(
        "tasks.flag_ids (backfill)",
        `update tasks t set flag_ids = task_flag_ids(t.id)
         where t.id in (select s.task_id from submissions s where jsonb_path_query_array(s.payload, '$.flags.*[*]') <> '[]'::jsonb)`,
      );
      await step(
        "prompts.quality_sum/count (backfill)",
        `update prompts p set quality_sum = d.total, quality_count = d.n
         from (
           select t.prompt_id, sum((q.value)::numeric) as total, count(*) as n
           from submissions s join tasks t on t.id = s.task_id
             cross join jsonb_each(case when jsonb_typeof(s.payload -> 'quality') = 'object' then s.payload -> 'quality' else '{}'::jsonb end) as q
           where jsonb_typeof(q.value) = 'number' and t.project_id = $1
           group by t.prompt_id
         ) d
         where p.id = d.prompt_id`,
        [projectId],
      );
    }
    for (const index of indexes.filter(onTasks)) await step(`index ${index.name}`, index.def);
    const t0 = performance.now();
    for (const table of BIG_TABLES) await q(`vacuum (analyze) ${table}`);
    console.log(`  ${"vacuum analyze".padEnd(34)} ${"".padStart(14)} ${((performance.now() - t0) / 1000).toFixed(1).padStart(7)} s`);
    return { projectId, labelers, newcomer, rounds, start };
  } finally {
    client.release();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// measuring

type Listing = "prompts" | "tasks" | "submissions";
type Spec = { listing: Listing; label: string; queries: string[]; pages?: boolean };

const pct = (sorted: number[], p: number) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const median = (values: number[]) => pct([...values].sort((a, b) => a - b), 50);

/**
 * The statements one listing call runs, captured by running the server function itself on a logging Kysely (a statement
 * cut off by the timeout is captured too: its EXPLAIN is then cut off the same way).
 */
async function statementsOf(pool: pg.Pool, projectId: string, listing: Listing, qs: string): Promise<CompiledQuery[]> {
  const captured: CompiledQuery[] = [];
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: (event) => void captured.push(event.query) });
  const raw = Object.fromEntries(new URLSearchParams(qs));
  try {
    if (listing === "prompts") await browsePrompts(db, projectId, browseQuerySchema.parse(raw));
    else if (listing === "tasks") await browseTasks(db, projectId, taskBrowseSchema.parse(raw));
    else await browseSubmissions(db, projectId, submissionBrowseSchema.parse(raw));
  } catch (error) {
    if ((error as { code?: string }).code !== "57014") throw error;
  }
  return captured;
}

type Explained = { ms: number; exec: number; statements: number; indexes: string[] };

/**
 * Planning + execution time of every statement, summed (EXPLAIN ANALYZE without per-node timing), median of SQL_RUNS
 * (one run when the first takes over 2 s); Infinity when a statement runs past the timeout.
 */
async function explain(pool: pg.Pool, captured: CompiledQuery[]): Promise<Explained> {
  const totals: Array<{ ms: number; exec: number }> = [];
  const indexes = new Set<string>();
  // The listing's transaction and its `set local` (no parallel workers): the settings are applied to this session, the
  // transaction's own statements are not timed.
  const statements = captured.filter((s) => !/^\s*(begin|commit|rollback|set)\b/i.test(s.sql));
  const settings = captured.filter((s) => /^\s*set\b/i.test(s.sql)).map((s) => s.sql.replace(/^\s*set\s+local\b/i, "set"));
  const client = await pool.connect();
  try {
    for (const setting of settings) await client.query(setting);
    for (let run = 0; run < SQL_RUNS && !(run > 0 && totals[0]!.ms > 2000); run++) {
      let ms = 0;
      let exec = 0;
      for (const statement of statements) {
        try {
          const result = await client.query<{ "QUERY PLAN": Array<{ Plan: unknown; "Planning Time": number; "Execution Time": number }> }>(
            `explain (analyze, timing off, format json) ${statement.sql}`,
            statement.parameters as unknown[],
          );
          const plan = result.rows[0]!["QUERY PLAN"][0]!;
          ms += plan["Planning Time"] + plan["Execution Time"];
          exec += plan["Execution Time"];
          if (run === 0) for (const m of JSON.stringify(plan.Plan).matchAll(/"Index Name":"(\w+)"/g)) indexes.add(m[1]!);
        } catch (error) {
          if ((error as { code?: string }).code !== "57014") throw error;
          ms = exec = Infinity;
          break;
        }
      }
      totals.push({ ms, exec });
    }
  } finally {
    await client.query("reset max_parallel_workers_per_gather");
    client.release();
  }
  return { ms: median(totals.map((t) => t.ms)), exec: median(totals.map((t) => t.exec)), statements: statements.length, indexes: [...indexes] };
}

/** Cancels the app's statements still running after a request timed out, so they do not load the next measurement. */
async function cancelRunning(pool: pg.Pool): Promise<void> {
  await pool.query(
    `select pg_cancel_backend(pid) from pg_stat_activity
     where datname = current_database() and pid <> pg_backend_pid() and state = 'active' and backend_type = 'client backend' and now() - query_start > interval '1 second'`,
  );
}

type Row = { spec: Spec; n: number; items: number; p50: number; p95: number; sql: Explained };

async function measure(client: HttpClient, pool: pg.Pool, projectId: string, spec: Spec): Promise<Row> {
  const path = `/api/v1/projects/${projectId}/${spec.listing}`;
  const get = async (qs: string) => {
    const t0 = performance.now();
    const timer = setTimeout(() => void cancelRunning(pool), TIMEOUT_MS);
    try {
      const response = await client.get(`${path}?${qs}`);
      const body = (await response.json()) as { items?: unknown[]; next?: string | null };
      const ms = performance.now() - t0;
      if (ms >= TIMEOUT_MS) return { ms: Infinity, items: 0, next: null };
      if (response.status !== 200) throw new Error(`${spec.label}: ${response.status} ${JSON.stringify(body)}`);
      return { ms, items: body.items!.length, next: body.next ?? null };
    } finally {
      clearTimeout(timer);
    }
  };
  const times: number[] = [];
  const items: number[] = [];
  const sqlQueries: string[] = [];
  const began = performance.now();
  if (spec.pages) {
    // Page 1 untimed, then pages 2, 3, … each a request following the last one's cursor.
    let first = await get(spec.queries[0]!);
    for (let i = 0; i < REQUESTS && first.next && (i === 0 || performance.now() - began < QUERY_BUDGET_MS); i++) {
      const qs = `${spec.queries[0]}&after=${first.next}`;
      if (i < SQL_RUNS) sqlQueries.push(qs);
      first = await get(qs);
      times.push(first.ms);
      if (first.ms !== Infinity) items.push(first.items);
      if (first.ms === Infinity) break;
    }
  } else {
    // Warm-up, untimed; a request that times out here is the figure (no point in repeating it).
    for (const qs of spec.queries) {
      if ((await get(qs)).ms === Infinity) {
        times.push(Infinity);
        break;
      }
    }
    for (let i = 0; times[0] !== Infinity && i < REQUESTS && (i === 0 || performance.now() - began < QUERY_BUDGET_MS); i++) {
      const r = await get(spec.queries[i % spec.queries.length]!);
      times.push(r.ms);
      if (r.ms !== Infinity) items.push(r.items);
      if (r.ms === Infinity) break;
    }
    // A slow query's baseline: one variant, explained once.
    sqlQueries.push(...spec.queries.slice(0, median(times) > 2000 ? 1 : SQL_RUNS));
  }
  // The SQL baseline: the statements of one request per query variant (up to SQL_RUNS variants), each explained SQL_RUNS times.
  const explained: Explained[] = [];
  for (const qs of sqlQueries) explained.push(await explain(pool, await statementsOf(pool, projectId, spec.listing, qs)));
  const sorted = [...times].sort((a, b) => a - b);
  return {
    spec,
    n: times.length,
    items: items.length === 0 ? NaN : Math.round(median(items)),
    p50: pct(sorted, 50),
    p95: pct(sorted, 95),
    sql: {
      ms: median(explained.map((e) => e.ms)),
      exec: median(explained.map((e) => e.exec)),
      statements: Math.max(...explained.map((e) => e.statements)),
      indexes: [...new Set(explained.flatMap((e) => e.indexes))],
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// main

const server = await startTestServer();
const pool = createPool(url, 2);
// The measuring side's statements are cut off at the timeout, as the requests are.
const measuringUrl = new URL(url);
measuringUrl.searchParams.set("options", `-c statement_timeout=${TIMEOUT_MS}`);
const measuring = createPool(measuringUrl.toString(), 2);
let exitCode = 0;
try {
  const t0 = performance.now();
  console.log(`seeding ${N.toLocaleString("en")} prompts, ${LABELERS} labelers (load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}):`);
  const seeded = await seed(pool);
  const counts = (
    await pool.query<Record<string, string>>(
      `select (select count(*) from prompts) as prompts, (select count(*) from completions) as completions, (select count(*) from tasks) as tasks,
         (select count(*) from submissions) as submissions, (select count(*) from annotation_reviews) as reviews, pg_size_pretty(pg_database_size(current_database())) as size`,
    )
  ).rows[0]!;
  console.log(`seeded in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(counts)}`);

  const reviewer = await server.newUser("reviewer");
  await server.addMembers(seeded.projectId, [{ id: reviewer.id, role: "reviewer" }]);
  const day = (d: number) => new Date(seeded.start.getTime() + d * 86_400_000).toISOString();
  const some = <T>(xs: T[], n: number) => xs.slice(0, n);
  const all: Spec[] = [
    { listing: "prompts", label: "no filter, newest first", queries: ["limit=50"] },
    { listing: "prompts", label: "keyset pages 2..21", queries: ["limit=50"], pages: true },
    { listing: "prompts", label: "oldest first", queries: ["order=asc"] },
    { listing: "prompts", label: "q: a common word (~3 %)", queries: some(WORDS, 5).map((word) => `q=${word}`) },
    { listing: "prompts", label: "q: a rare word (0.1 %)", queries: [`q=${RARE_WORD}`] },
    { listing: "prompts", label: "q: one ticket", queries: [`q=${encodeURIComponent(`Ticket ${Math.floor(N / 3)}:`)}`, `q=${encodeURIComponent(`Ticket ${Math.floor(N / 7)}:`)}`] },
    { listing: "prompts", label: "source: one of 7 imports", queries: ["source=import-3", "source=import-5"] },
    { listing: "prompts", label: "source: a small one (0.5 %)", queries: ["source=support-tickets"] },
    { listing: "prompts", label: "taskType=compare (5 %)", queries: ["taskType=compare"] },
    { listing: "prompts", label: "taskState=cancelled (2 %)", queries: ["taskState=cancelled"] },
    { listing: "prompts", label: "taskType=rank&taskState=open", queries: ["taskType=rank&taskState=open"] },
    { listing: "prompts", label: "taskType=review (none)", queries: ["taskType=review"] },
    { listing: "prompts", label: "labeler (5 %)", queries: some(seeded.labelers, 5).map((id) => `labeler=${id}`) },
    { listing: "prompts", label: "labeler: a newcomer (0.02 %)", queries: [`labeler=${seeded.newcomer}`] },
    { listing: "prompts", label: "flag=any (~12 %)", queries: ["flag=any"] },
    { listing: "prompts", label: "flag=harmful_advice (~1 %)", queries: ["flag=harmful_advice"] },
    { listing: "prompts", label: "flag=moral_judgment (none)", queries: ["flag=moral_judgment"] },
    { listing: "prompts", label: "model: a common one", queries: [`model=${MODELS[0]}`, `model=${MODELS[2]}`] },
    { listing: "prompts", label: "model: a rare one (0.1 %)", queries: [`model=${RARE_MODEL}`] },
    { listing: "prompts", label: "quality 3..5", queries: ["minQuality=3&maxQuality=5"] },
    { listing: "prompts", label: "quality ≥ 6.5 (rare)", queries: ["minQuality=6.5"] },
    { listing: "prompts", label: "quality ≤ 1.5 (rare)", queries: ["maxQuality=1.5"] },
    { listing: "prompts", label: "gold=true (1 %)", queries: ["gold=true"] },
    { listing: "prompts", label: "round (5 %)", queries: seeded.rounds.map((r) => `round=${r}`) },
    { listing: "prompts", label: "date range: one week", queries: [`from=${day(90)}&to=${day(97)}`, `from=${day(30)}&to=${day(37)}`] },
    { listing: "prompts", label: "excluded=true (0.2 %)", queries: ["excluded=true"] },
    { listing: "prompts", label: "sort=quality, highest first", queries: ["sort=quality"] },
    { listing: "prompts", label: "sort=quality, lowest first", queries: ["sort=quality&order=asc"] },
    { listing: "prompts", label: "sort=quality: keyset pages 2..21", queries: ["sort=quality&limit=50"], pages: true },
    { listing: "prompts", label: "sort=quality: the unscored, by id", queries: [`sort=quality&after=${encodeCursor("quality", null, "999999999")}`] },
    { listing: "prompts", label: "sort=quality&taskType=compare", queries: ["sort=quality&taskType=compare"] },
    { listing: "prompts", label: "sort=quality&q: a rare word", queries: [`sort=quality&q=${RARE_WORD}`] },
    { listing: "tasks", label: "no filter, newest first", queries: ["limit=50"] },
    { listing: "tasks", label: "keyset pages 2..21", queries: ["limit=50"], pages: true },
    { listing: "tasks", label: "state=open", queries: ["state=open"] },
    { listing: "tasks", label: "state=cancelled (2 %)", queries: ["state=cancelled"] },
    { listing: "tasks", label: "type=compare", queries: ["type=compare"] },
    { listing: "tasks", label: "q: a common word", queries: some(WORDS, 5).map((word) => `q=${word}`) },
    { listing: "tasks", label: "disputed=true (~2 %)", queries: ["disputed=true"] },
    { listing: "tasks", label: "agreement ≥ 0.9", queries: ["minAgreement=0.9"] },
    { listing: "tasks", label: "agreement ≤ 0.5", queries: ["maxAgreement=0.5"] },
    { listing: "tasks", label: "agreement 0.4..0.6 (none)", queries: ["minAgreement=0.4&maxAgreement=0.6"] },
    { listing: "tasks", label: "sort=agreement, highest first", queries: ["sort=agreement"] },
    { listing: "tasks", label: "sort=agreement, most disputed first", queries: ["sort=agreement&order=asc"] },
    { listing: "tasks", label: "sort=agreement: keyset pages 2..21", queries: ["sort=agreement&order=asc&limit=50"], pages: true },
    { listing: "tasks", label: "sort=agreement: the unmeasured, by id", queries: [`sort=agreement&after=${encodeCursor("agreement", null, "999999999")}`] },
    { listing: "tasks", label: "sort=agreement&disputed=true", queries: ["sort=agreement&order=asc&disputed=true"] },
    { listing: "tasks", label: "sort=agreement&type=compare", queries: ["sort=agreement&type=compare"] },
    { listing: "submissions", label: "no filter, newest first", queries: ["limit=50"] },
    { listing: "submissions", label: "keyset pages 2..21", queries: ["limit=50"], pages: true },
    { listing: "submissions", label: "sort=created_at, oldest first", queries: ["sort=created_at&order=asc"] },
    { listing: "submissions", label: "oldest first: keyset pages 2..21", queries: ["order=asc&limit=50"], pages: true },
    { listing: "submissions", label: "labeler (5 %)", queries: some(seeded.labelers, 5).map((id) => `labeler=${id}`) },
    { listing: "submissions", label: "labeler: a newcomer", queries: [`labeler=${seeded.newcomer}`] },
    { listing: "submissions", label: "review=send_back", queries: ["review=send_back"] },
    { listing: "submissions", label: "review=open", queries: ["review=open"] },
    { listing: "submissions", label: "review=none", queries: ["review=none"] },
    { listing: "submissions", label: "taskType=demonstrate", queries: ["taskType=demonstrate"] },
    { listing: "submissions", label: "q: a common word", queries: some(WORDS, 5).map((word) => `q=${word}`) },
    { listing: "submissions", label: "q: a rare word", queries: [`q=${RARE_WORD}`] },
  ];
  const specs = all.filter((s) => !ONLY || s.listing === ONLY || s.label.includes(ONLY));

  console.log(`\n${REQUESTS} requests per query, one at a time, as a reviewer member; SQL = EXPLAIN ANALYZE planning + execution, summed over the request's statements (median of ${SQL_RUNS})`);
  const header = "| listing | query | items | HTTP p50 ms | HTTP p95 ms | SQL ms | statements | overhead p50 ms | indexes |";
  const rows: Row[] = [];
  const fmt = (v: number) => (v === Infinity ? `> ${TIMEOUT_MS / 1000} s` : v.toFixed(1));
  const line = (r: Row) =>
    `| ${r.spec.listing} | ${r.spec.label} | ${Number.isNaN(r.items) ? "-" : r.items} | ${fmt(r.p50)} | ${fmt(r.p95)}${r.p95 >= 200 ? " ✗" : ""}${r.n < REQUESTS ? ` (n=${r.n})` : ""} | ` +
    `${fmt(r.sql.ms)} | ${r.sql.statements} | ${r.p50 === Infinity || r.sql.ms === Infinity ? "-" : (r.p50 - r.sql.ms).toFixed(1)} | ${r.sql.indexes.join(", ") || "none"} |`;
  for (const spec of specs) {
    const row = await measure(reviewer.client, measuring, seeded.projectId, spec);
    rows.push(row);
    console.log(`${line(row)}   (load ${os.loadavg()[0]!.toFixed(1)})`);
  }
  console.log(`\n${header}\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n${rows.map(line).join("\n")}`);
  const missed = rows.filter((r) => r.p95 >= 200);
  console.log(`\n${rows.length - missed.length} of ${rows.length} queries at p95 < 200 ms; load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")} on ${os.cpus().length} cores`);
  if (HOLD_S > 0) {
    console.log(`holding ${url} for ${HOLD_S} s`);
    await new Promise((resolve) => setTimeout(resolve, HOLD_S * 1000));
  }
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await pool.end();
  await measuring.end();
  await server.stop();
}
process.exit(exitCode);
