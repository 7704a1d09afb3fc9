/**
 * Who owns a running postmaster on Tandem's data directory (issue 12, finding 5; decision 0023).
 * After `kill -9` of the server, its embedded PostgreSQL keeps running, reparented to init, and
 * used to block every later start until a person stopped it. On start we now tell apart, from
 * facts and not a guess:
 *   - a stale pid file (no such process, or the pid now belongs to something that is not a
 *     postmaster on this directory: /proc/<pid>/cmdline),
 *   - a postmaster of a live Tandem (the owner recorded at start is alive, still runs the same
 *     command line, and is the postmaster's parent) → refused, as before,
 *   - an orphan (its Tandem is gone) → stopped cleanly (SIGINT: fast shutdown), then start goes on.
 */
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";

const OWNER_FILE = "postgres-owner.json";
type Owner = { pid: number; cmdline: string };

/** Linux only (/proc); elsewhere nothing is known and the old refusal stands. */
export function cmdlineOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "");
  } catch {
    return null;
  }
}

/** Parent pid and state letter from /proc/<pid>/stat (the command may hold spaces and parentheses). */
function statOf(pid: number): { ppid: number; state: string } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

/** Alive and not a zombie (an orphan that exited but was not reaped yet counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  const stat = statOf(pid);
  return stat === null || stat.state !== "Z";
}

/** Is `pid` a postgres postmaster with `-D clusterDir` (compared as real paths)? */
export function isPostmasterOn(pid: number, clusterDir: string): boolean {
  const cmdline = cmdlineOf(pid);
  if (cmdline === null) return false;
  const args = cmdline.split("\0");
  if (path.basename(args[0] ?? "") !== "postgres") return false;
  const dataArg = args[args.indexOf("-D") + 1];
  if (args.indexOf("-D") < 0 || !dataArg) return false;
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(dataArg) === real(clusterDir);
}

export function recordOwner(dataDir: string): void {
  const owner: Owner = { pid: process.pid, cmdline: cmdlineOf(process.pid) ?? process.argv.join("\0") };
  fs.writeFileSync(path.join(dataDir, OWNER_FILE), JSON.stringify(owner) + "\n");
}

export function clearOwner(dataDir: string): void {
  fs.rmSync(path.join(dataDir, OWNER_FILE), { force: true });
}

function readOwner(dataDir: string): Owner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(path.join(dataDir, OWNER_FILE), "utf8")) as Owner;
    return Number.isInteger(owner.pid) && typeof owner.cmdline === "string" ? owner : null;
  } catch {
    return null;
  }
}

/** A Tandem server (or the test harness) by its command line. */
const TANDEM_COMMAND = /server\/cli\/start\.ts|tests\/support\/with-postgres\.ts/;

/** The live Tandem that owns the postmaster, or null when it is gone. */
function liveOwner(postmasterPid: number, dataDir: string): number | null {
  const parent = statOf(postmasterPid)?.ppid;
  const owner = readOwner(dataDir);
  if (owner) {
    const same = isRunning(owner.pid) && cmdlineOf(owner.pid) === owner.cmdline && parent === owner.pid;
    return same ? owner.pid : null;
  }
  // No record (a cluster started by an older Tandem): its parent must be a Tandem server.
  if (parent === undefined || parent <= 1) return null;
  return TANDEM_COMMAND.test(cmdlineOf(parent) ?? "") ? parent : null;
}

/**
 * Makes the cluster directory startable: removes a stale pid file, stops an orphaned postmaster,
 * and refuses (throws) when a live Tandem runs one here.
 */
export async function reclaimClusterDir(clusterDir: string, dataDir: string, log: Logger): Promise<void> {
  const pidFile = path.join(clusterDir, "postmaster.pid");
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid)) {
    fs.rmSync(pidFile, { force: true });
    return;
  }
  if (process.platform === "linux" && !isPostmasterOn(pid, clusterDir)) {
    // The pid was reused by an unrelated process after a crash: the file is stale.
    log.warn({ pid, cmdline: cmdlineOf(pid)?.split("\0")[0] }, "postmaster.pid names a process that is not our postmaster; removing the stale file");
    fs.rmSync(pidFile, { force: true });
    return;
  }
  const owner = process.platform === "linux" ? liveOwner(pid, dataDir) : pid;
  if (owner !== null) {
    throw new Error(`another PostgreSQL (pid ${pid}) is running on ${clusterDir}; is Tandem already started?` + (owner !== pid ? ` (Tandem pid ${owner})` : ""));
  }
  log.warn({ pid, dir: clusterDir }, "found the embedded PostgreSQL of a Tandem that is gone (crash or kill -9); stopping it");
  await stopOrphan(pid);
  fs.rmSync(pidFile, { force: true });
  log.info({ pid }, "orphaned PostgreSQL stopped");
}

/** Fast shutdown (SIGINT: clients disconnected, checkpoint written); SIGQUIT, then SIGKILL, if it hangs. */
async function stopOrphan(pid: number): Promise<void> {
  for (const [signal, waitMs] of [["SIGINT", 30_000], ["SIGQUIT", 5_000], ["SIGKILL", 5_000]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!isRunning(pid)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`the orphaned PostgreSQL (pid ${pid}) did not stop`);
}
