import { data, Form, Link } from "react-router";
import type { Route } from "./+types/project-prompt";
import { hasRole } from "../../server/auth/roles.ts";
import { promptHistory, setExclusion } from "../../server/labeling/browser.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { Alert, Button, Card, PageTitle } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Prompt history · Tandem" }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { projectRole } = await requireProjectRole(context, request, params.projectId, "reviewer");
  if (!/^\d{1,18}$/.test(params.promptId)) throw new Response("There is no such prompt.", { status: 404, statusText: "Not Found" });
  const history = await or404(promptHistory(context.db, params.projectId, params.promptId), "There is no such prompt in this project.");
  return { projectId: params.projectId, history, canExclude: hasRole(projectRole, "researcher") };
}

/** One prompt in or out of training: the button is the confirmation (one item, named on the page). */
export async function action({ context, request, params }: Route.ActionArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const form = await request.formData();
  const exclude = form.get("exclude") === "true";
  const reason = String(form.get("reason") ?? "").trim();
  try {
    await setExclusion(context.db, context.actor!, params.projectId, { exclude, ...(reason ? { reason } : {}), promptIds: [params.promptId], confirm: 1 });
    return { error: null };
  } catch (error) {
    if (!(error instanceof AppError) || !["validation_failed", "conflict"].includes(error.code)) throw error;
    return data({ error: [error.message, ...error.fieldErrors.map((e) => `${e.path}: ${e.message}`)].join(" ") }, { status: error.status });
  }
}

const when = (value: Date | string) => new Date(value).toLocaleString();

export default function ProjectPrompt({ loaderData, actionData }: Route.ComponentProps) {
  const { projectId, history, canExclude } = loaderData;
  const { prompt } = history;
  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${projectId}/browser`}>Data browser</Link>}>Prompt {prompt.id}</PageTitle>
      {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
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
          {history.exclusions.map((e, i) => <li key={`e${i}`}>{when(e.created_at)} · {e.email ?? "someone"} {e.action === "prompts.exclude" ? "excluded it" : "took it back"}</li>)}
        </ol>
      </Card>
    </>
  );
}
