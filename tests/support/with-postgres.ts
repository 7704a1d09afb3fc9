/**
 * Runs a command with DATABASE_URL pointing at a fresh, empty database:
 * on the server in DATABASE_URL when it is set, else on an embedded PostgreSQL started here.
 * The database is dropped afterwards. Usage: tsx tests/support/with-postgres.ts <command...>
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../../server/db/embedded-postgres.server.ts";
import { createLogger } from "../../server/lib/logger.server.ts";

const command = process.argv.slice(2);
if (command.length === 0) {
  console.error("usage: with-postgres.ts <command...>");
  process.exit(2);
}

const log = createLogger(process.env.LOG_LEVEL ?? "warn", "test-postgres");
let serverUrl = process.env.DATABASE_URL;
let stopEmbedded: (() => Promise<void>) | undefined;
let tempDir: string | undefined;
if (!serverUrl) {
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-test-pg-"));
  fs.chmodSync(tempDir, 0o755);
  const embedded = await startEmbeddedPostgres(tempDir, log);
  serverUrl = embedded.url;
  stopEmbedded = embedded.stop;
}

const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const { rows } = await admin.query<{ server_version: string }>("show server_version");
const dbName = `tandem_test_${process.pid}_${Date.now()}`;
await admin.query(`create database ${dbName}`);
const testUrl = new URL(serverUrl);
testUrl.pathname = `/${dbName}`;
console.log(`with-postgres: PostgreSQL ${rows[0]?.server_version} (${stopEmbedded ? "embedded" : "DATABASE_URL"}), database ${dbName}`);

const child = spawn(command[0]!, command.slice(1), {
  stdio: "inherit",
  env: { ...process.env, DATABASE_URL: testUrl.toString(), TANDEM_TEST_SERVER_VERSION: rows[0]?.server_version ?? "" },
});
const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
process.on("SIGINT", forward("SIGINT"));
process.on("SIGTERM", forward("SIGTERM"));
const code: number = await new Promise((resolve) => child.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))));

try {
  await admin.query(`drop database if exists ${dbName} with (force)`);
} finally {
  await admin.end();
  await stopEmbedded?.();
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
}
process.exit(code);
