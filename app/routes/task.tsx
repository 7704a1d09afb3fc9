import { useEffect, useRef, useState } from "react";
import { useNavigate } from "react-router";
import type { Route } from "./+types/task";
import { loadAssignmentView } from "../../server/labeling/assignment-view.server.ts";
import { AnnotationAnswer } from "../components/annotation-answer.tsx";
import { Markdown } from "../components/markdown.tsx";
import { CompareTask } from "../components/task/compare-task.tsx";
import { DemonstrationTask } from "../components/task/demonstration-task.tsx";
import { JudgeSuggestion } from "../components/task/judge-suggestion.tsx";
import { BreakReminder, SensitiveGate } from "../components/task/wellbeing.tsx";
import { RankingTask } from "../components/task/ranking-task.tsx";
import { ReviewTask } from "../components/task/review-task.tsx";
import { clearDraft, goToNextTask, postJson, setTaskNavigator } from "../components/task/task-client.ts";
import { Alert, Button } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Task · Tandem" }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  // Someone else's task is a 404 (loadAssignmentView); one of a project the person has left, a 403.
  const { user } = await requireProjectRole(context, request, { resource: "assignment", id: params.assignmentId });
  return { view: await or404(loadAssignmentView(context.db, user, params.assignmentId), "This task is not one of yours.") };
}

const roleNames = { system: "System", user: "User", assistant: "Assistant" } as const;

export default function Task({ loaderData }: Route.ComponentProps) {
  const navigate = useNavigate();
  useEffect(() => {
    setTaskNavigator((url) => navigate(url));
    return () => setTaskNavigator(null);
  }, [navigate]);
  // Keyed by the assignment: the next task (a client-side navigation to this same route) starts
  // with fresh state — its own draft, timer and keyboard handlers — as a page load would.
  return <TaskPage key={loaderData.view.assignmentId} view={loaderData.view} />;
}

type View = Route.ComponentProps["loaderData"]["view"];

function TaskPage({ view }: { view: View }) {
  // A client-side move to the next task does not reset focus the way a page load does: put it on
  // the heading, so a screen reader announces the new task and Tab starts from the top.
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // The task is on screen with its handlers attached (e2e tests and bench/next-task-bench.ts wait for it).
    document.documentElement.dataset.taskReady = view.assignmentId;
    if (!document.activeElement || document.activeElement === document.body) headingRef.current?.focus({ preventScroll: true });
  }, [view.assignmentId]);
  const [skipping, setSkipping] = useState(false);
  const [reason, setReason] = useState("");
  const [skipError, setSkipError] = useState<string | null>(null);
  const heading =
    view.taskType === "rank"
      ? "Rank the completions"
      : view.taskType === "demonstrate"
        ? "Write the assistant's reply"
        : view.taskType === "compare"
          ? "Compare two answers"
          : view.isQa
            ? "Review the answer"
            : "Review a held-back prompt";

  const skip = async () => {
    const result = await postJson(`/api/v1/assignments/${view.assignmentId}/skip`, { reason });
    if (!result.ok) return setSkipError(result.problem.detail);
    clearDraft(view.assignmentId);
    await goToNextTask(view.project.id);
  };

  return (
    <div className="grid gap-6 lg:grid-cols-[2fr_1fr]" data-project-id={view.project.id}>
      <div className="space-y-4">
        <header>
          <p className="text-sm text-slate-700 dark:text-slate-300">
            {view.project.name} · yours until {new Date(view.leaseExpiresAt).toLocaleTimeString()} · press <kbd>?</kbd> for shortcuts
          </p>
          <h1 ref={headingRef} tabIndex={-1} className="text-2xl font-semibold focus:outline-none">{heading}</h1>
        </header>
        {view.state !== "active" ? <Alert>This task is {view.state}; it can no longer be submitted.</Alert> : null}
        {view.sentBack ? (
          <section aria-label="Sent back by a reviewer" data-testid="sent-back" className="rounded-md border-l-4 border-amber-600 bg-amber-50 p-3 dark:border-amber-400 dark:bg-amber-950/40">
            <p className="text-sm font-semibold">Sent back{view.sentBack.reviewer ? ` by ${view.sentBack.reviewer}` : ""}: please redo this task.</p>
            <p className="mt-1 whitespace-pre-wrap" data-testid="sent-back-comment">{view.sentBack.comment}</p>
            <details className="mt-2 text-sm">
              <summary className="cursor-pointer">What you submitted before</summary>
              <div className="mt-2"><AnnotationAnswer taskType={view.taskType} payload={view.sentBack.previous} completions={view.completions} /></div>
            </details>
          </section>
        ) : null}
        <BreakReminder minutes={view.breakAfterMinutes} />
        <SensitiveGate view={view}>
        <section aria-label="Conversation" className="space-y-2">
          {view.messages.map((message, i) => (
            <div key={i} className="rounded-md border border-slate-200 bg-slate-100 p-3 dark:border-slate-800 dark:bg-slate-800/50">
              <p className="mb-1 text-xs font-semibold uppercase tracking-wide">{roleNames[message.role]}</p>
              <Markdown>{message.content}</Markdown>
            </div>
          ))}
        </section>
        {view.state === "active" ? <JudgeSuggestion view={view} /> : null}
        {view.taskType === "rank" ? (
          <RankingTask view={view} />
        ) : view.taskType === "demonstrate" ? (
          <DemonstrationTask view={view} />
        ) : view.taskType === "review" ? (
          <ReviewTask view={view} />
        ) : view.taskType === "compare" ? (
          <CompareTask view={view} />
        ) : (
          <Alert>This task type is not available yet.</Alert>
        )}
        </SensitiveGate>
        <div className="border-t border-slate-200 pt-3 dark:border-slate-800">
          {skipping ? (
            <div className="flex flex-wrap items-end gap-2">
              <div className="grow">
                <label htmlFor="skip-reason" className="mb-1 block text-sm font-medium">Why skip?</label>
                <input id="skip-reason" value={reason} onChange={(e) => setReason(e.target.value)}
                  className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950" />
              </div>
              <Button variant="secondary" type="button" onClick={() => void skip()}>Skip task</Button>
            </div>
          ) : (
            <Button variant="secondary" type="button" onClick={() => setSkipping(true)}>Skip…</Button>
          )}
          {skipError ? <p role="alert" className="mt-2 text-sm text-red-700 dark:text-red-400">{skipError}</p> : null}
        </div>
      </div>
      <aside>
        <details open className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
          <summary className="cursor-pointer font-semibold">Guidelines</summary>
          <div className="mt-2 text-sm">{view.project.guidelines ? <Markdown>{view.project.guidelines}</Markdown> : <p>No guidelines for this project.</p>}</div>
        </details>
      </aside>
    </div>
  );
}
