/**
 * `npm start` runs one trainer service beside the server, as a child process that talks to
 * the server over HTTP with its own trainer token, exactly as a trainer on another machine
 * would (it never touches the database). Each start revokes the previous start's token and
 * makes a new one; the secret goes to the child's environment only. When the server refuses the
 * token (its admin owner was demoted, say), the service exits with TOKEN_REFUSED_EXIT and gets a
 * new token from an admin who is one now.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import type { Db } from "../db/database.server.ts";
import { createApiToken } from "../auth/tokens.server.ts";
import { TOKEN_REFUSED_EXIT } from "../../trainer/contract/service-exit.ts";

const TOKEN_NAME = "embedded trainer (npm start)";
/** Ends the child when this server dies without stopping it (decision 0023). */
const EXIT_WITH_PARENT = pathToFileURL(path.resolve(import.meta.dirname, "../lib/exit-with-parent.mjs")).href;
const CLI = path.resolve(import.meta.dirname, "../../trainer/cli.ts");

/**
 * A trainer token owned by the first active admin, revoking the previous ones. Null when no
 * active admin exists (a trainer token works only while its owner is an admin, decision 0021).
 */
async function mintToken(db: Db): Promise<string | null> {
  const owner = await db.selectFrom("users").select("id").where("role", "=", "admin").where("active", "=", true).orderBy("id").executeTakeFirst();
  await db.updateTable("api_tokens").set({ revoked_at: new Date() }).where("name", "=", TOKEN_NAME).where("revoked_at", "is", null).execute();
  if (!owner) return null;
  return (await createApiToken(db, owner.id, { name: TOKEN_NAME, role: "trainer" })).secret;
}

export async function startEmbeddedTrainer(db: Db, log: Logger, serverUrl: string): Promise<() => Promise<void>> {
  const first = await mintToken(db);
  if (!first) throw new Error("the embedded trainer needs an active admin to own its token");
  let secret: string = first;
  // `component`, not `name`: pino already writes the logger's name, and a second "name" key
  // in one JSON line is a duplicate that log tools resolve differently.
  const trainerLog = log.child({ component: "trainer" });
  let child: ChildProcess | null = null;
  let stopping = false;
  let restarts = 0;

  const launch = () => {
    if (stopping) return;
    const startedAt = Date.now();
    // The same Node and loader flags as the server (tsx), so the child runs TypeScript too.
    child = spawn(process.execPath, [...process.execArgv, "--import", EXIT_WITH_PARENT, CLI, "serve", "--server", serverUrl], {
      env: { ...process.env, TANDEM_TRAINER_TOKEN: secret },
      stdio: ["ignore", "pipe", "pipe"],
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const event = safeJson(line);
      // Service messages (job claimed/finished) at info; per-step metrics are in the round view.
      // The trainer's own time/type/message become pino's time and msg, never second copies.
      if (event?.["type"] === "service") {
        const { time: _time, type: _type, message, ...fields } = event;
        trainerLog.info(fields, String(message));
      } else trainerLog.debug(event ? { event } : { line }, "trainer output");
    });
    createInterface({ input: child.stderr! }).on("line", (line) => trainerLog.warn({ line }, "trainer stderr"));
    child.on("error", (error) => trainerLog.error({ err: error }, "the trainer service could not start"));
    child.once("exit", (code, signal) => {
      child = null;
      if (stopping) return;
      if (code === TOKEN_REFUSED_EXIT) {
        // its owner was demoted or deactivated (or the token revoked): a fresh token from an admin
        // who is one now, so rounds go on without a restart of Tandem
        void mintToken(db).then(
          (fresh) => {
            if (!fresh) return trainerLog.error("the trainer's token was refused and no active admin can own a new one; rounds wait until an admin exists and Tandem restarts");
            secret = fresh;
            trainerLog.warn("the trainer's token was refused; restarting it with a new token from an active admin");
            launch();
          },
          (error: unknown) => trainerLog.error({ err: error }, "could not mint a new trainer token; rounds wait until Tandem restarts"),
        );
        return;
      }
      // A crash must not end training for good; a crash loop must not spin either. A trainer
      // that ran for a while before crashing starts a fresh count.
      if (Date.now() - startedAt > 60_000) restarts = 0;
      restarts++;
      trainerLog.error({ code, signal, restarts }, "the trainer service exited; restarting");
      if (restarts <= 5) setTimeout(launch, 2000 * restarts).unref();
      else trainerLog.error("the trainer service keeps crashing; not restarting it (rounds wait until Tandem restarts)");
    });
  };
  launch();
  log.info({ server: serverUrl }, "embedded trainer service started");

  return async () => {
    stopping = true;
    const running = child as ChildProcess | null;
    if (!running) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
}

function safeJson(line: string): Record<string, unknown> | null {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}
