import { data, Form, redirect, useNavigation } from "react-router";
import type { Route } from "./+types/login";
import { AppError } from "../../server/lib/app-error.ts";
import { authenticate } from "../../server/auth/login.server.ts";
import { createSession } from "../../server/auth/sessions.server.ts";
import { loginSchema } from "../../server/auth/user-schemas.ts";
import { Alert, Button, Field } from "../components/ui.tsx";
import { safeRedirect } from "../lib/auth.server.ts";
import { sessionCookie } from "../lib/session-cookie.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Sign in · Tandem" }];

// Document responses carry only the headers a route passes on: keep Retry-After on a 429.
export const headers: Route.HeadersFunction = ({ actionHeaders }) => {
  const headers = new Headers();
  const retryAfter = actionHeaders.get("Retry-After");
  if (retryAfter) headers.set("Retry-After", retryAfter);
  return headers;
};

export function loader({ context, request }: Route.LoaderArgs) {
  const redirectTo = safeRedirect(new URL(request.url).searchParams.get("redirectTo"));
  if (context.actor?.kind === "session") throw redirect(redirectTo);
  return { redirectTo };
}

export async function action({ request, context }: Route.ActionArgs) {
  const form = await request.formData();
  // Checked before the password: a refused target (400) must not cost a sign-in attempt.
  const redirectTo = safeRedirect(form.get("redirectTo"));
  const email = String(form.get("email") ?? "");
  const parsed = loginSchema.safeParse({ email, password: form.get("password") });
  if (!parsed.success) return data({ error: "Enter your e-mail address and password.", email }, { status: 400 });
  try {
    const user = await authenticate(context.db, context.loginLimiter, parsed.data.email, parsed.data.password, context.clientIp);
    const session = await createSession(context.db, user.id, context.config.TANDEM_SESSION_DAYS, {
      userAgent: request.headers.get("User-Agent") ?? undefined,
      ip: context.clientIp,
    });
    return redirect(redirectTo, {
      headers: { "Set-Cookie": sessionCookie(session.cookieValue, session.expiresAt, context.secureCookies) },
    });
  } catch (error) {
    if (error instanceof AppError && (error.code === "unauthenticated" || error.code === "rate_limited")) {
      const headers: HeadersInit = error.retryAfterSeconds ? { "Retry-After": String(error.retryAfterSeconds) } : {};
      return data({ error: error.message, email }, { status: error.status, headers });
    }
    throw error;
  }
}

export default function Login({ loaderData, actionData }: Route.ComponentProps) {
  const busy = useNavigation().state === "submitting";
  return (
    <main className="mx-auto flex min-h-screen max-w-sm flex-col justify-center px-4">
      <h1 className="mb-1 text-3xl font-bold tracking-tight">Tandem</h1>
      <p className="mb-6 text-slate-700 dark:text-slate-300">Human feedback in, better models out.</p>
      <div className="rounded-lg border border-slate-200 bg-white p-6 shadow-sm dark:border-slate-800 dark:bg-slate-900">
        <h2 className="mb-4 text-lg font-semibold">Sign in</h2>
        {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
        <Form method="post" replace>
          <input type="hidden" name="redirectTo" value={loaderData.redirectTo} />
          <Field label="E-mail" name="email" type="email" autoComplete="username" required defaultValue={actionData?.email ?? ""} autoFocus />
          <Field label="Password" name="password" type="password" autoComplete="current-password" required />
          <Button type="submit" className="w-full" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </Button>
        </Form>
      </div>
    </main>
  );
}
