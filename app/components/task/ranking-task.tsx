import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { CompletionTranscript } from "../completion-transcript.tsx";
import { Button, ProblemAlert } from "../ui.tsx";
import { isTyping, submitAndContinue, type ApiProblem } from "./task-client.ts";
import { emptyRankingDraft, rankingDraftFrom, type RankingDraft } from "./redo-draft.ts";
import { useDraft } from "./use-draft.ts";
import { ShortcutHelp, submitShortcut } from "./shortcut-help.tsx";
import { insertAt, tieWith, tiersOf, unrank, unranked, type Slots } from "./ranking-slots.ts";

type Draft = RankingDraft;

const strengthLabels = { 1: "slightly better", 2: "clearly better", 3: "much better" } as const;

/** A digit key's rank, by physical key so Shift+2 is still 2 on any layout; null for other keys. */
function digitOf(event: KeyboardEvent): number | null {
  const match = /^(?:Digit|Numpad)([1-9])$/.exec(event.code) ?? /^([1-9])$/.exec(event.key);
  return match ? Number(match[1]) : null;
}

export function RankingTask({ view }: { view: AssignmentView }) {
  const ids = view.completions.map((c) => c.id);
  const K = ids.length;
  // Nothing is ranked at first: ranks pre-filled in the shown order anchor people to that order. A
  // sent-back redo starts from the labeler's own earlier ranking instead (decision 0044).
  const initial: Draft = view.sentBack ? rankingDraftFrom(view.sentBack.previous, ids) : emptyRankingDraft();
  const [draft, update] = useDraft<Draft>(view.assignmentId, initial);
  const [focused, setFocused] = useState(0);
  const [expanded, setExpanded] = useState<string[]>([]);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(Date.now());
  const cards = useRef<Array<HTMLElement | null>>([]);


  const tiers = useMemo(() => tiersOf(ids, draft.ranks), [ids, draft.ranks]);
  const missing = useMemo(() => unranked(ids, draft.ranks), [ids, draft.ranks]);
  // Every change of the order clears the strengths: they belong to the gaps between tiers.
  const rearrange = (change: (slots: Slots) => Record<string, number>) => {
    setProblem(null);
    update((d) => ({ ...d, ranks: change(d.ranks), strengths: {} }));
  };
  const labelOf = (id: string) => view.completions.find((c) => c.id === id)?.label ?? "?";

  const submit = useCallback(async () => {
    if (!draft.notRankable && missing.length > 0) {
      setProblem({
        status: 422,
        code: "validation_failed",
        detail: `Rank every completion first: ${missing.map(labelOf).join(", ")} ${missing.length === 1 ? "has" : "have"} no rank yet. Or tick "None is acceptable".`,
      });
      cards.current[ids.indexOf(missing[0]!)]?.focus();
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
      // orderChanged: the submitted order is not simply the shown one (a sign of an anchored labeler).
      { msOnTask: Date.now() - started.current, expanded, orderChanged: !(tiers.length === K && tiers.every((tier, i) => tier[0] === ids[i])) },
    );
    if (failed) {
      setProblem(failed);
      setBusy(false);
    }
  }, [draft, missing, tiers, ids, view, expanded, K]);

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
      } else if (event.key === "Backspace" || event.key === "Delete" || event.key === "0") {
        event.preventDefault();
        rearrange((slots) => unrank(slots, ids[focused]!));
      } else if (!event.ctrlKey && !event.metaKey && !event.altKey) {
        const rank = digitOf(event);
        if (rank === null || rank > K) return;
        event.preventDefault();
        // N inserts at rank N (the rest renumbered); Shift+N ties with whoever holds N.
        rearrange((slots) => (event.shiftKey ? tieWith(slots, ids[focused]!, rank, K) : insertAt(slots, ids[focused]!, rank, K)));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  // Drag a chip onto a tier (tie with it) or onto the gap after one (insert there).
  const onDrop = (rank: number, tie: boolean) => (event: React.DragEvent) => {
    event.preventDefault();
    const id = event.dataTransfer.getData("text/plain");
    if (ids.includes(id)) rearrange((slots) => (tie ? tieWith(slots, id, rank, K) : insertAt(slots, id, rank, K)));
  };
  const summary = tiers.map((tier) => `${draft.ranks[tier[0]!]}. ${tier.map(labelOf).join(" = ")}`).join("   ");

  return (
    <div className="space-y-4">
      <ShortcutHelp
        shortcuts={[
          { keys: <><kbd>↑</kbd>/<kbd>↓</kbd> or <kbd>k</kbd>/<kbd>j</kbd></>, does: "move between completions" },
          { keys: <><kbd>1</kbd>–<kbd>{K}</kbd></>, does: "put the focused completion at that rank (the others move down)" },
          { keys: <><kbd>Shift</kbd>+<kbd>1</kbd>–<kbd>{K}</kbd></>, does: "tie the focused completion with that rank" },
          { keys: <><kbd>0</kbd> or <kbd>Backspace</kbd></>, does: "take the focused completion's rank away" },
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
              aria-label={`Completion ${c.label}, ${draft.ranks[c.id] === undefined ? "not ranked yet" : `rank ${draft.ranks[c.id]}`}`}
              className={`rounded-lg border bg-white p-4 dark:bg-slate-900 ${focused === index ? "border-brand-600 ring-2 ring-brand-600" : "border-slate-200 dark:border-slate-800"}`}
            >
              <div className="mb-2 flex flex-wrap items-center gap-3">
                <span className="text-lg font-bold">{c.label}</span>
                <label className="text-sm">
                  Rank{" "}
                  <select
                    value={draft.ranks[c.id] ?? ""}
                    onChange={(e) => rearrange((slots) => (e.target.value === "" ? unrank(slots, c.id) : insertAt(slots, c.id, Number(e.target.value), K)))}
                    className="rounded border border-slate-300 bg-white px-1 dark:border-slate-700 dark:bg-slate-950"
                  >
                    <option value="">–</option>
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
        {missing.length > 0 ? (
          <div onDragOver={(e) => e.preventDefault()} onDrop={onDrop(tiers.length === 0 ? 1 : draft.ranks[tiers[tiers.length - 1]![0]!]! + 1, false)}
            className="mb-2 rounded border border-dashed border-slate-300 p-2 text-sm dark:border-slate-700" data-testid="unranked">
            Not ranked yet:{" "}
            {missing.map((id) => (
              <span key={id} draggable onDragStart={(e) => e.dataTransfer.setData("text/plain", id)} className="mr-1 cursor-grab rounded bg-slate-200 px-2 py-1 font-semibold dark:bg-slate-700">
                {labelOf(id)}
              </span>
            ))}
          </div>
        ) : null}
        <ol className="space-y-1" data-testid="tiers">
          {tiers.map((tier, t) => {
            const rank = draft.ranks[tier[0]!]!;
            return (
              <li key={t}>
                <div
                  onDragOver={(e) => e.preventDefault()}
                  onDrop={onDrop(rank, true)}
                  className="flex min-h-10 items-center gap-2 rounded border border-dashed border-slate-300 p-2 dark:border-slate-700"
                  data-testid={`tier-${t + 1}`}
                >
                  <span className="w-6 text-sm font-semibold">{rank}.</span>
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
                    onDrop={onDrop(rank + 1, false)}
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

      {/* The summary and the submit button stay in view (at 1280×720 too) while the cards scroll. */}
      <div className="sticky bottom-0 z-10 border-t border-slate-200 bg-white/95 px-1 pt-2 dark:border-slate-800 dark:bg-slate-950/95" data-testid="ranking-summary">
        <p className="mb-2 text-sm" aria-live="polite">
          <span className="font-semibold">Ranking: </span>
          {draft.notRankable ? "none is acceptable" : tiers.length === 0 ? "nothing ranked yet" : summary}
          {!draft.notRankable && missing.length > 0 && tiers.length > 0 ? ` — not ranked: ${missing.map(labelOf).join(", ")}` : ""}
        </p>
        <SubmitBar problem={problem} busy={busy} onSubmit={() => void submit()} />
      </div>
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
