/**
 * The documented subset of the Ray Jobs REST API that Tandem uses (the dashboard on the head
 * node, default :8265): upload a working-dir package, submit, read status and logs, stop.
 * Every answer is validated; a refusal, a timeout or a malformed body becomes a RayApiError
 * with the call named, never a crash. Tested against tests/support/fake-ray-jobs.ts, a local
 * server implementing the same subset (decision 0017).
 */
import { z } from "zod";

export const RAY_STATUSES = ["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"] as const;
export type RayStatus = (typeof RAY_STATUSES)[number];
export const TERMINAL: readonly RayStatus[] = ["STOPPED", "SUCCEEDED", "FAILED"];

const jobDetailsSchema = z.looseObject({
  submission_id: z.string().nullish(),
  status: z.enum(RAY_STATUSES),
  message: z.string().nullish(),
  start_time: z.number().nullish(),
  end_time: z.number().nullish(),
});
export type RayJobDetails = z.infer<typeof jobDetailsSchema>;

export type SubmitRequest = {
  entrypoint: string;
  submission_id: string;
  runtime_env: { working_dir: string; env_vars?: Record<string, string> };
  metadata?: Record<string, string>;
  entrypoint_num_gpus?: number;
};

export class RayApiError extends Error {
  constructor(
    readonly call: string,
    message: string,
    readonly status: number | null = null,
  ) {
    super(`${call}: ${message}`);
    this.name = "RayApiError";
  }
}

export type RayJobsClient = ReturnType<typeof createRayJobsClient>;

export function createRayJobsClient(dashboardUrl: string, options: { timeoutMs?: number } = {}) {
  const base = dashboardUrl.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 15_000;

  async function call(name: string, method: string, path: string, init: { json?: unknown; body?: Uint8Array; okStatuses?: number[] } = {}) {
    let response: Response;
    try {
      response = await fetch(base + path, {
        method,
        headers: init.json !== undefined ? { "content-type": "application/json" } : init.body ? { "content-type": "application/zip" } : {},
        body: init.json !== undefined ? JSON.stringify(init.json) : init.body ? Buffer.from(init.body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const reason = error instanceof Error && error.name === "TimeoutError" ? `no answer within ${timeoutMs / 1000} s` : `cannot reach the Ray dashboard (${causeOf(error)})`;
      throw new RayApiError(name, reason);
    }
    const text = await response.text().catch(() => "");
    if (!(init.okStatuses ?? [200]).includes(response.status)) {
      throw new RayApiError(name, `HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ""}`, response.status);
    }
    return { status: response.status, text };
  }

  function parse<T>(name: string, text: string, schema: z.ZodType<T>): T {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new RayApiError(name, `the answer is not JSON: ${text.slice(0, 120)}`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new RayApiError(name, `unexpected answer (${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")})`);
    return parsed.data;
  }

  return {
    async version() {
      const { text } = await call("version", "GET", "/api/version");
      return parse("version", text, z.looseObject({ version: z.string(), ray_version: z.string().optional() }));
    },
    /** Whether the cluster already holds a package (gcs://name). */
    async packageExists(name: string): Promise<boolean> {
      const { status } = await call("package check", "GET", `/api/packages/gcs/${encodeURIComponent(name)}`, { okStatuses: [200, 404] });
      return status === 200;
    },
    async uploadPackage(name: string, zip: Uint8Array): Promise<void> {
      await call("package upload", "PUT", `/api/packages/gcs/${encodeURIComponent(name)}`, { body: zip });
    },
    async submit(request: SubmitRequest): Promise<{ submissionId: string }> {
      // The trailing slash matters: the Ray docs call it out.
      const { text } = await call("submit", "POST", "/api/jobs/", { json: request });
      const body = parse("submit", text, z.looseObject({ submission_id: z.string().min(1) }));
      return { submissionId: body.submission_id };
    },
    /** null when the cluster does not know the id (404). */
    async details(submissionId: string): Promise<RayJobDetails | null> {
      const { status, text } = await call("status", "GET", `/api/jobs/${encodeURIComponent(submissionId)}`, { okStatuses: [200, 404] });
      return status === 404 ? null : parse("status", text, jobDetailsSchema);
    },
    async logs(submissionId: string): Promise<string> {
      const { text } = await call("logs", "GET", `/api/jobs/${encodeURIComponent(submissionId)}/logs`);
      return parse("logs", text, z.looseObject({ logs: z.string() })).logs;
    },
    async stop(submissionId: string): Promise<boolean> {
      const { text } = await call("stop", "POST", `/api/jobs/${encodeURIComponent(submissionId)}/stop`);
      return parse("stop", text, z.looseObject({ stopped: z.boolean() })).stopped;
    },
  };
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
