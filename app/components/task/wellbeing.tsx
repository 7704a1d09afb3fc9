import { useEffect, useState, type ReactNode } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { Button } from "../ui.tsx";
import { postJson } from "./task-client.ts";

/**
 * Sensitive content stays blurred, with its categories named, until the labeler reveals it; the
 * server records every reveal (decision 0036). A reload blurs it again.
 */
export function SensitiveGate({ view, children }: { view: AssignmentView; children: ReactNode }) {
  const [revealed, setRevealed] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (view.sensitive.categories.length === 0) return <>{children}</>;
  const reveal = async () => {
    const result = await postJson(`/api/v1/assignments/${view.assignmentId}/reveal-content`, {});
    if (result.ok) setRevealed(true);
    else setError(result.problem.detail);
  };
  return (
    <div className="space-y-4">
      {revealed ? null : (
        <div role="region" aria-label="Sensitive content warning" data-testid="sensitive-warning" className="rounded-lg border border-amber-400 bg-amber-50 p-4 text-amber-950 dark:bg-amber-950 dark:text-amber-50">
          <p className="mb-2">
            This task was marked sensitive: <strong>{view.sensitive.categories.join(", ").replaceAll("_", " ")}</strong>. It stays blurred until you choose to see it; you may also skip it.
          </p>
          <Button type="button" onClick={() => void reveal()}>Reveal the content</Button>
          {error ? <p role="alert" className="mt-2 text-sm">{error}</p> : null}
        </div>
      )}
      <div data-testid="sensitive-content" data-blurred={revealed ? "false" : "true"} aria-hidden={revealed ? undefined : true} inert={!revealed}
        className={revealed ? "" : "pointer-events-none select-none blur-md"}>
        {children}
      </div>
    </div>
  );
}

/** After the project's minutes on tasks (counted per browser tab), a gentle reminder to pause. */
export function BreakReminder({ minutes }: { minutes: number | null }) {
  const [due, setDue] = useState(false);
  useEffect(() => {
    if (minutes === null) return;
    const key = "tandem:on-task-since";
    const since = Number(window.sessionStorage.getItem(key)) || Date.now();
    window.sessionStorage.setItem(key, String(since));
    const check = () => setDue(Date.now() - since >= minutes * 60_000);
    check();
    const timer = window.setInterval(check, 30_000);
    return () => window.clearInterval(timer);
  }, [minutes]);
  if (!due || minutes === null) return null;
  return (
    <div role="status" data-testid="break-reminder" className="rounded-lg border border-sky-300 bg-sky-50 p-3 text-sm text-sky-950 dark:bg-sky-950 dark:text-sky-50">
      You have been labeling for over {minutes} minutes. A short break helps — your task is kept.{" "}
      <button type="button" className="underline" onClick={() => {
        window.sessionStorage.setItem("tandem:on-task-since", String(Date.now()));
        setDue(false);
      }}>
        Remind me later
      </button>
    </div>
  );
}
