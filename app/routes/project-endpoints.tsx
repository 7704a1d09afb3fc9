import { useEffect } from "react";
import { data, Form, Link, useRevalidator } from "react-router";
import type { Route } from "./+types/project-endpoints";
import { createEndpoint, deleteEndpoint, endpointConnection, endpointInputSchema, endpointPatchSchema, listEndpoints, updateEndpoint } from "../../server/bridges/external/endpoints.server.ts";
import { cancelGenerationRun, createGenerationRun, generationRunDetail, generationRunInputSchema, listGenerationRuns } from "../../server/bridges/external/generation-runs.server.ts";
import { testConnection } from "../../server/bridges/external/test-connection.server.ts";
import { recordAudit } from "../../server/auth/audit.server.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { Alert, Button, Card, Field, PageTitle, Select } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { fieldErrors } from "../lib/form.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "External models · Tandem" }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const [endpoints, runs, policies] = await Promise.all([
    listEndpoints(context.db, project.id),
    listGenerationRuns(context.db, project.id, 20),
    context.db.selectFrom("models").select(["id", "name"]).where("kind", "!=", "reward").where("external_uri", "is", null).orderBy("id", "desc").limit(50).execute(),
  ]);
  const wanted = new URL(request.url).searchParams.get("run");
  const shown = runs.find((r) => r.id === wanted) ?? runs[0];
  const detail = shown ? await generationRunDetail(context.db, shown.id) : null;
  return { project: { id: project.id, name: project.name, k: project.settings.k }, endpoints, runs, policies, detail };
}

type ActionResult = { intent: string; errors?: Record<string, string>; message?: string; test?: Awaited<ReturnType<typeof testConnection>> & { endpoint: string } };

const text = (form: FormData, name: string) => String(form.get(name) ?? "").trim();
const optionalNumber = (form: FormData, name: string) => (text(form, name) === "" ? undefined : Number(text(form, name)));

/** The endpoint form's fields → the API's shape (numbers typed; empty means "not set"). */
function endpointFields(form: FormData) {
  const decoding = Object.fromEntries(
    (["temperature", "top_p", "max_tokens", "seed"] as const).flatMap((k) => (optionalNumber(form, k) === undefined ? [] : [[k, optionalNumber(form, k)]])),
  );
  return {
    name: text(form, "name"),
    baseUrl: text(form, "baseUrl"),
    model: text(form, "model"),
    stream: form.get("stream") === "on",
    decoding,
    timeoutMs: optionalNumber(form, "timeoutSeconds") === undefined ? undefined : Math.round(optionalNumber(form, "timeoutSeconds")! * 1000),
    maxRetries: optionalNumber(form, "maxRetries"),
    requestsPerMinute: optionalNumber(form, "requestsPerMinute") ?? null,
  };
}

function parseSource(value: string) {
  const match = /^(endpoint|model):(\d{1,18})$/.exec(value);
  if (!match) return null;
  return match[1] === "endpoint" ? { endpointId: match[2]! } : { modelId: match[2]! };
}

export async function action({ context, request, params }: Route.ActionArgs) {
  const { user } = await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const form = await request.formData();
  const intent = text(form, "intent");
  const own = async (id: string) => {
    const row = await context.db.selectFrom("external_endpoints").select("id").where("id", "=", id).where("project_id", "=", project.id).executeTakeFirst();
    if (!row) throw new AppError("not_found", "No such endpoint in this project.");
    return row.id;
  };
  const refused = (errors: Record<string, string>) => data<ActionResult>({ intent, errors }, { status: 422 });
  try {
    switch (intent) {
      case "create": {
        const apiKey = text(form, "apiKey");
        const parsed = endpointInputSchema.safeParse({ ...endpointFields(form), ...(apiKey ? { apiKey } : {}) });
        if (!parsed.success) return refused(fieldErrors(parsed.error));
        await createEndpoint(context.db, context.external.box, user.id, project.id, parsed.data);
        return { intent, message: `Endpoint ${parsed.data.name} registered.` } satisfies ActionResult;
      }
      case "update": {
        const id = await own(text(form, "id"));
        const apiKey = text(form, "apiKey");
        const parsed = endpointPatchSchema.safeParse({ ...endpointFields(form), ...(form.get("removeKey") === "on" ? { apiKey: null } : apiKey ? { apiKey } : {}) });
        if (!parsed.success) return refused(fieldErrors(parsed.error));
        await updateEndpoint(context.db, context.external.box, user.id, id, parsed.data);
        return { intent, message: "Endpoint saved." } satisfies ActionResult;
      }
      case "delete": {
        await deleteEndpoint(context.db, user.id, await own(text(form, "id")));
        return { intent, message: "Endpoint removed." } satisfies ActionResult;
      }
      case "test": {
        const target = await endpointConnection(context.db, context.external.box, await own(text(form, "id")));
        return { intent, test: { ...(await testConnection(target)), endpoint: target.endpoint.name } } satisfies ActionResult;
      }
      case "start": {
        const sources = [text(form, "sourceA"), text(form, "sourceB")].filter(Boolean).map(parseSource);
        if (sources.some((s) => s === null)) return refused({ sources: "Choose sources from the lists." });
        const ids = text(form, "promptIds").split(/[\s,]+/).filter(Boolean);
        const parsed = generationRunInputSchema.safeParse({
          kind: text(form, "kind") || "rank",
          sources,
          prompts: ids.length > 0 ? { ids } : { withoutCompletions: true, limit: optionalNumber(form, "limit") ?? 100 },
          ...(optionalNumber(form, "k") !== undefined ? { k: optionalNumber(form, "k") } : {}),
          ...(optionalNumber(form, "minCompletions") !== undefined ? { minCompletions: optionalNumber(form, "minCompletions") } : {}),
        });
        if (!parsed.success) return refused(fieldErrors(parsed.error));
        const run = await createGenerationRun(context.db, user.id, project.id, project.settings, parsed.data);
        await recordAudit(context.db, { actorUserId: user.id, action: "generation_run.start", target: `generation_run:${run.id}`, details: { projectId: project.id, kind: parsed.data.kind, prompts: run.prompts } });
        context.external.runner.kick();
        return { intent, message: `Run #${run.id} started for ${run.prompts} prompt(s).` } satisfies ActionResult;
      }
      case "cancel": {
        const runId = text(form, "runId");
        const run = await context.db.selectFrom("generation_runs").select("id").where("id", "=", runId).where("project_id", "=", project.id).executeTakeFirst();
        if (!run) throw new AppError("not_found", "No such run in this project.");
        await cancelGenerationRun(context.db, run.id);
        context.external.runner.abortLocal(run.id);
        return { intent, message: `Run #${run.id} cancelled.` } satisfies ActionResult;
      }
      default:
        return refused({ form: "Unknown action." });
    }
  } catch (error) {
    if (error instanceof AppError && error.code !== "internal") {
      const errors = Object.fromEntries(error.fieldErrors.map((e) => [e.path, e.message]));
      return data<ActionResult>({ intent, errors: { form: error.message, ...errors } }, { status: error.status });
    }
    throw error;
  }
}

function EndpointFields({ e }: { e?: Route.ComponentProps["loaderData"]["endpoints"][number] }) {
  const d = (e?.decoding ?? {}) as Record<string, number | undefined>;
  const num = (v: number | null | undefined) => (v === undefined || v === null ? "" : String(v));
  return (
    <div className="grid gap-x-4 sm:grid-cols-2">
      <Field label="Name" name="name" required defaultValue={e?.name ?? ""} />
      <Field label="Model" name="model" required placeholder="meta-llama/Llama-3.1-8B-Instruct" defaultValue={e?.model ?? ""} />
      <Field label="Base URL (…/v1)" name="baseUrl" required placeholder="http://localhost:8000/v1" defaultValue={e?.baseUrl ?? ""} />
      <Field
        label={e?.hasApiKey ? `API key (stored ${e.apiKeyHint ?? ""}; leave empty to keep)` : "API key (optional; stored encrypted)"}
        name="apiKey"
        type="password"
        autoComplete="off"
      />
      <Field label="Temperature" name="temperature" type="number" step="any" min={0} max={2} defaultValue={num(d.temperature)} />
      <Field label="Top p" name="top_p" type="number" step="any" min={0} max={1} defaultValue={num(d.top_p)} />
      <Field label="Max tokens" name="max_tokens" type="number" min={1} defaultValue={num(d.max_tokens)} />
      <Field label="Seed" name="seed" type="number" min={0} defaultValue={num(d.seed)} />
      <Field label="Timeout (seconds per request)" name="timeoutSeconds" type="number" min={1} max={600} defaultValue={e ? String(e.timeoutMs / 1000) : "60"} />
      <Field label="Retries" name="maxRetries" type="number" min={0} max={10} defaultValue={e ? String(e.maxRetries) : "3"} />
      <Field label="Requests per minute (empty: no limit)" name="requestsPerMinute" type="number" min={1} defaultValue={num(e?.requestsPerMinute)} />
      <label className="mb-4 flex items-center gap-2 text-sm">
        <input type="checkbox" name="stream" defaultChecked={e?.stream ?? false} /> Stream (server-sent events)
      </label>
      {e?.hasApiKey ? (
        <label className="mb-4 flex items-center gap-2 text-sm">
          <input type="checkbox" name="removeKey" /> Remove the stored key
        </label>
      ) : null}
    </div>
  );
}

/** A project's OpenAI-compatible endpoints, their connection tests, and generation runs with per-request errors. */
export default function ProjectEndpoints({ loaderData, actionData }: Route.ComponentProps) {
  const { project, endpoints, runs, policies, detail } = loaderData;
  const result = actionData as ActionResult | undefined;
  const { revalidate, state } = useRevalidator();
  const active = runs.some((r) => r.state === "queued" || r.state === "running");
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => {
      if (state === "idle") void revalidate();
    }, 2000);
    return () => clearInterval(timer);
  }, [active, revalidate, state]);
  const errors = result?.errors ?? {};
  const sourceOptions = (
    <>
      {endpoints.map((e) => (
        <option key={`e${e.id}`} value={`endpoint:${e.id}`}>
          Endpoint: {e.name} ({e.model})
        </option>
      ))}
      {policies.map((m) => (
        <option key={`m${m.id}`} value={`model:${m.id}`}>
          Policy #{m.id} {m.name}
        </option>
      ))}
    </>
  );
  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>External models</PageTitle>
      {result?.message ? <Alert tone="success">{result.message}</Alert> : null}
      {Object.keys(errors).length > 0 ? (
        <Alert>
          <ul className="list-disc pl-5">
            {Object.entries(errors).map(([field, message]) => (
              <li key={field}>{field === "form" ? message : `${field}: ${message}`}</li>
            ))}
          </ul>
        </Alert>
      ) : null}
      {result?.test ? (
        <Alert tone={result.test.ok ? "success" : "error"}>
          {result.test.ok
            ? `${result.test.endpoint} answered in ${result.test.latencyMs} ms (model ${result.test.model ?? "?"}): “${result.test.sample ?? ""}”`
            : `${result.test.endpoint} failed after ${result.test.latencyMs} ms — ${result.test.error?.kind}: ${result.test.error?.message}`}
        </Alert>
      ) : null}

      <div className="grid gap-6">
        <Card title="Endpoints">
          <p className="mb-4 text-sm text-slate-700 dark:text-slate-300">
            Any OpenAI-compatible server: vLLM, Ollama, llama.cpp, TGI, a hosted API, or Tandem's own <code>/v1</code>. API keys are encrypted at rest and never shown again.
          </p>
          {endpoints.length === 0 ? <p className="mb-4">No endpoints yet.</p> : null}
          <ul className="mb-4 space-y-3" data-testid="endpoint-list">
            {endpoints.map((e) => (
              <li key={e.id} className="rounded-md border border-slate-200 p-3 dark:border-slate-800">
                <div className="flex flex-wrap items-center gap-2">
                  <strong>{e.name}</strong>
                  <span className="font-mono text-xs">
                    {e.baseUrl} · {e.model} · {e.hasApiKey ? `key ${e.apiKeyHint ?? ""}` : "no key"}
                    {e.stream ? " · streaming" : ""}
                  </span>
                  <Form method="post" className="ml-auto flex gap-2">
                    <input type="hidden" name="id" value={e.id} />
                    <Button variant="secondary" name="intent" value="test">Test connection</Button>
                    <Button
                      variant="danger"
                      name="intent"
                      value="delete"
                      onClick={(event) => {
                        if (!window.confirm(`Remove the endpoint ${e.name}? Completions it produced stay.`)) event.preventDefault();
                      }}
                    >
                      Remove
                    </Button>
                  </Form>
                </div>
                <details className="mt-2">
                  <summary className="cursor-pointer text-sm">Edit</summary>
                  <Form method="post" className="mt-2">
                    <input type="hidden" name="id" value={e.id} />
                    <EndpointFields e={e} />
                    <Button name="intent" value="update">Save</Button>
                  </Form>
                </details>
              </li>
            ))}
          </ul>
          <details open={endpoints.length === 0}>
            <summary className="cursor-pointer font-medium">Register an endpoint</summary>
            <Form method="post" className="mt-3">
              <EndpointFields />
              <Button name="intent" value="create">Register</Button>
            </Form>
          </details>
        </Card>

        <Card title="Fill tasks from a model">
          <Form method="post" className="grid gap-x-4 sm:grid-cols-2">
            <Select label="Task type" name="kind" defaultValue="rank">
              <option value="rank">Ranking (K completions per prompt)</option>
              <option value="compare">A/B compare (one completion from each source)</option>
            </Select>
            <Field label={`K (empty: the project's ${project.k})`} name="k" type="number" min={2} max={9} />
            <Select label="Source (A)" name="sourceA" required>
              {sourceOptions}
            </Select>
            <Select label="Second source (B; optional for ranking)" name="sourceB" defaultValue="">
              <option value="">—</option>
              {sourceOptions}
            </Select>
            <Field label="Prompt ids (comma-separated; empty: prompts without completions)" name="promptIds" />
            <Field label="At most this many prompts without completions" name="limit" type="number" min={1} defaultValue="100" />
            <Field label="Fewest distinct completions for a ranking task (empty: K)" name="minCompletions" type="number" min={2} max={9} />
            <div className="self-end pb-4">
              <Button name="intent" value="start" disabled={endpoints.length + policies.length === 0}>Start run</Button>
            </div>
          </Form>
        </Card>

        <Card title="Runs">
          {runs.length === 0 ? (
            <p>No runs yet.</p>
          ) : (
            <table className="w-full text-left text-sm" data-testid="run-table">
              <thead>
                <tr>
                  <th className="py-1">Run</th>
                  <th>Type</th>
                  <th>State</th>
                  <th>Prompts done</th>
                  <th>Tasks</th>
                  <th>Failed requests</th>
                  <th>No task</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {runs.map((r) => (
                  <tr key={r.id} className="border-t border-slate-200 dark:border-slate-800">
                    <td className="py-1">
                      <Link className="underline" to={`?run=${r.id}`}>#{r.id}</Link>
                    </td>
                    <td>{r.kind}</td>
                    <td>
                      {r.state}
                      {r.error ? <span className="block text-xs text-red-700 dark:text-red-400">{r.error}</span> : null}
                    </td>
                    <td>
                      {r.progress.next ?? 0} / {r.progress.prompts ?? 0}
                    </td>
                    <td>{r.progress.tasks ?? 0}</td>
                    <td>{r.progress.failedRequests ?? 0}</td>
                    <td>{r.progress.skippedPrompts ?? 0}</td>
                    <td>
                      {r.state === "queued" || r.state === "running" ? (
                        <Form method="post">
                          <input type="hidden" name="runId" value={r.id} />
                          <Button variant="secondary" name="intent" value="cancel">Cancel</Button>
                        </Form>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {detail ? (
            <div className="mt-4">
              <h3 className="mb-2 font-medium">Run #{detail.id}: requests that failed and prompts left without a task</h3>
              {detail.errors.length === 0 ? (
                <p className="text-sm">None.</p>
              ) : (
                <table className="w-full text-left text-sm" data-testid="run-errors">
                  <thead>
                    <tr>
                      <th className="py-1">Prompt</th>
                      <th>Source</th>
                      <th>Kind</th>
                      <th>Attempts</th>
                      <th>Message</th>
                    </tr>
                  </thead>
                  <tbody>
                    {detail.errors.map((e) => (
                      <tr key={e.id} className="border-t border-slate-200 align-top dark:border-slate-800">
                        <td className="py-1">#{e.promptId ?? "–"}</td>
                        <td className="font-mono text-xs">{e.source}</td>
                        <td>
                          {e.kind}
                          {e.status ? ` ${e.status}` : ""}
                        </td>
                        <td>{e.attempts}</td>
                        <td>{e.message}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          ) : null}
        </Card>
      </div>
    </>
  );
}
