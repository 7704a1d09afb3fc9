import { data, Form, redirect } from "react-router";
import type { Route } from "./+types/account";
import { AppError } from "../../server/lib/app-error.ts";
import { deleteUserSessions } from "../../server/auth/sessions.server.ts";
import { changePassword } from "../../server/auth/users.server.ts";
import { changePasswordSchema } from "../../server/auth/user-schemas.ts";
import { Alert, Button, Card, Field, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";
import { fieldErrors } from "../lib/form.ts";
import { clearSessionCookie } from "../lib/session-cookie.server.ts";
import { endSessionSockets } from "../../server/socket/socket-server.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Account · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  const user = requireUser(context, request);
  const sessions = await context.db
    .selectFrom("sessions")
    .select((eb) => eb.fn.countAll<string>().as("count"))
    .where("user_id", "=", user.id)
    .where("expires_at", ">", new Date())
    .executeTakeFirstOrThrow();
  return { user, sessionCount: Number(sessions.count) };
}

export async function action({ context, request }: Route.ActionArgs) {
  const user = requireUser(context, request);
  const form = await request.formData();
  const intent = form.get("intent");
  if (intent === "logout-everywhere") {
    await deleteUserSessions(context.db, user.id);
    endSessionSockets(context.io, user.id, "logout");
    return redirect("/login", { headers: { "Set-Cookie": clearSessionCookie(context.secureCookies) } });
  }
  if (intent === "change-password") {
    const parsed = changePasswordSchema.safeParse({ currentPassword: form.get("currentPassword"), newPassword: form.get("newPassword") });
    if (!parsed.success) return data({ errors: fieldErrors(parsed.error), done: false }, { status: 422 });
    try {
      await changePassword(context.db, user.id, parsed.data.currentPassword, parsed.data.newPassword);
    } catch (error) {
      if (error instanceof AppError && error.code === "validation_failed") {
        return data({ errors: { currentPassword: error.message }, done: false }, { status: 422 });
      }
      throw error;
    }
    return { errors: {} as Record<string, string>, done: true };
  }
  return data({ errors: { form: "Unknown action." }, done: false }, { status: 400 });
}

export default function Account({ loaderData, actionData }: Route.ComponentProps) {
  const errors: Record<string, string> = actionData?.errors ?? {};
  return (
    <>
      <PageTitle lead={loaderData.user.email}>Your account</PageTitle>
      <div className="grid gap-6 md:grid-cols-2">
        <Card title="Change password">
          {actionData?.done ? <Alert tone="success">Password changed.</Alert> : null}
          <Form method="post">
            <input type="hidden" name="intent" value="change-password" />
            <Field label="Current password" name="currentPassword" type="password" autoComplete="current-password" required error={errors.currentPassword} />
            <Field label="New password (12+ characters)" name="newPassword" type="password" autoComplete="new-password" required minLength={12} error={errors.newPassword} />
            <Button type="submit">Change password</Button>
          </Form>
        </Card>
        <Card title="Sessions">
          <p className="mb-4">
            You are signed in on {loaderData.sessionCount} {loaderData.sessionCount === 1 ? "browser" : "browsers"}.
          </p>
          <Form method="post">
            <input type="hidden" name="intent" value="logout-everywhere" />
            <Button type="submit" variant="danger">
              Sign out everywhere
            </Button>
          </Form>
        </Card>
      </div>
    </>
  );
}
