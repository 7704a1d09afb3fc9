import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { CompletionTranscript } from "../completion-transcript.tsx";
import { Button, ProblemAlert } from "../ui.tsx";
import { isTyping, submitAndContinue, type ApiProblem } from "./task-client.ts";
import { useDraft } from "./use-draft.ts";
import { ShortcutHelp, submitShortcut } from "./shortcut-help.tsx";

type Draft = {
  ranks: Record<string, number>;
  strengths: Record<number, number>;
  quality: Record<string, number>;
  flags: Record<string, string[]>;
  rationale: string;
  notRankable: boolean;
  changed: boolean;
};

const strengthLabels = { 1: "slightly better", 2: "clearly better", 3: "much better" } as const;

/** Tiers from ranks: equal numbers share a tier (a tie); best (lowest number) first. */
export function tiersFromRanks(ids: string[], ranks: Record<string, number>): string[][] {
  const values = [...new Set(ids.map((id) => ranks[id]!))].sort((a, b) => a - b);
  return values.map((value) => ids.filter((id) => ranks[id] === value));
}

export function RankingTask({ view }: { view: AssignmentView }) {
  const ids = view.completions.map((c) => c.id);
  const K = ids.length;
  const initial: Draft = {
    ranks: Object.fromEntries(ids.map((id, i) => [id, i + 1])),
    strengths: {},
    quality: {},
    flags: {},
    rationale: "",
    notRankable: false,
    changed: false,
  };
  const [draft, update] = useDraft<Draft>(view.assignmentId, initial);
  const [focused, setFocused] = useState(0);
  const [expanded, setExpanded] = useState<string[]>([]);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [confirmUnchanged, setConfirmUnchanged] = useState(false);
  const [busy, setBusy] = useState(false);
  const started = useRef(Date.now());
  const cards = useRef<Array<HTMLElement | null>>([]);


  const tiers = useMemo(() => tiersFromRanks(ids, draft.ranks), [ids, draft.ranks]);
  const setRank = (id: string, rank: number) =>
    update((d) => {
      const ranks = { ...d.ranks, [id]: rank };
      // A drop between tiers gives a fractional rank: renumber the tiers 1, 2, 3 …
      if (!Number.isInteger(rank)) tiersFromRanks(ids, ranks).forEach((tier, i) => tier.forEach((member) => (ranks[member] = i + 1)));
      return { ...d, ranks, changed: true, strengths: {} };
    });
  const labelOf = (id: string) => view.completions.find((c) => c.id === id)?.label ?? "?";

  const submit = useCallback(async () => {
    if (!draft.changed && !draft.notRankable && !confirmUnchanged) {
      setConfirmUnchanged(true);
      return;
    }
    setBusy(true);
    setProblem(null);
    const gaps = tiers.length - 1;
    const strengths = Array.from({ length: gaps }, (_, i) => draft.strengths[i]);
    const ranking = draft.notRankable
      ? { tiers: [ids], notRankable: true }
      : { tiers, ...(gaps > 0 && strengths.every((s) => s !== undefined) ? { strengths } : {}) };
    const failed = await submitAndContinue(
      view,
      { ranking, quality: draft.quality, flags: draft.flags, rationale: draft.rationale },
      { msOnTask: Date.now() - started.current, expanded, orderChanged: draft.changed },
    );
    if (failed) {
      setProblem(failed);
      setBusy(false);
    }
  }, [draft, confirmUnchanged, tiers, ids, view, expanded]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        void submit();
        return;
      }
      if (isTyping(event.target)) return;
      if (event.key === "ArrowDown" || event.key === "j") {
        event.preventDefault();
        const next = Math.min(K - 1, focused + 1);
        cards.current[next]?.focus();
      } else if (event.key === "ArrowUp" || event.key === "k") {
        event.preventDefault();
        const prev = Math.max(0, focused - 1);
        cards.current[prev]?.focus();
      } else if (/^[1-9]$/.test(event.key) && Number(event.key) <= K) {
        setRank(ids[focused]!, Number(event.key));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  // Drag a chip onto a tier (tie with it) or onto a gap (a new tier there).
  const onDropOnRank = (rank: number) => (event: React.DragEvent) => {
    event.preventDefault();
    const id = event.dataTransfer.getData("text/plain");
    if (ids.includes(id)) setRank(id, rank);
  };

  return (
    <div className="space-y-4">
      <ShortcutHelp
        shortcuts={[
          { keys: <><kbd>↑</kbd>/<kbd>↓</kbd> or <kbd>k</kbd>/<kbd>j</kbd></>, does: "move between completions" },
          { keys: <><kbd>1</kbd>–<kbd>{K}</kbd></>, does: "give the focused completion that rank (equal numbers tie)" },
          submitShortcut,
        ]}
      />
      <ol className="space-y-3" aria-label="Completions">
        {view.completions.map((c, index) => {
          const isExpanded = expanded.includes(c.id);
          return (
            <li
              key={c.id}
              ref={(el) => {
                cards.current[index] = el;
              }}
              tabIndex={0}
              onFocus={() => setFocused(index)}
              data-testid={`completion-${c.label}`}
              aria-label={`Completion ${c.label}, rank ${draft.ranks[c.id]}`}
              className={`rounded-lg border bg-white p-4 dark:bg-slate-900 ${focused === index ? "border-brand-600 ring-2 ring-brand-600" : "border-slate-200 dark:border-slate-800"}`}
            >
              <div className="mb-2 flex flex-wrap items-center gap-3">
                <span className="text-lg font-bold">{c.label}</span>
                <label className="text-sm">
                  Rank{" "}
                  <select
                    value={draft.ranks[c.id]}
                    onChange={(e) => setRank(c.id, Number(e.target.value))}
                    className="rounded border border-slate-300 bg-white px-1 dark:border-slate-700 dark:bg-slate-950"
                  >
                    {ids.map((_, r) => (
                      <option key={r} value={r + 1}>
                        {r + 1}
                      </option>
                    ))}
                  </select>
                </label>
                <label className="text-sm">
                  Quality{" "}
                  <select
                    value={draft.quality[c.id] ?? ""}
                    onChange={(e) =>
                      update((d) => {
                        const quality = { ...d.quality };
                        if (e.target.value === "") delete quality[c.id];
                        else quality[c.id] = Number(e.target.value);
                        return { ...d, quality };
                      })
                    }
                    className="rounded border border-slate-300 bg-white px-1 dark:border-slate-700 dark:bg-slate-950"
                  >
                    <option value="">–</option>
                    {Array.from({ length: view.project.quality.max - view.project.quality.min + 1 }, (_, i) => view.project.quality.min + i).map((q) => (
                      <option key={q} value={q}>
                        {q}
                      </option>
                    ))}
                  </select>
                </label>
                <button
                  type="button"
                  className="ml-auto text-sm text-brand-700 underline dark:text-brand-50"
                  aria-expanded={isExpanded}
                  onClick={() => setExpanded((e) => (e.includes(c.id) ? e : [...e, c.id]))}
                >
                  {isExpanded ? "Expanded" : "Expand"}
                </button>
              </div>
              <div
                tabIndex={0}
                aria-label={`Text of completion ${c.label}`}
                className={isExpanded ? "" : "max-h-64 overflow-y-auto"}
              >
                <CompletionTranscript text={c.text} messages={c.messages} />
              </div>
              <details className="mt-2 text-sm">
                <summary className="cursor-pointer">Flags{(draft.flags[c.id]?.length ?? 0) > 0 ? ` (${draft.flags[c.id]!.length})` : ""}</summary>
                <fieldset className="mt-2 grid gap-1 sm:grid-cols-2">
                  <legend className="sr-only">Flags for completion {c.label}</legend>
                  {view.project.flags.map((flag) => (
                    <label key={flag.id} className="flex items-start gap-2">
                      <input
                        type="checkbox"
                        checked={draft.flags[c.id]?.includes(flag.id) ?? false}
                        onChange={(e) =>
                          update((d) => {
                            const current = new Set(d.flags[c.id] ?? []);
                            if (e.target.checked) current.add(flag.id);
                            else current.delete(flag.id);
                            return { ...d, flags: { ...d.flags, [c.id]: [...current] } };
                          })
                        }
                      />
                      {flag.label}
                    </label>
                  ))}
                </fieldset>
              </details>
            </li>
          );
        })}
      </ol>

      <section aria-label="Your ranking" className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
        <h2 className="mb-2 font-semibold">Your ranking (best first; drag to reorder or tie)</h2>
        <ol className="space-y-1" data-testid="tiers">
          {tiers.map((tier, t) => {
            const rank = draft.ranks[tier[0]!]!;
            return (
              <li key={t}>
                <div
                  onDragOver={(e) => e.preventDefault()}
                  onDrop={onDropOnRank(rank)}
                  className="flex min-h-10 items-center gap-2 rounded border border-dashed border-slate-300 p-2 dark:border-slate-700"
                  data-testid={`tier-${t + 1}`}
                >
                  <span className="w-6 text-sm font-semibold">{t + 1}.</span>
                  {tier.map((id) => (
                    <span
                      key={id}
                      draggable
                      onDragStart={(e) => e.dataTransfer.setData("text/plain", id)}
                      className="cursor-grab rounded bg-slate-200 px-2 py-1 font-semibold dark:bg-slate-700"
                    >
                      {labelOf(id)}
                    </span>
                  ))}
                  {tier.length > 1 ? <span className="text-sm">(tie)</span> : null}
                </div>
                {t < tiers.length - 1 ? (
                  <div
                    onDragOver={(e) => e.preventDefault()}
                    onDrop={onDropOnRank(rank + 0.5)}
                    className="flex items-center gap-2 py-1 pl-8 text-sm"
                  >
                    <label>
                      <span className="sr-only">How much better is tier {t + 1} than tier {t + 2}</span>
                      <select
                        value={draft.strengths[t] ?? ""}
                        onChange={(e) =>
                          update((d) => {
                            const strengths = { ...d.strengths };
                            if (e.target.value === "") delete strengths[t];
                            else strengths[t] = Number(e.target.value);
                            return { ...d, strengths };
                          })
                        }
                        className="rounded border border-slate-300 bg-white px-1 dark:border-slate-700 dark:bg-slate-950"
                      >
                        <option value="">better (strength not given)</option>
                        {Object.entries(strengthLabels).map(([value, label]) => (
                          <option key={value} value={value}>
                            {label}
                          </option>
                        ))}
                      </select>
                    </label>
                  </div>
                ) : null}
              </li>
            );
          })}
        </ol>
        <label className="mt-3 flex items-center gap-2 text-sm">
          <input type="checkbox" checked={draft.notRankable} onChange={(e) => update((d) => ({ ...d, notRankable: e.target.checked }))} />
          None is acceptable / I cannot rank these
        </label>
        <div className="mt-3">
          <label htmlFor="rationale" className="mb-1 block text-sm font-medium">Rationale (optional)</label>
          <textarea
            id="rationale"
            rows={3}
            value={draft.rationale}
            onChange={(e) => update((d) => ({ ...d, rationale: e.target.value }))}
            className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950"
          />
        </div>
      </section>

      <SubmitBar problem={problem} busy={busy} confirmUnchanged={confirmUnchanged} onSubmit={submit} />
    </div>
  );
}

export function SubmitBar({
  problem,
  busy,
  confirmUnchanged,
  onSubmit,
  label = "Submit (Ctrl+Enter)",
}: {
  problem: ApiProblem | null;
  busy: boolean;
  confirmUnchanged?: boolean;
  onSubmit: () => void;
  label?: string;
}) {
  return (
    <div className="min-h-24">
      {problem ? <ProblemAlert problem={problem} /> : null}
      {confirmUnchanged ? <p role="status" className="mb-2 text-sm font-medium">You did not change the shown order. Submit it as your ranking anyway?</p> : null}
      <Button type="button" onClick={onSubmit} disabled={busy}>
        {busy ? "Submitting…" : confirmUnchanged ? "Yes, submit this order" : label}
      </Button>
    </div>
  );
}
