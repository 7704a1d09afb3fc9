import { diffWords } from "diff";
import { useCallback, useEffect, useRef, useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { CompletionTranscript } from "../completion-transcript.tsx";
import { Button, ProblemAlert } from "../ui.tsx";
import { ShortcutHelp } from "./shortcut-help.tsx";
import { isTyping, submitAndContinue, type ApiProblem } from "./task-client.ts";
import { useDraft } from "./use-draft.ts";

const reasonLabels = {
  factual_error: "Factual error",
  incomplete: "Incomplete",
  unclear: "Unclear",
  unsafe: "Unsafe",
  style: "Style",
  formatting: "Formatting",
  other: "Other",
} as const;
type Reason = keyof typeof reasonLabels;
type Draft = { editing: boolean; editedText: string; reasons: Reason[]; note: string };
const REASONS_REQUIRED = "Say why you edited (at least one reason).";

/** Word-level diff of the original and the correction, side by side. */
function SideBySideDiff({ original, edited }: { original: string; edited: string }) {
  const parts = diffWords(original, edited);
  return (
    <div className="grid gap-3 md:grid-cols-2" data-testid="diff">
      <div className="rounded-md border border-slate-200 p-3 text-sm whitespace-pre-wrap dark:border-slate-800">
        <p className="mb-1 text-xs font-semibold uppercase">Original</p>
        {parts.filter((p) => !p.added).map((p, i) => (p.removed ? <del key={i} className="bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-100">{p.value}</del> : <span key={i}>{p.value}</span>))}
      </div>
      <div className="rounded-md border border-slate-200 p-3 text-sm whitespace-pre-wrap dark:border-slate-800">
        <p className="mb-1 text-xs font-semibold uppercase">Corrected</p>
        {parts.filter((p) => !p.removed).map((p, i) => (p.added ? <ins key={i} className="bg-green-100 text-green-900 no-underline dark:bg-green-950 dark:text-green-100">{p.value}</ins> : <span key={i}>{p.value}</span>))}
      </div>
    </div>
  );
}

/**
 * A reviewer accepts, edits or rejects a synthetic answer (an edit becomes SFT data and the
 * pair corrected ≻ original), or accepts / rejects a prompt the content filter held back.
 */
export function ReviewTask({ view }: { view: AssignmentView }) {
  const answer = view.isQa ? view.completions[0] : undefined;
  const [draft, updateDraft] = useDraft<Draft>(view.assignmentId, { editing: false, editedText: answer?.text ?? "", reasons: [], note: "" });
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(Date.now());

  const update = (change: Partial<Draft>) => updateDraft((d) => ({ ...d, ...change }));
  // The reasons' own error, from this page's check or the server's problem document.
  const reasonsError = problem?.errors?.find((e) => e.path === "reasons" || e.path.endsWith(".reasons"))?.message ?? null;

  // A correction needs at least one reason (the server refuses it too): say so before sending.
  const reasonsMissing = draft.editing && draft.reasons.length === 0;
  const submit = useCallback(
    async (decision: "accept" | "edit" | "reject") => {
      if (decision === "edit" && draft.reasons.length === 0) {
        setProblem({ status: 422, code: "validation_failed", detail: "Nothing was saved: tick at least one reason for the correction.", errors: [{ path: "reasons", message: REASONS_REQUIRED }] });
        document.querySelector<HTMLInputElement>("#review-reasons input")?.focus();
        return;
      }
      setBusy(true);
      setProblem(null);
      const payload = decision === "edit" ? { decision, editedText: draft.editedText, reasons: draft.reasons, note: draft.note } : { decision, reasons: draft.reasons, note: draft.note };
      const failed = await submitAndContinue(view, payload, { msOnTask: Date.now() - started.current });
      if (failed) {
        setProblem(failed);
        setBusy(false);
      }
    },
    [draft, view],
  );

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        void submit(draft.editing ? "edit" : "accept");
      } else if (event.key === "e" && answer && !draft.editing && !isTyping(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        update({ editing: true });
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <div className="space-y-4">
      <ShortcutHelp
        shortcuts={[
          { keys: <><kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>Enter</kbd></>, does: "accept the answer, or save the correction while editing" },
          ...(answer ? [{ keys: <kbd>e</kbd>, does: "edit the answer (outside a text field)" }] : []),
        ]}
      />
      {answer ? (
        <section aria-label="Answer to review" className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
          <h2 className="mb-2 font-semibold">Model's answer</h2>
          {draft.editing ? (
            <>
              {answer.messages && answer.messages.length > 1 ? (
                <div className="mb-3 space-y-1">
                  <p className="text-sm font-medium">Tool use (kept as it is; you correct the final words)</p>
                  <CompletionTranscript text="" messages={answer.messages.slice(0, -1)} steps />
                </div>
              ) : null}
              <label htmlFor="edited-answer" className="mb-1 block text-sm font-medium">{answer.messages ? "Corrected final answer" : "Corrected answer"}</label>
              <textarea id="edited-answer" rows={10} value={draft.editedText} onChange={(e) => update({ editedText: e.target.value })}
                className="mb-3 w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950" />
              <SideBySideDiff original={answer.text} edited={draft.editedText} />
            </>
          ) : (
            <CompletionTranscript text={answer.text} messages={answer.messages} />
          )}
        </section>
      ) : (
        <p className="text-sm">
          The content filter held this prompt back{view.completions.length ? ` (with ${view.completions.length} completions)` : ""}. Accept it to send it to labelers, or reject it.
        </p>
      )}
      <fieldset id="review-reasons" className="rounded-lg border border-slate-200 p-4 dark:border-slate-800" aria-describedby={reasonsError ? "review-reasons-error" : undefined}>
        <legend className="px-1 text-sm font-medium">
          Reasons{" "}
          {draft.editing ? (
            <span data-testid="reasons-required">
              <span aria-hidden="true" className="text-red-700 dark:text-red-400">*</span> required for a correction: at least one
            </span>
          ) : (
            <span className="font-normal">(optional)</span>
          )}
        </legend>
        {reasonsError ? (
          <p id="review-reasons-error" className="mb-2 text-sm text-red-700 dark:text-red-400">
            {reasonsError}
          </p>
        ) : null}
        <div className="flex flex-wrap gap-3">
          {(Object.keys(reasonLabels) as Reason[]).map((reason) => (
            <label key={reason} className="flex items-center gap-1 text-sm">
              <input
                type="checkbox"
                aria-invalid={reasonsError ? true : undefined}
                checked={draft.reasons.includes(reason)}
                onChange={(e) => {
                  update({ reasons: e.target.checked ? [...draft.reasons, reason] : draft.reasons.filter((r) => r !== reason) });
                  if (reasonsError) setProblem(null);
                }}
              />
              {reasonLabels[reason]}
            </label>
          ))}
        </div>
        <label htmlFor="review-note" className="mt-3 mb-1 block text-sm font-medium">Note (optional)</label>
        <input id="review-note" value={draft.note} onChange={(e) => update({ note: e.target.value })}
          className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950" />
      </fieldset>
      {/* Every decision in one row, and what went wrong right under it (not at the top of the page). */}
      <div className="min-h-24" data-testid="review-actions">
        <div className="flex flex-wrap items-center gap-2">
          <Button type="button" onClick={() => void submit(draft.editing ? "edit" : "accept")} disabled={busy} aria-describedby={problem ? "review-problem" : undefined}>
            {busy ? "Submitting…" : draft.editing ? "Save the correction (Ctrl+Enter)" : "Accept (Ctrl+Enter)"}
          </Button>
          {answer && !draft.editing ? (
            <button type="button" onClick={() => update({ editing: true })} className="rounded-md border border-slate-300 px-3 py-2 text-sm dark:border-slate-700">
              Edit the answer
            </button>
          ) : null}
          <button type="button" onClick={() => void submit("reject")} disabled={busy} aria-describedby={problem ? "review-problem" : undefined} className="rounded-md bg-red-700 px-3 py-2 text-sm text-white">
            Reject
          </button>
          {reasonsMissing ? <span className="text-sm">Tick a reason above to save the correction.</span> : null}
        </div>
        {problem ? (
          <div id="review-problem" className="mt-2">
            <ProblemAlert problem={problem} />
          </div>
        ) : null}
      </div>
    </div>
  );
}
