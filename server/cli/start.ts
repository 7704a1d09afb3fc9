/**
 * `npm start`: one command from a fresh clone to a running Tandem.
 * 1. validate the environment  2. build the UI if needed  3. start embedded PostgreSQL
 * (unless DATABASE_URL is set)  4. migrate  5. create the first admin  6. serve.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ServerBuild } from "react-router";
import { ensureFirstAdmin } from "../auth/users.server.ts";
import { generatePassword } from "../auth/secrets.server.ts";
import { ConfigError, loadConfig, type Config } from "../config.server.ts";
import type pg from "pg";
import { createDb, createPool, migrateToLatest } from "../db/database.server.ts";
import { isConnectionError } from "../db/db-health.server.ts";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../db/embedded-postgres.server.ts";
import { createTandemServer, type ServerDeps } from "../http/create-server.server.ts";
import { createLogger } from "../lib/logger.server.ts";
import { startEmbeddedTrainer } from "../rounds/embedded-trainer.server.ts";
import { DEMO_PROJECT_NAME, seedDemoProject } from "../demo/demo-project.server.ts";

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const dev = process.env.TANDEM_DEV === "1";
const log = createLogger(config.LOG_LEVEL);
let embedded: EmbeddedDatabase | undefined;
let shuttingDown = false;
let closeServer: (() => Promise<void>) | undefined;
let stopTrainer: (() => Promise<void>) | undefined;
const pendingCleanup: Array<() => Promise<void>> = [];

async function shutdown(signal: string, code = 0): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info({ signal }, "shutting down");
  // A stuck step must not keep the process (and postgres) alive forever.
  setTimeout(() => {
    log.error("shutdown took over 10 s; forcing exit");
    process.exit(1);
  }, 10_000).unref();
  try {
    // The trainer first: a job it is uploading should not meet a closed port.
    await stopTrainer?.();
    await closeServer?.();
    for (const step of pendingCleanup.reverse()) await step();
    await embedded?.stop();
  } catch (error) {
    log.error({ err: error }, "error during shutdown");
    code = 1;
  }
  log.info("stopped");
  process.exit(code);
}
// A background loop's database call failing during an outage must not end the server: the outage
// is answered with 503 and ends by itself (decision 0023). Logged, never silent.
process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

async function main(): Promise<void> {
  const build = dev ? undefined : await loadProductionBuild();

  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(path.join(config.TANDEM_DATA_DIR), log);
    databaseUrl = embedded.url;
  }
  const pool = createPool(databaseUrl);
  // An idle client losing its server must be logged, not crash the process.
  pool.on("error", (error) => log.warn({ err: error }, "idle database connection failed"));
  const db = createDb(pool);
  pendingCleanup.push(() => db.destroy());

  await waitForDatabase(pool);
  const migrated = await migrateToLatest(db);
  log.info({ applied: migrated.results?.map((r) => r.migrationName) ?? [] }, "database migrated");

  const admin = await ensureFirstAdmin(db, config.TANDEM_ADMIN_EMAIL, config.TANDEM_ADMIN_PASSWORD, generatePassword);

  const firstStart = (await db.selectFrom("projects").select("id").limit(1).execute()).length === 0;
  const demo = config.TANDEM_DEMO === "on" && firstStart ? await seedDemo() : null;

  const deps: ServerDeps = { config, db, pool, log, build: build ?? (() => Promise.reject(new Error("no build"))) };
  if (dev) Object.assign(deps, await viteDevMiddleware());
  const server = createTandemServer(deps);
  closeServer = server.close;
  await new Promise<void>((resolve, reject) => {
    server.httpServer.once("error", reject);
    server.httpServer.listen(config.PORT, config.HOST, () => resolve());
  });
  const address = server.httpServer.address();
  const port = typeof address === "object" && address ? address.port : config.PORT;
  const host = config.HOST === "0.0.0.0" || config.HOST === "::" ? "localhost" : config.HOST;
  if (config.TANDEM_TRAINER === "embedded") {
    stopTrainer = await startEmbeddedTrainer(db, log, `http://${host === "localhost" ? "127.0.0.1" : host}:${port}`);
  }

  console.log(`\nTandem is running at http://${host}:${port}`);
  console.log(`Database: ${embedded ? `embedded PostgreSQL (data in ${config.TANDEM_DATA_DIR})` : "DATABASE_URL"}`);
  if (admin.created) {
    console.log(`First admin: ${admin.email}`);
    if (admin.generated) console.log(`Password:    ${admin.password}   (shown once: keep it, or change it under Account)`);
  }
  if (demo) console.log(`Demo:        "${DEMO_PROJECT_NAME}" — round 0 (SFT) trains, then round 1 (GRPO on the checker); ranking tasks appear in a few minutes`);
  console.log("Press Ctrl-C to stop.\n");

  async function seedDemo() {
    const owner = await db.selectFrom("users").select("id").where("role", "=", "admin").orderBy("id").executeTakeFirstOrThrow();
    const seeded = await seedDemoProject(db, owner.id, config.TANDEM_JOB_LEASE_SECONDS);
    log.info(seeded, "demo project seeded");
    return seeded;
  }
}

/**
 * An external database that is not up yet (a container starting beside us, a failover) is waited
 * for, with backoff and a log line per try, rather than ending the start: for five minutes, then
 * the start fails with the last error. Other errors (a wrong password) fail at once.
 */
async function waitForDatabase(pool: pg.Pool): Promise<void> {
  const deadline = Date.now() + 5 * 60_000;
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query("select 1");
      return;
    } catch (error) {
      if (!isConnectionError(error) || Date.now() > deadline || shuttingDown) throw error;
      const delayMs = Math.min(10_000, 500 * 2 ** (attempt - 1));
      log.warn({ err: error, attempt, delayMs }, "database not reachable yet; waiting");
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** Builds the UI when there is no build yet or the sources are newer than it. */
async function loadProductionBuild(): Promise<ServerBuild> {
  const entry = path.resolve("build/server/index.js");
  if (!fs.existsSync(entry) || newestMtime("app") > fs.statSync(entry).mtimeMs) {
    log.info("building the web UI (first start or changed sources)");
    // Vite's errors and warnings pass through, less the one "envFile is deprecated" line that
    // React Router's own config loader makes Vite print (vite.config.ts drops the other eight).
    const built = spawnSync(path.resolve("node_modules/.bin/react-router"), ["build"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    process.stderr.write((built.stderr ?? "").split("\n").filter((line) => !line.includes("`envFile` option is deprecated")).join("\n"));
    if (built.status !== 0) throw new Error(`building the web UI failed (${built.error?.message ?? `exit ${built.status}`})`);
  }
  return (await import(entry)) as ServerBuild;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

async function viteDevMiddleware(): Promise<Pick<ServerDeps, "build" | "before">> {
  const vite = await import("vite");
  const server = await vite.createServer({ server: { middlewareMode: true } });
  pendingCleanup.push(() => server.close());
  return {
    before: server.middlewares,
    build: () => server.ssrLoadModule("virtual:react-router/server-build") as Promise<ServerBuild>,
  };
}

main().catch((error: unknown) => {
  log.fatal({ err: error }, "Tandem failed to start");
  void shutdown("startup-failure", 1);
});
