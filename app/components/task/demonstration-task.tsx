import { useCallback, useEffect, useRef, useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { Markdown } from "../markdown.tsx";
import { SubmitBar } from "./ranking-task.tsx";
import { ShortcutHelp, submitShortcut } from "./shortcut-help.tsx";
import { submitAndContinue, type ApiProblem } from "./task-client.ts";
import { useDraft } from "./use-draft.ts";

/** One more exchange after the reply: the user's next message and the assistant's answer to it. */
type Exchange = { user: string; assistant: string };
// `turns` is optional because drafts saved before multi-turn demonstrations have only `text`.
type Draft = { text: string; turns?: Exchange[] };

const editorClass = "w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950";

/**
 * Write the assistant's reply to the conversation so far, in markdown with a preview, and
 * optionally go on: add the user's next message and the assistant's reply after it, as often
 * as the conversation needs (the SFT export then holds every assistant turn).
 */
export function DemonstrationTask({ view }: { view: AssignmentView }) {
  const [draft, updateDraft] = useDraft<Draft>(view.assignmentId, { text: "", turns: [] });
  const turns = draft.turns ?? [];
  const [preview, setPreview] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(Date.now());

  // An exchange the labeler just added takes the focus, so they can type on (a draft restored
  // on reload does not: the focus stays where the page put it).
  const lastUser = useRef<HTMLTextAreaElement | null>(null);
  const focusNewTurn = useRef(false);
  useEffect(() => {
    if (!focusNewTurn.current) return;
    focusNewTurn.current = false;
    lastUser.current?.focus();
  }, [turns.length]);

  const setTurn = (index: number, change: Partial<Exchange>) =>
    updateDraft((d) => ({ ...d, turns: (d.turns ?? []).map((turn, i) => (i === index ? { ...turn, ...change } : turn)) }));
  const addTurn = () => {
    updateDraft((d) => ({ ...d, turns: [...(d.turns ?? []), { user: "", assistant: "" }] }));
    setPreview(false);
    focusNewTurn.current = true;
  };
  const removeLastTurn = () => updateDraft((d) => ({ ...d, turns: (d.turns ?? []).slice(0, -1) }));

  const submit = useCallback(async () => {
    setBusy(true);
    setProblem(null);
    const continuation = turns.flatMap((turn) => [
      { role: "user", content: turn.user },
      { role: "assistant", content: turn.assistant },
    ]);
    const payload = continuation.length > 0 ? { text: draft.text, continuation } : { text: draft.text };
    const failed = await submitAndContinue(view, payload, { msOnTask: Date.now() - started.current });
    if (failed) {
      setProblem(failed);
      setBusy(false);
    }
  }, [draft.text, turns, view]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        void submit();
      } else if ((event.ctrlKey || event.metaKey) && event.shiftKey && event.key.toLowerCase() === "u") {
        event.preventDefault();
        addTurn();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center justify-between gap-2">
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
        <ShortcutHelp
          shortcuts={[
            submitShortcut,
            { keys: <><kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>Shift</kbd>+<kbd>U</kbd></>, does: "continue the conversation: add the user's next message and a reply" },
          ]}
        />
      </div>
      {preview ? (
        <div className="min-h-64 space-y-3 rounded-md border border-slate-300 bg-white p-3 dark:border-slate-700 dark:bg-slate-900" data-testid="preview">
          {draft.text.trim() ? <Markdown>{draft.text}</Markdown> : <p className="text-slate-600 dark:text-slate-400">Nothing written yet.</p>}
          {turns.map((turn, i) => (
            <div key={i} className="space-y-2 border-t border-slate-200 pt-3 dark:border-slate-800">
              <p className="text-xs font-semibold uppercase">User</p>
              <p className="whitespace-pre-wrap">{turn.user}</p>
              <p className="text-xs font-semibold uppercase">Assistant</p>
              <Markdown>{turn.assistant}</Markdown>
            </div>
          ))}
        </div>
      ) : (
        <>
          <label htmlFor="demonstration" className="sr-only">Your reply as the assistant</label>
          <textarea id="demonstration" rows={turns.length > 0 ? 8 : 14} value={draft.text}
            onChange={(e) => {
              const text = e.target.value;
              updateDraft((d) => ({ ...d, text }));
            }}
            placeholder="Write the ideal assistant reply (markdown)…" className={editorClass} />
          {turns.map((turn, i) => (
            <fieldset key={i} className="space-y-2 rounded-md border border-slate-200 p-3 dark:border-slate-800" data-testid={`turn-${i + 1}`}>
              <legend className="px-1 text-sm font-medium">Turn {i + 2}</legend>
              <label htmlFor={`turn-${i}-user`} className="block text-sm font-medium">User's next message</label>
              <textarea id={`turn-${i}-user`} rows={3} value={turn.user} ref={i === turns.length - 1 ? lastUser : undefined}
                onChange={(e) => setTurn(i, { user: e.target.value })} className={editorClass} />
              <label htmlFor={`turn-${i}-assistant`} className="block text-sm font-medium">Assistant's reply</label>
              <textarea id={`turn-${i}-assistant`} rows={6} value={turn.assistant}
                onChange={(e) => setTurn(i, { assistant: e.target.value })} placeholder="The ideal reply to that message (markdown)…" className={editorClass} />
              {i === turns.length - 1 ? (
                <button type="button" onClick={removeLastTurn} className="text-sm underline">Remove this turn</button>
              ) : null}
            </fieldset>
          ))}
          <button type="button" onClick={addTurn} className="rounded border border-slate-300 px-3 py-1 text-sm dark:border-slate-700">
            Continue the conversation
          </button>
        </>
      )}
      <SubmitBar problem={problem} busy={busy} onSubmit={submit} />
    </div>
  );
}
