import { useEffect } from "react";
import { Link, useRevalidator } from "react-router";
import type { Route } from "./+types/project-quality";
import { getProject, queueCounters } from "../../server/labeling/projects.server.ts";
import { qualityReport } from "../../server/labeling/quality-report.server.ts";
import { Card, PageTitle } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";
import { useProjectCounters } from "../lib/use-session-socket.ts";

export const meta: Route.MetaFunction = () => [{ title: "Quality · Tandem" }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  return { project: { id: project.id, name: project.name }, report: await qualityReport(context.db, project.id), counters: await queueCounters(context.db, project.id) };
}

const pct = (value: number | null) => (value === null ? "–" : `${(value * 100).toFixed(1)} %`);
const num = (value: number | null, digits = 3) => (value === null ? "–" : value.toFixed(digits));

/** Recomputed whenever a submission lands (the project room's counters event). */
export default function ProjectQuality({ loaderData }: Route.ComponentProps) {
  const { project, report } = loaderData;
  const counters = useProjectCounters(project.id, loaderData.counters);
  const revalidator = useRevalidator();
  useEffect(() => {
    if (counters.submissions !== loaderData.counters.submissions && revalidator.state === "idle") void revalidator.revalidate();
  }, [counters.submissions, loaderData.counters.submissions, revalidator]);
  const p = report.project;
  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Quality and agreement</PageTitle>
      <div className="space-y-6">
        <Card title="Project agreement on overlapping rankings">
          <dl className="grid grid-cols-2 gap-x-6 gap-y-2 sm:grid-cols-4" data-testid="project-agreement">
            <div>
              <dt className="text-sm">Items ranked by 2+ people</dt>
              <dd className="text-2xl font-semibold" data-testid="overlapping-items">{p.overlappingItems}</dd>
            </div>
            <div>
              <dt className="text-sm">Pairwise agreement</dt>
              <dd className="text-2xl font-semibold" data-testid="pairwise-agreement">{pct(p.pairwise.rate)}</dd>
              <dd className="text-xs">n = {p.pairwise.compared} pairs</dd>
            </div>
            <div>
              <dt className="text-sm">Mean Kendall τ-b</dt>
              <dd className="text-2xl font-semibold" data-testid="kendall">{num(p.kendall.meanTau)}</dd>
              <dd className="text-xs">n = {p.kendall.comparisons}</dd>
            </div>
            <div>
              <dt className="text-sm">Krippendorff α (ordinal)</dt>
              <dd className="text-2xl font-semibold" data-testid="alpha">{num(p.alpha.alpha)}</dd>
            </div>
          </dl>
          <p className="mt-3 text-sm">
            <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/analytics#disputed`}>Most disputed items</Link> (lowest agreement first) ·{" "}
            <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}/analytics`}>Progress, throughput and time on task</Link>
          </p>
          <p className="mt-3 text-sm">Gold tasks (known answers) are left out of these figures; they only measure each labeler below. InstructGPT's labelers agreed with each other 72.6 % of the time; Anthropic's HH crowdworkers agreed with researchers about 63 %.</p>
        </Card>
        <Card title="Labelers">
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <thead>
                <tr className="border-b border-slate-200 dark:border-slate-700">
                  <th className="py-2 pr-3">Labeler</th>
                  <th className="py-2 pr-3">Rankings</th>
                  <th className="py-2 pr-3">Agreement with consensus</th>
                  <th className="py-2 pr-3">Agreement with gold</th>
                  <th className="py-2 pr-3">First-shown ranked top (chance)</th>
                  <th className="py-2 pr-3">Longest ranked top (chance)</th>
                </tr>
              </thead>
              <tbody>
                {report.labelers.map((l) => (
                  <tr key={l.labelerId} className="border-b border-slate-100 dark:border-slate-800">
                    <td className="py-2 pr-3">{l.name}</td>
                    <td className="py-2 pr-3">{l.submissions}</td>
                    <td className="py-2 pr-3">{pct(l.vsConsensus.rate)} <span className="text-xs">(n = {l.vsConsensus.compared})</span></td>
                    <td className="py-2 pr-3" data-testid="vs-gold">
                      {pct(l.vsGold.rate)} <span className="text-xs">(n = {l.vsGold.compared} pairs, {l.goldSubmissions} gold tasks)</span>
                    </td>
                    <td className="py-2 pr-3">{pct(l.bias.position.rate)} ({pct(l.bias.position.expectedRate)})</td>
                    <td className="py-2 pr-3">{pct(l.bias.length.rate)} ({pct(l.bias.length.expectedRate)})</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
        {report.judge.status.configured || report.judge.status.done > 0 ? <JudgeAuditCard judge={report.judge} /> : null}
      </div>
    </>
  );
}

type Judge = Route.ComponentProps["loaderData"]["report"]["judge"];
const seconds = (ms: number | null) => (ms === null ? "–" : `${(ms / 1000).toFixed(1)} s`);
const interval = (e: Judge["project"]["effect"]) =>
  e.difference === null ? "–" : `${(e.difference * 100).toFixed(1)} pts [${(e.low! * 100).toFixed(1)}, ${(e.high! * 100).toFixed(1)}]`;

/**
 * The anchoring audit (decision 0035): agreement with the judge where its suggestion could be
 * revealed vs where it was withheld (random per task), with a 95 % Welch interval.
 */
function JudgeAuditCard({ judge }: { judge: Judge }) {
  const p = judge.project;
  const rows = [{ key: "project", name: "Whole project", r: p }, ...judge.labelers.map((l) => ({ key: l.labelerId, name: l.name, r: l as Judge["project"] }))];
  return (
    <Card title="Model judge and the anchoring audit">
      <dl className="mb-4 grid grid-cols-2 gap-x-6 gap-y-2 sm:grid-cols-4" data-testid="judge-audit">
        <div>
          <dt className="text-sm">Anchoring effect (shown − withheld)</dt>
          <dd className="text-2xl font-semibold" data-testid="anchoring-effect">{interval(p.effect)}</dd>
          <dd className="text-xs">95 % Welch interval, submissions as the unit</dd>
        </div>
        <div>
          <dt className="text-sm">Judge–human agreement, withheld tasks</dt>
          <dd className="text-2xl font-semibold" data-testid="judge-human-withheld">{pct(p.withheld.meanAgreement)}</dd>
          <dd className="text-xs">n = {p.withheld.compared} submissions</dd>
        </div>
        {judge.positionBias.applies ? (
          <>
            <div>
              <dt className="text-sm">Judge picks the first-read answer (chance)</dt>
              <dd className="text-2xl font-semibold" data-testid="judge-position">{pct(judge.positionBias.rate)} ({pct(judge.positionBias.expectedRate)})</dd>
              <dd className="text-xs">n = {judge.positionBias.decided} answers</dd>
            </div>
            <div>
              <dt className="text-sm">Same verdict in both orders</dt>
              <dd className="text-2xl font-semibold" data-testid="judge-consistency">{pct(judge.positionBias.consistency.rate)}</dd>
              <dd className="text-xs">n = {judge.positionBias.consistency.compared} pairs</dd>
            </div>
          </>
        ) : (
          <div>
            <dt className="text-sm">Judge position bias</dt>
            <dd className="text-2xl font-semibold" data-testid="judge-position">n/a</dd>
            <dd className="text-xs">a reward model scores each answer alone; it reads nothing in an order</dd>
          </div>
        )}
      </dl>
      <div className="overflow-x-auto">
        <table className="w-full text-left text-sm">
          <thead>
            <tr className="border-b border-slate-200 dark:border-slate-700">
              <th className="py-2 pr-3">Who</th>
              <th className="py-2 pr-3">Agreement with judge, shown (n, revealed)</th>
              <th className="py-2 pr-3">Withheld (n)</th>
              <th className="py-2 pr-3">Anchoring effect [95 % CI]</th>
              <th className="py-2 pr-3">Time on task, shown / withheld</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ key, name, r }) => (
              <tr key={key} className="border-b border-slate-100 dark:border-slate-800" data-testid={`judge-row-${key}`}>
                <td className="py-2 pr-3">{name}</td>
                <td className="py-2 pr-3">{pct(r.shown.meanAgreement)} <span className="text-xs">({r.shown.compared}, {r.shown.revealed} revealed)</span></td>
                <td className="py-2 pr-3">{pct(r.withheld.meanAgreement)} <span className="text-xs">({r.withheld.compared})</span></td>
                <td className="py-2 pr-3">{interval(r.effect)}</td>
                <td className="py-2 pr-3">{seconds(r.shown.meanMsOnTask)} / {seconds(r.withheld.meanMsOnTask)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="mt-3 text-sm">
        The judge {judge.status.suggestions === "shown" ? "is shown to labelers on request" : "is not shown to labelers"}; it judged {judge.status.done} tasks and left{" "}
        {judge.status.failed.timeout + judge.status.failed.unparseable + judge.status.failed.error} without a suggestion. Tasks per arm: {judge.status.arms.shown} shown,{" "}
        {judge.status.arms.withheld} withheld. The interval treats submissions as independent; labelers and items repeat, so read it as a first check.
      </p>
    </Card>
  );
}
