import { useEffect, useRef, useState } from "react";
import { Link, useRevalidator } from "react-router";
import type { Route } from "./+types/project-annotation-review";
import { getProject } from "../../server/labeling/projects.server.ts";
import { annotationReviewSummary, heldAnnotationReview, type AnnotationReviewView } from "../../server/labeling/annotation-review.server.ts";
import { AnnotationAnswer } from "../components/annotation-answer.tsx";
import { CompletionTranscript } from "../components/completion-transcript.tsx";
import { Markdown } from "../components/markdown.tsx";
import { postJson, type ApiProblem } from "../components/task/task-client.ts";
import { Alert, Button, Card, PageTitle, ProblemAlert } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `Review annotations · ${data?.project.name ?? "Project"} · Tandem` }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { user } = await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  // Reading only: a submission is taken with "Next submission" (a POST), never by loading the page.
  const [held, summary] = await Promise.all([heldAnnotationReview(context.db, user.id, project.id), annotationReviewSummary(context.db, project.id)]);
  return { project: { id: project.id, name: project.name }, held, summary };
}

type Mode = "random" | "agreement" | "labeler";
const modes: Array<{ value: Mode; label: string }> = [
  { value: "random", label: "Random" },
  { value: "agreement", label: "Lowest agreement first" },
  { value: "labeler", label: "By labeler" },
];
const decisionNames = { accept: "accepted", override: "overridden", send_back: "sent back" } as const;
const inputClass = "w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950";
const roleNames: Record<string, string> = { system: "System", user: "User", assistant: "Assistant" };

/** Typing in a field must never trigger a shortcut (a radio button or checkbox takes no text: keys still work there). */
function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target instanceof HTMLInputElement) return !["radio", "checkbox", "button", "submit"].includes(target.type);
  return target.isContentEditable || ["TEXTAREA", "SELECT"].includes(target.tagName);
}

/** The labeler's ranking as a rank number per completion (ties share one), the editor's starting point. */
function ranksOf(review: AnnotationReviewView): Record<string, string> {
  const tiers = (review.submission.payload.ranking as { tiers?: string[][] } | undefined)?.tiers ?? [];
  const out: Record<string, string> = {};
  tiers.forEach((tier, i) => tier.forEach((id) => (out[id] = String(i + 1))));
  return out;
}

/** Rank numbers back to tiers, best first; equal numbers tie. */
function tiersOf(ranks: Record<string, string>): string[][] {
  const groups = new Map<number, string[]>();
  for (const [id, value] of Object.entries(ranks)) {
    const n = Number(value);
    groups.set(n, [...(groups.get(n) ?? []), id]);
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, ids]) => ids);
}

/**
 * Reviewers review labelers' own rankings and demonstrations (decision 0044): pick how the queue samples, then accept,
 * override with your own version (kept beside the labeler's) or send back with a comment the labeler sees.
 * Keys: N next, A accept, O override, S send back (outside text fields).
 */
export default function ProjectAnnotationReview({ loaderData }: Route.ComponentProps) {
  const { project, held, summary } = loaderData;
  const revalidator = useRevalidator();
  const [mode, setMode] = useState<Mode>("random");
  const [labeler, setLabeler] = useState(summary.labelers[0]?.id ?? "");
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [empty, setEmpty] = useState(false);
  const [editing, setEditing] = useState<"override" | "send_back" | null>(null);
  const [comment, setComment] = useState("");
  const [ranks, setRanks] = useState<Record<string, string>>({});
  const [text, setText] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const commentRef = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    setEditing(null);
    setComment("");
    setProblem(null);
    if (held) {
      setRanks(ranksOf(held));
      setText(String(held.submission.payload.text ?? ""));
    }
    // Reset per served submission only (held is a new object on every revalidation).
  }, [held?.id]);

  const next = async () => {
    setProblem(null);
    const result = await postJson<unknown>(`/api/v1/projects/${project.id}/annotation-reviews/next`, mode === "labeler" ? { mode, labeler } : { mode });
    if (!result.ok) return setProblem(result.problem);
    setEmpty(result.data === null);
    await revalidator.revalidate();
  };

  const decide = async (decision: "accept" | "override" | "send_back") => {
    if (!held) return;
    setProblem(null);
    let body: Record<string, unknown> = { decision, comment };
    if (decision === "override") {
      const payload = held.submission.taskType === "rank" ? { ...held.submission.payload, ranking: { tiers: tiersOf(ranks) } } : { ...held.submission.payload, text };
      body = { ...body, payload };
    }
    const result = await postJson(`/api/v1/annotation-reviews/${held.id}/decide`, body);
    if (!result.ok) return setProblem(result.problem);
    setDone(`Submission ${held.submission.id} ${decisionNames[decision]}.`);
    await next();
  };

  const openEditor = (which: "override" | "send_back") => {
    setEditing(which);
    setTimeout(() => (which === "send_back" ? commentRef.current : document.getElementById("override-first"))?.focus(), 0);
  };

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target)) return;
      const key = event.key.toLowerCase();
      if (!held && key === "n") void next();
      else if (held && key === "a") void decide("accept");
      else if (held && key === "o") openEditor("override");
      else if (held && key === "s") openEditor("send_back");
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Review labelers' annotations</PageTitle>
      <div className="grid gap-6 lg:grid-cols-[2fr_1fr]">
        <div className="space-y-4">
          <Card title="Queue">
            <p className="mb-3 text-sm" data-testid="annotation-summary">
              {summary.decided} of {summary.submissions} submitted rankings and demonstrations reviewed ({summary.decisions.accept} accepted, {summary.decisions.override} overridden,{" "}
              {summary.decisions.send_back} sent back).
            </p>
            {done ? <Alert tone="success">{done}</Alert> : null}
            {empty && !held ? <Alert tone="success">Nothing left to review in this mode.</Alert> : null}
            {!held ? (
              <div className="space-y-3">
                <fieldset>
                  <legend className="mb-1 text-sm font-medium">Sample by</legend>
                  <div className="flex flex-wrap gap-4">
                    {modes.map((m) => (
                      <label key={m.value} className="flex items-center gap-1 text-sm">
                        <input type="radio" name="mode" value={m.value} checked={mode === m.value} onChange={() => setMode(m.value)} />
                        {m.label}
                      </label>
                    ))}
                  </div>
                </fieldset>
                {mode === "labeler" ? (
                  <label className="block text-sm">
                    <span className="mb-1 block font-medium">Labeler</span>
                    <select value={labeler} onChange={(e) => setLabeler(e.target.value)} className={inputClass}>
                      {summary.labelers.map((l) => (
                        <option key={l.id} value={l.id}>{l.name} ({l.submissions})</option>
                      ))}
                    </select>
                  </label>
                ) : null}
                <Button type="button" onClick={() => void next()} aria-keyshortcuts="n">
                  Next submission <kbd className="ml-2 rounded border border-white/40 px-1 text-xs">N</kbd>
                </Button>
              </div>
            ) : null}
            {!held ? <div className="mt-3 text-sm">{problem ? <ProblemAlert problem={problem} /> : null}</div> : null}
          </Card>
          {held ? (
            <Card title={`${held.submission.taskType === "rank" ? "Ranking" : "Demonstration"} by ${held.submission.labeler.name}`}>
              <p className="mb-3 text-sm" data-testid="annotation-meta">
                Submission {held.submission.id} · {new Date(held.submission.submittedAt).toLocaleString()}
                {held.agreement !== null ? ` · item agreement ${(held.agreement * 100).toFixed(0)} %` : ""}
                {held.submission.redoOf ? ` · a redo of submission ${held.submission.redoOf}` : ""}
              </p>
              <section aria-label="Conversation" className="mb-4 space-y-2">
                {held.messages.map((message, i) => (
                  <div key={i} className="rounded-md border border-slate-200 bg-slate-100 p-3 dark:border-slate-800 dark:bg-slate-800/50">
                    <p className="mb-1 text-xs font-semibold uppercase tracking-wide">{roleNames[message.role] ?? message.role}</p>
                    <Markdown>{message.content}</Markdown>
                  </div>
                ))}
              </section>
              {held.submission.taskType === "rank" ? (
                <section aria-label="Completions, in the order the labeler saw them" className="mb-4 space-y-2">
                  {held.completions.map((c) => (
                    <div key={c.id} className="rounded-md border border-slate-200 p-3 dark:border-slate-800">
                      <p className="mb-1 text-xs font-semibold uppercase tracking-wide">Completion {c.label}</p>
                      <CompletionTranscript text={c.text} messages={c.messages} />
                    </div>
                  ))}
                </section>
              ) : null}
              <h2 className="mb-2 font-semibold">The labeler's {held.submission.taskType === "rank" ? "ranking" : "reply"}</h2>
              <AnnotationAnswer taskType={held.submission.taskType} payload={held.submission.payload} completions={held.completions} testId="labeler-answer" />

              {editing === "override" ? (
                <fieldset className="mt-4 space-y-2">
                  <legend className="font-semibold">Your version (kept beside the labeler's)</legend>
                  {held.submission.taskType === "rank" ? (
                    <>
                      <p className="text-sm">A rank per completion, 1 best; equal numbers tie.</p>
                      <div className="flex flex-wrap gap-4">
                        {held.completions.map((c, i) => (
                          <label key={c.id} className="text-sm">
                            <span className="mr-1 font-medium">Rank of {c.label}</span>
                            <input id={i === 0 ? "override-first" : undefined} type="number" min={1} max={held.completions.length} value={ranks[c.id] ?? ""}
                              onChange={(e) => setRanks({ ...ranks, [c.id]: e.target.value })} className="w-16 rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-950" />
                          </label>
                        ))}
                      </div>
                    </>
                  ) : (
                    <label className="block text-sm">
                      <span className="mb-1 block font-medium">The reply, corrected (tool calls and later turns are kept as the labeler wrote them)</span>
                      <textarea id="override-first" value={text} onChange={(e) => setText(e.target.value)} rows={8} className={inputClass} />
                    </label>
                  )}
                </fieldset>
              ) : null}
              {editing ? (
                <label className="mt-4 block text-sm">
                  <span className="mb-1 block font-medium">{editing === "send_back" ? "What should the labeler change? (required, they will see it)" : "Comment (optional)"}</span>
                  <textarea ref={commentRef} value={comment} onChange={(e) => setComment(e.target.value)} rows={3} className={inputClass} aria-required={editing === "send_back"} />
                </label>
              ) : null}
              <div className="mt-4 flex flex-wrap gap-2">
                <Button type="button" onClick={() => void decide("accept")} aria-keyshortcuts="a">
                  Accept <kbd className="ml-2 rounded border border-white/40 px-1 text-xs">A</kbd>
                </Button>
                {editing === "override" ? (
                  <Button type="button" variant="secondary" onClick={() => void decide("override")}>Save override</Button>
                ) : (
                  <Button type="button" variant="secondary" onClick={() => openEditor("override")} aria-keyshortcuts="o">
                    Override… <kbd className="ml-2 rounded border px-1 text-xs">O</kbd>
                  </Button>
                )}
                {editing === "send_back" ? (
                  <Button type="button" variant="danger" onClick={() => void decide("send_back")}>Send back</Button>
                ) : (
                  <Button type="button" variant="danger" onClick={() => openEditor("send_back")} aria-keyshortcuts="s">
                    Send back… <kbd className="ml-2 rounded border border-white/40 px-1 text-xs">S</kbd>
                  </Button>
                )}
              </div>
              <div className="mt-3 text-sm" aria-live="polite">{problem ? <ProblemAlert problem={problem} /> : null}</div>
            </Card>
          ) : null}
        </div>
        <Card title="Decided lately">
          {summary.recent.length === 0 ? (
            <p className="text-sm">No decisions yet.</p>
          ) : (
            <ul className="space-y-1 text-sm" data-testid="annotation-decided">
              {summary.recent.map((r) => (
                <li key={r.id}>
                  {r.labeler}'s {r.taskType === "rank" ? "ranking" : "demonstration"} {r.decision ? decisionNames[r.decision] : ""}
                  {r.reviewer ? ` by ${r.reviewer}` : ""}
                  {r.comment ? `: “${r.comment}”` : ""}
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </>
  );
}
