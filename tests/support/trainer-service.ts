/**
 * Runs the real trainer service (`trainer/cli.ts serve`) as its own process against a test
 * server, with a trainer token, until the job queue is empty; resolves with its exit code and output.
 */
import { spawn } from "node:child_process";

export function runTrainerService(serverUrl: string, token: string, options: { timeoutMs?: number; backend?: string } = {}): Promise<{ code: number; output: string }> {
  const args = ["--import", "tsx", "trainer/cli.ts", "serve", "--server", serverUrl, "--poll", "1", "--exit-when-idle", ...(options.backend ? ["--backend", options.backend] : [])];
  const child = spawn(process.execPath, args, { env: { ...process.env, TANDEM_TRAINER_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 240_000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output });
    }),
  );
}

/**
 * A trainer service that keeps polling, in its own process group, for tests that interrupt one: `kill` ends it and
 * its CLI child at once without a word (SIGKILL), so its job's lease is left to expire and another trainer resumes it.
 */
export function startKillableTrainer(serverUrl: string, token: string, backend = "wasm"): { kill: () => Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", "trainer/cli.ts", "serve", "--server", serverUrl, "--poll", "1", "--backend", backend], {
    env: { ...process.env, TANDEM_TRAINER_TOKEN: token },
    stdio: "ignore",
    detached: true,
  });
  const closed = new Promise((resolve) => child.on("close", resolve));
  return {
    kill: async () => {
      process.kill(-child.pid!, "SIGKILL");
      await closed;
    },
  };
}
