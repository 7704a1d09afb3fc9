/** `npm run db:migrate` / `npm run db:rollback` against DATABASE_URL or the embedded database. */
import { loadConfig } from "../config.server.ts";
import { createDb, createPool, migrateDown, migrateToLatest } from "../db/database.server.ts";
import { startEmbeddedPostgres } from "../db/embedded-postgres.server.ts";
import { createLogger } from "../lib/logger.server.ts";

const direction = process.argv[2];
if (direction !== "latest" && direction !== "down") {
  console.error("usage: migrate.ts latest|down");
  process.exit(2);
}
const config = loadConfig();
const log = createLogger(config.LOG_LEVEL);
const embedded = config.DATABASE_URL ? undefined : await startEmbeddedPostgres(config.TANDEM_DATA_DIR, log);
const db = createDb(createPool(config.DATABASE_URL ?? embedded!.url));
try {
  const result = direction === "latest" ? await migrateToLatest(db) : await migrateDown(db);
  const names = result.results?.map((r) => `${r.direction === "Up" ? "applied" : "rolled back"} ${r.migrationName}`) ?? [];
  console.log(names.length > 0 ? names.join("\n") : "nothing to do");
} finally {
  await db.destroy();
  await embedded?.stop();
}
