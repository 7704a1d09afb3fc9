import { useEffect, useState } from "react";
import { Link, useRevalidator } from "react-router";
import type { Route } from "./+types/project-corpus-rating";
import { getProject } from "../../server/labeling/projects.server.ts";
import { heldRating, ratedCount } from "../../server/corpora/corpus-ratings.server.ts";
import { qualityScale } from "../../server/corpora/review-scale.ts";
import { isTyping, postJson, type ApiProblem } from "../components/task/task-client.ts";
import { Alert, Button, Card, PageTitle, ProblemAlert } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `Rate documents · ${data?.project.name ?? "Project"} · Tandem` }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { user } = await requireProjectRole(context, request, params.projectId);
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  // Reading only: the person's open rating in this project, if any; "Next document" (a POST) takes one.
  const [rating, rated] = await Promise.all([heldRating(context.db, user.id, project.id), ratedCount(context.db, user.id, project.id)]);
  return { project: { id: project.id, name: project.name }, rating, rated };
}

/** Raters score sampled documents 1–5 for educational value (keys 1–5 work too). */
export default function ProjectCorpusRating({ loaderData }: Route.ComponentProps) {
  const { project, rating, rated } = loaderData;
  const revalidator = useRevalidator();
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [empty, setEmpty] = useState(false);

  const next = async () => {
    setProblem(null);
    const result = await postJson<unknown>(`/api/v1/projects/${project.id}/corpus-ratings/next`, undefined);
    if (!result.ok) return setProblem(result.problem);
    setEmpty(result.data === null);
    await revalidator.revalidate();
  };
  const submit = async (score: number) => {
    if (!rating) return;
    setProblem(null);
    const result = await postJson(`/api/v1/corpus-ratings/${rating.id}/submit`, { score });
    if (!result.ok) return setProblem(result.problem);
    await next();
  };

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (!rating || isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      const score = Number(event.key);
      if (score >= 1 && score <= 5) void submit(score);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Rate documents for quality</PageTitle>
      <div className="grid gap-6 lg:grid-cols-[2fr_1fr]">
        <Card title={rating ? (rating.document.title ?? `Document ${rating.document.id}`) : "Next document"}>
          <p className="mb-3 text-sm" data-testid="rated-count">You have rated {rated} document(s) here.</p>
          {empty && !rating ? <Alert tone="success">No document needs your rating right now. Thank you!</Alert> : null}
          {rating ? (
            <>
              <p className="max-h-[28rem] overflow-y-auto whitespace-pre-wrap rounded border border-slate-200 p-3 text-sm dark:border-slate-700" data-testid="rating-text">
                {rating.document.text}
              </p>
              <div className="mt-4 flex flex-wrap gap-2" role="group" aria-label="Score">
                {qualityScale.map((s) => (
                  <Button key={s.score} type="button" variant="secondary" title={s.description} onClick={() => void submit(s.score)}>
                    {s.score} · {s.label}
                  </Button>
                ))}
              </div>
            </>
          ) : (
            <Button type="button" onClick={() => void next()}>Next document</Button>
          )}
          <div className="mt-4 text-sm">{problem ? <ProblemAlert problem={problem} /> : null}</div>
        </Card>
        <Card title="The scale">
          <p className="mb-2 text-sm">How much would this text teach a student? Judge the content, not its topic or its formatting.</p>
          <dl className="space-y-2 text-sm">
            {qualityScale.map((s) => (
              <div key={s.score}>
                <dt className="font-medium">{s.score} · {s.label}</dt>
                <dd>{s.description}</dd>
              </div>
            ))}
          </dl>
        </Card>
      </div>
    </>
  );
}
