import { data, Form, Link, redirect } from "react-router";
import type { Route } from "./+types/projects";
import { hasRole } from "../../server/auth/roles.ts";
import { projectInputSchema, projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { createProject, listProjects } from "../../server/labeling/projects.server.ts";
import { Alert, Button, Card, Field, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";
import { fieldErrors, typedValues } from "../lib/form.ts";

export const meta: Route.MetaFunction = () => [{ title: "Projects · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  const user = requireUser(context, request);
  return { projects: await listProjects(context.db, context.actor!), canCreate: hasRole(user.role, "researcher") };
}

export async function action({ context, request }: Route.ActionArgs) {
  const user = requireUser(context, request, "researcher");
  const form = await request.formData();
  const values = typedValues(form, ["name", "guidelines", "k", "access"]);
  const parsed = projectInputSchema.safeParse({
    name: values.name,
    guidelines: values.guidelines,
    settings: projectSettingsSchema.parse({ k: Number(values.k) || undefined }),
  });
  if (!parsed.success) return data({ errors: fieldErrors(parsed.error), values }, { status: 422 });
  // Members-only unless the box is ticked (decision 0031); the creator is the first member.
  const project = await createProject(context.db, user.id, { ...parsed.data, access: values.access === "open" ? "open" : "members" });
  return redirect(`/projects/${project.id}`);
}

export default function Projects({ loaderData, actionData }: Route.ComponentProps) {
  const errors: Record<string, string> = actionData?.errors ?? {};
  return (
    <>
      <PageTitle lead="Each project has its own guidelines, prompts and labeling queue.">Projects</PageTitle>
      <div className="grid gap-6 lg:grid-cols-[2fr_1fr]">
        <Card title="Your projects">
          {loaderData.projects.length === 0 ? (
            <p>No project is open to you yet.{loaderData.canCreate ? " Create one." : " A researcher of a project adds you to it."}</p>
          ) : (
            <ul className="divide-y divide-slate-200 dark:divide-slate-800">
              {loaderData.projects.map((p) => (
                <li key={p.id} className="flex items-center justify-between py-3">
                  <Link to={`/projects/${p.id}`} className="font-medium text-brand-700 underline dark:text-brand-50">
                    {p.name}
                  </Link>
                  <span className="text-sm text-slate-700 dark:text-slate-300">
                    {p.access === "members" ? "members only · " : "open to all · "}
                    {p.prompt_count ?? 0} prompts · {p.open_tasks ?? 0} open tasks
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Card>
        {loaderData.canCreate ? (
          <Card title="New project">
            {errors.form ? <Alert>{errors.form}</Alert> : null}
            <Form method="post">
              <Field label="Name" name="name" required defaultValue={actionData?.values.name} error={errors.name} />
              <Field label="Completions per ranking task (K, 2–9)" name="k" type="number" min={2} max={9} defaultValue={actionData?.values.k ?? "4"} error={errors["settings.k"]} />
              <div className="mb-4">
                <label htmlFor="field-guidelines" className="mb-1 block text-sm font-medium">
                  Guidelines (markdown)
                </label>
                <textarea id="field-guidelines" name="guidelines" rows={5} defaultValue={actionData?.values.guidelines}
                  className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950" />
              </div>
              <label className="mb-4 flex items-center gap-2 text-sm">
                <input type="checkbox" name="access" value="open" defaultChecked={actionData?.values.access === "open"} />
                Open to every signed-in person (otherwise only the members you add)
              </label>
              <Button type="submit">Create project</Button>
            </Form>
          </Card>
        ) : null}
      </div>
    </>
  );
}
