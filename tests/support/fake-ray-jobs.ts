/**
 * A local stand-in for a Ray cluster's dashboard, implementing the subset of the Ray Jobs REST
 * API that Tandem documents and uses: GET /api/version, GET|PUT /api/packages/gcs/<name>,
 * POST /api/jobs/, GET /api/jobs/<id>, GET /api/jobs/<id>/logs, POST /api/jobs/<id>/stop.
 * A Ray cluster is outside this machine, so tests fake it (and the docs say so). The fake does
 * run the submitted package: it unzips the uploaded working dir and runs the entrypoint with the
 * job's env_vars plus TANDEM_DRY_RUN=1 (no GPUs here), so the bundle's real run.sh is exercised.
 * A test in another process (the browser tests) steers it over HTTP: POST /_fake/release/<id>
 * lets a held job run; GET /_fake/jobs lists the submission ids. These are the fake's own, not Ray's.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { unzipSync } from "fflate";

type Job = {
  submissionId: string;
  status: "PENDING" | "RUNNING" | "STOPPED" | "SUCCEEDED" | "FAILED";
  message: string;
  logs: string;
  request: Record<string, unknown>;
  dir: string;
  child: ChildProcess | null;
  released: boolean;
};

export type FakeRay = {
  url: string;
  jobs: Map<string, Job>;
  packages: Map<string, Buffer>;
  requests: Array<{ method: string; path: string }>;
  /** While true, accepted jobs wait in RUNNING until released. */
  hold: boolean;
  release: (submissionId: string) => void;
  /** Make the next N calls (method + path prefix) answer with this status; Infinity until clearFailures(). */
  failNext: (method: string, pathPrefix: string, status: number, times?: number) => void;
  clearFailures: () => void;
  close: () => Promise<void>;
};

export async function startFakeRay(options: { hold?: boolean } = {}): Promise<FakeRay> {
  const jobs = new Map<string, Job>();
  const packages = new Map<string, Buffer>();
  const requests: FakeRay["requests"] = [];
  const failures: Array<{ method: string; prefix: string; status: number; times: number }> = [];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fake-ray-"));
  const fake = { hold: options.hold ?? false } as FakeRay;

  const run = (job: Job) => {
    if (job.status !== "RUNNING" || job.child) return;
    const runtimeEnv = job.request["runtime_env"] as { env_vars?: Record<string, string> };
    const child = spawn("bash", ["-c", String(job.request["entrypoint"])], {
      cwd: job.dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: job.dir, ...runtimeEnv.env_vars, TANDEM_DRY_RUN: "1" },
    });
    job.child = child;
    child.stdout.on("data", (d: Buffer) => (job.logs += d.toString()));
    child.stderr.on("data", (d: Buffer) => (job.logs += d.toString()));
    child.on("close", (code, signal) => {
      if (job.status !== "RUNNING") return;
      job.status = code === 0 ? "SUCCEEDED" : "FAILED";
      job.message = code === 0 ? "Job finished successfully." : `Job entrypoint command failed with exit code ${code ?? signal}`;
    });
  };

  /** Lets a held job run; false when there is no such job. */
  const release = (submissionId: string): boolean => {
    const job = jobs.get(submissionId);
    if (!job) return false;
    job.released = true;
    run(job);
    return true;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const p = url.pathname;
      requests.push({ method: req.method ?? "", path: p });
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      };
      const failure = failures.find((f) => f.method === req.method && p.startsWith(f.prefix) && f.times > 0);
      if (failure) {
        failure.times--;
        return send(failure.status, { error: "injected failure" });
      }
      const body = Buffer.concat(chunks);
      if (req.method === "GET" && p === "/_fake/jobs") return send(200, [...jobs.keys()]);
      const control = p.match(/^\/_fake\/release\/(.+)$/);
      if (req.method === "POST" && control) return release(decodeURIComponent(control[1]!)) ? send(200, { released: true }) : send(404, { error: "no such job" });
      if (req.method === "GET" && p === "/api/version") return send(200, { version: "4", ray_version: "fake", ray_commit: "fake" });
      const pkg = p.match(/^\/api\/packages\/gcs\/(.+)$/);
      if (pkg) {
        const name = decodeURIComponent(pkg[1]!);
        if (req.method === "GET") return packages.has(name) ? send(200, {}) : send(404, { error: "not found" });
        if (req.method === "PUT") {
          packages.set(name, body);
          return send(200, {});
        }
      }
      if (req.method === "POST" && p === "/api/jobs/") {
        let request: Record<string, unknown>;
        try {
          request = JSON.parse(body.toString()) as Record<string, unknown>;
        } catch {
          return send(400, "request body is not JSON");
        }
        const id = String(request["submission_id"] ?? "");
        const workingDir = String((request["runtime_env"] as { working_dir?: string } | undefined)?.working_dir ?? "");
        if (typeof request["entrypoint"] !== "string" || !id) return send(400, "entrypoint and submission_id are required");
        if (jobs.has(id)) return send(400, `Job with submission_id ${id} already exists. Please use a different submission_id.`);
        const name = workingDir.replace(/^gcs:\/\//, "");
        const zip = packages.get(name);
        if (!workingDir.startsWith("gcs://") || !zip) return send(400, `Package ${workingDir} not found`);
        const dir = path.join(root, id);
        fs.mkdirSync(dir, { recursive: true });
        for (const [file, bytes] of Object.entries(unzipSync(new Uint8Array(zip)))) {
          if (file.endsWith("/")) continue;
          fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
          fs.writeFileSync(path.join(dir, file), bytes);
        }
        const job: Job = { submissionId: id, status: "PENDING", message: "Job has not started yet.", logs: "", request, dir, child: null, released: false };
        jobs.set(id, job);
        // Accepted now, started on the next turn: a caller sees PENDING first, like on a real cluster.
        setTimeout(() => {
          if (job.status !== "PENDING") return;
          job.status = "RUNNING";
          job.message = "Job is currently running.";
          job.logs += "fake-ray: job started\n";
          if (!fake.hold || job.released) run(job);
        }, 50);
        return send(200, { submission_id: id, job_id: null });
      }
      const jobPath = p.match(/^\/api\/jobs\/([^/]+)(\/logs|\/stop)?$/);
      if (jobPath) {
        const job = jobs.get(decodeURIComponent(jobPath[1]!));
        if (!job) return send(404, { error: "job not found" });
        if (req.method === "GET" && !jobPath[2]) {
          return send(200, { type: "SUBMISSION", submission_id: job.submissionId, job_id: null, status: job.status, message: job.message, entrypoint: job.request["entrypoint"], metadata: job.request["metadata"] ?? {}, start_time: 0, end_time: null });
        }
        if (req.method === "GET" && jobPath[2] === "/logs") return send(200, { logs: job.logs });
        if (req.method === "POST" && jobPath[2] === "/stop") {
          const stoppable = job.status === "PENDING" || job.status === "RUNNING";
          if (stoppable) {
            job.status = "STOPPED";
            job.message = "Job was intentionally stopped.";
            job.child?.kill("SIGTERM");
          }
          return send(200, { stopped: stoppable });
        }
      }
      send(404, { error: `no route ${req.method} ${p}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    jobs,
    packages,
    requests,
    release: (submissionId: string) => {
      if (!release(submissionId)) throw new Error(`no job ${submissionId}`);
    },
    failNext: (method: string, prefix: string, status: number, times = 1) => void failures.push({ method, prefix, status, times }),
    clearFailures: () => void failures.splice(0),
    close: async () => {
      for (const job of jobs.values()) job.child?.kill("SIGKILL");
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  });
}
