import { data, Form, redirect } from "react-router";
import type { Route } from "./+types/project-settings";
import { projectInputSchema } from "../../server/labeling/project-settings.ts";
import { getProject, updateProject } from "../../server/labeling/projects.server.ts";
import { Alert, Button, Card, Field, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";
import { fieldErrors } from "../lib/form.ts";

export const meta: Route.MetaFunction = () => [{ title: "Project settings · Tandem" }];

const taskTypes = ["demonstrate", "rank", "review", "compare"] as const;

export async function loader({ context, request, params }: Route.LoaderArgs) {
  requireUser(context, request, "researcher");
  return { project: await or404(getProject(context.db, params.projectId), "There is no such project.") };
}

/** Flags are edited as lines "id: label"; a malformed line is reported, not dropped. */
function parseFlags(text: string): { flags: Array<{ id: string; label: string }>; bad: string[] } {
  const flags: Array<{ id: string; label: string }> = [];
  const bad: string[] = [];
  for (const line of text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean)) {
    const match = /^([^:]+):\s*(.+)$/.exec(line);
    if (match) flags.push({ id: match[1]!.trim(), label: match[2]!.trim() });
    else bad.push(line);
  }
  return { flags, bad };
}

export async function action({ context, request, params }: Route.ActionArgs) {
  const user = requireUser(context, request, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const form = await request.formData();
  const text = (name: string) => String(form.get(name) ?? "");
  const num = (name: string) => (text(name).trim() === "" ? undefined : Number(text(name)));
  const { flags, bad } = parseFlags(text("flags"));
  const parsed = projectInputSchema.safeParse({
    name: text("name"),
    guidelines: text("guidelines"),
    settings: {
      ...project.settings,
      k: num("k"),
      overlap: Object.fromEntries(taskTypes.map((t) => [t, num(`overlap.${t}`)])),
      taskWeights: Object.fromEntries(taskTypes.map((t) => [t, num(`taskWeights.${t}`)])),
      leaseMinutes: num("leaseMinutes"),
      maxPendingPerUser: num("maxPendingPerUser"),
      goldRate: num("goldRate"),
      nearDuplicateThreshold: num("nearDuplicateThreshold"),
      flags,
    },
  });
  const errors = parsed.success ? {} : fieldErrors(parsed.error);
  if (bad.length > 0) errors["settings.flags"] = `Write each flag as "id: label" — not understood: ${bad.join("; ")}`;
  if (!parsed.success || bad.length > 0) return data({ errors, values: Object.fromEntries([...form].map(([k, v]) => [k, String(v)])) }, { status: 422 });
  await updateProject(context.db, user.id, project.id, parsed.data);
  return redirect(`/projects/${project.id}`);
}

export default function ProjectSettingsPage({ loaderData, actionData }: Route.ComponentProps) {
  const { project } = loaderData;
  const errors: Record<string, string> = actionData?.errors ?? {};
  const values: Record<string, string> = actionData?.values ?? {};
  const v = (name: string, fallback: string | number) => values[name] ?? String(fallback);
  const errorList = Object.entries(errors);
  return (
    <>
      <PageTitle lead={project.name}>Project settings</PageTitle>
      {errorList.length > 0 ? (
        <Alert>
          <p>Nothing was saved:</p>
          <ul className="list-disc pl-5">
            {errorList.map(([field, message]) => (
              <li key={field}>
                {field}: {message}
              </li>
            ))}
          </ul>
        </Alert>
      ) : null}
      <Form method="post" className="grid gap-6 lg:grid-cols-2">
        <Card title="Basics">
          <Field label="Name" name="name" required defaultValue={v("name", project.name)} error={errors.name} />
          <div className="mb-4">
            <label htmlFor="field-guidelines" className="mb-1 block text-sm font-medium">Guidelines (markdown)</label>
            <textarea id="field-guidelines" name="guidelines" rows={10} defaultValue={v("guidelines", project.guidelines)}
              className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950" />
          </div>
          <Field label="Completions per ranking task (K, 2–9)" name="k" type="number" min={2} max={9} defaultValue={v("k", project.settings.k)} />
          <Field label="Lease (minutes a task stays yours)" name="leaseMinutes" type="number" min={1} defaultValue={v("leaseMinutes", project.settings.leaseMinutes)} />
          <Field label="Unfinished tasks a person may hold" name="maxPendingPerUser" type="number" min={1} defaultValue={v("maxPendingPerUser", project.settings.maxPendingPerUser)} />
          <Field label="Gold rate (share of ranking claims that draw a gold task, 0–1)" name="goldRate" type="number" step="0.01" min={0} max={1} defaultValue={v("goldRate", project.settings.goldRate)} error={errors["settings.goldRate"]} />
          <Field label="Near-duplicate threshold (Jaccard, 0.5–1)" name="nearDuplicateThreshold" type="number" step="0.01" min={0.5} max={1} defaultValue={v("nearDuplicateThreshold", project.settings.nearDuplicateThreshold)} />
        </Card>
        <Card title="Queue">
          <table className="mb-4 w-full text-sm">
            <thead>
              <tr>
                <th className="text-left">Task type</th>
                <th className="text-left">People per task</th>
                <th className="text-left">Weight</th>
              </tr>
            </thead>
            <tbody>
              {taskTypes.map((t) => (
                <tr key={t}>
                  <td className="py-1 pr-2">{t}</td>
                  <td className="py-1 pr-2">
                    <input aria-label={`Overlap for ${t}`} name={`overlap.${t}`} type="number" min={1} max={20} defaultValue={v(`overlap.${t}`, project.settings.overlap[t])}
                      className="w-20 rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-950" />
                  </td>
                  <td className="py-1">
                    <input aria-label={`Weight for ${t}`} name={`taskWeights.${t}`} type="number" min={0} max={100} step="any" defaultValue={v(`taskWeights.${t}`, project.settings.taskWeights[t])}
                      className="w-20 rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-950" />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <label htmlFor="field-flags" className="mb-1 block text-sm font-medium">Flags (one per line, “id: label”)</label>
          <textarea id="field-flags" name="flags" rows={12} defaultValue={v("flags", project.settings.flags.map((f) => `${f.id}: ${f.label}`).join("\n"))}
            className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950" />
        </Card>
        <div>
          <Button type="submit">Save settings</Button>
        </div>
      </Form>
    </>
  );
}
