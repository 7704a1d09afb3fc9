import type pg from "pg";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Db } from "../db/database.server.ts";
import type { JobKind, JobState, RaySubmissionStatus, RoundState } from "../db/schema.ts";
import { createAgreementCache, type ProjectAgreementFigures } from "./agreement-cache.server.ts";
import { readOpsSnapshot, type OpsSnapshot } from "./ops-snapshot.server.ts";

const jobKinds: JobKind[] = ["sft", "reward", "dpo", "ppo", "grpo", "rloo", "kto", "evaluate", "sample"];
const jobStates: JobState[] = ["queued", "running", "done", "failed", "cancelled"];
const roundStates: RoundState[] = ["queued", "running", "sampling", "done", "failed", "cancelled"];
const rayStatuses: RaySubmissionStatus[] = ["submitting", "PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"];

export type OpsMetricsOptions = {
  db: Db;
  pool: pg.Pool;
  log: Logger;
  /** Least seconds between two agreement computations of one project (see agreement-cache). */
  agreementRefreshSeconds: number;
};

/**
 * The operations gauges: computed at scrape time from Postgres (`collect`), so every server
 * instance reports the same database-wide figures (take `max` across instances, never `sum`).
 */
export function registerOpsMetrics(registry: Registry, options: OpsMetricsOptions): void {
  const { db, log } = options;
  const agreement = createAgreementCache(db, log, options.agreementRefreshSeconds);
  // One scrape calls every collect() in the same tick: they share one read while it is in flight.
  // Nothing is kept after it, so the next scrape always sees the database as it is then.
  let inflight: Promise<Loaded | null> | null = null;

  type Loaded = { snapshot: OpsSnapshot; agreement: Map<string, ProjectAgreementFigures> };
  const load = (): Promise<Loaded | null> => {
    inflight ??= (async () => {
      try {
        const snapshot = await readOpsSnapshot(db);
        const fingerprints = new Map(snapshot.submissions.filter((s) => s.type === "rank").map((s) => [s.project, `${s.count}:${s.maxId}`]));
        return { snapshot, agreement: await agreement.figures(fingerprints) };
      } catch (error) {
        log.warn({ err: error }, "operations metrics: reading the database failed");
        return null;
      }
    })().finally(() => (inflight = null));
    return inflight;
  };

  const registers = [registry];
  new Gauge({
    name: "tandem_ops_database_up",
    help: "1 when this scrape could read the operations figures from Postgres, else 0 (the other tandem_ gauges are then empty)",
    registers,
    async collect() {
      this.set((await load()) ? 1 : 0);
    },
  });
  new Gauge({
    name: "tandem_project_info",
    help: "One series per project (value 1) carrying its name, to label dashboards",
    labelNames: ["project", "name"] as const,
    registers,
    async collect() {
      this.reset();
      for (const p of (await load())?.snapshot.projects ?? []) this.set({ project: p.id, name: p.name }, 1);
    },
  });
  new Gauge({
    name: "tandem_queue_open_tasks",
    help: "Open tasks (waiting for labels or being labeled) per project and task type",
    labelNames: ["project", "task_type"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of (await load())?.snapshot.openTasks ?? []) this.set({ project: r.project, task_type: r.type }, r.count);
    },
  });
  new Gauge({
    name: "tandem_queue_active_assignments",
    help: "Tasks someone is working on now (active assignment, lease not expired) per project and task type",
    labelNames: ["project", "task_type"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of (await load())?.snapshot.activeAssignments ?? []) this.set({ project: r.project, task_type: r.type }, r.count);
    },
  });
  new Counter({
    name: "tandem_submissions_total",
    help: "Submissions stored in the database per project and task type (use rate() for labeling throughput)",
    labelNames: ["project", "task_type"] as const,
    registers,
    async collect() {
      this.reset();
      for (const r of (await load())?.snapshot.submissions ?? []) this.inc({ project: r.project, task_type: r.type }, r.count);
    },
  });
  const agreementGauge = (name: string, help: string, pick: (f: ProjectAgreementFigures) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ["project"] as const,
      registers,
      async collect() {
        this.reset();
        for (const [project, figures] of (await load())?.agreement ?? []) {
          const value = pick(figures);
          if (value !== null) this.set({ project }, value);
        }
      },
    });
  agreementGauge("tandem_agreement_pairwise", "Pooled pairwise agreement between labelers on overlapping ranking tasks (0..1), per project", (f) => f.pairwise);
  agreementGauge("tandem_agreement_kendall_tau", "Mean Kendall tau-b between labelers on overlapping ranking tasks (-1..1), per project", (f) => f.kendallTau);
  agreementGauge("tandem_agreement_krippendorff_alpha", "Krippendorff's ordinal alpha over ranking positions, per project", (f) => f.alpha);
  agreementGauge("tandem_agreement_overlapping_items", "Ranking tasks ranked by at least two labelers, per project", (f) => f.overlappingItems);
  new Gauge({
    name: "tandem_jobs",
    help: "Trainer jobs per kind and state",
    labelNames: ["kind", "state"] as const,
    registers,
    async collect() {
      this.reset();
      const loaded = await load();
      if (!loaded) return;
      // Known kinds and states always report (0 included), so a panel never goes blank.
      for (const kind of jobKinds) for (const state of jobStates) this.set({ kind, state }, 0);
      for (const r of loaded.snapshot.jobs) this.set({ kind: r.kind, state: r.state }, r.count);
    },
  });
  new Gauge({
    name: "tandem_rounds",
    help: "Rounds per state",
    labelNames: ["state"] as const,
    registers,
    async collect() {
      this.reset();
      const loaded = await load();
      if (!loaded) return;
      for (const state of roundStates) this.set({ state }, 0);
      for (const r of loaded.snapshot.rounds) this.set({ state: r.state }, r.count);
    },
  });
  new Gauge({
    name: "tandem_ray_rounds",
    help: "Rounds handed to a Ray cluster, by the status of their latest submission",
    labelNames: ["status"] as const,
    registers,
    async collect() {
      this.reset();
      const loaded = await load();
      if (!loaded) return;
      for (const status of rayStatuses) this.set({ status }, 0);
      for (const r of loaded.snapshot.raySubmissions) this.set({ status: r.status }, r.count);
    },
  });
  const trainerGauge = (name: string, help: string, pick: (r: OpsSnapshot["trainer"][number]) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ["project", "kind"] as const,
      registers,
      async collect() {
        this.reset();
        for (const r of (await load())?.snapshot.trainer ?? []) {
          const value = pick(r);
          if (value !== null) this.set({ project: r.project, kind: r.kind }, value);
        }
      },
    });
  trainerGauge("tandem_trainer_tokens_per_second", "Target tokens per second of running jobs over their latest metrics lines (SFT and pretraining report tokens)", (r) => r.tokensPerSecond);
  trainerGauge("tandem_trainer_steps_per_second", "Optimizer steps per second of running jobs over their latest metrics lines", (r) => r.stepsPerSecond);
  trainerGauge("tandem_trainer_step", "Latest step reported by a running job (the highest, when several run)", (r) => r.step);
  trainerGauge("tandem_trainer_last_event_age_seconds", "Seconds since a running job last reported metrics (grows when a trainer stalls)", (r) => r.lastEventAgeSeconds);
  new Gauge({
    name: "tandem_db_pool_connections",
    help: "This instance's Postgres pool: total, idle and waiting clients",
    labelNames: ["state"] as const,
    registers,
    collect() {
      this.set({ state: "total" }, options.pool.totalCount);
      this.set({ state: "idle" }, options.pool.idleCount);
      this.set({ state: "waiting" }, options.pool.waitingCount);
    },
  });
}
