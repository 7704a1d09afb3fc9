import { data, Form, redirect } from "react-router";
import type { Route } from "./+types/account";
import { AppError } from "../../server/lib/app-error.ts";
import { deleteUserSessions } from "../../server/auth/sessions.server.ts";
import { changePassword } from "../../server/auth/users.server.ts";
import { changePasswordSchema, createTokenSchema } from "../../server/auth/user-schemas.ts";
import { createOwnApiToken, listOwnApiTokens, revokeApiToken } from "../../server/auth/tokens.server.ts";
import { hasRole, roleLabels, userRoles } from "../../server/auth/roles.ts";
import { Alert, Button, Card, Field, PageTitle, Select } from "../components/ui.tsx";
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
  return { user, sessionCount: Number(sessions.count), tokens: await listOwnApiTokens(context.db, user.id) };
}

type ActionResult = { errors: Record<string, string>; done: boolean; secret?: string; tokenMessage?: string };

export async function action({ context, request }: Route.ActionArgs) {
  const user = requireUser(context, request);
  const form = await request.formData();
  const intent = form.get("intent");
  if (intent === "logout-everywhere") {
    await deleteUserSessions(context.db, user.id);
    endSessionSockets(context.io, user.id, "logout");
    return redirect("/login", { headers: { "Set-Cookie": clearSessionCookie(context.secureCookies) } });
  }
  if (intent === "create-token") {
    const values = { name: String(form.get("name") ?? ""), role: String(form.get("role") ?? "") };
    const parsed = createTokenSchema.safeParse(values);
    if (!parsed.success) return data<ActionResult>({ errors: prefixed(fieldErrors(parsed.error)), done: false }, { status: 422 });
    try {
      const { token, secret } = await createOwnApiToken(context.db, user, parsed.data);
      return data<ActionResult>({ errors: {}, done: false, secret, tokenMessage: `Token “${token.name}” created.` });
    } catch (error) {
      if (error instanceof AppError && error.code === "validation_failed") {
        return data<ActionResult>({ errors: { "token.role": error.fieldErrors[0]?.message ?? error.message }, done: false }, { status: 422 });
      }
      throw error;
    }
  }
  if (intent === "revoke-token") {
    const tokenId = String(form.get("tokenId") ?? "");
    try {
      if (!/^\d+$/.test(tokenId)) throw new AppError("not_found", "No such active token.");
      await revokeApiToken(context.db, user.id, tokenId, user.id);
    } catch (error) {
      if (error instanceof AppError && error.code === "not_found") return data<ActionResult>({ errors: { token: error.message }, done: false }, { status: 404 });
      throw error;
    }
    return data<ActionResult>({ errors: {}, done: false, tokenMessage: "Token revoked." });
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

/** The token form's field errors, apart from the password form's. */
const prefixed = (errors: Record<string, string>) => Object.fromEntries(Object.entries(errors).map(([k, v]) => [`token.${k}`, v]));

export default function Account({ loaderData, actionData }: Route.ComponentProps) {
  const errors: Record<string, string> = actionData?.errors ?? {};
  const result = actionData as ActionResult | undefined;
  const ownRoles = userRoles.filter((r) => hasRole(loaderData.user.role, r));
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
        <Card title="Your API tokens">
          <p className="mb-3 text-sm">
            For scripts and your own front-ends: a token acts as you, with the role you choose (yours or lower). Send it as <code>Authorization: Bearer tdm_…</code>.
          </p>
          {result?.tokenMessage ? <Alert tone="success">{result.tokenMessage}</Alert> : null}
          {errors.token ? <Alert>{errors.token}</Alert> : null}
          {result?.secret ? (
            <div className="mb-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50">
              <p className="font-semibold">Copy this token now: it will not be shown again.</p>
              <code data-testid="new-token" className="mt-2 block break-all rounded bg-white px-2 py-1 font-mono text-sm text-slate-900 dark:bg-slate-900 dark:text-slate-100">{result.secret}</code>
            </div>
          ) : null}
          {loaderData.tokens.length > 0 ? (
            <ul className="mb-4 space-y-2 text-sm" aria-label="Your tokens">
              {loaderData.tokens.map((token) => (
                <li key={token.id} className="flex flex-wrap items-center gap-2">
                  <span className="font-medium">{token.name}</span>
                  <span>({roleLabels[token.role]}, <span className="font-mono">{token.token_prefix}…</span>)</span>
                  {token.revoked_at ? (
                    <span>revoked</span>
                  ) : (
                    <Form method="post">
                      <input type="hidden" name="intent" value="revoke-token" />
                      <input type="hidden" name="tokenId" value={token.id} />
                      <Button variant="danger" type="submit" aria-label={`Revoke ${token.name}`}>Revoke</Button>
                    </Form>
                  )}
                </li>
              ))}
            </ul>
          ) : null}
          <Form method="post" key={result?.secret ?? "token"}>
            <input type="hidden" name="intent" value="create-token" />
            <Field label="Token name" name="name" required error={errors["token.name"]} placeholder="e.g. my labeling script" />
            <Select label="Token role" name="role" defaultValue="labeler" error={errors["token.role"]}>
              {ownRoles.map((role) => (
                <option key={role} value={role}>{roleLabels[role]}</option>
              ))}
            </Select>
            <Button type="submit">Create token</Button>
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
