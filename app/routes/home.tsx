import { useEffect, useRef } from "react";
import { Form, Link } from "react-router";
import type { Route } from "./+types/home";
import { roleLabels } from "../../server/auth/roles.ts";
import { labelerHome, QUEUE_COUNT_CAP } from "../../server/labeling/labeler-home.server.ts";
import { Alert, Button, Card, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Home · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  const user = requireUser(context, request);
  const left = new URL(request.url).searchParams.get("left");
  return { user, projects: await labelerHome(context.db, user), left: left !== null && /^\d{1,18}$/.test(left), cap: QUEUE_COUNT_CAP };
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

export default function Home({ loaderData }: Route.ComponentProps) {
  const { user, projects, left, cap } = loaderData;
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
    </>
  );
}
