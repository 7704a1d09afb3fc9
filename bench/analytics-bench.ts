// Progress and analytics bench (decision 0046): the three analytics calls on a big project, seeded straight in SQL.
// Usage: tsx tests/support/with-postgres.ts tsx bench/analytics-bench.ts [--tasks 200000] [--labelers 50] [--days 60] [--runs 3]
// (npm run bench:analytics). DATABASE_URL must point at an empty database (with-postgres.ts makes one).
//
// The project has --tasks rank tasks created over --days days; two thirds of them have 3 submissions (claimed 10–600 s
// before submitting, random orders), one assignment in ten is a skip, and an equal-sized second project is noise that
// the indexes must step over. Timings are wall-clock on a shared machine (median of --runs); the plans say which
// indexes PostgreSQL chose.
import { performance } from "node:perf_hooks";
import { sql, type RawBuilder } from "kysely";
import { createDb, createPool, migrateToLatest, type Db } from "../server/db/database.server.ts";
import { burndown, disputedItems, labelerAnalytics, resolveRange } from "../server/labeling/analytics.server.ts";
import { arg } from "./cli-arg.ts";

const TASKS = Number(arg("tasks", "200000"));
const LABELERS = Number(arg("labelers", "50"));
const DAYS = Number(arg("days", "60"));
const RUNS = Number(arg("runs", "3"));

const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is not set: run through tests/support/with-postgres.ts");

async function seed(db: Db, name: string): Promise<string> {
  const project = await sql<{ id: string }>`insert into projects (name, settings, access) values (${name}, '{}', 'open') returning id`.execute(db);
  const projectId = project.rows[0]!.id;
  const users = await sql<{ id: string }>`
    insert into users (email, name, password_hash, role)
    select ${name} || '-' || g || '@bench.test', ${name} || ' labeler ' || g, 'x', 'labeler' from generate_series(1, ${LABELERS}) g returning id`.execute(db);
  const firstUser = Number(users.rows[0]!.id);
  await sql`
    insert into prompts (project_id, messages, content_hash, minhash, status)
    select ${projectId}, jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'prompt ' || g)), ${name} || g, '', 'active'
    from generate_series(1, ${TASKS}) g`.execute(db);
  // Tasks created evenly over the days; the trigger leaves closed_at null (they are inserted open).
  await sql`
    insert into tasks (project_id, prompt_id, type, overlap_target, completion_ids, created_at)
    select ${projectId}, p.id, 'rank', 3, '["1","2","3"]', now() - make_interval(days => ${DAYS}) + (row_number() over (order by p.id)) * make_interval(secs => ${(DAYS * 86400) / TASKS})
    from prompts p where p.project_id = ${projectId}`.execute(db);
  // Three assignments for two tasks in three (distinct labelers per task); one in ten a skip.
  await sql`
    insert into assignments (task_id, user_id, state, lease_expires_at, shown_order, created_at, updated_at)
    select t.id, ${firstUser} + ((t.id * 7 + k * 13) % ${LABELERS}), case when (t.id + k) % 10 = 0 then 'skipped' else 'submitted' end, now(), '["1","2","3"]',
      t.created_at + make_interval(secs => 3600 * k), t.created_at + make_interval(secs => 3600 * k + 10 + (t.id * 31 + k) % 590)
    from tasks t cross join generate_series(0, 2) k
    where t.project_id = ${projectId} and t.id % 3 <> 0`.execute(db);
  await sql`
    insert into submissions (assignment_id, task_id, user_id, payload, idempotency_key, created_at)
    select a.id, a.task_id, a.user_id,
      jsonb_build_object('ranking', jsonb_build_object('tiers', case (a.id % 3) when 0 then '[["1"],["2"],["3"]]'::jsonb when 1 then '[["1"],["3"],["2"]]'::jsonb else '[["3"],["2"],["1"]]'::jsonb end)),
      'bench-' || a.id, a.updated_at
    from assignments a join tasks t on t.id = a.task_id where t.project_id = ${projectId} and a.state = 'submitted'`.execute(db);
  // Tasks whose three assignments were all submitted (none of k = 0..2 hit (id + k) % 10 = 0) are complete, closed at
  // their last submission (k = 2); the trigger keeps a closed_at it is given.
  await sql`
    update tasks set state = 'complete', closed_at = created_at + make_interval(secs => 3600 * 2 + 10 + (id * 31 + 2) % 590)
    where project_id = ${projectId} and id % 3 <> 0 and id % 10 not in (0, 8, 9)`.execute(db);
  await sql`analyze`.execute(db);
  return projectId;
}

async function time<T>(label: string, run: () => Promise<T>): Promise<T> {
  const ms: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    result = await run();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} median ${ms[Math.floor(ms.length / 2)]!.toFixed(0).padStart(6)} ms   (runs: ${ms.map((m) => m.toFixed(0)).join(", ")})`);
  return result!;
}

const db = createDb(createPool(url));
await migrateToLatest(db);
const start = performance.now();
await seed(db, "noise");
const projectId = await seed(db, "bench");
const counts = await sql<{ tasks: string; submissions: string; assignments: string }>`
  select (select count(*) from tasks) as tasks, (select count(*) from submissions) as submissions, (select count(*) from assignments) as assignments`.execute(db);
console.log(`seeded in ${((performance.now() - start) / 1000).toFixed(0)} s: ${JSON.stringify(counts.rows[0])} (two projects; the bench reads one)`);

const last30 = resolveRange({});
const last7 = resolveRange({ from: new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10) });
const all = resolveRange({ from: new Date(Date.now() - (DAYS + 1) * 86_400_000).toISOString().slice(0, 10) });
const labelers30 = await time("labelers, last 30 days (with agreement)", () => labelerAnalytics(db, projectId, last30));
await time("labelers, last 7 days", () => labelerAnalytics(db, projectId, last7));
await time("labelers, last 7 days, one labeler's own row", () => labelerAnalytics(db, projectId, last7, labelers30.labelers[0]!.labelerId));
await time(`burndown, last 30 days`, () => burndown(db, projectId, last30));
await time(`burndown, whole project (${all.days.length} days)`, () => burndown(db, projectId, all));
await time("disputed, top 20, last 7 days", () => disputedItems(db, projectId, last7, 20));
await time("disputed, top 20, last 30 days", () => disputedItems(db, projectId, last30, 20));

// Which indexes the SQL parts use.
const plan = async (label: string, query: RawBuilder<unknown>) => {
  const rows = await sql<{ "QUERY PLAN": string }>`explain ${query}`.execute(db);
  const used = [...new Set(rows.rows.map((r) => r["QUERY PLAN"]).join("\n").match(/(?:Index|Index Only|Bitmap Index) Scan (?:Backward )?(?:using|on) \w+/g) ?? [])];
  console.log(`plan: ${label.padEnd(30)} ${used.join("; ") || "no index"}`);
};
const from30 = new Date(`${last30.from}T00:00:00Z`);
await plan("submissions in a window", sql`select count(*) from submissions s join tasks t on t.id = s.task_id where t.project_id = ${projectId} and s.created_at >= ${from30}`);
await plan("skips in a window", sql`select count(*) from assignments a join tasks t on t.id = a.task_id where a.state = 'skipped' and a.updated_at >= ${from30} and t.project_id = ${projectId}`);
await plan("burndown counts", sql`select type, count(*) from tasks where project_id = ${projectId} and gold is null and closed_at < now() group by 1`);
await db.destroy();
