import { Kysely, PostgresDialect } from "kysely";
import { Migrator, type MigrationResultSet } from "kysely/migration";
import pg from "pg";
import { migrations } from "../../migrations/migration-list.ts";
import type { Database } from "./schema.ts";

export type Db = Kysely<Database>;

/**
 * A pool whose clients can never crash the process: pg-pool removes its own `'error'` listener
 * from a client while it is checked out (the socket.io adapter holds one for LISTEN, forever),
 * and an `'error'` event without a listener kills Node (issue 12: 57P01 after kill -9 of
 * PostgreSQL). Every client gets a permanent listener that hands the error to the pool's
 * `'error'` event, which the server logs and feeds to its database health (db-health.server.ts).
 * A connect attempt gives up after 5 s, so requests during an outage fail fast with 503.
 */
export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5000 });
  pool.on("connect", (client) => {
    client.on("error", (error) => {
      if (pool.listenerCount("error") > 0) pool.emit("error", error, client);
    });
  });
  return pool;
}

export function createDb(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations work on any schema
type AnyDb = Kysely<any>;

function migrator(db: AnyDb): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

/** Runs every pending migration; throws with the failing migration named. */
export async function migrateToLatest(db: AnyDb): Promise<MigrationResultSet> {
  return checked(await migrator(db).migrateToLatest());
}

export async function migrateDown(db: AnyDb): Promise<MigrationResultSet> {
  return checked(await migrator(db).migrateDown());
}

function checked(result: MigrationResultSet): MigrationResultSet {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return result;
}
