import { Form, Link } from "react-router";
import type { Route } from "./+types/admin-audit";
import { auditActions, auditQuerySchema, listAudit } from "../../server/ops/audit-log.server.ts";
import { Alert, Button, Card, Field, PageTitle, Select } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";
import { fieldErrors } from "../lib/form.ts";

export const meta: Route.MetaFunction = () => [{ title: "Audit log · Tandem" }];

const FILTERS = ["action", "actor", "from", "to"] as const;

export async function loader({ context, request }: Route.LoaderArgs) {
  requireUser(context, request, "admin");
  const params = new URL(request.url).searchParams;
  const values = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""]));
  const before = params.get("before");
  const parsed = auditQuerySchema.safeParse({ ...values, ...(before ? { before } : {}) });
  const actions = await auditActions(context.db);
  if (!parsed.success) return { values, errors: fieldErrors(parsed.error), actions, entries: [], nextBefore: null, paged: false };
  const page = await listAudit(context.db, parsed.data);
  return { values, errors: {} as Record<string, string>, actions, ...page, paged: before !== null };
}

export default function AdminAudit({ loaderData }: Route.ComponentProps) {
  const { values, errors, actions, entries, nextBefore, paged } = loaderData;
  const families = [...new Set(actions.filter((a) => a.includes(".")).map((a) => a.split(".")[0]!))];
  const withFilters = (extra: Record<string, string>) => {
    const search = new URLSearchParams(Object.entries(values).filter(([, v]) => v !== ""));
    for (const [k, v] of Object.entries(extra)) search.set(k, v);
    const text = search.toString();
    return text ? `?${text}` : "";
  };
  return (
    <>
      <PageTitle lead="Who changed roles and tokens, exported or imported data, and launched, cancelled or retried rounds. Newest first.">Audit log</PageTitle>
      {Object.keys(errors).length > 0 ? <Alert>Some filters are not valid; fix them to see entries.</Alert> : null}
      <Card title="Filter">
        <Form method="get" className="grid gap-x-4 sm:grid-cols-2 lg:grid-cols-5 lg:items-end">
          <Select label="Action" name="action" defaultValue={values.action} error={errors.action}>
            <option value="">Any action</option>
            {families.map((family) => (
              <option key={`family-${family}`} value={family}>
                {family}.* (all)
              </option>
            ))}
            {actions.map((action) => (
              <option key={action} value={action}>
                {action}
              </option>
            ))}
          </Select>
          <Field label="Actor (e-mail or user id)" name="actor" defaultValue={values.actor} error={errors.actor} />
          <Field label="From (UTC day)" name="from" type="date" defaultValue={values.from} error={errors.from} />
          <Field label="To (UTC day, inclusive)" name="to" type="date" defaultValue={values.to} error={errors.to} />
          <div className="mb-4">
            <Button type="submit">Show</Button>
          </div>
        </Form>
      </Card>
      <div className="mt-6">
        <Card title="Entries">
          {entries.length === 0 ? (
            <p>No entries match.</p>
          ) : (
            <div className="overflow-x-auto">
              <table className="w-full text-left text-sm" data-testid="audit-table">
                <thead>
                  <tr className="border-b border-slate-200 dark:border-slate-700">
                    <th className="py-2 pr-3">When (UTC)</th>
                    <th className="py-2 pr-3">Actor</th>
                    <th className="py-2 pr-3">Action</th>
                    <th className="py-2 pr-3">Target</th>
                    <th className="py-2 pr-3">Details</th>
                  </tr>
                </thead>
                <tbody>
                  {entries.map((entry) => (
                    <tr key={entry.id} className="border-b border-slate-100 align-top dark:border-slate-800">
                      <td className="whitespace-nowrap py-2 pr-3">{new Date(entry.created_at).toISOString().slice(0, 19).replace("T", " ")}</td>
                      <td className="py-2 pr-3">{entry.actor ? `${entry.actor.name} <${entry.actor.email}>` : "system"}</td>
                      <td className="py-2 pr-3 font-mono">{entry.action}</td>
                      <td className="py-2 pr-3 font-mono">{entry.target ?? ""}</td>
                      <td className="py-2 pr-3">
                        {Object.keys(entry.details).length > 0 ? <code className="block max-w-xl break-all font-mono text-xs">{JSON.stringify(entry.details)}</code> : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav aria-label="Pages" className="mt-4 flex gap-4">
            {paged ? <Link to={withFilters({})}>Newest</Link> : null}
            {nextBefore ? <Link to={withFilters({ before: nextBefore })}>Older entries</Link> : null}
          </nav>
        </Card>
      </div>
    </>
  );
}
