import { data, Form } from "react-router";
import type { Route } from "./+types/admin-tokens";
import { AppError } from "../../server/lib/app-error.ts";
import { roleLabels, tokenRoles } from "../../server/auth/roles.ts";
import { createApiToken, listApiTokens, revokeApiToken } from "../../server/auth/tokens.server.ts";
import { createTokenSchema } from "../../server/auth/user-schemas.ts";
import { Alert, Button, Card, Field, PageTitle, Select } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";
import { fieldErrors, typedValues } from "../lib/form.ts";

export const meta: Route.MetaFunction = () => [{ title: "API tokens · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  requireUser(context, request, "admin");
  return { tokens: await listApiTokens(context.db) };
}

const result = (value: ActionResult): ActionResult => value;
type ActionResult = { errors: Record<string, string>; values: Record<string, string>; secret?: string; message?: string };

export async function action({ context, request }: Route.ActionArgs) {
  const me = requireUser(context, request, "admin");
  const form = await request.formData();
  const intent = form.get("intent");
  if (intent === "create") {
    const values = typedValues(form, ["name", "role"]);
    const parsed = createTokenSchema.safeParse(values);
    if (!parsed.success) return data<ActionResult>({ errors: fieldErrors(parsed.error), values }, { status: 422 });
    const { token, secret } = await createApiToken(context.db, me.id, parsed.data);
    return result({ errors: {}, values: {}, secret, message: `Token “${token.name}” created.` });
  }
  if (intent === "revoke") {
    const tokenId = String(form.get("tokenId") ?? "");
    if (!/^\d+$/.test(tokenId)) return data<ActionResult>({ errors: { form: "No such token." }, values: {} }, { status: 422 });
    try {
      await revokeApiToken(context.db, me.id, tokenId);
    } catch (error) {
      if (error instanceof AppError && error.code === "not_found") return data<ActionResult>({ errors: { form: error.message }, values: {} }, { status: 404 });
      throw error;
    }
    return result({ errors: {}, values: {}, message: "Token revoked." });
  }
  return data<ActionResult>({ errors: { form: "Unknown action." }, values: {} }, { status: 400 });
}

export default function AdminTokens({ loaderData, actionData }: Route.ComponentProps) {
  const errors = actionData?.errors ?? {};
  return (
    <>
      <PageTitle lead="Tokens let scripts and the trainer service call the API. Each has a role; only its hash is stored.">API tokens</PageTitle>
      {errors.form ? <Alert>{errors.form}</Alert> : null}
      {actionData?.message ? <Alert tone="success">{actionData.message}</Alert> : null}
      {actionData?.secret ? (
        <div className="mb-6 rounded-md border border-amber-300 bg-amber-50 p-4 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50">
          <p className="font-semibold">Copy this token now: it will not be shown again.</p>
          <code data-testid="new-token" className="mt-2 block break-all rounded bg-white px-2 py-1 font-mono text-sm text-slate-900 dark:bg-slate-900 dark:text-slate-100">
            {actionData.secret}
          </code>
        </div>
      ) : null}
      <div className="grid gap-6 lg:grid-cols-[2fr_1fr]">
        <Card title="Tokens">
          {loaderData.tokens.length === 0 ? (
            <p>No tokens yet.</p>
          ) : (
            <div className="overflow-x-auto">
              <table className="w-full text-left text-sm">
                <thead>
                  <tr className="border-b border-slate-200 dark:border-slate-700">
                    <th className="py-2 pr-3">Name</th>
                    <th className="py-2 pr-3">Role</th>
                    <th className="py-2 pr-3">Starts with</th>
                    <th className="py-2 pr-3">Last used</th>
                    <th className="py-2 pr-3">Status</th>
                  </tr>
                </thead>
                <tbody>
                  {loaderData.tokens.map((token) => (
                    <tr key={token.id} className="border-b border-slate-100 dark:border-slate-800">
                      <td className="py-2 pr-3">{token.name}</td>
                      <td className="py-2 pr-3">{roleLabels[token.role]}</td>
                      <td className="py-2 pr-3 font-mono">{token.token_prefix}…</td>
                      <td className="py-2 pr-3">{token.last_used_at ? new Date(token.last_used_at).toISOString().slice(0, 16).replace("T", " ") : "never"}</td>
                      <td className="py-2 pr-3">
                        {token.revoked_at ? (
                          "Revoked"
                        ) : (
                          <Form method="post">
                            <input type="hidden" name="intent" value="revoke" />
                            <input type="hidden" name="tokenId" value={token.id} />
                            <Button variant="danger" type="submit" aria-label={`Revoke ${token.name}`}>
                              Revoke
                            </Button>
                          </Form>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
        <Card title="Create a token">
          <Form method="post">
            <input type="hidden" name="intent" value="create" />
            <Field label="Name" name="name" required defaultValue={actionData?.values.name} error={errors.name} placeholder="e.g. trainer on gpu-1" />
            <Select label="Role" name="role" defaultValue={actionData?.values.role ?? "trainer"} error={errors.role}>
              {tokenRoles.map((role) => (
                <option key={role} value={role}>
                  {roleLabels[role]}
                </option>
              ))}
            </Select>
            <Button type="submit">Create token</Button>
          </Form>
        </Card>
      </div>
    </>
  );
}
