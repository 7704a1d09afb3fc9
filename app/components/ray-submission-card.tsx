import { Card } from "./ui.tsx";

export type RaySubmissionView = {
  attempt: number;
  submissionId: string;
  dashboardUrl: string;
  settings: { engine?: string; baseModel?: string; numGpus?: number; outputDir?: string };
  status: string;
  message: string | null;
  lastError: string | null;
  logsTail: string;
  result: { checkpoint?: string } | null;
};

/** A round handed to a Ray cluster: the job's status and logs as the server last read them. */
export function RaySubmissionCard({ submission: s }: { submission: RaySubmissionView }) {
  const lines = s.logsTail.split("\n");
  return (
    <Card title="Ray cluster">
      <dl className="grid grid-cols-2 gap-1 text-sm" data-testid="ray-submission">
        <dt>Status</dt>
        <dd data-testid="ray-status" className="font-mono">
          {s.status}
        </dd>
        <dt>Submission</dt>
        <dd className="truncate font-mono">
          <a className="underline" href={`${s.dashboardUrl.replace(/\/+$/, "")}/#/jobs/${encodeURIComponent(s.submissionId)}`} target="_blank" rel="noreferrer">
            {s.submissionId}
          </a>
          {s.attempt > 1 ? ` (attempt ${s.attempt})` : ""}
        </dd>
        <dt>Engine</dt>
        <dd>
          {s.settings.engine} · {s.settings.baseModel}
        </dd>
        <dt>Output</dt>
        <dd className="truncate font-mono" title={s.settings.outputDir}>
          {s.result?.checkpoint ?? s.settings.outputDir}
        </dd>
        {s.message ? (
          <>
            <dt>Message</dt>
            <dd>{s.message}</dd>
          </>
        ) : null}
      </dl>
      {s.lastError ? (
        <p className="mt-2 text-sm text-amber-700 dark:text-amber-400" role="status">
          Last call to the cluster failed, retrying: {s.lastError}
        </p>
      ) : null}
      {s.logsTail ? (
        <pre className="mt-3 max-h-64 overflow-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-900" data-testid="ray-logs">
          {lines.slice(-200).join("\n")}
        </pre>
      ) : null}
    </Card>
  );
}
