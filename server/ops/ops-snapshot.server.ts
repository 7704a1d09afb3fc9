import { sql } from "kysely";
import type { Db } from "../db/database.server.ts";

/**
 * What the operations gauges show, read from Postgres in a handful of grouped queries.
 * Every figure is per project id, task type, job kind or state: bounded labels, never a user.
 */
export type OpsSnapshot = {
  projects: Array<{ id: string; name: string }>;
  openTasks: Array<{ project: string; type: string; count: number }>;
  activeAssignments: Array<{ project: string; type: string; count: number }>;
  submissions: Array<{ project: string; type: string; count: number; maxId: string }>;
  jobs: Array<{ kind: string; state: string; count: number }>;
  rounds: Array<{ state: string; count: number }>;
  /** Rounds handed to a Ray cluster: the latest submission status each (decision 0017). */
  raySubmissions: Array<{ status: string; count: number }>;
  trainer: TrainerRate[];
};

export type TrainerRate = {
  project: string;
  kind: string;
  jobs: number;
  /** Latest optimizer step (PPO: the step counter its metrics carry). */
  step: number | null;
  stepsPerSecond: number | null;
  /** Only jobs whose metrics count tokens (SFT, pretraining) contribute. */
  tokensPerSecond: number | null;
  lastEventAgeSeconds: number | null;
};

/** Metrics lines per running job that the rates are measured over. */
export const RATE_WINDOW_EVENTS = 20;

export async function readOpsSnapshot(db: Db, now = new Date()): Promise<OpsSnapshot> {
  const [projects, openTasks, activeAssignments, submissions, jobs, rounds, raySubmissions, events] = await Promise.all([
    db.selectFrom("projects").select(["id", "name"]).orderBy("id").execute(),
    db
      .selectFrom("tasks")
      .select(["project_id as project", "type", (eb) => eb.fn.countAll<string>().as("count")])
      .where("state", "=", "open")
      .groupBy(["project_id", "type"])
      .execute(),
    db
      .selectFrom("assignments")
      .innerJoin("tasks", "tasks.id", "assignments.task_id")
      .select(["tasks.project_id as project", "tasks.type", (eb) => eb.fn.countAll<string>().as("count")])
      .where("assignments.state", "=", "active")
      .where("assignments.lease_expires_at", ">", now)
      .groupBy(["tasks.project_id", "tasks.type"])
      .execute(),
    db
      .selectFrom("submissions")
      .innerJoin("tasks", "tasks.id", "submissions.task_id")
      .select(["tasks.project_id as project", "tasks.type", (eb) => eb.fn.countAll<string>().as("count"), (eb) => eb.fn.max("submissions.id").as("max_id")])
      .groupBy(["tasks.project_id", "tasks.type"])
      .execute(),
    db.selectFrom("jobs").select(["kind", "state", (eb) => eb.fn.countAll<string>().as("count")]).groupBy(["kind", "state"]).execute(),
    db.selectFrom("rounds").select(["state", (eb) => eb.fn.countAll<string>().as("count")]).groupBy("state").execute(),
    sql<{ status: string; count: string }>`
      select status, count(*) as count from (
        select distinct on (round_id) status from ray_submissions order by round_id, attempt desc, id desc
      ) latest group by status`.execute(db),
    // The latest metrics lines of each running job's current attempt.
    sql<{ job_id: string; kind: string; project: string; payload: Record<string, unknown>; created_at: Date }>`
      select j.id as job_id, j.kind, r.project_id as project, e.payload, e.created_at
      from jobs j
      join rounds r on r.id = j.round_id
      cross join lateral (
        select payload, created_at from job_events
        where job_id = j.id and attempt = j.attempts and type = 'metrics'
        order by id desc limit ${RATE_WINDOW_EVENTS}
      ) e
      where j.state = 'running'`.execute(db),
  ]);
  const n = (value: string | number | bigint) => Number(value);
  return {
    projects,
    openTasks: openTasks.map((r) => ({ project: r.project, type: r.type, count: n(r.count) })),
    activeAssignments: activeAssignments.map((r) => ({ project: r.project, type: r.type, count: n(r.count) })),
    submissions: submissions.map((r) => ({ project: r.project, type: r.type, count: n(r.count), maxId: String(r.max_id ?? "0") })),
    jobs: jobs.map((r) => ({ kind: r.kind, state: r.state, count: n(r.count) })),
    rounds: rounds.map((r) => ({ state: r.state, count: n(r.count) })),
    raySubmissions: raySubmissions.rows.map((r) => ({ status: r.status, count: n(r.count) })),
    trainer: trainerRates(events.rows, now),
  };
}

type EventRow = { job_id: string; kind: string; project: string; payload: Record<string, unknown>; created_at: Date };

/**
 * Rates of each running job over its last metrics lines, summed per (project, kind).
 * Time is the trainer's own `time` field (when it wrote the line); the server's insert time
 * is the fallback, coarser because a trainer posts its lines in batches.
 */
export function trainerRates(rows: readonly EventRow[], now: Date): TrainerRate[] {
  const byJob = new Map<string, EventRow[]>();
  for (const row of rows) byJob.set(row.job_id, [...(byJob.get(row.job_id) ?? []), row]);
  const groups = new Map<string, TrainerRate>();
  for (const jobRows of byJob.values()) {
    const events = jobRows
      .map((r) => ({ at: eventTime(r), step: finite(r.payload["step"]), tokens: finite(r.payload["tokens"]) }))
      .sort((a, b) => a.at - b.at);
    const first = events[0]!;
    const last = events[events.length - 1]!;
    const seconds = (last.at - first.at) / 1000;
    const later = events.slice(1);
    const stepsPerSecond = seconds > 0 && first.step !== null && last.step !== null ? (last.step - first.step) / seconds : null;
    const tokensPerSecond = seconds > 0 && later.length > 0 && later.every((e) => e.tokens !== null) ? later.reduce((sum, e) => sum + e.tokens!, 0) / seconds : null;
    const key = `${jobRows[0]!.project}\u0000${jobRows[0]!.kind}`;
    const group = groups.get(key) ?? { project: jobRows[0]!.project, kind: jobRows[0]!.kind, jobs: 0, step: null, stepsPerSecond: null, tokensPerSecond: null, lastEventAgeSeconds: null };
    group.jobs += 1;
    group.step = maxOf(group.step, last.step);
    group.stepsPerSecond = sumOf(group.stepsPerSecond, stepsPerSecond);
    group.tokensPerSecond = sumOf(group.tokensPerSecond, tokensPerSecond);
    const age = Math.max(0, (now.getTime() - last.at) / 1000);
    group.lastEventAgeSeconds = group.lastEventAgeSeconds === null ? age : Math.min(group.lastEventAgeSeconds, age);
    groups.set(key, group);
  }
  return [...groups.values()];
}

function eventTime(row: EventRow): number {
  const written = typeof row.payload["time"] === "string" ? Date.parse(row.payload["time"]) : NaN;
  return Number.isFinite(written) ? written : new Date(row.created_at).getTime();
}

function finite(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
const sumOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : a + b);
