import { useState } from "react";
import { Link, useRevalidator } from "react-router";
import type { Route } from "./+types/project-corpus-review";
import { getProject } from "../../server/labeling/projects.server.ts";
import { heldReview, reviewQueue } from "../../server/corpora/corpus-review.server.ts";
import { reviewCategories } from "../../server/corpora/review-scale.ts";
import { postJson, type ApiProblem } from "../components/task/task-client.ts";
import { Alert, Button, Card, PageTitle, ProblemAlert } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `Review flagged documents · ${data?.project.name ?? "Project"} · Tandem` }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { user } = await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  // Reading only: the document is taken with "Next document" (a POST), never by loading the page.
  const [held, queue] = await Promise.all([heldReview(context.db, user.id, project.id), reviewQueue(context.db, project.id, "decided", 20)]);
  return { project: { id: project.id, name: project.name }, held, open: queue.open, decided: queue.items };
}

type Hit = { kind: string; match: string; index: number };

/** The document with each filter hit marked, so the reviewer sees what the filter saw (React escapes the text). */
function Highlighted({ text, hits }: { text: string; hits: Hit[] }) {
  const parts: Array<{ text: string; hit: Hit | null }> = [];
  let at = 0;
  for (const hit of [...hits].sort((a, b) => a.index - b.index)) {
    if (hit.index < at) continue;
    parts.push({ text: text.slice(at, hit.index), hit: null }, { text: text.slice(hit.index, hit.index + hit.match.length), hit });
    at = hit.index + hit.match.length;
  }
  parts.push({ text: text.slice(at), hit: null });
  return (
    <p className="max-h-[28rem] overflow-y-auto whitespace-pre-wrap rounded border border-slate-200 p-3 text-sm dark:border-slate-700" data-testid="review-text">
      {parts.map((p, i) =>
        p.hit ? (
          <mark key={i} title={p.hit.kind} className="bg-amber-200 dark:bg-amber-700">{p.text}</mark>
        ) : (
          <span key={i}>{p.text}</span>
        ),
      )}
    </p>
  );
}

/** Reviewers keep, drop or redact documents the cleaning filters flagged; the decision overrides the filter. */
export default function ProjectCorpusReview({ loaderData }: Route.ComponentProps) {
  const { project, held, open, decided } = loaderData;
  const revalidator = useRevalidator();
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [empty, setEmpty] = useState(false);
  const [category, setCategory] = useState("");
  const [note, setNote] = useState("");

  const next = async () => {
    setProblem(null);
    const result = await postJson<unknown>(`/api/v1/projects/${project.id}/corpus-reviews/next`, undefined);
    if (!result.ok) return setProblem(result.problem);
    setEmpty(result.data === null);
    await revalidator.revalidate();
  };
  const decide = async (decision: "keep" | "drop" | "redact") => {
    if (!held) return;
    setProblem(null);
    const result = await postJson(`/api/v1/corpus-reviews/${held.id}/decide`, { decision, ...(category ? { category } : {}), note });
    if (!result.ok) return setProblem(result.problem);
    setCategory("");
    setNote("");
    await next();
  };

  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Review flagged documents</PageTitle>
      <div className="grid gap-6 lg:grid-cols-[2fr_1fr]">
        <Card title={held ? `Document ${held.document.id}: ${held.document.title ?? "untitled"}` : "Queue"}>
          <p className="mb-3 text-sm" data-testid="review-open">{open} document(s) wait for review.</p>
          {empty && !held ? <Alert tone="success">Nothing waits for review right now.</Alert> : null}
          {held ? (
            <>
              <p className="mb-2 text-sm">
                {held.document.corpus} · {held.document.file}:{held.document.line} · flagged for <strong>{held.reason === "pii" ? "personal data" : "the content filter"}</strong>:{" "}
                {held.hits.map((h) => `${h.kind} "${h.match}"`).join(", ")}
              </p>
              <Highlighted text={held.document.text} hits={held.hits} />
              <div className="mt-4 grid gap-3 sm:grid-cols-2">
                <label className="block text-sm">
                  <span className="mb-1 block font-medium">Category (to drop or redact)</span>
                  <select value={category} onChange={(e) => setCategory(e.target.value)} className="w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950">
                    <option value="">—</option>
                    {reviewCategories.map((c) => (
                      <option key={c} value={c}>{c.replace("_", " ")}</option>
                    ))}
                  </select>
                </label>
                <label className="block text-sm">
                  <span className="mb-1 block font-medium">Note</span>
                  <input value={note} onChange={(e) => setNote(e.target.value)} className="w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950" />
                </label>
              </div>
              <div className="mt-4 flex flex-wrap gap-2">
                <Button type="button" onClick={() => void decide("keep")}>Keep</Button>
                <Button type="button" variant="secondary" onClick={() => void decide("redact")}>Redact the hits</Button>
                <Button type="button" variant="danger" onClick={() => void decide("drop")}>Drop</Button>
              </div>
            </>
          ) : (
            <Button type="button" onClick={() => void next()} disabled={open === 0}>Next document</Button>
          )}
          <div className="mt-4 text-sm">{problem ? <ProblemAlert problem={problem} /> : null}</div>
        </Card>
        <Card title="Decided lately">
          {decided.length === 0 ? (
            <p className="text-sm">No decisions yet.</p>
          ) : (
            <ul className="space-y-1 text-sm" data-testid="review-decided">
              {decided.map((d) => (
                <li key={d.id}>{d.title ?? `document ${d.documentId}`}: {d.decision}{d.category ? ` (${d.category})` : ""}</li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </>
  );
}
