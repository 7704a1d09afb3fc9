import { useMemo } from "react";
import { Form, Link } from "react-router";
import type { Route } from "./+types/project-analytics";
import { analyticsRangeSchema, burndown, disputedItems, ETA_WINDOW_DAYS, labelerAnalytics, resolveRange } from "../../server/labeling/analytics.server.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { MetricChart, type ChartSeries } from "../components/metric-chart.tsx";
import { Button, Card, PageTitle } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Progress and analytics · Tandem" }];

/**
 * Progress and analytics (issue 14 item 3, decision 0046), for reviewers and researchers of
 * the project: the burndown with its ETA, each labeler's figures per day, the most disputed
 * items. The same functions as GET /api/v1/projects/:id/analytics/*.
 */
export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const search = new URL(request.url).searchParams;
  const asked = Object.fromEntries(["from", "to"].flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
  const parsed = analyticsRangeSchema.safeParse(asked);
  // A bad range is shown beside its field; the page still shows the default window.
  const errors: Record<string, string> = {};
  if (!parsed.success) for (const issue of parsed.error.issues) errors[String(issue.path[0] ?? "from")] ??= issue.message;
  const range = resolveRange(parsed.success ? parsed.data : {});
  return {
    project: { id: project.id, name: project.name },
    asked,
    errors,
    range,
    etaWindowDays: ETA_WINDOW_DAYS,
    burndown: await burndown(context.db, project.id, range),
    labelers: (await labelerAnalytics(context.db, project.id, range)).labelers,
    disputed: (await disputedItems(context.db, project.id, range, 20)).items,
  };
}

const pct = (value: number | null) => (value === null ? "–" : `${(value * 100).toFixed(1)} %`);
const seconds = (value: number | null) => (value === null ? "–" : value < 120 ? `${value.toFixed(0)} s` : `${(value / 60).toFixed(1)} min`);
const unix = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
const inputClass = "rounded-md border border-slate-300 bg-white px-3 py-2 text-slate-900 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100";
const typeNames: Record<string, string> = { rank: "Ranking", compare: "A/B compare", demonstrate: "Demonstration", review: "Review" };

export default function ProjectAnalytics({ loaderData }: Route.ComponentProps) {
  const { project, range, errors, asked, labelers, disputed, etaWindowDays } = loaderData;
  const types = loaderData.burndown.types;
  const burndownCharts = useMemo(
    () =>
      types.map((t) => ({
        type: t.type,
        series: [
          { label: "open", points: t.points.map((p) => [unix(p.day), p.open] as [number, number]) },
          { label: "done", points: t.points.map((p) => [unix(p.day), p.done] as [number, number]) },
        ] satisfies ChartSeries[],
      })),
    [types],
  );
  const labelerCharts = useMemo(() => {
    const series = (value: (d: (typeof labelers)[number]["daily"][number]) => number | null): ChartSeries[] =>
      labelers.map((l) => ({ label: l.name, points: l.daily.flatMap((d) => (value(d) === null ? [] : [[unix(d.day), value(d)!] as [number, number]])) }));
    return [
      { title: "Submissions per day", testId: "chart-throughput", series: series((d) => d.submissions) },
      { title: "Median time on task per day (seconds)", testId: "chart-time", series: series((d) => d.medianSecondsOnTask) },
      { title: "Skip rate per day (%)", testId: "chart-skips", series: series((d) => (d.skipRate === null ? null : d.skipRate * 100)) },
      { title: "Agreement with consensus per day (%)", testId: "chart-consensus", series: series((d) => (d.vsConsensus === null ? null : d.vsConsensus * 100)) },
      { title: "Agreement with gold per day (%)", testId: "chart-gold", series: series((d) => (d.vsGold === null ? null : d.vsGold * 100)) },
    ];
  }, [labelers]);

  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Progress and analytics</PageTitle>
      <div className="space-y-6">
        <Card title="Range">
          <Form method="get" className="flex flex-wrap items-end gap-3" aria-describedby="range-note">
            {(["from", "to"] as const).map((field) => (
              <div key={field}>
                <label htmlFor={`range-${field}`} className="block text-sm font-medium">
                  {field === "from" ? "From (UTC day)" : "To (UTC day, included)"}
                </label>
                <input
                  id={`range-${field}`}
                  type="date"
                  name={field}
                  defaultValue={asked[field] ?? range[field]}
                  className={inputClass}
                  aria-invalid={errors[field] ? true : undefined}
                  aria-describedby={errors[field] ? `range-${field}-error` : undefined}
                />
                {errors[field] ? (
                  <p id={`range-${field}-error`} role="alert" className="mt-1 text-sm text-red-700 dark:text-red-400">
                    {field}: {errors[field]}
                  </p>
                ) : null}
              </div>
            ))}
            <Button type="submit">Show</Button>
          </Form>
          <p id="range-note" className="mt-2 text-sm">
            Showing {range.from} to {range.to} ({range.days.length} days; at most 366). Days are UTC calendar days.
          </p>
        </Card>

        <Card title="Burndown">
          {types.length === 0 ? <p>No tasks yet.</p> : null}
          {types.map((t, i) => (
            <div key={t.type} className="mb-6">
              <h3 className="font-medium">{typeNames[t.type] ?? t.type} tasks</h3>
              <p className="text-sm" data-testid={`eta-${t.type}`}>
                {`${t.eta.open} open, ${t.points.at(-1)?.done ?? 0} done. ${t.eta.completedInWindow} completed in the last ${t.eta.windowDays} days (${t.eta.perDay.toFixed(2)} a day). ` +
                  (t.eta.days === null ? "No ETA: nothing was completed in that window." : t.eta.days === 0 ? "Nothing left open." : `ETA ${t.eta.date} (${Math.ceil(t.eta.days)} days at that pace).`)}
              </p>
              <MetricChart title={`${typeNames[t.type] ?? t.type}: open and done at the end of each day`} series={burndownCharts[i]!.series} testId={`chart-burndown-${t.type}`} time />
            </div>
          ))}
          <p className="text-sm">
            How the ETA is computed: tasks open at the end of the range ÷ tasks completed per day over the range&apos;s last {etaWindowDays} days, counted from the end of the
            range. It assumes the recent pace goes on; gold tasks are left out (they are never done).
          </p>
        </Card>

        <Card title="Labelers">
          {labelers.length === 0 ? (
            <p>No submissions or skips in this range.</p>
          ) : (
            <div className="overflow-x-auto">
              <table className="w-full text-left text-sm" data-testid="labeler-analytics">
                <caption className="sr-only">Each labeler&apos;s figures from {range.from} to {range.to}</caption>
                <thead>
                  <tr className="border-b border-slate-200 dark:border-slate-700">
                    <th scope="col" className="py-2 pr-3">Labeler</th>
                    <th scope="col" className="py-2 pr-3">Submissions</th>
                    <th scope="col" className="py-2 pr-3">Per day</th>
                    <th scope="col" className="py-2 pr-3">Median time on task</th>
                    <th scope="col" className="py-2 pr-3">Skip rate</th>
                    <th scope="col" className="py-2 pr-3">Agreement with consensus</th>
                    <th scope="col" className="py-2 pr-3">Agreement with gold</th>
                  </tr>
                </thead>
                <tbody>
                  {labelers.map((l) => (
                    <tr key={l.labelerId} className="border-b border-slate-100 dark:border-slate-800">
                      <th scope="row" className="py-2 pr-3 font-normal">{l.name}</th>
                      <td className="py-2 pr-3">{l.submissions}</td>
                      <td className="py-2 pr-3">{l.perDay.toFixed(2)}</td>
                      <td className="py-2 pr-3">{seconds(l.medianSecondsOnTask)}</td>
                      <td className="py-2 pr-3">{pct(l.skipRate)} <span className="text-xs">({l.skipped} skipped)</span></td>
                      <td className="py-2 pr-3">{pct(l.vsConsensus.rate)} <span className="text-xs">(n = {l.vsConsensus.compared})</span></td>
                      <td className="py-2 pr-3">{pct(l.vsGold.rate)} <span className="text-xs">(n = {l.vsGold.compared})</span></td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="mt-2 text-sm">
                Time on task: from claiming a task to submitting it. Skip rate: skips ÷ (submissions + skips); expired leases count as neither. Agreement as on the{" "}
                <Link className="underline" to={`/projects/${project.id}/quality`}>quality page</Link>, for the rankings made in this range.
              </p>
            </div>
          )}
          <div className="mt-4 grid gap-4 lg:grid-cols-2">
            {labelers.length > 0 ? labelerCharts.map((c) => <MetricChart key={c.testId} title={c.title} series={c.series} testId={c.testId} time />) : null}
          </div>
        </Card>

        <section id="disputed" aria-labelledby="disputed-title" className="rounded-lg border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900">
          <h2 id="disputed-title" className="mb-4 text-lg font-semibold">Most disputed items labeled in this range</h2>
          {disputed.length === 0 ? (
            <p>No ranking or A/B item labeled in this range has two labelers yet.</p>
          ) : (
            <table className="w-full text-left text-sm" data-testid="disputed-items">
              <caption className="sr-only">Lowest pairwise agreement first</caption>
              <thead>
                <tr className="border-b border-slate-200 dark:border-slate-700">
                  <th scope="col" className="py-2 pr-3">Prompt</th>
                  <th scope="col" className="py-2 pr-3">Type</th>
                  <th scope="col" className="py-2 pr-3">Labelers</th>
                  <th scope="col" className="py-2 pr-3">Pairwise agreement</th>
                </tr>
              </thead>
              <tbody>
                {disputed.map((item) => (
                  <tr key={item.taskId} className="border-b border-slate-100 dark:border-slate-800">
                    <td className="py-2 pr-3">
                      <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/prompts/${item.promptId}`}>
                        {item.text || `Prompt ${item.promptId}`}
                      </Link>
                    </td>
                    <td className="py-2 pr-3">{typeNames[item.type] ?? item.type}</td>
                    <td className="py-2 pr-3">{item.labelers}</td>
                    <td className="py-2 pr-3">
                      {pct(item.pairwise.rate)} <span className="text-xs">({item.pairwise.agreed} of {item.pairwise.compared} pairs)</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="mt-2 text-sm">Each item&apos;s agreement pools every two of its labelers over the completion pairs both ordered, as the quality page does for the project; gold items are left out.</p>
        </section>
      </div>
    </>
  );
}
