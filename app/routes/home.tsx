import { data, Form } from "react-router";
import type { Route } from "./+types/home";
import { roleLabels } from "../../server/auth/roles.ts";
import { exposureToday, optOuts, setOptOuts } from "../../server/labeling/wellbeing/sensitive.server.ts";
import { categorySchema } from "../../server/labeling/wellbeing/wellbeing-settings.ts";
import { Button, Card, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Home · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  const user = requireUser(context, request);
  // A person's own exposure to sensitive content (decision 0036): theirs only, nobody else's.
  return { user, exposure: await exposureToday(context.db, user.id), optOuts: await optOuts(context.db, user.id) };
}

/** Saves the categories this person is never served (one per line or comma-separated). */
export async function action({ context, request }: Route.ActionArgs) {
  const user = requireUser(context, request);
  const text = String((await request.formData()).get("optOuts") ?? "");
  const categories = text.split(/[\s,]+/).map((c) => c.trim().toLowerCase()).filter(Boolean);
  const bad = categories.filter((c) => !categorySchema.safeParse(c).success);
  if (bad.length > 0 || categories.length > 40) return data({ error: `optOuts: not a category: ${bad.join(", ") || "too many"} (lowercase letters, digits and _)` }, { status: 422 });
  await setOptOuts(context.db, user.id, categories);
  return { error: null };
}

const roleSummary = {
  labeler: "You write demonstrations and rank model completions. Labeling queues appear here once a researcher has imported prompts.",
  reviewer: "You review synthetic Q&A and flagged items, and you can label too.",
  researcher: "You import prompts, run preference-tuning rounds and export data; you can review and label too.",
  admin: "You manage users, roles and API tokens, and can do everything a researcher can.",
} as const;

export default function Home({ loaderData, actionData }: Route.ComponentProps) {
  const { user, exposure } = loaderData;
  return (
    <>
      <PageTitle lead={`Signed in as ${user.email} · ${roleLabels[user.role]}`}>Welcome, {user.name}</PageTitle>
      <div className="space-y-6">
        <Card title="What you can do">
          <p>{roleSummary[user.role]}</p>
        </Card>
        <Card title="Your exposure to sensitive content today">
          <p data-testid="exposure">
            {exposure.sensitiveTasks} sensitive {exposure.sensitiveTasks === 1 ? "task" : "tasks"} served, content revealed {exposure.reveals} {exposure.reveals === 1 ? "time" : "times"} (UTC day).
          </p>
          {exposure.byProject.length > 0 ? (
            <ul className="mt-2 list-disc pl-5 text-sm">
              {exposure.byProject.map((p) => <li key={p.projectId}>{p.name}: {p.tasks}</li>)}
            </ul>
          ) : null}
          <Form method="post" className="mt-4">
            <label htmlFor="opt-outs" className="mb-1 block text-sm font-medium">Categories you never want to be served (e.g. violent_content, self_harm)</label>
            <input id="opt-outs" name="optOuts" defaultValue={loaderData.optOuts.join(", ")}
              className="mb-2 w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950" />
            {actionData?.error ? <p role="alert" className="mb-2 text-sm text-red-700 dark:text-red-400">{actionData.error}</p> : null}
            <Button type="submit" variant="secondary">Save opt-outs</Button>
          </Form>
        </Card>
      </div>
    </>
  );
}
