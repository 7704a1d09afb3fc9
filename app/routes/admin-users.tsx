import { data, Form } from "react-router";
import type { Route } from "./+types/admin-users";
import { AppError } from "../../server/lib/app-error.ts";
import { roleLabels, userRoles } from "../../server/auth/roles.ts";
import { createUser, listUsers, updateUser } from "../../server/auth/users.server.ts";
import { createUserSchema, updateUserSchema } from "../../server/auth/user-schemas.ts";
import { Alert, Button, Card, Field, PageTitle, Select } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";
import { fieldErrors, typedValues } from "../lib/form.ts";
import { endSessionSockets } from "../../server/socket/socket-server.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Users · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  const me = requireUser(context, request, "admin");
  return { me, users: await listUsers(context.db) };
}

const result = (value: ActionResult): ActionResult => value;
type ActionResult = { errors: Record<string, string>; values: Record<string, string>; message?: string; createdId?: string };

export async function action({ context, request }: Route.ActionArgs) {
  const me = requireUser(context, request, "admin");
  const form = await request.formData();
  const intent = form.get("intent");
  try {
    if (intent === "create") {
      const values = typedValues(form, ["email", "name", "role"]);
      const parsed = createUserSchema.safeParse({ ...values, password: form.get("password") });
      if (!parsed.success) return data<ActionResult>({ errors: fieldErrors(parsed.error), values }, { status: 422 });
      const user = await createUser(context.db, me.id, parsed.data);
      // The role stays chosen (people are often created in a row); the rest of the form clears.
      return result({ errors: {}, values: { role: user.role }, message: `Created ${user.email} as ${roleLabels[user.role]}.`, createdId: user.id });
    }
    if (intent === "update") {
      const change = {
        ...(form.has("role") ? { role: form.get("role") } : {}),
        ...(form.has("active") ? { active: form.get("active") === "true" } : {}),
      };
      const parsed = updateUserSchema.safeParse(change);
      const userId = String(form.get("userId") ?? "");
      if (!parsed.success || !/^\d+$/.test(userId)) {
        return data<ActionResult>({ errors: { form: "That change is not valid." }, values: {} }, { status: 422 });
      }
      const user = await updateUser(context.db, me, userId, parsed.data);
      if (parsed.data.active === false || parsed.data.role) {
        endSessionSockets(context.io, user.id, parsed.data.active === false ? "deactivated" : "role_changed");
      }
      return result({ errors: {}, values: {}, message: `Updated ${user.email}.` });
    }
  } catch (error) {
    if (error instanceof AppError && error.status < 500) {
      const fields = Object.fromEntries(error.fieldErrors.map((f) => [f.path, f.message]));
      return data<ActionResult>({ errors: { form: error.message, ...fields }, values: typedValues(form, ["email", "name", "role"]) }, { status: error.status });
    }
    throw error;
  }
  return data<ActionResult>({ errors: { form: "Unknown action." }, values: {} }, { status: 400 });
}

export default function AdminUsers({ loaderData, actionData }: Route.ComponentProps) {
  const errors = actionData?.errors ?? {};
  const values = actionData?.values ?? {};
  return (
    <>
      <PageTitle lead="Create accounts, change roles, deactivate people who should no longer sign in.">Users</PageTitle>
      {errors.form ? <Alert>{errors.form}</Alert> : null}
      {actionData?.message ? <Alert tone="success">{actionData.message}</Alert> : null}
      <div className="grid gap-6 lg:grid-cols-[2fr_1fr]">
        <Card title="People">
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <thead>
                <tr className="border-b border-slate-200 dark:border-slate-700">
                  <th className="py-2 pr-3">Name</th>
                  <th className="py-2 pr-3">E-mail</th>
                  <th className="py-2 pr-3">Role</th>
                  <th className="py-2 pr-3">Status</th>
                </tr>
              </thead>
              <tbody>
                {loaderData.users.map((user) => (
                  <tr key={user.id} className="border-b border-slate-100 dark:border-slate-800" data-testid={`user-${user.email}`}>
                    <td className="py-2 pr-3">{user.name}</td>
                    <td className="py-2 pr-3">{user.email}</td>
                    <td className="py-2 pr-3">
                      <Form method="post" className="flex items-center gap-2">
                        <input type="hidden" name="intent" value="update" />
                        <input type="hidden" name="userId" value={user.id} />
                        <label className="sr-only" htmlFor={`role-${user.id}`}>
                          Role of {user.email}
                        </label>
                        <select id={`role-${user.id}`} name="role" defaultValue={user.role} disabled={user.id === loaderData.me.id}
                          className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900">
                          {userRoles.map((role) => (
                            <option key={role} value={role}>
                              {roleLabels[role]}
                            </option>
                          ))}
                        </select>
                        {user.id === loaderData.me.id ? null : <Button variant="secondary" type="submit">Save</Button>}
                      </Form>
                    </td>
                    <td className="py-2 pr-3">
                      {user.id === loaderData.me.id ? (
                        "You"
                      ) : (
                        <Form method="post">
                          <input type="hidden" name="intent" value="update" />
                          <input type="hidden" name="userId" value={user.id} />
                          <input type="hidden" name="active" value={user.active ? "false" : "true"} />
                          <Button variant={user.active ? "danger" : "secondary"} type="submit" aria-label={`${user.active ? "Deactivate" : "Reactivate"} ${user.email}`}>
                            {user.active ? "Deactivate" : "Reactivate"}
                          </Button>
                        </Form>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
        <Card title="Create a user">
          {/* A new key after each success remounts the form: the browser keeps typed values in
              uncontrolled inputs, and an initial password must not stay on screen for the next person. */}
          <Form method="post" key={actionData?.createdId ?? "create"}>
            <input type="hidden" name="intent" value="create" />
            <Field label="Name" name="name" required defaultValue={values.name} error={errors.name} />
            <Field label="E-mail" name="email" type="email" required defaultValue={values.email} error={errors.email} />
            <Select label="Role" name="role" defaultValue={values.role ?? "labeler"} error={errors.role}>
              {userRoles.map((role) => (
                <option key={role} value={role}>
                  {roleLabels[role]}
                </option>
              ))}
            </Select>
            <Field label="Initial password (12+ characters; share it privately)" name="password" type="password" autoComplete="new-password" required minLength={12} error={errors.password} />
            <Button type="submit">Create user</Button>
          </Form>
        </Card>
      </div>
    </>
  );
}
