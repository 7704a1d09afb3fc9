/**
 * Starts Tandem the way the README says (`npm start`) in a fresh data directory, waits for
 * the printed URL and admin password, and hands them to the tests. Stops it afterwards.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startFakeRay } from "../support/fake-ray-jobs.ts";

export default async function globalSetup(): Promise<() => Promise<void>> {
  // A stand-in for a Ray cluster's dashboard (a real cluster is outside this machine): jobs wait
  // until a test releases them over the fake's own control route.
  const ray = await startFakeRay({ hold: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-e2e-"));
  fs.chmodSync(dataDir, 0o755);
  const { DATABASE_URL: _external, ...env } = process.env;
  const child = spawn("npm", ["start"], {
    // No demo: its round would occupy the one trainer while the tests' own rounds wait (the demo has its own test).
    env: { ...env, TANDEM_DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "warn", TANDEM_DEMO: "off", TANDEM_RAY_DASHBOARD_URL: ray.url, TANDEM_RAY_POLL_MS: "300", TANDEM_JUDGE_POLL_MS: "300" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so teardown can stop npm, tsx and node together
  });
  let output = "";
  const ready = await new Promise<{ url: string; password: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start was not ready within 90 s:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Tandem is running at (http:\/\/\S+)/.exec(output)?.[1];
      const password = /Password:\s+(\S+)/.exec(output)?.[1];
      if (url && password) {
        clearTimeout(timer);
        resolve({ url, password });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
  });
  // Playwright's workers inherit the environment set here.
  process.env.TANDEM_E2E = JSON.stringify({ ...ready, email: "admin@tandem.local", rayUrl: ray.url });

  return async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(-child.pid!, "SIGTERM");
    await exited;
    await ray.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
