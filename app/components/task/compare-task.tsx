import { useCallback, useEffect, useRef, useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { CompletionTranscript } from "../completion-transcript.tsx";
import { SubmitBar } from "./ranking-task.tsx";
import { isTyping, submitAndContinue, type ApiProblem } from "./task-client.ts";
import { ShortcutHelp, submitShortcut } from "./shortcut-help.tsx";
import { useDraft } from "./use-draft.ts";

type Choice = "A" | "B" | "tie";
type Draft = { choice: Choice | null; strength: number | null; rationale: string };

/** Two answers side by side (sides drawn at random per person): A, B or a tie, with strength. */
export function CompareTask({ view }: { view: AssignmentView }) {
  const [draft, updateDraft] = useDraft<Draft>(view.assignmentId, { choice: null, strength: null, rationale: "" });
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(Date.now());

  // A tie has no strength.
  const update = (change: Partial<Draft>) => updateDraft((d) => ({ ...d, ...change, ...(change.choice === "tie" ? { strength: null } : {}) }));

  const submit = useCallback(async () => {
    if (!draft.choice) {
      setProblem({ status: 0, code: "validation_failed", detail: "Choose A, B or tie first." });
      return;
    }
    setBusy(true);
    setProblem(null);
    const payload = { choice: draft.choice, rationale: draft.rationale, ...(draft.strength && draft.choice !== "tie" ? { strength: draft.strength } : {}) };
    const failed = await submitAndContinue(view, payload, { msOnTask: Date.now() - started.current });
    if (failed) {
      setProblem(failed);
      setBusy(false);
    }
  }, [draft, view]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        void submit();
        return;
      }
      if (isTyping(event.target)) return;
      const key = event.key.toLowerCase();
      if (key === "a") update({ choice: "A" });
      else if (key === "b") update({ choice: "B" });
      else if (key === "t") update({ choice: "tie" });
      else if (/^[1-3]$/.test(key) && draft.choice && draft.choice !== "tie") update({ strength: Number(key) });
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <div className="space-y-4">
      <ShortcutHelp
        shortcuts={[
          { keys: <><kbd>A</kbd> / <kbd>B</kbd></>, does: "that answer is better" },
          { keys: <kbd>T</kbd>, does: "about the same (tie)" },
          { keys: <><kbd>1</kbd>–<kbd>3</kbd></>, does: "how much better: slightly, clearly, much" },
          submitShortcut,
        ]}
      />
      <div className="grid gap-4 md:grid-cols-2">
        {view.completions.slice(0, 2).map((c) => (
          <section key={c.id} aria-label={`Answer ${c.label}`} data-testid={`answer-${c.label}`}
            className={`rounded-lg border bg-white p-4 dark:bg-slate-900 ${draft.choice === c.label ? "border-brand-600 ring-2 ring-brand-600" : "border-slate-200 dark:border-slate-800"}`}>
            <h2 className="mb-2 text-lg font-bold">{c.label}</h2>
            <CompletionTranscript text={c.text} messages={c.messages} />
          </section>
        ))}
      </div>
      <fieldset className="rounded-lg border border-slate-200 p-4 dark:border-slate-800">
        <legend className="px-1 text-sm font-medium">Which answer is better? (keys A, B, T)</legend>
        <div className="flex flex-wrap gap-4">
          {(["A", "B", "tie"] as const).map((choice) => (
            <label key={choice} className="flex items-center gap-1">
              <input type="radio" name="choice" checked={draft.choice === choice} onChange={() => update({ choice })} />
              {choice === "tie" ? "About the same (tie)" : `${choice} is better`}
            </label>
          ))}
        </div>
        <label className="mt-3 block text-sm">
          How much better{" "}
          <select value={draft.strength ?? ""} disabled={!draft.choice || draft.choice === "tie"}
            onChange={(e) => update({ strength: e.target.value ? Number(e.target.value) : null })}
            className="rounded border border-slate-300 bg-white px-1 dark:border-slate-700 dark:bg-slate-950">
            <option value="">not given</option>
            <option value="1">slightly</option>
            <option value="2">clearly</option>
            <option value="3">much</option>
          </select>
        </label>
        <label htmlFor="compare-rationale" className="mt-3 mb-1 block text-sm font-medium">Rationale (optional)</label>
        <textarea id="compare-rationale" rows={2} value={draft.rationale} onChange={(e) => update({ rationale: e.target.value })}
          className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950" />
      </fieldset>
      <SubmitBar problem={problem} busy={busy} onSubmit={() => void submit()} />
    </div>
  );
}
