import { data, Form, Link } from "react-router";
import type { Route } from "./+types/project-prompt";
import { hasRole } from "../../server/auth/roles.ts";
import { exclusionSchema, promptHistory, setExclusion } from "../../server/labeling/browser.server.ts";
import { browserSendBackSchema, sendBackFromBrowser } from "../../server/labeling/browser-send-back.server.ts";
import { moveToReview, reviewMoveSchema } from "../../server/labeling/prompt-review.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { PromptSubmissions } from "../components/prompt-submissions.tsx";
import { Alert, Button, Card, PageTitle } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Prompt history · Tandem" }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { projectRole, user } = await requireProjectRole(context, request, params.projectId, "reviewer");
  if (!/^\d{1,18}$/.test(params.promptId)) throw new Response("There is no such prompt.", { status: 404, statusText: "Not Found" });
  const history = await or404(promptHistory(context.db, params.projectId, params.promptId), "There is no such prompt in this project.");
  return { projectId: params.projectId, history, userId: user.id, canExclude: hasRole(projectRole, "researcher") };
}

type ActionResult = { error: string | null; done: string | null; sentBack: string | null };

/**
 * One prompt in or out of training, or to review and back (researchers): the button is the
 * confirmation (one item, named on the page). A submission sent back with a comment (reviewers).
 */
export async function action({ context, request, params }: Route.ActionArgs) {
  const form = await request.formData();
  const intent = String(form.get("intent") ?? "exclude");
  await requireProjectRole(context, request, params.projectId, intent === "send_back" ? "reviewer" : "researcher");
  const reason = String(form.get("reason") ?? "").trim();
  try {
    if (intent === "send_back") {
      const submissionId = String(form.get("submissionId") ?? "");
      const parsed = browserSendBackSchema.safeParse({ comment: String(form.get("comment") ?? "") });
      if (!parsed.success) return data<ActionResult>({ error: `comment: ${parsed.error.issues[0]!.message}`, done: null, sentBack: null }, { status: 422 });
      if (!/^\d{1,18}$/.test(submissionId)) throw new AppError("not_found", "No such submission in this project.");
      const review = await sendBackFromBrowser(context.db, context.actor!, params.projectId, submissionId, parsed.data);
      return { error: null, done: `Sent back to ${review.submission.labeler.name}: they see your comment with the task.`, sentBack: submissionId } satisfies ActionResult;
    }
    if (intent === "review") {
      const toReview = form.get("toReview") === "true";
      const input = reviewMoveSchema.safeParse({ toReview, ...(reason ? { reason } : {}), promptIds: [params.promptId], confirm: 1 });
      if (!input.success) throw AppError.fromZod(input.error, "Nothing was changed.");
      await moveToReview(context.db, context.actor!, params.projectId, input.data);
      return { error: null, done: toReview ? "Moved to review: reviewers get it in their queue." : "Taken out of review: back to the labelers.", sentBack: null } satisfies ActionResult;
    }
    const exclude = form.get("exclude") === "true";
    // The API's schema: an exclusion needs its reason (at most 500 characters).
    const input = exclusionSchema.safeParse({ exclude, ...(reason ? { reason } : {}), promptIds: [params.promptId], confirm: 1 });
    if (!input.success) throw AppError.fromZod(input.error, "Nothing was changed.");
    await setExclusion(context.db, context.actor!, params.projectId, input.data);
    return { error: null, done: null, sentBack: null } satisfies ActionResult;
  } catch (error) {
    if (!(error instanceof AppError) || !["validation_failed", "conflict", "forbidden", "not_found"].includes(error.code)) throw error;
    return data<ActionResult>({ error: [error.message, ...error.fieldErrors.map((e) => `${e.path}: ${e.message}`)].join(" "), done: null, sentBack: null }, { status: error.status });
  }
}

const when = (value: Date | string) => new Date(value).toLocaleString();
const auditWords: Record<string, string> = {
  "prompts.exclude": "excluded it from training",
  "prompts.include": "took it back into training",
  "prompts.review": "moved it to review",
  "prompts.release": "took it out of review",
};

export default function ProjectPrompt({ loaderData, actionData }: Route.ComponentProps) {
  const { projectId, history, userId, canExclude } = loaderData;
  const { prompt } = history;
  // Moving to review applies to labeling prompts (not Q&A, not the eval set) while active, and back while in review.
  const reviewMove = prompt.kind !== "prompt" || prompt.held_out ? null : prompt.status === "active" ? "to" : prompt.status === "review" ? "back" : null;
  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${projectId}/browser`}>Data browser</Link>}>Prompt {prompt.id}</PageTitle>
      {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
      {actionData?.done ? <Alert tone="success">{actionData.done}</Alert> : null}
      <div className="grid gap-6 lg:grid-cols-2">
        <Card title="Conversation">
          {prompt.messages.map((m, i) => (
            <p key={i} className="mb-2 whitespace-pre-wrap text-sm"><strong>{m.role}:</strong> {m.content}</p>
          ))}
          <p className="text-sm">Source {prompt.source ?? "—"} · {prompt.kind} · {prompt.status} · imported {when(prompt.created_at)}{prompt.held_out ? " · in the eval set" : ""}</p>
        </Card>
        <Card title="Training">
          <p className="mb-2 text-sm" data-testid="training-state">
            {prompt.excluded_at ? `Excluded ${when(prompt.excluded_at)} by ${prompt.excluded_by ?? "someone removed"}: ${prompt.exclusion_reason ?? ""}` : "Included in training exports and new rounds."}
          </p>
          {canExclude ? (
            <Form method="post" className="flex flex-wrap items-end gap-2">
              <input type="hidden" name="exclude" value={prompt.excluded_at ? "false" : "true"} />
              {prompt.excluded_at ? null : (
                <label className="text-sm">Reason<br /><input name="reason" className="rounded-md border border-slate-300 px-2 py-1 dark:border-slate-700 dark:bg-slate-950" /></label>
              )}
              <Button type="submit" variant={prompt.excluded_at ? "secondary" : "danger"}>{prompt.excluded_at ? "Take back into training" : "Exclude from training"}</Button>
            </Form>
          ) : null}
          {canExclude && reviewMove ? (
            <Form method="post" className="mt-3">
              <input type="hidden" name="intent" value="review" />
              <input type="hidden" name="toReview" value={String(reviewMove === "to")} />
              <Button type="submit" variant="secondary">{reviewMove === "to" ? "Move to review" : "Take out of review"}</Button>
            </Form>
          ) : null}
          {history.rounds.length > 0 ? (
            <ul className="mt-3 list-disc pl-5 text-sm">
              {history.rounds.map((r) => <li key={r.id}>Round <Link className="underline" to={`/rounds/${r.id}`}>{r.name}</Link> ({r.state}) had its labels in its data</li>)}
            </ul>
          ) : <p className="mt-3 text-sm">No round has trained on its labels yet.</p>}
        </Card>
      </div>
      <Card title="History">
        <ol className="space-y-1 text-sm" data-testid="prompt-history">
          {history.tasks.map((t) => <li key={`t${t.id}`}>{when(t.created_at)} · {t.type} task {t.id} created ({t.state}, {t.overlap_target} per item{t.gold ? ", gold" : ""}{t.round_id ? `, round ${t.round_id}` : ""})</li>)}
          {history.assignments.map((a) => <li key={`a${a.id}`}>{when(a.created_at)} · shown to {a.name} ({a.email}) · {a.state}{a.skip_reason ? `: ${a.skip_reason}` : ""}</li>)}
          {history.submissions.map((s) => <li key={`s${s.id}`}>{when(s.created_at)} · {s.name} submitted <code className="break-all">{JSON.stringify(s.payload).slice(0, 300)}</code></li>)}
          {history.exclusions.map((e, i) => <li key={`e${i}`}>{when(e.created_at)} · {e.email ?? "someone"} {auditWords[e.action] ?? e.action}</li>)}
        </ol>
      </Card>
      <PromptSubmissions submissions={history.submissions} tasks={history.tasks} completions={history.completions} userId={userId} sentBack={actionData?.sentBack ?? null} />
    </>
  );
}
