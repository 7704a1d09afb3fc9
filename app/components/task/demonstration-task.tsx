import { useCallback, useEffect, useRef, useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { Markdown } from "../markdown.tsx";
import { SubmitBar } from "./ranking-task.tsx";
import { submitAndContinue, type ApiProblem } from "./task-client.ts";
import { useDraft } from "./use-draft.ts";

/** Write the assistant's reply to the conversation so far, in markdown with a preview. */
export function DemonstrationTask({ view }: { view: AssignmentView }) {
  const [draft, updateDraft] = useDraft(view.assignmentId, { text: "" });
  const text = draft.text;
  const [preview, setPreview] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(Date.now());

  const change = (value: string) => updateDraft(() => ({ text: value }));

  const submit = useCallback(async () => {
    setBusy(true);
    setProblem(null);
    const failed = await submitAndContinue(view, { text }, { msOnTask: Date.now() - started.current });
    if (failed) {
      setProblem(failed);
      setBusy(false);
    }
  }, [text, view]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        void submit();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [submit]);

  return (
    <div className="space-y-3">
      <div role="tablist" aria-label="Editor mode" className="flex gap-2">
        <button type="button" role="tab" aria-selected={!preview} onClick={() => setPreview(false)}
          className={`rounded px-3 py-1 text-sm ${!preview ? "bg-brand-700 text-white" : "border border-slate-300 dark:border-slate-700"}`}>
          Write
        </button>
        <button type="button" role="tab" aria-selected={preview} onClick={() => setPreview(true)}
          className={`rounded px-3 py-1 text-sm ${preview ? "bg-brand-700 text-white" : "border border-slate-300 dark:border-slate-700"}`}>
          Preview
        </button>
      </div>
      {preview ? (
        <div className="min-h-64 rounded-md border border-slate-300 bg-white p-3 dark:border-slate-700 dark:bg-slate-900" data-testid="preview">
          {text.trim() ? <Markdown>{text}</Markdown> : <p className="text-slate-600 dark:text-slate-400">Nothing written yet.</p>}
        </div>
      ) : (
        <>
          <label htmlFor="demonstration" className="sr-only">Your reply as the assistant</label>
          <textarea
            id="demonstration"
            rows={14}
            value={text}
            onChange={(e) => change(e.target.value)}
            placeholder="Write the ideal assistant reply (markdown)…"
            className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950"
          />
        </>
      )}
      <SubmitBar problem={problem} busy={busy} onSubmit={submit} />
    </div>
  );
}
