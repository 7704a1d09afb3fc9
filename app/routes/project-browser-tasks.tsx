import { data, Form, Link } from "react-router";
import type { Route } from "./+types/project-browser-tasks";
import { hasRole } from "../../server/auth/roles.ts";
import { browseTasks, requeueSchema, requeueTasks, taskBrowseSchema, taskFilterSchema, type TaskFilter } from "../../server/labeling/browser-items.server.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { Alert, Button, Card } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";
import { BrowserHeader, browserInputClass } from "../components/browser-tabs.tsx";

export const meta: Route.MetaFunction = () => [{ title: "Tasks · Data browser · Tandem" }];

const filterKeys = ["q", "type", "state", "round", "gold", "minAgreement", "maxAgreement", "disputed"] as const;

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { projectRole } = await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const search = new URL(request.url).searchParams;
  // A form sends every field, filled or not: empty ones are no filter.
  const filter = Object.fromEntries(filterKeys.flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
  const paging = Object.fromEntries(["sort", "order", "limit", "after"].flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
  const parsed = taskBrowseSchema.safeParse({ ...filter, ...paging });
  const page = parsed.success ? await browseTasks(context.db, project.id, parsed.data) : { items: [], next: null, disputedBelow: project.settings.adaptiveOverlap.agreementBelow };
  const errors = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join(".") || "query"}: ${issue.message}`);
  return { project: { id: project.id, name: project.name }, filter, sort: paging.sort ?? "created_at", order: paging.order ?? "desc", page, errors, canRequeue: hasRole(projectRole, "researcher") };
}

/** Re-queue in two steps: count (nothing changes), then apply at that count (one transaction). */
export async function action({ context, request, params }: Route.ActionArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const form = await request.formData();
  const scope = form.get("scope") === "filter" ? "filter" : "selected";
  const taskIds = scope === "filter" ? [] : form.getAll("taskIds").map(String);
  const filterJson = String(form.get("filter") ?? "{}");
  const add = Number(form.get("add"));
  const confirm = form.get("confirm") === null ? undefined : Number(form.get("confirm"));
  let filter: TaskFilter | undefined;
  if (scope === "filter") {
    let raw: unknown = null;
    try {
      raw = JSON.parse(filterJson);
    } catch {
      // refused just below
    }
    const parsed = taskFilterSchema.safeParse(raw);
    if (!parsed.success) return data({ error: "The filter is not valid; search again.", pending: null, done: null }, { status: 422 });
    filter = parsed.data;
  } else if (taskIds.length === 0) return data({ error: "Select at least one task, or choose every task this filter finds.", pending: null, done: null }, { status: 422 });
  try {
    // Through the API's schema: ids that are ids, at most BULK_MAX_IDS, a whole add from 1 to 10, a numeric confirm.
    const input = requeueSchema.safeParse({ ...(filter ? { filter } : { taskIds }), add, ...(confirm === undefined ? {} : { confirm }) });
    if (!input.success) throw AppError.fromZod(input.error, "Nothing was changed.");
    const result = await requeueTasks(context.db, context.actor!, params.projectId, input.data);
    if (!result.applied) return { error: null, pending: { count: result.count, reopened: result.reopened, add, taskIds, scope, filter: filterJson }, done: null };
    return { error: null, pending: null, done: `${result.count} ${result.count === 1 ? "task asks" : "tasks ask"} for ${add} more ${add === 1 ? "label" : "labels"}; ${result.reopened} reopened.` };
  } catch (error) {
    if (!(error instanceof AppError) || !["validation_failed", "conflict"].includes(error.code)) throw error;
    const detail = error.fieldErrors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return data({ error: detail ? `${error.message} ${detail}` : error.message, pending: null, done: null }, { status: error.status });
  }
}

const percent = (rate: number | null) => (rate === null ? "—" : `${Math.round(rate * 100)} %`);

export default function ProjectBrowserTasks({ loaderData, actionData }: Route.ComponentProps) {
  const { project, filter, sort, order, page, errors, canRequeue } = loaderData;
  const pending = actionData?.pending ?? null;
  const f = (key: string) => (filter as Record<string, string>)[key] ?? "";
  const nextHref = page.next ? `?${new URLSearchParams({ ...filter, sort, order, after: page.next })}` : null;
  return (
    <>
      <BrowserHeader project={project} current="tasks" errors={errors} />
      {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
      {actionData?.done ? <Alert tone="success">{actionData.done}</Alert> : null}
      <Card title="Find tasks">
        <Form method="get" className="flex flex-wrap items-end gap-3">
          <label className="text-sm">Prompt text<br /><input name="q" defaultValue={f("q")} className={browserInputClass} /></label>
          <label className="text-sm">Type<br />
            <select name="type" defaultValue={f("type")} className={browserInputClass}>
              <option value="">any</option>{["demonstrate", "rank", "review", "compare"].map((t) => <option key={t}>{t}</option>)}
            </select>
          </label>
          <label className="text-sm">State<br />
            <select name="state" defaultValue={f("state")} className={browserInputClass}>
              <option value="">any</option>{["open", "complete", "cancelled"].map((t) => <option key={t}>{t}</option>)}
            </select>
          </label>
          <label className="text-sm">Round id<br /><input name="round" defaultValue={f("round")} inputMode="numeric" className={browserInputClass} /></label>
          <label className="text-sm">Gold<br />
            <select name="gold" defaultValue={f("gold")} className={browserInputClass}>
              <option value="">either</option><option value="true">gold</option><option value="false">not gold</option>
            </select>
          </label>
          <label className="text-sm">Agreement from<br /><input name="minAgreement" defaultValue={f("minAgreement")} inputMode="decimal" placeholder="0" className={browserInputClass} /></label>
          <label className="text-sm">to<br /><input name="maxAgreement" defaultValue={f("maxAgreement")} inputMode="decimal" placeholder="1" className={browserInputClass} /></label>
          <label className="text-sm"><input type="checkbox" name="disputed" value="true" defaultChecked={f("disputed") === "true"} /> Disputed (below {percent(page.disputedBelow)})</label>
          <label className="text-sm">Sort by<br />
            <select name="sort" defaultValue={sort} className={browserInputClass}>
              <option value="created_at">time</option><option value="agreement">agreement (none last)</option>
            </select>
          </label>
          <label className="text-sm">Order<br />
            <select name="order" defaultValue={order} className={browserInputClass}>
              <option value="desc">descending (newest, highest)</option><option value="asc">ascending (oldest, lowest)</option>
            </select>
          </label>
          <Button type="submit">Search</Button>
        </Form>
      </Card>
      {pending ? (
        <Alert>
          <Form method="post" className="flex flex-wrap items-center gap-3">
            {pending.taskIds.map((id) => <input key={id} type="hidden" name="taskIds" value={id} />)}
            <input type="hidden" name="scope" value={pending.scope} />
            <input type="hidden" name="filter" value={pending.filter} />
            <input type="hidden" name="add" value={pending.add} />
            <input type="hidden" name="confirm" value={pending.count} />
            <span data-testid="requeue-count">
              {pending.count} {pending.count === 1 ? "task asks" : "tasks ask"} for {pending.add} more {pending.add === 1 ? "label" : "labels"}; {pending.reopened} of them {pending.reopened === 1 ? "reopens" : "reopen"}.
            </span>
            <Button type="submit" variant="danger" disabled={pending.count === 0}>Confirm {pending.count}</Button>
          </Form>
        </Alert>
      ) : null}
      <Card title="Tasks">
        {page.items.length === 0 ? <p>No task matches.</p> : (
          <table className="w-full text-sm" data-testid="task-results">
            <thead><tr>
              {canRequeue ? <th className="text-left"><span className="sr-only">Select</span></th> : null}
              <th className="text-left">Prompt</th><th className="text-left">Type</th><th className="text-left">State</th>
              <th className="text-left">Labels</th><th className="text-left">Agreement</th><th className="text-left">Gold</th>
            </tr></thead>
            <tbody>
              {page.items.map((t) => (
                <tr key={t.id} className="border-t border-slate-200 dark:border-slate-800">
                  {canRequeue ? <td className="py-1 pr-2"><input type="checkbox" name="taskIds" value={t.id} form="requeue" aria-label={`Select task ${t.id}`} /></td> : null}
                  <td className="py-1 pr-2"><Link className="underline" to={`/projects/${project.id}/prompts/${t.prompt_id}`}>{t.text || "(empty)"}</Link></td>
                  <td className="py-1 pr-2">{t.type}</td>
                  <td className="py-1 pr-2">{t.state}</td>
                  <td className="py-1 pr-2">{t.submissions} of {t.overlap_target}</td>
                  <td className="py-1 pr-2">{percent(t.agreement)}</td>
                  <td className="py-1">{t.gold ? "gold" : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {nextHref ? <Link className="mt-3 inline-block underline" to={nextHref}>Next page</Link> : null}
      </Card>
      {canRequeue ? (
        <Card title="Re-queue with more overlap">
          <Form method="post" id="requeue" className="flex flex-wrap items-end gap-3">
            <input type="hidden" name="filter" value={JSON.stringify(filter)} />
            <label className="text-sm">Which<br />
              <select name="scope" defaultValue="selected" className={browserInputClass}>
                <option value="selected">the selected tasks</option><option value="filter">every task this filter finds</option>
              </select>
            </label>
            <label className="text-sm">More labels per selected task<br /><input name="add" type="number" min={1} max={10} defaultValue={1} className={browserInputClass} /></label>
            <Button type="submit" variant="secondary">Count first</Button>
          </Form>
        </Card>
      ) : null}
    </>
  );
}
