import { useCallback, useEffect, useRef, useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import type { ConversationMessage } from "../../../trainer/contract/conversation.ts";
import { CompletionTranscript } from "../completion-transcript.tsx";
import { Markdown } from "../markdown.tsx";
import { SubmitBar } from "./ranking-task.tsx";
import { ShortcutHelp, submitShortcut } from "./shortcut-help.tsx";
import { submitAndContinue, type ApiProblem } from "./task-client.ts";
import { argumentFields, demonstrationDraftFrom, type DemonstrationDraft, type Exchange, type ToolStep } from "./redo-draft.ts";
import { useDraft } from "./use-draft.ts";

type Draft = DemonstrationDraft;

const editorClass = "w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950";

type Built = { ok: true; turns: ConversationMessage[] } | { ok: false; path: string; message: string };

/** A reply's steps as tool turns (an assistant message with the call, then the tool's result). */
function toolTurnsOf(steps: ToolStep[], where: string): Built {
  const turns: ConversationMessage[] = [];
  for (const [i, step] of steps.entries()) {
    const field = argumentFields[step.tool];
    let args: Record<string, unknown>;
    if (field) args = { [field.key]: step.input };
    else {
      try {
        args = JSON.parse(step.input || "{}") as Record<string, unknown>;
      } catch {
        args = [] as unknown as Record<string, unknown>;
      }
      if (typeof args !== "object" || args === null || Array.isArray(args)) {
        return { ok: false, path: `${where}, tool call ${i + 1}`, message: "Write the arguments as a JSON object, e.g. {\"query\": \"…\"}." };
      }
    }
    turns.push({ role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: step.tool, arguments: args } }] });
    turns.push({ role: "tool", name: step.tool, content: step.result });
  }
  return { ok: true, turns };
}

/** The server's field paths (toolTurns.3.content) in the words of this page. */
function describePath(path: string): string {
  const step = (index: string, rest: string) => `tool call ${Math.floor(Number(index) / 2) + 1}, ${Number(index) % 2 === 1 ? "result" : /expression|arguments/.test(rest) ? "input" : "call"}`;
  let match = /^toolTurns\.(\d+)(.*)$/.exec(path);
  if (match) return `Reply, ${step(match[1]!, match[2]!)}`;
  match = /^continuation\.(\d+)\.toolTurns\.(\d+)(.*)$/.exec(path);
  if (match) return `Turn ${Math.floor(Number(match[1]) / 2) + 2}, ${step(match[2]!, match[3]!)}`;
  return path;
}

/**
 * The tool calls of one reply: each call's input and the result the labeler writes, and a button
 * that inserts a call to one of the project's tools. The results are the labeler's; the server
 * may later run the tool itself (server/labeling/tool-results.server.ts).
 */
function ToolSteps({
  id, who, steps, tools, onChange, onInsert,
}: {
  id: string;
  who: string;
  steps: ToolStep[];
  tools: string[];
  onChange: (steps: ToolStep[]) => void;
  onInsert: (focusId: string) => void;
}) {
  const [tool, setTool] = useState(tools[0] ?? "");
  if (tools.length === 0) return null;
  const set = (index: number, change: Partial<ToolStep>) => onChange(steps.map((s, i) => (i === index ? { ...s, ...change } : s)));
  const insert = () => {
    onChange([...steps, { tool, input: "", result: "" }]);
    onInsert(`${id}-step-${steps.length}-input`);
  };
  return (
    <div className="space-y-2">
      {steps.map((step, i) => {
        const field = argumentFields[step.tool];
        return (
          <fieldset key={i} className="space-y-2 rounded-md border-l-4 border-amber-600 bg-amber-50 p-3 dark:border-amber-400 dark:bg-amber-950/40" data-testid={`${id}-step-${i + 1}`}>
            <legend className="px-1 text-sm font-semibold">{who}: tool call {i + 1} · {step.tool}</legend>
            <label htmlFor={`${id}-step-${i}-input`} className="block text-sm font-medium">
              {field ? `${field.label} for the ${step.tool} (call ${i + 1})` : `Arguments for ${step.tool}, a JSON object (call ${i + 1})`}
            </label>
            <input id={`${id}-step-${i}-input`} value={step.input} placeholder={field?.placeholder ?? '{"key": "value"}'}
              onChange={(e) => set(i, { input: e.target.value })} className={editorClass} />
            <label htmlFor={`${id}-step-${i}-result`} className="block text-sm font-medium">Result the {step.tool} returns (call {i + 1})</label>
            <textarea id={`${id}-step-${i}-result`} rows={2} value={step.result} onChange={(e) => set(i, { result: e.target.value })} className={editorClass} />
            <button type="button" onClick={() => onChange(steps.filter((_, j) => j !== i))} className="text-sm underline">
              Remove tool call {i + 1}
            </button>
          </fieldset>
        );
      })}
      <div className="flex flex-wrap items-center gap-2">
        {tools.length > 1 ? (
          <label className="text-sm">
            Tool{" "}
            <select value={tool} onChange={(e) => setTool(e.target.value)} className="rounded border border-slate-300 bg-white px-1 dark:border-slate-700 dark:bg-slate-950">
              {tools.map((t) => (
                <option key={t} value={t}>{t}</option>
              ))}
            </select>
          </label>
        ) : null}
        <button type="button" onClick={insert} className="rounded border border-slate-300 px-3 py-1 text-sm dark:border-slate-700">
          {tools.length > 1 ? `Insert a tool call (${who.toLowerCase()})` : `Insert a ${tool} call (${who.toLowerCase()})`}
        </button>
      </div>
    </div>
  );
}

/**
 * Write the assistant's reply to the conversation so far, in markdown with a preview, and
 * optionally go on: add the user's next message and the assistant's reply after it, as often
 * as the conversation needs (the SFT export then holds every assistant turn). Where the project
 * declares tools, a reply may first call them: the labeler writes each call's input and its
 * result, and the reply's final words follow (decision 0020).
 */
export function DemonstrationTask({ view }: { view: AssignmentView }) {
  // A sent-back redo starts from what the labeler wrote before, tool calls and later turns included
  // (decision 0044): nothing they typed is lost.
  const [draft, updateDraft] = useDraft<Draft>(view.assignmentId, view.sentBack ? demonstrationDraftFrom(view.sentBack.previous) : { text: "", turns: [] });
  const turns = draft.turns ?? [];
  const steps = draft.steps ?? [];
  const tools = view.project.tools;
  const [preview, setPreview] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(Date.now());

  // What the labeler just added takes the focus, so they can type on (a draft restored on reload
  // does not: the focus stays where the page put it).
  const lastUser = useRef<HTMLTextAreaElement | null>(null);
  const focusNewTurn = useRef(false);
  const focusId = useRef<string | null>(null);
  useEffect(() => {
    if (!focusNewTurn.current) return;
    focusNewTurn.current = false;
    lastUser.current?.focus();
  }, [turns.length]);
  useEffect(() => {
    if (!focusId.current) return;
    document.getElementById(focusId.current)?.focus();
    focusId.current = null;
  });

  const setTurn = (index: number, change: Partial<Exchange>) =>
    updateDraft((d) => ({ ...d, turns: (d.turns ?? []).map((turn, i) => (i === index ? { ...turn, ...change } : turn)) }));
  const addTurn = () => {
    updateDraft((d) => ({ ...d, turns: [...(d.turns ?? []), { user: "", assistant: "" }] }));
    setPreview(false);
    focusNewTurn.current = true;
  };
  const removeLastTurn = () => updateDraft((d) => ({ ...d, turns: (d.turns ?? []).slice(0, -1) }));
  const focusLater = (id: string) => {
    focusId.current = id;
  };

  const submit = useCallback(async () => {
    setProblem(null);
    const reply = toolTurnsOf(steps, "Reply");
    const later = turns.map((turn, i) => toolTurnsOf(turn.steps ?? [], `Turn ${i + 2}`));
    const broken = [reply, ...later].find((b): b is Extract<Built, { ok: false }> => !b.ok);
    if (broken) {
      setProblem({ status: 422, code: "validation_failed", detail: "The demonstration is not valid.", errors: [{ path: broken.path, message: broken.message }] });
      return;
    }
    setBusy(true);
    const continuation = turns.flatMap((turn, i) => {
      const own = later[i] as Extract<Built, { ok: true }>;
      return [
        { role: "user", content: turn.user },
        { role: "assistant", content: turn.assistant, ...(own.turns.length > 0 ? { toolTurns: own.turns } : {}) },
      ];
    });
    const toolTurns = (reply as Extract<Built, { ok: true }>).turns;
    const payload = { text: draft.text, ...(toolTurns.length > 0 ? { toolTurns } : {}), ...(continuation.length > 0 ? { continuation } : {}) };
    const failed = await submitAndContinue(view, payload, { msOnTask: Date.now() - started.current });
    if (failed) {
      setProblem(failed.errors ? { ...failed, errors: failed.errors.map((e) => ({ ...e, path: describePath(e.path) })) } : failed);
      setBusy(false);
    }
  }, [draft.text, steps, turns, view]);

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

  const previewOf = (text: string, replySteps: ToolStep[]) => {
    const built = toolTurnsOf(replySteps, "");
    if (!built.ok || built.turns.length === 0) return text.trim() ? <Markdown>{text}</Markdown> : null;
    return <CompletionTranscript text={text} messages={[...built.turns, { role: "assistant", content: text }]} />;
  };

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
          {previewOf(draft.text, steps) ?? <p className="text-slate-600 dark:text-slate-400">Nothing written yet.</p>}
          {turns.map((turn, i) => (
            <div key={i} className="space-y-2 border-t border-slate-200 pt-3 dark:border-slate-800">
              <p className="text-xs font-semibold uppercase">User</p>
              <p className="whitespace-pre-wrap">{turn.user}</p>
              <p className="text-xs font-semibold uppercase">Assistant</p>
              {previewOf(turn.assistant, turn.steps ?? [])}
            </div>
          ))}
        </div>
      ) : (
        <>
          <ToolSteps id="reply" who="Reply" steps={steps} tools={tools} onChange={(next) => updateDraft((d) => ({ ...d, steps: next }))} onInsert={focusLater} />
          <label htmlFor="demonstration" className={steps.length > 0 ? "block text-sm font-medium" : "sr-only"}>Your reply as the assistant</label>
          <textarea id="demonstration" rows={turns.length > 0 ? 8 : 14} value={draft.text}
            onChange={(e) => {
              const text = e.target.value;
              updateDraft((d) => ({ ...d, text }));
            }}
            placeholder={steps.length > 0 ? "The reply's final words, using the tool results above (markdown)…" : "Write the ideal assistant reply (markdown)…"} className={editorClass} />
          {turns.map((turn, i) => (
            <fieldset key={i} className="space-y-2 rounded-md border border-slate-200 p-3 dark:border-slate-800" data-testid={`turn-${i + 1}`}>
              <legend className="px-1 text-sm font-medium">Turn {i + 2}</legend>
              <label htmlFor={`turn-${i}-user`} className="block text-sm font-medium">User's next message</label>
              <textarea id={`turn-${i}-user`} rows={3} value={turn.user} ref={i === turns.length - 1 ? lastUser : undefined}
                onChange={(e) => setTurn(i, { user: e.target.value })} className={editorClass} />
              <ToolSteps id={`turn-${i}`} who={`Turn ${i + 2}`} steps={turn.steps ?? []} tools={tools} onChange={(next) => setTurn(i, { steps: next })} onInsert={focusLater} />
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
