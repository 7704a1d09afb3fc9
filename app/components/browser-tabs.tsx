import { Link } from "react-router";
import { Alert, PageTitle } from "./ui.tsx";

/** The browser pages' filter inputs. */
export const browserInputClass = "rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950";

type Tab = "prompts" | "tasks" | "submissions";

/** The data browser's three listings, one page each. */
function BrowserTabs({ projectId, current }: { projectId: string; current: Tab }) {
  const tabs = [
    ["prompts", `/projects/${projectId}/browser`, "Prompts"],
    ["tasks", `/projects/${projectId}/browser/tasks`, "Tasks"],
    ["submissions", `/projects/${projectId}/browser/submissions`, "Submissions"],
  ] as const;
  return (
    <nav aria-label="Data browser" className="mb-4 flex gap-4 text-sm">
      {tabs.map(([key, to, label]) =>
        key === current ? <span key={key} aria-current="page" className="font-semibold">{label}</span> : <Link key={key} className="underline" to={to}>{label}</Link>,
      )}
    </nav>
  );
}

/** What every browser page starts with: the title, the tabs, and why its filter was refused. */
export function BrowserHeader({ project, current, errors }: { project: { id: string; name: string }; current: Tab; errors: string[] }) {
  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Data browser</PageTitle>
      <BrowserTabs projectId={project.id} current={current} />
      {errors.length > 0 ? (
        <Alert>
          <p>The filter is not valid:</p>
          <ul className="list-disc pl-5">{errors.map((e) => <li key={e}>{e}</li>)}</ul>
        </Alert>
      ) : null}
    </>
  );
}
