import { data, Form, Link } from "react-router";
import type { Route } from "./+types/project-browser";
import { hasRole } from "../../server/auth/roles.ts";
import { browsePrompts, browseQuerySchema, promptFilterSchema, setExclusion, type PromptFilter } from "../../server/labeling/browser.server.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { BrowserHeader, browserInputClass } from "../components/browser-tabs.tsx";
import { Alert, Button, Card } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Data browser · Tandem" }];

const filterKeys = ["q", "source", "status", "kind", "taskType", "taskState", "round", "labeler", "gold", "heldOut", "excluded", "from", "to"] as const;

/** The filter in a URL, without empty fields (a form sends every field, filled or not). */
function filterParams(search: URLSearchParams): Record<string, string> {
  return Object.fromEntries(filterKeys.flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
}

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { projectRole } = await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const search = new URL(request.url).searchParams;
  const filter = filterParams(search);
  const paging = Object.fromEntries(["order", "limit", "after"].flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
  const parsed = browseQuerySchema.safeParse({ ...filter, ...paging });
  const page = parsed.success ? await browsePrompts(context.db, project.id, parsed.data) : { items: [], next: null };
  const errors = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join(".") || "query"}: ${issue.message}`);
  return { project: { id: project.id, name: project.name }, filter, order: paging.order ?? "desc", page, errors, canExclude: hasRole(projectRole, "researcher") };
}

type Pending = { count: number; exclude: boolean; reason: string; scope: "selected" | "filter"; promptIds: string[]; filter: string };

/** Exclusion, in two steps: count (nothing changes), then apply at that count (one transaction). */
export async function action({ context, request, params }: Route.ActionArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const form = await request.formData();
  const exclude = form.get("exclude") !== "false";
  const reason = String(form.get("reason") ?? "").trim();
  const scope = form.get("scope") === "filter" ? "filter" : "selected";
  const promptIds = form.getAll("promptIds").map(String);
  const filterJson = String(form.get("filter") ?? "{}");
  let filter: PromptFilter | undefined;
  try {
    filter = scope === "filter" ? promptFilterSchema.parse(JSON.parse(filterJson)) : undefined;
  } catch {
    return data({ error: "The filter is not valid; search again.", pending: null, done: null }, { status: 422 });
  }
  const confirm = form.get("confirm") === null ? undefined : Number(form.get("confirm"));
  try {
    const result = await setExclusion(context.db, context.actor!, params.projectId, {
      exclude,
      ...(reason ? { reason } : {}),
      ...(scope === "filter" ? { filter } : { promptIds }),
      ...(confirm === undefined ? {} : { confirm }),
    });
    if (!result.applied) {
      const pending: Pending = { count: result.count, exclude, reason, scope, promptIds, filter: filterJson };
      return { error: null, pending, done: null };
    }
    return { error: null, pending: null, done: `${result.count} ${result.count === 1 ? "prompt" : "prompts"} ${exclude ? "left out of" : "taken back into"} training.` };
  } catch (error) {
    if (!(error instanceof AppError) || !["validation_failed", "conflict"].includes(error.code)) throw error;
    const detail = error.fieldErrors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return data({ error: detail ? `${error.message} ${detail}` : error.message, pending: null, done: null }, { status: error.status });
  }
}


export default function ProjectBrowser({ loaderData, actionData }: Route.ComponentProps) {
  const { project, filter, order, page, errors, canExclude } = loaderData;
  const pending = actionData?.pending ?? null;
  const f = (key: string) => filter[key] ?? "";
  const nextHref = page.next ? `?${new URLSearchParams({ ...filter, order, after: page.next })}` : null;
  return (
    <>
      <BrowserHeader project={project} current="prompts" errors={errors} />
      {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
      {actionData?.done ? <Alert tone="success">{actionData.done}</Alert> : null}
      <Card title="Find">
        <Form method="get" className="flex flex-wrap items-end gap-3">
          <label className="text-sm">Text<br /><input name="q" defaultValue={f("q")} className={browserInputClass} /></label>
          <label className="text-sm">Source<br /><input name="source" defaultValue={f("source")} className={browserInputClass} /></label>
          <label className="text-sm">Task type<br />
            <select name="taskType" defaultValue={f("taskType")} className={browserInputClass}>
              <option value="">any</option>{["demonstrate", "rank", "review", "compare"].map((t) => <option key={t}>{t}</option>)}
            </select>
          </label>
          <label className="text-sm">Task state<br />
            <select name="taskState" defaultValue={f("taskState")} className={browserInputClass}>
              <option value="">any</option>{["open", "complete", "cancelled"].map((t) => <option key={t}>{t}</option>)}
            </select>
          </label>
          <label className="text-sm">Labeler id<br /><input name="labeler" defaultValue={f("labeler")} inputMode="numeric" className={browserInputClass} /></label>
          <label className="text-sm">Excluded<br />
            <select name="excluded" defaultValue={f("excluded")} className={browserInputClass}>
              <option value="">either</option><option value="true">excluded</option><option value="false">in training</option>
            </select>
          </label>
          <label className="text-sm">Order<br />
            <select name="order" defaultValue={order} className={browserInputClass}>
              <option value="desc">newest first</option><option value="asc">oldest first</option>
            </select>
          </label>
          <Button type="submit">Search</Button>
        </Form>
      </Card>
      {pending ? (
        <Alert>
          <Form method="post" className="flex flex-wrap items-center gap-3">
            <input type="hidden" name="exclude" value={String(pending.exclude)} />
            <input type="hidden" name="reason" value={pending.reason} />
            <input type="hidden" name="scope" value={pending.scope} />
            <input type="hidden" name="filter" value={pending.filter} />
            {pending.promptIds.map((id) => <input key={id} type="hidden" name="promptIds" value={id} />)}
            <input type="hidden" name="confirm" value={pending.count} />
            <span data-testid="exclusion-count">
              This {pending.exclude ? "leaves" : "takes back"} {pending.count} {pending.count === 1 ? "prompt" : "prompts"} {pending.exclude ? "out of" : "into"} training.
            </span>
            <Button type="submit" variant="danger" disabled={pending.count === 0}>Confirm {pending.count}</Button>
          </Form>
        </Alert>
      ) : null}
      <Card title="Prompts">
        {page.items.length === 0 ? <p>No prompt matches.</p> : (
          <table className="w-full text-sm" data-testid="browser-results">
            <thead><tr>
              {canExclude ? <th className="text-left"><span className="sr-only">Select</span></th> : null}
              <th className="text-left">Prompt</th><th className="text-left">Source</th><th className="text-left">Tasks</th><th className="text-left">Submissions</th><th className="text-left">Training</th>
            </tr></thead>
            <tbody>
              {page.items.map((p) => (
                <tr key={p.id} className="border-t border-slate-200 dark:border-slate-800">
                  {canExclude ? <td className="py-1 pr-2"><input type="checkbox" name="promptIds" value={p.id} form="bulk" aria-label={`Select prompt ${p.id}`} /></td> : null}
                  <td className="py-1 pr-2"><Link className="underline" to={`/projects/${project.id}/prompts/${p.id}`}>{p.text || "(empty)"}</Link></td>
                  <td className="py-1 pr-2">{p.source ?? "—"}</td>
                  <td className="py-1 pr-2">{p.tasks}</td>
                  <td className="py-1 pr-2">{p.submissions}</td>
                  <td className="py-1">{p.excluded_at ? `excluded: ${p.exclusion_reason ?? ""}` : p.held_out ? "eval set" : "in"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {nextHref ? <Link className="mt-3 inline-block underline" to={nextHref}>Next page</Link> : null}
      </Card>
      {canExclude ? (
        <Card title="Exclude from training">
          <Form method="post" id="bulk" className="flex flex-wrap items-end gap-3">
            <input type="hidden" name="filter" value={JSON.stringify(filter)} />
            <label className="text-sm">Reason (needed to exclude)<br /><input name="reason" className={browserInputClass} /></label>
            <label className="text-sm">Which<br />
              <select name="scope" defaultValue="selected" className={browserInputClass}>
                <option value="selected">the selected prompts</option><option value="filter">every prompt this filter finds</option>
              </select>
            </label>
            <label className="text-sm">Action<br />
              <select name="exclude" defaultValue="true" className={browserInputClass}>
                <option value="true">exclude from training</option><option value="false">take back into training</option>
              </select>
            </label>
            <Button type="submit" variant="secondary">Count first</Button>
          </Form>
        </Card>
      ) : null}
    </>
  );
}
