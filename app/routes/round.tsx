import { useEffect, useMemo } from "react";
import { backendKernels, backendSummary } from "../lib/backend-summary.ts";
import { data, Form, Link, useRevalidator } from "react-router";
import type { Route } from "./+types/round";
import { AppError } from "../../server/lib/app-error.ts";
import { cancelRound, retryRound, roundDetail, roundEventsForPage, type DataSnapshot } from "../../server/rounds/rounds.server.ts";
import { publishRoundState } from "../../server/rounds/live-rounds.server.ts";
import { isRayRound, latestSubmission, retryRayRound, submissionView } from "../../server/bridges/ray/ray-handoff.server.ts";
import { RaySubmissionCard, type RaySubmissionView } from "../components/ray-submission-card.tsx";
import { Alert, Button, Card, PageTitle } from "../components/ui.tsx";
import { MetricChart, type ChartSeries } from "../components/metric-chart.tsx";
import { RoundStateBadge } from "../components/round-state-badge.tsx";
import { HeldOutCard, RoundWarnings } from "../components/held-out-report.tsx";
import { CorpusSnapshotCard, LmEvalCard, MixSearchCard, type CorpusSnapshotView, type LmEvalView, type MixSearchView } from "../components/corpus-round-report.tsx";
import type { HeldOutReport, RoundWarning } from "../../server/rounds/round-warnings.ts";
import { PAIR_MODE_LABELS } from "../../server/labeling/quality/pair-builder.ts";
import { MIX_SOURCE_LABELS, MIX_SOURCES, mixChanges } from "../../server/labeling/data-mix.ts";
import { checkerLabel } from "../../trainer/contract/checker.ts";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";
import type { RoundEventPayload } from "../lib/socket-events.ts";
import { useRoundLive } from "../lib/use-round-live.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `${data?.round.name ?? "Round"} · Tandem` }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, { resource: "round", id: params.roundId }, "researcher");
  // one snapshot: a hand-off commits its submission and round together, and must not land between the two reads
  const { round, ray } = await or404(
    context.db
      .transaction()
      .setIsolationLevel("repeatable read")
      .execute(async (trx) => ({ round: await roundDetail(trx, params.roundId), ray: submissionView(await latestSubmission(trx, params.roundId)) })),
    "There is no such round.",
  );
  const project = await context.db.selectFrom("projects").select(["id", "name"]).where("id", "=", round.project_id).executeTakeFirstOrThrow();
  // The whole history, metrics thinned past 20,000 points; the socket adds newer ones live.
  return { round, project, ray, events: (await roundEventsForPage(context.db, round.id)) as RoundEventPayload[] };
}

export async function action({ context, request, params }: Route.ActionArgs) {
  const { user } = await requireProjectRole(context, request, { resource: "round", id: params.roundId }, "researcher");
  const intent = (await request.formData()).get("intent");
  try {
    if (intent === "cancel") await cancelRound(context.db, user.id, params.roundId, context.config.TANDEM_DATA_DIR);
    else if (intent === "retry" && (await isRayRound(context.db, params.roundId))) await retryRayRound(context, user.id, params.roundId);
    else if (intent === "retry") await retryRound(context.db, user.id, params.roundId, context.config.TANDEM_JOB_LEASE_SECONDS, context.config.TANDEM_DATA_DIR);
    else return data({ error: "Unknown action." }, { status: 400 });
  } catch (error) {
    if (error instanceof AppError && (error.code === "conflict" || error.code === "not_found")) return data({ error: error.message }, { status: error.status });
    throw error;
  }
  void publishRoundState(context, params.roundId);
  return { error: null };
}

/** Metrics shown as curves, grouped by what can share an axis. TRL's names. */
const charts = [
  { title: "Loss", testId: "chart-loss", keys: ["loss", "loss/policy_avg", "loss/value_avg"] },
  {
    title: "Reward and accuracy", testId: "chart-reward",
    keys: ["rewards/accuracies", "rewards/margins", "accuracy", "margin", "objective/scores", "objective/rlhf_reward", "reward", "rewards/checker/mean", "rewards/reward_model/mean", "rewards/chosen", "rewards/rejected"],
  },
  { title: "KL to the reference", testId: "chart-kl", keys: ["objective/kl", "policy/approxkl_avg", "kl", "kl_guard/kl"] },
  // with tools, the share of rollout answers that called one sits beside them: a policy unlearning its tools shows here first
  { title: "Answer health", testId: "chart-health", keys: ["health/undecodable_frac", "health/repeat_loop_frac", "health/empty_frac", "tools/call_frac"] },
  // GRPO/RLOO: groups whose answers all scored alike teach nothing; a share near 1 is why a round stalls (dynamicSampling)
  { title: "Groups that all scored alike", testId: "chart-zero-std", keys: ["frac_reward_zero_std"] },
];

function curves(events: RoundEventPayload[], keys: string[]): ChartSeries[] {
  const metrics = events.filter((e) => e.type === "metrics");
  return keys.flatMap((key) => {
    const byKind = new Map<string, Array<[number, number]>>();
    metrics.forEach((e, i) => {
      const value = e.payload[key];
      if (typeof value !== "number" || !Number.isFinite(value)) return;
      byKind.set(e.kind, [...(byKind.get(e.kind) ?? []), [i + 1, value]]);
    });
    return [...byKind].map(([kind, points]) => ({ label: `${kind} ${key}`, points }));
  });
}

/** Progress of the running step: steps done of planned, time per step, tokens/s, the backend. */
function progressOf(events: RoundEventPayload[], job: { id: string; kind: string; attempts: number } | undefined, planned: number | null) {
  if (!job) return null;
  const mine = events.filter((e) => e.job_id === job.id && e.attempt === job.attempts);
  const metrics = mine.filter((e) => e.type === "metrics");
  const backend = [...events].reverse().find((e) => e.type === "backend")?.payload;
  const times = metrics.map((e) => new Date(e.created_at).getTime());
  const perStep = times.length >= 2 ? (times.at(-1)! - times[0]!) / (times.length - 1) / 1000 : null;
  const tokens = metrics.slice(1).reduce((n, e) => n + (typeof e.payload["tokens"] === "number" ? e.payload["tokens"] : 0), 0);
  const tokensPerSecond = perStep && metrics.length >= 2 && tokens > 0 ? tokens / (perStep * (metrics.length - 1)) : null;
  const sampled = [...mine].reverse().find((e) => e.type === "progress")?.payload as { done?: number; total?: number } | undefined;
  const done = job.kind === "sample" ? (sampled?.done ?? 0) : metrics.length;
  const total = job.kind === "sample" ? (sampled?.total ?? null) : planned;
  const eta = perStep !== null && total !== null ? Math.max(0, (total - done) * perStep) : null;
  return { done, total, perStep, tokensPerSecond, eta, backend };
}

export default function Round({ loaderData, actionData }: Route.ComponentProps) {
  const { round, project } = loaderData;
  const live = useRoundLive(round.id, useMemo(() => ({ state: round.state, currentStep: round.current_step, error: round.error }), [round]), loaderData.events, loaderData.ray);
  const ray = live.ray as RaySubmissionView | null;
  // A new state means new jobs, models or a report: reload them (the curves keep streaming). Each loader
  // answer that still disagrees with the socket asks again (`round` changes with every answer), so an
  // answer older than the socket's news cannot leave the page on stale jobs and reports.
  const { revalidate } = useRevalidator();
  useEffect(() => {
    if (live.state !== round.state || live.currentStep !== round.current_step) void revalidate();
  }, [live.state, live.currentStep, round, revalidate]);
  const snapshot = round.data_snapshot as DataSnapshot;
  // the weights that differ from each source's default (older snapshots have no mix)
  const mixed = snapshot.mix ? mixChanges(snapshot.mix, MIX_SOURCES) : [];
  const steps = round.steps;
  const latestJobFor = (index: number) => round.jobs.filter((j) => j.step_index === index).at(-1);
  const current = latestJobFor(live.currentStep);
  const planned: Record<string, number> = {
    sft: round.spec.sft.steps, dpo: round.spec.dpo.steps, reward: round.spec.reward.steps, ppo: round.spec.ppo.rollouts,
    grpo: round.spec.grpo.rollouts, rloo: round.spec.rloo.rollouts, kto: round.spec.kto.steps,
    pretrain: round.spec.pretrain.steps, midtrain: round.spec.pretrain.steps,
  };
  const progress = progressOf(live.events, current, current ? (planned[current.kind] ?? null) : null);
  const chartSeries = useMemo(() => charts.map((c) => ({ ...c, series: curves(live.events, c.keys) })), [live.events]);
  const running = live.state === "queued" || live.state === "running" || live.state === "sampling";
  type Score = { scored: number; correct: number };
  const report = round.report as {
    samples?: {
      prompts: number; completions: number; tasks: number; compares?: number; meanTokens: number; dropped: { empty: number; nearDuplicate: number }; resampled?: number;
      checker?: { policy: Score; baseline: Score | null };
    } | null;
  } | null;
  const percent = (s: Score) => `${((100 * s.correct) / s.scored).toFixed(0)} %`;
  const evaluation = (round.report as { evaluation?: Record<string, number> | null } | null)?.evaluation ?? null;
  const checker = report?.samples?.checker;
  const judge = (round.report as { rewardJudge?: { rewardModelId: string; winRate: number; pairs: number; meanMargin: number | null } | null } | null)?.rewardJudge ?? null;
  const human = round.humanEval;
  const { heldOut = null, warnings = [] } = (round.report ?? {}) as { heldOut?: HeldOutReport | null; warnings?: RoundWarning[] };
  const corpusReport = (round.report ?? {}) as { mixSearch?: MixSearchView; lmEval?: LmEvalView };
  const corpusSnapshot = (round.data_snapshot as { corpus?: CorpusSnapshotView }).corpus ?? null;
  return (
    <>
      <PageTitle
        lead={
          <>
            <Link className="underline" to={`/projects/${project.id}/rounds`}>
              {project.name} · rounds
            </Link>{" "}
            · {steps.join(" → ")}
          </>
        }
      >
        {round.name}
      </PageTitle>
      {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
      {live.state === "failed" && live.error ? <Alert>{live.error}</Alert> : null}
      <RoundWarnings warnings={warnings} />
      {"afterRound" in round.spec.base && round.jobs.length === 0 && live.state === "queued" ? (
        <p className="mb-4 text-sm" data-testid="waiting-for-round">
          Starts when{" "}
          <Link className="underline" to={`/rounds/${round.spec.base.afterRound}`}>
            round #{round.spec.base.afterRound}
          </Link>{" "}
          is done, from the policy it makes.
        </p>
      ) : null}
      <div className="grid gap-6 lg:grid-cols-[1fr_2fr]">
        <div className="space-y-6">
          <Card title="State">
            <p className="mb-2 flex items-center gap-2">
              <RoundStateBadge state={live.state} />
              <span className="text-sm" data-testid="round-step">
                step {Math.min(live.currentStep + 1, steps.length)} of {steps.length}: {steps[live.currentStep]}
              </span>
            </p>
            {progress && running ? (
              <dl className="grid grid-cols-2 gap-1 text-sm" data-testid="round-progress">
                <dt>Progress</dt>
                <dd>
                  {progress.done}
                  {progress.total !== null ? ` / ${progress.total}` : ""}
                </dd>
                <dt>Time per step</dt>
                <dd>{progress.perStep !== null ? `${progress.perStep.toFixed(2)} s` : "–"}</dd>
                <dt>ETA</dt>
                <dd>{progress.eta !== null ? `${Math.round(progress.eta)} s` : "–"}</dd>
                <dt>Tokens/s</dt>
                <dd>{progress.tokensPerSecond !== null ? Math.round(progress.tokensPerSecond) : "–"}</dd>
                <dt>Backend</dt>
                <dd title={backendKernels(progress.backend)}>{backendSummary(progress.backend)}</dd>
              </dl>
            ) : null}
            <ol className="mt-3 space-y-1 text-sm">
              {steps.map((kind, i) => {
                const job = latestJobFor(i);
                return (
                  <li key={i} data-testid={`step-${i}`}>
                    {i + 1}. {kind}
                    {kind === "dpo" && round.spec.dpo.dpopLambda !== undefined ? ` (DPOP λ ${round.spec.dpo.dpopLambda})` : ""}:{" "}
                    {ray ? "on the Ray cluster" : job ? `${job.state}${job.attempts > 1 ? ` (attempt ${job.attempts})` : ""}` : "waiting"}
                  </li>
                );
              })}
            </ol>
            <div className="mt-4 flex gap-2">
              {running ? (
                <Form method="post">
                  <Button name="intent" value="cancel" variant="danger">
                    Cancel round
                  </Button>
                </Form>
              ) : null}
              {live.state === "failed" || live.state === "cancelled" ? (
                <Form method="post">
                  <Button name="intent" value="retry" variant="secondary">
                    Retry from step {live.currentStep + 1}
                  </Button>
                </Form>
              ) : null}
            </div>
          </Card>
          {ray ? <RaySubmissionCard submission={ray} /> : null}
          <Card title="Data snapshot">
            <dl className="grid grid-cols-2 gap-1 text-sm">
              <dt>Demonstrations</dt>
              <dd>{snapshot.counts.demonstrate}</dd>
              <dt>Rankings</dt>
              <dd>{snapshot.counts.rank}</dd>
              <dt>Reviews</dt>
              <dd>{snapshot.counts.review}</dd>
              <dt>Comparisons</dt>
              <dd>{snapshot.counts.compare}</dd>
              {snapshot.pairs && snapshot.pairs !== "all" ? (
                <>
                  <dt>Preference pairs</dt>
                  <dd data-testid="pairs-mode">{PAIR_MODE_LABELS[snapshot.pairs]}</dd>
                </>
              ) : null}
              {mixed.length > 0 ? (
                <>
                  <dt>Data mix</dt>
                  <dd data-testid="data-mix">{mixed.map(([source, weight]) => `${MIX_SOURCE_LABELS[source]} ×${weight}`).join(", ")}</dd>
                </>
              ) : null}
              {snapshot.chosenChecker ? (
                <>
                  <dt>Checked pairs</dt>
                  <dd data-testid="chosen-checker">
                    pairs whose preferred answer the checker ({checkerLabel(snapshot.chosenChecker)}) marks wrong are left out
                  </dd>
                </>
              ) : null}
              {snapshot.gold ? (
                <>
                  <dt>Gold filter</dt>
                  <dd data-testid="gold-filter">
                    {snapshot.gold.labelers.length} of {snapshot.gold.measured} labelers ≥ {snapshot.gold.minAgreement}
                  </dd>
                </>
              ) : null}
              <dt>Submitted before</dt>
              <dd>{new Date(snapshot.until).toLocaleString()}</dd>
              <dt>sha256</dt>
              <dd className="truncate font-mono" title={snapshot.hash}>
                {snapshot.hash.slice(0, 16)}…
              </dd>
            </dl>
            <p className="mt-3 text-sm">
              <a className="underline" href={`/api/v1/rounds/${round.id}/bundle.zip`} download>
                Download the round as a bundle
              </a>{" "}
              for OpenRLHF or TRL (datasets, one script per step, README).
            </p>
          </Card>
          <Card title="Models">
            {round.models.length === 0 ? (
              <p className="text-sm">None yet: each training step registers its model when it finishes.</p>
            ) : (
              <ul className="space-y-2 text-sm" data-testid="round-models">
                {round.models.map((m) => (
                  <li key={m.id}>
                    <span className="font-medium">
                      #{m.id} {m.name}
                    </span>{" "}
                    ({m.kind}){" "}
                    {m.external_uri ? (
                      <span>
                        on the cluster at <code>{m.external_uri}</code>
                      </span>
                    ) : (
                      <>
                        <a className="underline" href={`/api/v1/models/${m.id}/files/model.safetensors`} download>
                          weights
                        </a>{" "}
                        <a className="underline" href={`/api/v1/models/${m.id}/files/tokenizer.json`} download>
                          tokenizer
                        </a>
                      </>
                    )}
                  </li>
                ))}
              </ul>
            )}
            {report?.samples ? (
              <p className="mt-3 text-sm" data-testid="round-report">
                Sampled {report.samples.completions} completions for {report.samples.prompts} prompts (mean {report.samples.meanTokens.toFixed(1)} tokens):{" "}
                {report.samples.tasks} new ranking tasks
                {report.samples.compares ? ` and ${report.samples.compares} A/B compares against the previous policy` : ""}; dropped {report.samples.dropped.nearDuplicate} near duplicates and{" "}
                {report.samples.dropped.empty} empty{report.samples.resampled ? `; ${report.samples.resampled} spare samples took their place` : ""}.
              </p>
            ) : null}
            {checker && checker.policy.scored > 0 ? (
              <p className="mt-2 text-sm" data-testid="checker-score">
                Checker (reference answers): the new policy is right in {percent(checker.policy)} of {checker.policy.scored} samples
                {checker.baseline && checker.baseline.scored > 0 ? `; the previous policy in ${percent(checker.baseline)}` : ""}.
              </p>
            ) : null}
            {evaluation ? (
              <p className="mt-2 text-sm" data-testid="round-evaluation">
                Against its reference on the round&apos;s preferences: KL ≈ {evaluation["eval_kl"]?.toFixed(3) ?? "–"}
                {evaluation["eval_kl_stderr"] !== undefined ? ` ± ${evaluation["eval_kl_stderr"].toFixed(3)}` : ""} nats per answer; implicit-reward accuracy{" "}
                {evaluation["eval_rewards/accuracies"] !== undefined ? `${(100 * evaluation["eval_rewards/accuracies"]).toFixed(0)} %` : "–"}, margin{" "}
                {evaluation["eval_rewards/margins"]?.toFixed(3) ?? "–"}.
              </p>
            ) : null}
            {judge ? (
              <p className="mt-2 text-sm" data-testid="reward-judge">
                Reward model #{judge.rewardModelId} scores the new policy&apos;s answer above the previous policy&apos;s in {(100 * judge.winRate).toFixed(0)} % of {judge.pairs}{" "}
                prompts{judge.meanMargin !== null ? ` (mean margin ${judge.meanMargin.toFixed(3)})` : ""}.
              </p>
            ) : null}
            {human && human.judged > 0 ? (
              <p className="mt-2 text-sm" data-testid="human-eval">
                People preferred the new policy in {((human.winRate ?? 0) * 100).toFixed(0)} % of {human.judged} A/B compares ({human.newWins} wins, {human.ties} ties,{" "}
                {human.previousWins} losses).
              </p>
            ) : null}
          </Card>
          {heldOut ? <HeldOutCard heldOut={heldOut} /> : null}
          {corpusReport.mixSearch ? <MixSearchCard search={corpusReport.mixSearch} /> : null}
          {corpusReport.lmEval ? <LmEvalCard sets={corpusReport.lmEval} /> : null}
          {corpusSnapshot ? <CorpusSnapshotCard snapshot={corpusSnapshot} projectId={round.project_id} /> : null}
        </div>
        <Card title="Training curves">
          {chartSeries.every((c) => c.series.length === 0) ? <p className="text-sm">The curves appear as soon as the trainer reports its first step.</p> : null}
          {chartSeries
            .filter((c) => c.series.length > 0)
            .map((c) => (
              <MetricChart key={c.testId} title={c.title} series={c.series} testId={c.testId} />
            ))}
        </Card>
      </div>
    </>
  );
}
