import { Form, Link } from "react-router";
import type { Route } from "./+types/project-browser-submissions";
import { browseSubmissions, submissionBrowseSchema } from "../../server/labeling/browser-items.server.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { Button, Card } from "../components/ui.tsx";
import { BrowserHeader, browserInputClass } from "../components/browser-tabs.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Submissions · Data browser · Tandem" }];

const filterKeys = ["q", "labeler", "taskType", "task", "from", "to", "review", "gold", "excluded", "suggestionRevealed"] as const;

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "reviewer");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const search = new URL(request.url).searchParams;
  const filter = Object.fromEntries(filterKeys.flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
  const paging = Object.fromEntries(["order", "limit", "after"].flatMap((key) => (search.get(key) ? [[key, search.get(key)!]] : [])));
  const parsed = submissionBrowseSchema.safeParse({ ...filter, ...paging });
  const page = parsed.success ? await browseSubmissions(context.db, project.id, parsed.data) : { items: [], next: null };
  const errors = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join(".") || "query"}: ${issue.message}`);
  // The payload stays on the item page; the listing shows who, when and what became of it.
  const items = page.items.map(({ payload: _payload, ...row }) => row);
  return { project: { id: project.id, name: project.name }, filter, order: paging.order ?? "desc", items, next: page.next, errors };
}


export default function ProjectBrowserSubmissions({ loaderData }: Route.ComponentProps) {
  const { project, filter, order, items, next, errors } = loaderData;
  const f = (key: string) => (filter as Record<string, string>)[key] ?? "";
  const nextHref = next ? `?${new URLSearchParams({ ...filter, order, after: next })}` : null;
  return (
    <>
      <BrowserHeader project={project} current="submissions" errors={errors} />
      <Card title="Find submissions">
        <Form method="get" className="flex flex-wrap items-end gap-3">
          <label className="text-sm">Text (prompt, reply or rationale)<br /><input name="q" defaultValue={f("q")} className={browserInputClass} /></label>
          <label className="text-sm">Task id<br /><input name="task" defaultValue={f("task")} inputMode="numeric" className={browserInputClass} /></label>
          <label className="text-sm">Labeler id<br /><input name="labeler" defaultValue={f("labeler")} inputMode="numeric" className={browserInputClass} /></label>
          <label className="text-sm">Task type<br />
            <select name="taskType" defaultValue={f("taskType")} className={browserInputClass}>
              <option value="">any</option>{["demonstrate", "rank", "review", "compare"].map((t) => <option key={t}>{t}</option>)}
            </select>
          </label>
          <label className="text-sm">From (ISO date-time)<br /><input name="from" defaultValue={f("from")} placeholder="2026-12-01T00:00:00Z" className={browserInputClass} /></label>
          <label className="text-sm">To<br /><input name="to" defaultValue={f("to")} placeholder="2026-12-05T00:00:00Z" className={browserInputClass} /></label>
          <label className="text-sm">Review decision<br />
            <select name="review" defaultValue={f("review")} className={browserInputClass}>
              <option value="">any</option><option value="none">not reviewed</option><option value="open">in review</option>
              <option value="accept">accepted</option><option value="override">overridden</option><option value="send_back">sent back</option>
            </select>
          </label>
          <label className="text-sm">Gold<br />
            <select name="gold" defaultValue={f("gold")} className={browserInputClass}>
              <option value="">either</option><option value="true">gold</option><option value="false">not gold</option>
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
      <Card title="Submissions">
        {items.length === 0 ? <p>No submission matches.</p> : (
          <table className="w-full text-sm" data-testid="submission-results">
            <thead><tr>
              <th className="text-left">Prompt</th><th className="text-left">Type</th><th className="text-left">Labeler</th>
              <th className="text-left">When</th><th className="text-left">Review</th><th className="text-left">Flags</th>
            </tr></thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.id} className="border-t border-slate-200 dark:border-slate-800">
                  <td className="py-1 pr-2"><Link className="underline" to={`/projects/${project.id}/prompts/${s.prompt_id}`}>{s.text || "(empty)"}</Link></td>
                  <td className="py-1 pr-2">{s.task_type}</td>
                  <td className="py-1 pr-2">{s.email}</td>
                  <td className="py-1 pr-2">{new Date(s.created_at).toISOString().replace("T", " ").slice(0, 16)}</td>
                  <td className="py-1 pr-2">{s.review ?? "—"}</td>
                  <td className="py-1">{[s.gold ? "gold" : "", s.excluded ? "excluded" : "", s.suggestion_revealed ? "saw suggestion" : ""].filter(Boolean).join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {nextHref ? <Link className="mt-3 inline-block underline" to={nextHref}>Next page</Link> : null}
      </Card>
    </>
  );
}
