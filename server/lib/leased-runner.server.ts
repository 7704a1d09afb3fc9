/**
 * The background runner the server's in-process jobs share (generation runs, cleaning jobs, the
 * model judge): poll for work, claim it with a lease so two server instances never run one item,
 * run up to `maxParallel` items at once, renew the lease while an item runs (and stop the item when
 * the lease is lost: cancelled, or claimed elsewhere after it expired), and on stop abort what runs
 * and hand the leases back so another instance — or this one, restarted — resumes at once.
 *
 * What an item *is* stays with the caller: how to claim one (usually `update … where id = (select …
 * for update skip locked)`), how to run it, and how to hand leases back. `execute` must not throw
 * into the server: it records its own failures; an error that escapes anyway is logged here.
 */
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../db/database.server.ts";

export type LeasedRunner = {
  /** Look for work now (after an item was queued on this instance). */
  kick: () => void;
  /** Abort an item this instance runs (after it was cancelled in the database). */
  abortLocal: (id: string) => void;
  /** Resolves when the item this instance runs has stopped (tests). */
  settle: (id: string) => Promise<void>;
  stop: () => Promise<void>;
};

export type LeasedRunnerSpec<Claimed extends { id: string }> = {
  /** Used in log lines ("cleaning job", "generation run"). */
  what: string;
  log: Logger;
  /** 0: never poll and ignore kicks (tests that drive the work themselves). */
  pollMs: number;
  maxParallel: number;
  /** This instance's lease owner, also used by the caller's own lease-guarded writes. */
  owner: string;
  claim: () => Promise<Claimed | null>;
  execute: (claimed: Claimed, signal: AbortSignal) => Promise<void>;
  /** Renews the lease of a running item; false when it is no longer this instance's. */
  heartbeat?: { everyMs: number; renew: (id: string) => Promise<boolean> };
  /** Releases every lease this instance holds (on stop). */
  handBack: () => Promise<void>;
};

export const newLeaseOwner = (prefix: string) => `${prefix}-${randomUUID()}`;

export function startLeasedRunner<Claimed extends { id: string }>(spec: LeasedRunnerSpec<Claimed>): LeasedRunner {
  const { log } = spec;
  const active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let stopped = false;
  let looking = false;
  let timer: NodeJS.Timeout | null = null;

  async function run(claimed: Claimed, controller: AbortController): Promise<void> {
    const heartbeat = spec.heartbeat
      ? setInterval(() => {
          spec.heartbeat!
            .renew(claimed.id)
            .then((held) => {
              if (!held) controller.abort(); // cancelled, or the lease went elsewhere
            })
            .catch((error: unknown) => log.warn({ err: error, id: claimed.id }, `${spec.what} heartbeat failed`));
        }, spec.heartbeat.everyMs)
      : null;
    try {
      await spec.execute(claimed, controller.signal);
    } catch (error) {
      log.error({ err: error, id: claimed.id }, `${spec.what} escaped its own error handling`);
    } finally {
      if (heartbeat) clearInterval(heartbeat);
    }
  }

  async function look(): Promise<void> {
    if (looking || stopped) return;
    looking = true;
    try {
      while (!stopped && active.size < spec.maxParallel) {
        const claimed = await spec.claim();
        if (!claimed) break;
        const controller = new AbortController();
        const done = run(claimed, controller).finally(() => active.delete(claimed.id));
        active.set(claimed.id, { controller, done });
      }
    } catch (error) {
      log.warn({ err: error }, `${spec.what} runner could not claim work`);
    } finally {
      looking = false;
    }
  }

  const schedule = () => {
    if (stopped || spec.pollMs === 0) return;
    timer = setTimeout(() => void look().finally(schedule), spec.pollMs);
    timer.unref();
  };
  schedule();

  return {
    kick: () => {
      if (spec.pollMs > 0) void look();
    },
    abortLocal: (id) => active.get(id)?.controller.abort(),
    settle: async (id) => {
      await active.get(id)?.done;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const { controller } of active.values()) controller.abort();
      await Promise.allSettled([...active.values()].map((a) => a.done));
      await spec.handBack().catch((error: unknown) => log.warn({ err: error }, `could not hand back ${spec.what} leases`));
    },
  };
}

/**
 * Lease upkeep for a job table with `state`, `lease_owner`, `lease_expires_at` and `updated_at`
 * (generation runs, cleaning jobs): claim the oldest queued or lease-expired row, renew, finish
 * and hand back — each guarded by the lease, so a writer that lost it changes nothing.
 */
export function jobTableLease(db: Db, table: "generation_runs" | "cleaning_jobs", owner: string, leaseSeconds: number) {
  const t = sql.table(table);
  return {
    /** Claims one row and returns `returning` columns (a raw SQL list: trusted, written by the caller). */
    async claim<Row>(returning: string): Promise<Row | null> {
      const result = await sql<Row>`
        update ${t} set state = 'running', lease_owner = ${owner}, lease_expires_at = now() + make_interval(secs => ${leaseSeconds}), updated_at = now()
        where id = (
          select id from ${t}
          where state = 'queued' or (state = 'running' and (lease_expires_at is null or lease_expires_at < now()))
          order by id for update skip locked limit 1
        )
        returning ${sql.raw(returning)}`.execute(db);
      return result.rows[0] ?? null;
    },
    async renew(id: string): Promise<boolean> {
      const result = await sql`
        update ${t} set lease_expires_at = now() + make_interval(secs => ${leaseSeconds}), updated_at = now()
        where id = ${id} and state = 'running' and lease_owner = ${owner}`.execute(db);
      return Number(result.numAffectedRows ?? 0) > 0;
    },
    async finish(id: string, state: "done" | "failed", error: string | null): Promise<void> {
      await sql`
        update ${t} set state = ${state}, error = ${error}, lease_owner = null, lease_expires_at = null, finished_at = now(), updated_at = now()
        where id = ${id} and state = 'running' and lease_owner = ${owner}`.execute(db);
    },
    async handBack(): Promise<void> {
      await sql`update ${t} set lease_owner = null, lease_expires_at = now(), updated_at = now() where state = 'running' and lease_owner = ${owner}`.execute(db);
    },
  };
}

/**
 * Takes over one row of a claim table (judge suggestions, reward scores) whose lease ran out while it
 * was 'running' — its server died mid-work — so this instance does it again. `returning` is a raw SQL
 * column list written by the caller.
 */
export async function claimExpiredLease<Row>(db: Db, table: "judge_suggestions" | "reward_scores", owner: string, leaseSeconds: number, returning: string): Promise<Row | null> {
  const t = sql.table(table);
  const result = await sql<Row>`
    update ${t} set lease_owner = ${owner}, lease_expires_at = now() + make_interval(secs => ${leaseSeconds})
    where id = (select id from ${t} where state = 'running' and lease_expires_at < now() order by id for update skip locked limit 1)
    returning ${sql.raw(returning)}`.execute(db);
  return result.rows[0] ?? null;
}
