import { Form, Link } from "react-router";
import type { Route } from "./+types/project-browser";
import { hasRole } from "../../server/auth/roles.ts";
import { browsePrompts, browseQuerySchema } from "../../server/labeling/browser.server.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { BrowserHeader, browserInputClass } from "../components/browser-tabs.tsx";
import { BulkActionsCard, PendingBulkConfirm } from "../components/browser-bulk.tsx";
import { Alert, Button, Card } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { runBulk } from "../lib/browser-bulk.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Data browser · Tandem" }];

const filterKeys = [
  "q", "source", "status", "kind", "taskType", "taskState", "round", "labeler", "gold", "heldOut", "excluded", "from", "to", "flag", "model", "minQuality", "maxQuality",
] as const;

/** The filter in a URL, without empty fields (a form sends every field, filled or not). */
function filterParams(search: URLSearchParams): Record<string, string> {
  return Object.fromEntries(filterKeys.flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
}

export async function loader({ context, request, params }: Route.LoaderArgs) {
  const { projectRole } = await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const search = new URL(request.url).searchParams;
  const filter = filterParams(search);
  const paging = Object.fromEntries(["sort", "order", "limit", "after"].flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
  const parsed = browseQuerySchema.safeParse({ ...filter, ...paging });
  const page = parsed.success ? await browsePrompts(context.db, project.id, parsed.data) : { items: [], next: null };
  const errors = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join(".") || "query"}: ${issue.message}`);
  return {
    project: { id: project.id, name: project.name }, filter, sort: paging.sort ?? "created_at", order: paging.order ?? "desc", page, errors, canExclude: hasRole(projectRole, "researcher"),
    flags: project.settings.flags, quality: project.settings.quality,
  };
}

/** Bulk actions in two steps: count (nothing changes), then apply at that count (one transaction). */
export async function action({ context, request, params }: Route.ActionArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  return runBulk(context, params.projectId, await request.formData());
}

export default function ProjectBrowser({ loaderData, actionData }: Route.ComponentProps) {
  const { project, filter, sort, order, page, errors, canExclude, flags, quality } = loaderData;
  const pending = actionData?.pending ?? null;
  const f = (key: string) => filter[key] ?? "";
  const nextHref = page.next ? `?${new URLSearchParams({ ...filter, sort, order, after: page.next })}` : null;
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
          <label className="text-sm">Status<br />
            <select name="status" defaultValue={f("status")} className={browserInputClass}>
              <option value="">any</option><option value="active">active</option><option value="review">in review</option><option value="rejected">rejected</option>
            </select>
          </label>
          <label className="text-sm">Flagged<br />
            <select name="flag" defaultValue={f("flag")} className={browserInputClass}>
              <option value="">either</option><option value="any">any flag</option>
              {flags.map((flag) => <option key={flag.id} value={flag.id}>{flag.label}</option>)}
            </select>
          </label>
          <label className="text-sm">Model<br /><input name="model" defaultValue={f("model")} className={browserInputClass} /></label>
          <label className="text-sm">Quality from<br /><input name="minQuality" defaultValue={f("minQuality")} inputMode="decimal" placeholder={String(quality.min)} className={browserInputClass} /></label>
          <label className="text-sm">to<br /><input name="maxQuality" defaultValue={f("maxQuality")} inputMode="decimal" placeholder={String(quality.max)} className={browserInputClass} /></label>
          <label className="text-sm">Sort by<br />
            <select name="sort" defaultValue={sort} className={browserInputClass}>
              <option value="created_at">time</option><option value="quality">quality score (unscored last)</option>
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
      {pending ? <PendingBulkConfirm pending={pending} projectId={project.id} /> : null}
      <Card title="Prompts">
        {page.items.length === 0 ? <p>No prompt matches.</p> : (
          <table className="w-full text-sm" data-testid="browser-results">
            <thead><tr>
              {canExclude ? <th className="text-left"><span className="sr-only">Select</span></th> : null}
              <th className="text-left">Prompt</th><th className="text-left">Source</th><th className="text-left">Tasks</th><th className="text-left">Submissions</th><th className="text-left">Quality</th><th className="text-left">Training</th>
            </tr></thead>
            <tbody>
              {page.items.map((p) => (
                <tr key={p.id} className="border-t border-slate-200 dark:border-slate-800">
                  {canExclude ? <td className="py-1 pr-2"><input type="checkbox" name="promptIds" value={p.id} form="bulk" aria-label={`Select prompt ${p.id}`} /></td> : null}
                  <td className="py-1 pr-2"><Link className="underline" to={`/projects/${project.id}/prompts/${p.id}`}>{p.text || "(empty)"}</Link></td>
                  <td className="py-1 pr-2">{p.source ?? "—"}</td>
                  <td className="py-1 pr-2">{p.tasks}</td>
                  <td className="py-1 pr-2">{p.submissions}</td>
                  <td className="py-1 pr-2">{p.quality === null ? "—" : p.quality.toFixed(2)}</td>
                  <td className="py-1">{p.excluded_at ? `excluded: ${p.exclusion_reason ?? ""}` : p.held_out ? "eval set" : "in"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {nextHref ? <Link className="mt-3 inline-block underline" to={nextHref}>Next page</Link> : null}
      </Card>
      {canExclude ? <BulkActionsCard filter={filter} /> : null}
    </>
  );
}
