import { data, Form, Link, redirect } from "react-router";
import type { Route } from "./+types/project";
import { AppError } from "../../server/lib/app-error.ts";
import { hasRole } from "../../server/auth/roles.ts";
import { getProject, queueCounters } from "../../server/labeling/projects.server.ts";
import { claimNextTask } from "../../server/labeling/queue.server.ts";
import { publishCounters } from "../../server/labeling/live-counters.server.ts";
import { judgeStatus } from "../../server/labeling/judge/judge-report.server.ts";
import { adaptiveSavings } from "../../server/labeling/adaptive-overlap.server.ts";
import { Alert, Button, Card, PageTitle } from "../components/ui.tsx";
import { Markdown } from "../components/markdown.tsx";
import { DatasetExport } from "../components/dataset-export.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";
import { useProjectCounters } from "../lib/use-session-socket.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `${data?.project.name ?? "Project"} · Tandem` }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { projectRole } = await requireProjectRole(context, request, params.projectId);
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const empty = new URL(request.url).searchParams.get("empty") === "1";
  const isResearcher = hasRole(projectRole, "researcher");
  // The judge's failures are the researcher's to fix; labelers never see which model judges.
  const judge = isResearcher && project.settings.judge ? await judgeStatus(context.db, project.id) : null;
  const adaptive = isResearcher && project.settings.adaptiveOverlap.enabled ? await adaptiveSavings(context.db, project.id, project.settings.overlap.rank) : null;
  return { project, counters: await queueCounters(context.db, project.id), isResearcher, isReviewer: hasRole(projectRole, "reviewer"), empty, judge, adaptive };
}

/** "Start labeling": claim the next task (or resume the unfinished one) and open it. */
export async function action({ context, request, params }: Route.ActionArgs) {
  const { user, projectRole } = await requireProjectRole(context, request, params.projectId);
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  try {
    // The role in this project picks the task types.
    const assignment = await claimNextTask(context.db, { ...user, role: projectRole }, project.id, project.settings);
    if (!assignment) return redirect(`/projects/${project.id}?empty=1`);
    void publishCounters(context, project.id);
    return redirect(`/tasks/${assignment.id}`);
  } catch (error) {
    if (error instanceof AppError && error.code === "conflict") return data({ error: error.message }, { status: 409 });
    throw error;
  }
}

const typeLabels = { rank: "Rankings", demonstrate: "Demonstrations", review: "Reviews", compare: "Comparisons" } as const;

export default function Project({ loaderData, actionData }: Route.ComponentProps) {
  const { project, isResearcher, isReviewer } = loaderData;
  const counters = useProjectCounters(project.id, loaderData.counters);
  return (
    <>
      <PageTitle lead={`K = ${project.settings.k} completions per ranking · overlap ${project.settings.overlap.rank} per ranking`}>{project.name}</PageTitle>
      {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
      {loaderData.empty ? <Alert tone="success">There is no task for you in this project right now. Thank you!</Alert> : null}
      <div className="grid gap-6 lg:grid-cols-[1fr_2fr]">
        <div className="space-y-6">
          <Card title="Queue">
            <dl className="grid grid-cols-3 gap-2 text-sm" data-testid="queue-counters">
              <dt className="font-medium">Type</dt>
              <dd className="font-medium">Open</dd>
              <dd className="font-medium">Done</dd>
              {(Object.keys(typeLabels) as Array<keyof typeof typeLabels>).map((type) => (
                <div key={type} className="contents">
                  <dt>{typeLabels[type]}</dt>
                  <dd data-testid={`open-${type}`}>{counters[type].open}</dd>
                  <dd data-testid={`complete-${type}`}>{counters[type].complete}</dd>
                </div>
              ))}
            </dl>
            <p className="mt-3 text-sm" data-testid="submission-count">
              {counters.submissions} submissions so far
            </p>
            <Form method="post" className="mt-4">
              <Button type="submit" className="w-full">
                Start labeling
              </Button>
            </Form>
            <p className="mt-3 text-sm">
              <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/corpus-rating`}>
                Rate pre-training documents
              </Link>
              {loaderData.isReviewer ? (
                <>
                  {" · "}
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/corpus-review`}>
                    Review flagged documents
                  </Link>
                  {" · "}
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/annotation-review`}>
                    Review labelers' annotations
                  </Link>
                </>
              ) : null}
            </p>
          </Card>
          {isReviewer && !isResearcher ? (
            <Card title="Data">
              <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/browser`}>Data browser</Link>
              {" · "}
              <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/analytics`}>Progress and analytics</Link>
            </Card>
          ) : null}
          {isResearcher ? (
            <Card title="Manage">
              <ul className="space-y-2">
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/browser`}>
                    Data browser
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/import`}>
                    Import prompts
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/documents`}>
                    Synthetic Q&amp;A from documents
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/corpora`}>
                    Pre-training corpora
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/rounds`}>
                    Training rounds
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/endpoints`}>
                    External models
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/quality`}>
                    Quality and agreement
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/analytics`}>
                    Progress and analytics
                  </Link>
                </li>
                <li>
                  <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/settings`}>
                    Settings
                  </Link>
                </li>
                {(["preferences", "sft", "rankings", "judge"] as const).map((kind) => (
                  <li key={kind}>
                    <a className="text-brand-700 underline dark:text-brand-50" href={`/api/v1/projects/${project.id}/exports/${kind}.jsonl`} download>
                      Export {kind === "preferences" ? "preference pairs (TRL)" : kind === "sft" ? "SFT demonstrations" : kind === "rankings" ? "raw rankings" : "the model judge's verdicts"}
                    </a>
                  </li>
                ))}
                <li>
                  <a className="text-brand-700 underline dark:text-brand-50" href={`/api/v1/projects/${project.id}/exports/preferences.parquet`} download>
                    Export preference pairs (Parquet)
                  </a>
                </li>
                <li className="list-none pt-2">
                  <DatasetExport projectId={project.id} />
                </li>
              </ul>
            </Card>
          ) : null}
          {loaderData.judge ? <JudgeCard status={loaderData.judge} /> : null}
          {loaderData.adaptive ? (
            <Card title="Adaptive overlap">
              <p className="text-sm" data-testid="adaptive-savings">
                {loaderData.adaptive.tasks} finished rankings took {loaderData.adaptive.labels} labels against {loaderData.adaptive.fixedLabels} at a fixed overlap of {project.settings.overlap.rank}
                {loaderData.adaptive.hours === null ? "." : `: ${Math.abs(loaderData.adaptive.hours).toFixed(2)} human-hours ${loaderData.adaptive.hours >= 0 ? "saved" : "spent"}.`}
              </p>
            </Card>
          ) : null}
        </div>
        <Card title="Guidelines">
          {project.guidelines ? <Markdown>{project.guidelines}</Markdown> : <p>This project has no guidelines yet.</p>}
        </Card>
      </div>
    </>
  );
}

/** What the model judge has done: the failures are counted here, never in the labelers' way. */
function JudgeCard({ status }: { status: NonNullable<Route.ComponentProps["loaderData"]["judge"]> }) {
  const failed = status.failed.timeout + status.failed.unparseable + status.failed.error;
  return (
    <Card title="Model judge">
      <dl className="grid grid-cols-2 gap-1 text-sm" data-testid="judge-status">
        <dt>Judge</dt>
        <dd data-testid="judge-source">{status.source === "reward-model" ? "a reward model (scores each answer)" : status.source === "model" ? "a registered chat model" : "an external endpoint"}</dd>
        <dt>Tasks judged</dt>
        <dd data-testid="judge-done">{status.done}</dd>
        <dt>Being judged</dt>
        <dd>{status.running}</dd>
        <dt>Left without a suggestion</dt>
        <dd data-testid="judge-failed">
          {failed} ({status.failed.timeout} timed out, {status.failed.unparseable} unparseable, {status.failed.error} other errors)
        </dd>
        <dt>Suggestions to labelers</dt>
        <dd>{status.suggestions === "shown" ? `shown, ${Math.round((status.withheldShare ?? 0) * 100)} % withheld for the audit` : "off"}</dd>
      </dl>
    </Card>
  );
}
