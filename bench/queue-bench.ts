// Labeling queue bench: `next task` + `submit` at N concurrent simulated labelers on real PostgreSQL, against the same
// logical work done with minimal raw SQL through `pg` (the ceiling); then the 100k-prompt import with dedup, committed.
// Usage: tsx tests/support/with-postgres.ts tsx bench/queue-bench.ts \
//          [--rank 2000] [--demos 500] [--labelers 200] [--pool 20] [--seconds 20] [--think-ms 10000] [--import-n 100000]
//          [--pgbench /usr/lib/postgresql/15/bin/pgbench] [--gold-rate 0.1]
// (npm run bench:queue). DATABASE_URL must point at an empty database (with-postgres.ts makes one).
//
// Each run starts from a freshly truncated and identically reseeded database. Throughput counts claim+submit cycles
// (one cycle = one labeler finishing one task) per second over the steady window: from the start until the first
// labeler finds the queue empty, or the time limit, whichever comes first. Latency is per labeler operation, pool
// waits included (what a request handler would see). Timings are wall-clock on a shared machine: run it twice.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { Kysely, PostgresDialect, sql, type LogEvent } from "kysely";
import pg from "pg";
import type { SessionUser } from "../server/auth/actor.ts";
import { createDb, createPool, migrateToLatest, type Db } from "../server/db/database.server.ts";
import type { Database } from "../server/db/schema.ts";
import { importPrompts } from "../server/labeling/import-prompts.server.ts";
import { signatureToBase64 } from "../server/labeling/import/minhash.ts";
import { parseImportFile } from "../server/labeling/import/parse-import-file.ts";
import { planImport } from "../server/labeling/import/plan-import.ts";
import { projectSettingsSchema, type ProjectSettings } from "../server/labeling/project-settings.ts";
import { createProject, type Project } from "../server/labeling/projects.server.ts";
import { insertPrompts, type NewPrompt } from "../server/labeling/prompts.server.ts";
import { claimNextTask } from "../server/labeling/queue.server.ts";
import { submitAssignment } from "../server/labeling/submissions.server.ts";
import { arg } from "./cli-arg.ts";

const RANK_TASKS = Number(arg("rank", "2000"));
const DEMO_TASKS = Number(arg("demos", "500"));
const LABELERS = Number(arg("labelers", "200"));
const POOL = Number(arg("pool", "20"));
const GOLD_RATE = process.argv.includes("--gold-rate") ? Number(arg("gold-rate", "0")) : undefined;
const SECONDS = Number(arg("seconds", "20"));
const IMPORT_N = Number(arg("import-n", "100000"));
const PGBENCH = arg("pgbench", "/usr/lib/postgresql/15/bin/pgbench");
/** Paced runs: each labeler waits uniform(0, 2 × think) ms before each claim (a person reading and ranking). 0: skip them. */
const THINK_MS = Number(arg("think-ms", "10000"));
const K = 4;
const OVERLAP = { demonstrate: 1, rank: 3, review: 1, compare: 3 };

const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is not set: run through tests/support/with-postgres.ts");

// ---------------------------------------------------------------------------------------------------------------------
// statistics

type Samples = Record<string, number[]>;
const pct = (sorted: number[], p: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, mean, p50: pct(sorted, 50), p95: pct(sorted, 95), p99: pct(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "-");

type RunResult = {
  name: string;
  cycles: number; // claim+submit completed inside the steady window
  cyclesTotal: number;
  windowS: number;
  elapsedS: number;
  tasksCompleted: number; // tasks that reached their overlap inside the steady window
  samples: Samples;
  emptyClaims: number;
  errors: Map<string, number>;
};

// ---------------------------------------------------------------------------------------------------------------------
// seeding: truncate everything, then the same project, prompts and labelers every time

let promptSerial = 0;
function seedPrompts(): NewPrompt[] {
  promptSerial = 0;
  const one = (completions: number): NewPrompt => {
    const n = promptSerial++;
    const words = `Explain step ${n} of the procedure in plain words, with one example and one caveat.`;
    return {
      messages: [{ role: "user", content: words }],
      completions: Array.from({ length: completions }, (_, i) => ({ text: `Completion ${i} for prompt ${n}: ${"lorem ipsum ".repeat(40)}`, model: "bench" })),
      source: "bench",
      metadata: {},
      contentHash: `bench-${n}`,
      minhash: "",
      status: "active",
    };
  };
  return [...Array.from({ length: RANK_TASKS }, () => one(K)), ...Array.from({ length: DEMO_TASKS }, () => one(0))];
}

type Seeded = { project: Project; labelers: SessionUser[]; owner: SessionUser };

async function reseed(db: Db): Promise<Seeded> {
  await sql`truncate submissions, assignments, tasks, completions, prompts, projects, audit_log, users restart identity cascade`.execute(db);
  const [owner] = await db
    .insertInto("users")
    .values({ email: "owner@bench.invalid", name: "Owner", role: "researcher", password_hash: "x" })
    .returning(["id", "email", "name", "role"])
    .execute();
  // --gold-rate: the share of claims that first look for a gold task (none are seeded, so this
  // measures what the gold draw costs the ordinary queue; the project default when not given).
  const settings: ProjectSettings = projectSettingsSchema.parse({ k: K, overlap: OVERLAP, ...(GOLD_RATE === undefined ? {} : { goldRate: GOLD_RATE }) });
  const project = await createProject(db, owner!.id, { name: "Queue bench", guidelines: "", settings, access: "open" });
  await db.transaction().execute((trx) => insertPrompts(trx, project.id, project.settings, seedPrompts(), null));
  // Inserted directly (no argon2): these people never sign in, they only take tasks.
  const labelers = await db
    .insertInto("users")
    .values(Array.from({ length: LABELERS }, (_, i) => ({ email: `labeler${i}@bench.invalid`, name: `Labeler ${i}`, role: "labeler" as const, password_hash: "x" })))
    .returning(["id", "email", "name", "role"])
    .execute();
  await sql`vacuum analyze`.execute(db);
  await sql`checkpoint`.execute(db);
  return { project, labelers, owner: owner! };
}

// ---------------------------------------------------------------------------------------------------------------------
// the two drivers

type Cycle = { claim: () => Promise<{ assignmentId: string; taskId: string; shown: string[] } | null>; submit: (a: { assignmentId: string; taskId: string; shown: string[] }) => Promise<boolean> };

const sleep = (msToWait: number) => new Promise((resolve) => setTimeout(resolve, msToWait));

async function drive(name: string, cycleFor: (labeler: SessionUser, index: number) => Cycle, labelers: SessionUser[], thinkMs = 0): Promise<RunResult> {
  const samples: Samples = { claim: [], submit: [], "claim+submit": [] };
  const errors = new Map<string, number>();
  let cycles = 0;
  let cyclesTotal = 0;
  let tasksCompleted = 0;
  let emptyClaims = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  let windowEnd = Infinity; // first time a labeler found the queue empty
  await Promise.all(
    labelers.map(async (labeler, index) => {
      const cycle = cycleFor(labeler, index);
      while (performance.now() < deadline) {
        if (thinkMs > 0) {
          await sleep(Math.random() * 2 * thinkMs);
          if (performance.now() >= deadline) return;
        }
        const t0 = performance.now();
        let assignment;
        try {
          assignment = await cycle.claim();
        } catch (error) {
          const key = `claim: ${(error as Error).message.slice(0, 80)}`;
          errors.set(key, (errors.get(key) ?? 0) + 1);
          continue;
        }
        const t1 = performance.now();
        if (!assignment) {
          emptyClaims++;
          windowEnd = Math.min(windowEnd, t1);
          return;
        }
        samples.claim!.push(t1 - t0);
        let complete: boolean;
        try {
          complete = await cycle.submit(assignment);
        } catch (error) {
          const key = `submit: ${(error as Error).message.slice(0, 80)}`;
          errors.set(key, (errors.get(key) ?? 0) + 1);
          continue;
        }
        const t2 = performance.now();
        samples.submit!.push(t2 - t1);
        samples["claim+submit"]!.push(t2 - t0);
        cyclesTotal++;
        if (t2 <= windowEnd && t2 <= deadline) {
          cycles++;
          if (complete) tasksCompleted++;
        }
      }
    }),
  );
  const end = performance.now();
  const windowS = (Math.min(windowEnd, deadline, end) - start) / 1000;
  return { name, cycles, cyclesTotal, windowS, elapsedS: (end - start) / 1000, tasksCompleted, samples, emptyClaims, errors };
}

const rankingOf = (shown: string[]) => ({ ranking: { tiers: shown.map((id) => [id]) }, rationale: "bench" });
let keySerial = 0;
const idempotencyKey = () => `bench-${process.pid}-${++keySerial}`;

function tandemCycle(db: Db, project: Project): (labeler: SessionUser) => Cycle {
  return (labeler) => ({
    claim: async () => {
      const a = await claimNextTask(db, labeler, project.id, project.settings);
      return a ? { assignmentId: a.id, taskId: a.task_id, shown: a.shown_order } : null;
    },
    submit: async (a) => {
      // The shown order tells the task type: ranking tasks have completions, demonstrations none.
      const payload = a.shown.length > 0 ? rankingOf(a.shown) : { text: `A demonstration by ${labeler.name}.` };
      const result = await submitAssignment(db, labeler, a.assignmentId, { idempotencyKey: idempotencyKey(), payload, timings: { msOnTask: 1000 } }, project.settings);
      return result.taskComplete;
    },
  });
}

// The ceiling: the minimal SQL that does the same logical work correctly (no overfill), one round trip per statement.
// claim  = BEGIN; lock one open task this person has not done and that is not full (FOR UPDATE SKIP LOCKED);
//          insert the assignment, guarded by a fresh count of live assignments; COMMIT.
// submit = BEGIN; lock the task row; insert submission + mark the assignment submitted + complete the task when full
//          (one statement); COMMIT.
const LIVE = `(a.state = 'submitted' or (a.state = 'active' and a.lease_expires_at > now()))`;
const RAW_CLAIM_LOCK = `
  select t.id from tasks t
  where t.project_id = $1 and t.state = 'open' and t.gold is null
    and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = $2)
    and (select count(*) from assignments a where a.task_id = t.id and ${LIVE}) < t.overlap_target
    and t.id <> all($3::bigint[])
  order by t.id
  limit 1
  for update of t skip locked`;
const RAW_CLAIM_INSERT = `
  insert into assignments (task_id, user_id, state, lease_expires_at, shown_order)
  select t.id, $2, 'active', now() + interval '30 minutes', t.completion_ids from tasks t
  where t.id = $1 and (select count(*) from assignments a where a.task_id = t.id and ${LIVE}) < t.overlap_target
  returning id, task_id, shown_order`;
const RAW_SUBMIT_LOCK = `select id from tasks where id = $1 for update`;
const RAW_SUBMIT = `
  with s as (
    insert into submissions (assignment_id, task_id, user_id, payload, timings, idempotency_key)
    values ($1, $2, $3, $4, '{}'::jsonb, $5) returning id
  ), a as (
    update assignments set state = 'submitted', updated_at = now()
    where id = $1 and user_id = $3 and state = 'active' and lease_expires_at > now() and exists (select 1 from s) returning id
  )
  update tasks t set state = 'complete'
  where t.id = $2 and exists (select 1 from a)
    and (select count(*) from assignments x where x.task_id = t.id and x.state = 'submitted') + 1 >= t.overlap_target
  returning t.id`;

function rawCycle(pool: pg.Pool, project: Project): (labeler: SessionUser) => Cycle {
  return (labeler) => ({
    claim: async () => {
      const client = await pool.connect();
      try {
        await client.query("begin");
        const skipped: string[] = [];
        for (let attempt = 0; attempt < 8; attempt++) {
          const locked = await client.query<{ id: string }>(RAW_CLAIM_LOCK, [project.id, labeler.id, skipped]);
          const task = locked.rows[0];
          if (!task) break;
          const inserted = await client.query<{ id: string; task_id: string; shown_order: string[] }>(RAW_CLAIM_INSERT, [task.id, labeler.id]);
          const row = inserted.rows[0];
          if (row) {
            await client.query("commit");
            return { assignmentId: row.id, taskId: row.task_id, shown: row.shown_order };
          }
          skipped.push(task.id);
        }
        await client.query("commit");
        return null;
      } catch (error) {
        await client.query("rollback");
        throw error;
      } finally {
        client.release();
      }
    },
    submit: async (a) => {
      const client = await pool.connect();
      try {
        await client.query("begin");
        await client.query(RAW_SUBMIT_LOCK, [a.taskId]);
        const payload = a.shown.length > 0 ? rankingOf(a.shown) : { text: `A demonstration by ${labeler.name}.` };
        const done = await client.query(RAW_SUBMIT, [a.assignmentId, a.taskId, labeler.id, JSON.stringify(payload), idempotencyKey()]);
        await client.query("commit");
        return (done.rowCount ?? 0) > 0;
      } catch (error) {
        await client.query("rollback");
        throw error;
      } finally {
        client.release();
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// checks and where the time goes

async function overlapCheck(db: Db, projectId: string): Promise<{ ok: boolean; line: string }> {
  const over = await sql<{ over_submitted: string; over_live: string; dupes: string; complete_short: string; open_full: string; tasks: string }>`
    with per_task as (
      select t.id, t.state, t.overlap_target,
             (select count(*) from submissions s where s.task_id = t.id) as submitted,
             (select count(*) from assignments a where a.task_id = t.id and ${sql.raw(LIVE)}) as live
      from tasks t where t.project_id = ${projectId})
    select count(*) filter (where submitted > overlap_target) as over_submitted,
           count(*) filter (where live > overlap_target) as over_live,
           (select count(*) from (select task_id, user_id from assignments group by 1, 2 having count(*) > 1) d) as dupes,
           count(*) filter (where state = 'complete' and submitted < overlap_target) as complete_short,
           count(*) filter (where state = 'open' and submitted >= overlap_target) as open_full,
           count(*) as tasks
    from per_task`.execute(db);
  const r = over.rows[0]!;
  const ok = [r.over_submitted, r.over_live, r.dupes, r.complete_short, r.open_full].every((v) => Number(v) === 0);
  return {
    ok,
    line: `${ok ? "OK" : "FAIL"}: ${r.tasks} tasks; over overlap (submissions) ${r.over_submitted}, over overlap (live leases) ${r.over_live}, same person twice ${r.dupes}, complete but short ${r.complete_short}, full but still open ${r.open_full}`,
  };
}

/** Classifies the SQL Kysely sends, so a profiled run can say how many statements a claim takes and where the time goes. */
function classify(text: string): string {
  const s = text.replace(/\s+/g, " ").trim().toLowerCase();
  if (s === "begin" || s.startsWith("begin")) return "begin";
  if (s === "commit" || s === "rollback") return s;
  if (s.startsWith("select distinct t.type")) return "claim: availableTypes (select distinct type … not exists)";
  if (s.includes("for update of t skip locked")) return "claim: candidate (… order by exists(live) … skip locked)";
  if (s.startsWith("select (select count(*)")) return "claim: re-count under the lock";
  if (s.startsWith('insert into "assignments"')) return "claim: insert assignment";
  if (s.includes('inner join "tasks"') && s.includes('"assignments"."state" = $') && !s.includes("for update")) return "claim: resume own active assignment";
  if (s.startsWith("select count(*)") && s.includes('from "assignments"') && s.includes('"user_id" = $')) return "claim: pending count";
  if (s.startsWith('select "tasks"."id" from "tasks"') && s.includes("for update")) return "submit: lock task";
  if (s.includes('inner join "tasks"') && s.includes("for update of")) return "submit: lock + read assignment";
  if (s.startsWith('select "id", "assignment_id" from "submissions"')) return "submit: idempotency lookup";
  if (s.startsWith('insert into "submissions"')) return "submit: insert submission";
  if (s.startsWith('update "assignments"')) return "submit: mark assignment submitted";
  if (s.startsWith("select count(*) as \"n\" from \"assignments\"")) return "submit: count submitted";
  if (s.startsWith('update "tasks"')) return "submit: complete task";
  return `other: ${s.slice(0, 60)}`;
}

async function explainCandidate(db: Db, seeded: Seeded): Promise<string[]> {
  // Mid-run state for a labeler who has done nothing yet: the plan the candidate query gets.
  const user = seeded.labelers[seeded.labelers.length - 1]!;
  const rows = await sql<{ "QUERY PLAN": string }>`explain (analyze, buffers, costs off, timing on)
    select t.id, t.completion_ids from tasks t
    where t.project_id = ${seeded.project.id} and t.state = 'open' and t.type = 'rank' and t.gold is null
      and (t.author_user_id is null or t.author_user_id <> ${user.id})
      and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = ${user.id})
      and (select count(*) from assignments a where a.task_id = t.id and ${sql.raw(LIVE)}) < t.overlap_target
    order by exists (select 1 from assignments a where a.task_id = t.id and ${sql.raw(LIVE)}) desc, t.id
    limit 1
    for update of t skip locked`.execute(db);
  const avail = await sql<{ "QUERY PLAN": string }>`explain (analyze, costs off)
    select distinct t.type from tasks t
    where t.project_id = ${seeded.project.id} and t.state = 'open'
      and (t.author_user_id is null or t.author_user_id <> ${user.id})
      and not exists (select 1 from assignments a where a.task_id = t.id and a.user_id = ${user.id})`.execute(db);
  return [...rows.rows.map((r) => r["QUERY PLAN"]), "--- availableTypes:", ...avail.rows.map((r) => r["QUERY PLAN"])];
}

// ---------------------------------------------------------------------------------------------------------------------
// pgbench: the raw claim+submit as one pgbench transaction per cycle (optional)

const PGBENCH_SCRIPT = `-- bench/queue-pgbench.sql: one claim + one submit per pgbench transaction; :first_user and :project set with -D.
\\set uid :first_user + :client_id
BEGIN;
WITH c AS (
  SELECT t.id FROM tasks t
  WHERE t.project_id = :project AND t.state = 'open' AND t.gold IS NULL
    AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.user_id = :uid)
    AND (SELECT count(*) FROM assignments a WHERE a.task_id = t.id AND ${LIVE}) < t.overlap_target
  ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED)
SELECT coalesce((SELECT id FROM c), 0) AS tid \\gset
\\if :tid > 0
WITH i AS (
  INSERT INTO assignments (task_id, user_id, state, lease_expires_at, shown_order)
  SELECT t.id, :uid, 'active', now() + interval '30 minutes', t.completion_ids FROM tasks t
  WHERE t.id = :tid AND (SELECT count(*) FROM assignments a WHERE a.task_id = t.id AND ${LIVE}) < t.overlap_target
  RETURNING id)
SELECT coalesce((SELECT id FROM i), 0) AS aid \\gset
\\else
\\set aid 0
\\endif
COMMIT;
\\if :aid > 0
BEGIN;
SELECT id FROM tasks WHERE id = :tid FOR UPDATE;
WITH s AS (
  INSERT INTO submissions (assignment_id, task_id, user_id, payload, timings, idempotency_key)
  VALUES (:aid, :tid, :uid, '{"ranking": {"tiers": []}}'::jsonb, '{}'::jsonb, 'pgbench-' || :aid) RETURNING id
), a AS (
  UPDATE assignments SET state = 'submitted', updated_at = now()
  WHERE id = :aid AND state = 'active' AND EXISTS (SELECT 1 FROM s) RETURNING id
)
UPDATE tasks t SET state = 'complete'
WHERE t.id = :tid AND EXISTS (SELECT 1 FROM a)
  AND (SELECT count(*) FROM assignments x WHERE x.task_id = t.id AND x.state = 'submitted') + 1 >= t.overlap_target;
COMMIT;
\\endif
`;

async function runPgbench(seeded: Seeded, seconds: number): Promise<string | null> {
  if (!fs.existsSync(PGBENCH)) return null;
  const scriptPath = path.join(os.tmpdir(), `queue-pgbench-${process.pid}.sql`);
  fs.writeFileSync(scriptPath, PGBENCH_SCRIPT);
  const u = new URL(url!);
  // pgbench clients are numbered 0..c-1; labeler ids are consecutive after a truncate … restart identity.
  const firstUser = Number(seeded.labelers[0]!.id);
  const args = [
    "-n", "-f", scriptPath, "-c", String(POOL), "-j", "2", "-T", String(seconds), "-M", "prepared", "-r",
    "-D", `first_user=${firstUser}`, "-D", `project=${seeded.project.id}`,
    "-h", u.hostname, "-p", u.port, "-U", decodeURIComponent(u.username), decodeURIComponent(u.pathname.slice(1)),
  ];
  try {
    const { stdout, stderr } = await promisify(execFile)(PGBENCH, args, { env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) }, maxBuffer: 16 << 20 });
    return `${stdout}${stderr ? `\n${stderr.split("\n").slice(-5).join("\n")}` : ""}`;
  } catch (error) {
    const failure = error as Error & { stdout?: string; stderr?: string };
    return `pgbench failed: ${failure.message.split("\n")[0]}\n${failure.stdout ?? ""}\n${(failure.stderr ?? "").split("\n").slice(0, 15).join("\n")}`;
  } finally {
    fs.rmSync(scriptPath, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// import: 100k synthetic prompts with planted duplicates, parse + plan + commit (insertPrompts) into Postgres

function importFile(n: number): string {
  let state = 1;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const vocabulary = Array.from({ length: 20_000 }, (_, i) =>
    Array.from({ length: 2 + Math.floor(random() * 8) + (i > 1000 ? 2 : 0) }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join(""),
  );
  const word = () => vocabulary[Math.floor(vocabulary.length * random() ** 3)]!; // skewed towards common words
  const sentence = (words: number) => Array.from({ length: words }, word).join(" ");
  const texts: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const roll = random();
    let text: string;
    if (texts.length > 0 && roll < 0.05) text = `  ${texts[Math.floor(random() * texts.length)]!.toUpperCase()}\n`;
    else if (texts.length > 0 && roll < 0.1) {
      const words = texts[Math.floor(random() * texts.length)]!.split(" ");
      words[1 + Math.floor(random() * (words.length - 1))] = word();
      text = words.join(" ");
    } else {
      text = `Explain ${sentence(10 + Math.floor(random() * 140))}?`;
      if (random() < 0.01) text += ` Contact me at user${i}@example.com.`;
    }
    texts.push(text);
    const record: Record<string, unknown> = { prompt: text, source: "bench" };
    if (random() < 0.2) record.completions = [sentence(40), sentence(60)];
    lines.push(JSON.stringify(record));
  }
  return lines.join("\n");
}

async function importBench(db: Db, n: number): Promise<string[]> {
  await sql`truncate submissions, assignments, tasks, completions, prompts, projects, audit_log, users restart identity cascade`.execute(db);
  const [owner] = await db.insertInto("users").values({ email: "owner@bench.invalid", name: "Owner", role: "researcher", password_hash: "x" }).returning("id").execute();
  const settings = projectSettingsSchema.parse({});
  const a = await createProject(db, owner!.id, { name: "Import bench A", guidelines: "", settings });
  const b = await createProject(db, owner!.id, { name: "Import bench B", guidelines: "", settings });
  const file = importFile(n);
  const out: string[] = [`import: ${n.toLocaleString("en")} prompts, ${(Buffer.byteLength(file) / 1048576).toFixed(1)} MiB JSONL, threshold ${settings.nearDuplicateThreshold}`];

  // 1. the stages, timed one by one (what importPrompts does, in the same order)
  let t = performance.now();
  const parsed = parseImportFile(file, "jsonl", "bench.jsonl");
  const parseS = (performance.now() - t) / 1000;
  t = performance.now();
  const plan = planImport<string>({
    records: parsed.records,
    issues: parsed.issues,
    existing: { hashes: new Map(), signatures: [] },
    nearDuplicateThreshold: settings.nearDuplicateThreshold,
    filter: settings.contentFilter,
  });
  const planS = (performance.now() - t) / 1000;
  const toStore: NewPrompt[] = plan.items
    .filter((item) => item.status === "new" || item.status === "filtered")
    .map((item) => ({
      messages: item.record.messages,
      completions: item.record.completions,
      source: item.record.source,
      metadata: item.record.metadata,
      contentHash: item.contentHash,
      minhash: item.signature ? signatureToBase64(item.signature) : "",
      status: item.filterHits.length > 0 ? "review" : "active",
    }));
  t = performance.now();
  const stored = await db.transaction().execute((trx) => insertPrompts(trx, a.id, a.settings, toStore, null));
  const commitS = (performance.now() - t) / 1000;
  out.push(
    `  parse + validate ${parseS.toFixed(2)} s; planImport (hash + MinHash/LSH + filter) ${planS.toFixed(2)} s; ` +
      `commit (insertPrompts of ${toStore.length.toLocaleString("en")} prompts, ${stored.tasks.rank} rank / ${stored.tasks.demonstrate} demonstrate / ${stored.tasks.review} review tasks) ${commitS.toFixed(2)} s; ` +
      `sum ${(parseS + planS + commitS).toFixed(2)} s`,
  );
  out.push(`  plan counts: ${JSON.stringify(plan.counts)}`);

  // 2. the service end to end (importPrompts with commit: true, into an empty project): what the API call costs
  t = performance.now();
  const report = await importPrompts(db, owner!.id, b, { content: file, format: "jsonl", commit: true, importValidLines: false, includeNearDuplicates: false, purpose: "prompts" });
  const e2eS = (performance.now() - t) / 1000;
  out.push(`  importPrompts(commit: true) end to end: ${e2eS.toFixed(2)} s, committed ${report.committed?.prompts.toLocaleString("en")} prompts`);
  out.push(`  peak RSS of the bench process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------

function loadavg(): string {
  return os.loadavg().map((v) => v.toFixed(2)).join(" ");
}

function report(result: RunResult) {
  const rows = Object.entries(result.samples).map(([op, values]) => {
    const s = summary(values);
    return { op, n: s.n, "mean ms": ms(s.mean), "p50 ms": ms(s.p50), "p95 ms": ms(s.p95), "p99 ms": ms(s.p99), "max ms": ms(s.max) };
  });
  console.log(`\n== ${result.name}`);
  console.table(rows);
  console.log(
    `  ${result.cycles} claim+submit cycles in the steady window of ${result.windowS.toFixed(2)} s = ${(result.cycles / result.windowS).toFixed(0)} cycles/s; ` +
      `${result.tasksCompleted} tasks completed = ${(result.tasksCompleted / result.windowS).toFixed(0)} tasks/s` +
      ` (all: ${result.cyclesTotal} cycles in ${result.elapsedS.toFixed(2)} s; ${result.emptyClaims} labelers found the queue empty)`,
  );
  for (const [error, count] of result.errors) console.log(`  ERROR ×${count}: ${error}`);
}

const loadSamples: number[] = [];
const loadTimer = setInterval(() => loadSamples.push(os.loadavg()[0]!), 5000);
const pool = createPool(url, POOL);
const queryLog: Array<{ kind: string; ms: number }> = [];
let logging = false;
// createDb plus a query log that is only switched on for the profiled run.
const logDb = new Kysely<Database>({
  dialect: new PostgresDialect({ pool }),
  log: (event: LogEvent) => {
    if (logging) queryLog.push({ kind: classify(event.query.sql), ms: event.queryDurationMillis });
  },
});
const db = createDb(pool);
await migrateToLatest(db);
const version = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(db);
const settingsRow = await sql<{ name: string; setting: string }>`
  select name, setting from pg_settings where name in ('max_connections', 'shared_buffers', 'synchronous_commit', 'fsync', 'wal_level')`.execute(db);

console.log(
  `queue bench: ${RANK_TASKS} rank tasks (K=${K}, overlap ${OVERLAP.rank}) + ${DEMO_TASKS} demonstrations (overlap ${OVERLAP.demonstrate}) = ` +
    `${RANK_TASKS * OVERLAP.rank + DEMO_TASKS * OVERLAP.demonstrate} claim+submit cycles of work; ${LABELERS} concurrent labelers; pg pool size ${POOL}; ` +
    `time limit ${SECONDS} s per run`,
);
console.log(`PostgreSQL ${version.rows[0]?.v} (${settingsRow.rows.map((r) => `${r.name}=${r.setting}`).join(", ")}); node ${process.version}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model}); load average ${loadavg()}`);

// 1. Tandem
let seeded = await reseed(db);
const tandem = await drive("Tandem: claimNextTask + submitAssignment (Kysely, service functions)", tandemCycle(db, seeded.project), seeded.labelers);
const loadAfterTandem = loadavg();
report(tandem);
const tandemCheck = await overlapCheck(db, seeded.project.id);
console.log(`  overlap check: ${tandemCheck.line}`);

// 2. raw SQL ceiling
seeded = await reseed(db);
const rawPool = new pg.Pool({ connectionString: url, max: POOL });
const raw = await drive("Ceiling: minimal raw SQL through pg (same pool size, same concurrency)", rawCycle(rawPool, seeded.project), seeded.labelers);
const loadAfterRaw = loadavg();
report(raw);
const rawCheck = await overlapCheck(db, seeded.project.id);
console.log(`  overlap check: ${rawCheck.line}`);
await rawPool.end();

// 2b. paced runs: the same two, with labelers who think between tasks (an offered load well under saturation)
let pacedTandem: RunResult | null = null;
let pacedRaw: RunResult | null = null;
if (THINK_MS > 0) {
  const offered = (LABELERS / (THINK_MS / 1000)).toFixed(0);
  console.log(`\n== Paced: each labeler thinks uniform(0, ${2 * THINK_MS}) ms before each claim (≈ ${offered} cycles/s offered in all)`);
  seeded = await reseed(db);
  pacedTandem = await drive(`Paced Tandem (think ${THINK_MS} ms mean)`, tandemCycle(db, seeded.project), seeded.labelers, THINK_MS);
  report(pacedTandem);
  console.log(`  overlap check: ${(await overlapCheck(db, seeded.project.id)).line}`);
  seeded = await reseed(db);
  const pacedPool = new pg.Pool({ connectionString: url, max: POOL });
  pacedRaw = await drive(`Paced raw SQL (think ${THINK_MS} ms mean)`, rawCycle(pacedPool, seeded.project), seeded.labelers, THINK_MS);
  await pacedPool.end();
  report(pacedRaw);
  console.log(`  overlap check: ${(await overlapCheck(db, seeded.project.id)).line}`);
}

// 3. pgbench, the same raw SQL without Node in the way (optional)
seeded = await reseed(db);
const pgbenchSeconds = Math.min(SECONDS, 5);
const pgbenchOut = await runPgbench(seeded, pgbenchSeconds);
let pgbenchRate = NaN;
let pgbenchCheck: { ok: boolean; line: string } | null = null;
if (pgbenchOut) {
  console.log(`\n== pgbench (${PGBENCH}), the ceiling's SQL as one pgbench transaction per claim+submit, -c ${POOL} (= the pool size: a pool's connections never idle under this load) -j 2, prepared, ${pgbenchSeconds} s`);
  console.log(pgbenchOut.startsWith("pgbench failed") ? pgbenchOut : pgbenchOut.split("\n").filter((line) => /tps|latency|transactions|clients|duration|failed|aborted|statement|^\s+[\d.]+\s/.test(line)).join("\n"));
  const done = await sql<{ submissions: string; open: string }>`
    select (select count(*) from submissions) as submissions, (select count(*) from tasks where state = 'open') as open`.execute(db);
  pgbenchRate = Number(done.rows[0]!.submissions) / pgbenchSeconds;
  console.log(
    `  useful claim+submit cycles: ${done.rows[0]!.submissions} in ${pgbenchSeconds} s = ${pgbenchRate.toFixed(0)} cycles/s; ${done.rows[0]!.open} tasks still open` +
      `${Number(done.rows[0]!.open) === 0 ? " (DRAINED: the queue emptied, so this understates the rate; and pgbench's tps above counts empty claims)" : ""}`,
  );
  pgbenchCheck = await overlapCheck(db, seeded.project.id);
  console.log(`  overlap check: ${pgbenchCheck.line}`);
} else console.log(`\n(pgbench not found at ${PGBENCH}; skipped)`);

// 4. profile: a shorter Tandem run with every statement timed and classified
seeded = await reseed(db);
const explainBefore = await explainCandidate(db, seeded);
logging = true;
const profile = await drive("Profiled Tandem run (query log on)", tandemCycle(logDb, seeded.project), seeded.labelers);
logging = false;
const explainDuring = await explainCandidate(db, seeded);
const byKind = new Map<string, number[]>();
for (const q of queryLog) byKind.set(q.kind, [...(byKind.get(q.kind) ?? []), q.ms]);
const claims = profile.samples.claim!.length + profile.emptyClaims;
const submits = profile.samples.submit!.length;
console.log(`\n== Where a Tandem claim+submit spends its time (${claims} claims, ${submits} submits; statement time on the connection, pool waits excluded)`);
console.table(
  [...byKind.entries()]
    .sort((x, y) => y[1].reduce((s, v) => s + v, 0) - x[1].reduce((s, v) => s + v, 0))
    .map(([kind, values]) => {
      const s = summary(values);
      const perOp = kind.startsWith("submit") ? submits : claims;
      return { statement: kind, count: s.n, "per op": (s.n / Math.max(1, perOp)).toFixed(2), "total s": (values.reduce((a, v) => a + v, 0) / 1000).toFixed(2), "p50 ms": ms(s.p50), "p99 ms": ms(s.p99) };
    }),
);
const claimStatements = queryLog.filter((q) => q.kind.startsWith("claim")).length;
const submitStatements = queryLog.filter((q) => q.kind.startsWith("submit")).length;
const txStatements = queryLog.filter((q) => ["begin", "commit", "rollback"].includes(q.kind)).length;
console.log(`  statements per claim (excl. begin/commit): ${(claimStatements / Math.max(1, claims)).toFixed(2)}; per submit: ${(submitStatements / Math.max(1, submits)).toFixed(2)}; begin/commit/rollback: ${txStatements}`);
console.log(`  (raw ceiling: 2 statements + begin/commit per claim, 2 + begin/commit per submit)`);
console.log("\n== EXPLAIN ANALYZE of the candidate query, fresh queue:");
console.log(explainBefore.map((l) => `  ${l}`).join("\n"));
console.log("\n== … and after the profiled run:");
console.log(explainDuring.map((l) => `  ${l}`).join("\n"));

// 5. summary
const tandemRate = tandem.cycles / tandem.windowS;
const rawRate = raw.cycles / raw.windowS;
const p99 = summary(tandem.samples["claim+submit"]!).p99;
const p50 = summary(tandem.samples["claim+submit"]!).p50;
const ratio = tandemRate / rawRate;
console.log("\n== Summary");
console.table([
  { run: "Tandem (service functions)", "cycles/s": tandemRate.toFixed(0), "tasks/s": (tandem.tasksCompleted / tandem.windowS).toFixed(0), "p50 claim+submit ms": ms(p50), "p99 claim+submit ms": ms(p99), "p99 claim ms": ms(summary(tandem.samples.claim!).p99), "p99 submit ms": ms(summary(tandem.samples.submit!).p99), load: loadAfterTandem },
  { run: "raw SQL via pg (ceiling)", "cycles/s": rawRate.toFixed(0), "tasks/s": (raw.tasksCompleted / raw.windowS).toFixed(0), "p50 claim+submit ms": ms(summary(raw.samples["claim+submit"]!).p50), "p99 claim+submit ms": ms(summary(raw.samples["claim+submit"]!).p99), "p99 claim ms": ms(summary(raw.samples.claim!).p99), "p99 submit ms": ms(summary(raw.samples.submit!).p99), load: loadAfterRaw },
]);
if (Number.isFinite(pgbenchRate)) console.log(`pgbench, same SQL, ${POOL} connections: ${pgbenchRate.toFixed(0)} cycles/s; queue throughput ratio vs pgbench: ${(tandemRate / pgbenchRate).toFixed(2)}`);
if (pacedTandem && pacedRaw) {
  const pt = summary(pacedTandem.samples["claim+submit"]!);
  const pr = summary(pacedRaw.samples["claim+submit"]!);
  console.log(
    `paced (think ${THINK_MS} ms mean, ≈ ${(LABELERS / (THINK_MS / 1000)).toFixed(0)} cycles/s offered): Tandem p50/p95/p99 claim+submit ${ms(pt.p50)} / ${ms(pt.p95)} / ${ms(pt.p99)} ms (n=${pt.n}); ` +
      `raw ${ms(pr.p50)} / ${ms(pr.p95)} / ${ms(pr.p99)} ms (n=${pr.n}); Tandem paced p99 < 50 ms: ${pt.p99 < 50 ? "met" : "MISSED"}`,
  );
}
console.log(`pg pool size: ${POOL}; labelers: ${LABELERS}`);
console.log(`queue throughput ratio vs raw SQL: ${ratio.toFixed(2)} (goal ≥ 0.50: ${ratio >= 0.5 ? "met" : "MISSED"})`);
console.log(`p50 claim+submit: ${p50.toFixed(0)} ms`);
console.log(`p99 claim+submit: ${p99.toFixed(0)} ms at saturation (labelers with no think time; goal < 50 ms: ${p99 < 50 ? "met" : "MISSED"})`);
console.log(`overlap, Tandem run: ${tandemCheck.ok ? "OK" : "FAIL"}; raw run: ${rawCheck.ok ? "OK" : "FAIL"}${pgbenchCheck ? `; pgbench run: ${pgbenchCheck.ok ? "OK" : "FAIL"}` : ""}; profiled run: ${(await overlapCheck(db, seeded.project.id)).ok ? "OK" : "FAIL"}`);

if (IMPORT_N > 0) {
  console.log(`\n== Prompt import (load average ${loadavg()})`);
  for (const line of await importBench(db, IMPORT_N)) console.log(line);
}
clearInterval(loadTimer);
console.log(`\nload average at the end: ${loadavg()}; 1-min load sampled every 5 s during the bench: min ${Math.min(...loadSamples).toFixed(2)}, max ${Math.max(...loadSamples).toFixed(2)} (${os.cpus().length} CPUs)`);
await logDb.destroy().catch(() => undefined);
const failed = !tandemCheck.ok || !rawCheck.ok || (pgbenchCheck !== null && !pgbenchCheck.ok);
process.exitCode = failed ? 1 : 0;
