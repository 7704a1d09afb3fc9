// The trainer service's only link to Tandem: the server's HTTP API with a trainer token.
// The trainer never touches the database (DESIGN.md); everything goes through these calls.
import { createReadStream, createWriteStream, statSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { remoteJobSchema, type RemoteJob } from "../contract/round.ts";

export class ServerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type ServerApi = ReturnType<typeof createServerApi>;
/** A held job: calls on it name the attempt the claim started, which is the lease. */
export type JobRef = { jobId: string; attempt: number };
const jobPath = (job: JobRef, suffix: string) => `/api/v1/trainer/jobs/${job.jobId}/${suffix}?attempt=${job.attempt}`;

export function createServerApi(baseUrl: string, token: string) {
  const base = baseUrl.replace(/\/$/, "");
  const headers = { authorization: `Bearer ${token}` };

  async function call(method: string, path: string, init: { json?: unknown; body?: BodyInit; headers?: Record<string, string>; duplex?: "half" } = {}): Promise<Response> {
    const response = await fetch(base + path, {
      method,
      headers: { ...headers, ...(init.json !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
      ...(init.duplex ? { duplex: init.duplex } : {}),
    } as RequestInit);
    if (!response.ok) {
      const problem = (await response.json().catch(() => null)) as { detail?: string } | null;
      throw new ServerError(response.status, `${method} ${path}: ${response.status} ${problem?.detail ?? response.statusText}`);
    }
    return response;
  }

  return {
    async claim(worker: string): Promise<RemoteJob | null> {
      const body = (await (await call("POST", "/api/v1/trainer/claim", { json: { worker } })).json()) as unknown;
      return body === null ? null : remoteJobSchema.parse(body);
    },
    async heartbeat(job: JobRef): Promise<"running" | "cancelled"> {
      return ((await (await call("POST", jobPath(job, "heartbeat"))).json()) as { state: "running" | "cancelled" }).state;
    },
    async events(job: JobRef, events: Array<Record<string, unknown>>): Promise<void> {
      await call("POST", jobPath(job, "events"), { json: { events } });
    },
    /** A JSON document from the server (a model's registry entry). */
    async getJson(path: string): Promise<unknown> {
      return (await call("GET", path)).json();
    },
    /** Streams a server path (an export, a model file) to a local file. */
    async download(path: string, file: string): Promise<void> {
      const response = await call("GET", path);
      await pipeline(Readable.fromWeb(response.body! as never), createWriteStream(file));
    },
    /** `kind` "files": the job's outputs; "resume": a periodic checkpoint to resume from. */
    async upload(job: JobRef, name: string, file: string, kind: "files" | "resume" = "files"): Promise<void> {
      await call("PUT", jobPath(job, `${kind}/${name}`), {
        body: Readable.toWeb(createReadStream(file)) as unknown as BodyInit,
        headers: { "content-type": "application/octet-stream", "content-length": String(statSync(file).size) },
        duplex: "half",
      });
    },
    async resumeReady(job: JobRef, step: number): Promise<void> {
      await call("POST", jobPath(job, "resume-ready"), { json: { step } });
    },
    /** The checkpoint an earlier attempt uploaded, one file. */
    async downloadResume(job: JobRef, name: string, file: string): Promise<void> {
      await this.download(jobPath(job, `resume/${name}`), file);
    },
    async complete(job: JobRef, metrics: Record<string, number>): Promise<unknown> {
      return (await call("POST", jobPath(job, "complete"), { json: { metrics } })).json();
    },
    async fail(job: JobRef, message: string, step?: number): Promise<void> {
      await call("POST", jobPath(job, "fail"), { json: { message: message.slice(0, 4000), ...(step !== undefined ? { step } : {}) } });
    },
  };
}
