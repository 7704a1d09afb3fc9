import { useEffect, useRef } from "react";
import { data, Form, Link } from "react-router";
import type { Route } from "./+types/home";
import { roleLabels } from "../../server/auth/roles.ts";
import { labelerHome, QUEUE_COUNT_CAP } from "../../server/labeling/labeler-home.server.ts";
import { sentBackFor } from "../../server/labeling/annotation-review.server.ts";
import { exposureToday, optOuts, setOptOuts } from "../../server/labeling/wellbeing/sensitive.server.ts";
import { categorySchema } from "../../server/labeling/wellbeing/wellbeing-settings.ts";
import { Alert, Button, Card, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Home · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  const user = requireUser(context, request);
  const left = new URL(request.url).searchParams.get("left");
  return {
    user, projects: await labelerHome(context.db, user), sentBack: await sentBackFor(context.db, user), left: left !== null && /^\d{1,18}$/.test(left), cap: QUEUE_COUNT_CAP,
    // A person's own exposure to sensitive content (decision 0036): theirs only, nobody else's.
    exposure: await exposureToday(context.db, user.id), optOuts: await optOuts(context.db, user.id),
  };
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
  labeler: "You write demonstrations and rank model completions in the projects you are a member of.",
  reviewer: "You review synthetic Q&A and flagged items, and you can label too.",
  researcher: "You import prompts, run preference-tuning rounds and export data; you can review and label too.",
  admin: "You manage users, roles and API tokens, and can do everything a researcher can.",
} as const;


/** Typing in a field must never start a task. */
function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export default function Home({ loaderData, actionData }: Route.ComponentProps) {
  const { user, projects, left, cap, exposure, sentBack } = loaderData;
  const count = (n: number) => (n >= cap ? `${cap}+` : String(n));
  const forms = useRef<Array<HTMLFormElement | null>>([]);
  const withWork = projects.filter((p) => p.queueLeft > 0);

  // One key to start: 1–9 opens that project's next task, Enter the first project with work.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.repeat || event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target)) return;
      let index = -1;
      if (/^[1-9]$/.test(event.key)) index = Number(event.key) - 1;
      else if (event.key === "Enter" && (event.target === document.body || event.target === document.documentElement)) index = withWork.length > 0 ? 0 : -1;
      const form = forms.current[index];
      if (!form) return;
      event.preventDefault();
      form.requestSubmit();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [withWork.length]);

  return (
    <>
      <PageTitle lead={`Signed in as ${user.email} · ${roleLabels[user.role]}`}>Welcome, {user.name}</PageTitle>
      {left ? <Alert>You are no longer a member of that project.</Alert> : null}
      {sentBack.length > 0 ? (
        <Card title="Sent back to you">
          <ul className="divide-y divide-slate-200 dark:divide-slate-800" data-testid="sent-back-list">
            {sentBack.map((item) => (
              <li key={item.reviewId} className="flex flex-wrap items-center justify-between gap-3 py-3">
                <div>
                  <p className="text-sm">
                    {item.projectName} · a {item.taskType === "rank" ? "ranking" : "demonstration"} sent back{item.reviewer ? ` by ${item.reviewer}` : ""}
                  </p>
                  <p className="whitespace-pre-wrap">{item.comment}</p>
                </div>
                {item.assignmentId ? (
                  <Link to={`/tasks/${item.assignmentId}`} className="rounded-md bg-brand-700 px-3 py-2 text-sm font-medium text-white">Redo it</Link>
                ) : (
                  <span className="text-sm">No longer open (time ran out or skipped)</span>
                )}
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
      <Card title="Your queues">
        {projects.length === 0 ? (
          <p>No project is open to you yet. A researcher of a project adds you to it; it then appears here.</p>
        ) : (
          <>
            <p className="mb-3 text-sm" id="start-keys">
              {withWork.length > 0 ? (
                <>Press <kbd>Enter</kbd> to start the first queue, or a number key for that project.</>
              ) : (
                <>Nothing is waiting for you right now{projects.some((p) => p.openTasks > 0) ? " (the open tasks have their people already)" : ""}. Thank you!</>
              )}
            </p>
            <ol className="divide-y divide-slate-200 dark:divide-slate-800" data-testid="home-projects">
              {projects.map((project, i) => (
                <li key={project.id} className="flex flex-wrap items-center justify-between gap-3 py-3" data-testid={`home-project-${project.id}`}>
                  <div>
                    <Link to={`/projects/${project.id}`} className="font-medium text-brand-700 underline dark:text-brand-50">
                      {project.name}
                    </Link>
                    <p className="text-sm text-slate-700 dark:text-slate-300">
                      <span data-testid="queue-left">{count(project.queueLeft)} left for you</span> ·{" "}
                      <span data-testid="done-today">{project.doneToday} done today</span> · {count(project.openTasks)} open tasks · as {roleLabels[project.role].toLowerCase()}
                    </p>
                  </div>
                  {project.queueLeft > 0 ? (
                    <Form method="post" action={`/projects/${project.id}`} ref={(el) => void (forms.current[i] = el)}>
                      <Button type="submit" aria-describedby="start-keys">
                        {project.resumable ? "Resume" : "Start"}
                        {i < 9 ? <kbd className="ml-2 rounded border border-white/40 px-1 text-xs">{i + 1}</kbd> : null}
                      </Button>
                    </Form>
                  ) : (
                    <span ref={() => void (forms.current[i] = null)} className="text-sm">Nothing for you here now</span>
                  )}
                </li>
              ))}
            </ol>
          </>
        )}
      </Card>
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
    </>
  );
}
