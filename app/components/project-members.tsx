import { Form } from "react-router";
import { roleLabels } from "../../server/auth/roles.ts";
import type { Member } from "../../server/labeling/members.server.ts";
import { Alert, Button } from "./ui.tsx";

export type MemberResult = { ok: true; message: string } | { ok: false; message: string; errors: Array<{ path: string; message: string }> };

const inputClass = "w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-950";

/**
 * Who may work on the project (decision 0031): open to all or members only, the member list
 * with each person's project role and the role they get here, and add / remove by a pasted
 * list of e-mail addresses (all or nothing; every unknown address is named).
 */
export function ProjectMembers({ access, members, result }: { access: "open" | "members"; members: Member[]; result: MemberResult | null }) {
  return (
    <section aria-labelledby="members" className="mt-6 rounded-lg border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900">
      <h2 id="members" className="mb-2 text-lg font-semibold">Members</h2>
      {result ? (
        <Alert tone={result.ok ? "success" : "error"}>
          <p>{result.message}</p>
          {!result.ok && result.errors.length > 0 ? (
            <ul className="list-disc pl-5">
              {result.errors.map((error) => (
                <li key={error.path}>{error.message}</li>
              ))}
            </ul>
          ) : null}
        </Alert>
      ) : null}
      <Form method="post" className="mb-4 flex flex-wrap items-center gap-3 text-sm">
        <input type="hidden" name="intent" value="access" />
        <span data-testid="project-access">
          {access === "open" ? "Open to every signed-in person (members' project roles still apply to them)." : "Members only: people not listed below cannot see this project (admins can)."}
        </span>
        <input type="hidden" name="access" value={access === "open" ? "members" : "open"} />
        <Button type="submit" variant="secondary">{access === "open" ? "Close to members only" : "Open to everyone"}</Button>
      </Form>
      <div className="grid gap-6 lg:grid-cols-2">
        <table className="w-full text-sm" data-testid="member-list">
          <thead>
            <tr>
              <th className="text-left">Person</th>
              <th className="text-left">Project role</th>
              <th className="text-left">Works here as</th>
              <th className="sr-only">Remove</th>
            </tr>
          </thead>
          <tbody>
            {members.map((member) => (
              <tr key={member.user_id} className="border-t border-slate-200 dark:border-slate-800">
                <td className="py-1 pr-2">
                  {member.name} <span className="text-slate-700 dark:text-slate-300">{member.email}</span>
                  {member.active ? null : " (deactivated)"}
                </td>
                <td className="py-1 pr-2">{roleLabels[member.project_role]}</td>
                <td className="py-1 pr-2">{roleLabels[member.effective_role]}</td>
                <td className="py-1">
                  <Form method="post">
                    <input type="hidden" name="intent" value="members-remove" />
                    <input type="hidden" name="emails" value={member.email} />
                    <Button type="submit" variant="secondary" aria-label={`Remove ${member.email}`}>Remove</Button>
                  </Form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className="space-y-4">
          <Form method="post">
            <input type="hidden" name="intent" value="members-add" />
            <label htmlFor="members-add-emails" className="mb-1 block text-sm font-medium">Add people (e-mail addresses, one a line or separated by commas)</label>
            <textarea id="members-add-emails" name="emails" rows={4} className={inputClass} />
            <label htmlFor="members-add-role" className="mb-1 mt-2 block text-sm font-medium">Their role in this project</label>
            <select id="members-add-role" name="role" defaultValue="labeler" className={inputClass}>
              <option value="labeler">Labeler</option>
              <option value="reviewer">Reviewer</option>
              <option value="researcher">Researcher</option>
            </select>
            <p className="mt-1 text-xs">Someone's global role caps it: a labeler added as researcher still works as a labeler.</p>
            <Button type="submit" className="mt-2">Add members</Button>
          </Form>
          <Form method="post">
            <input type="hidden" name="intent" value="members-remove" />
            <label htmlFor="members-remove-emails" className="mb-1 block text-sm font-medium">Remove people (e-mail addresses)</label>
            <textarea id="members-remove-emails" name="emails" rows={3} className={inputClass} />
            <Button type="submit" variant="danger" className="mt-2">Remove members</Button>
          </Form>
        </div>
      </div>
    </section>
  );
}
