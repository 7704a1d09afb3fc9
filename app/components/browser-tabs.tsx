import { Link } from "react-router";

/** The data browser's three listings, one page each. */
export function BrowserTabs({ projectId, current }: { projectId: string; current: "prompts" | "tasks" | "submissions" }) {
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
