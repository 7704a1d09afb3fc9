import { data, Form, useNavigation } from "react-router";
import { z } from "zod";
import type { Route } from "./+types/playground";
import { AppError } from "../../server/lib/app-error.ts";
import { projectTools } from "../../server/api/model-tools.server.ts";
import type { ConversationMessage } from "../../trainer/contract/conversation.ts";
import { Alert, Button, Card, Field, PageTitle, Select } from "../components/ui.tsx";
import { requireProjectRole, requireUser } from "../lib/auth.server.ts";
import { visibleProjects } from "../../server/auth/project-access.server.ts";
import { fieldErrors } from "../lib/form.ts";

export const meta: Route.MetaFunction = () => [{ title: "Playground · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  requireUser(context, request, "researcher");
  const models = await context.db
    .selectFrom("models")
    .leftJoin("projects", "projects.id", "models.project_id")
    .select(["models.id", "models.name", "models.kind"])
    .where("models.kind", "!=", "reward")
    .where("models.external_uri", "is", null)
    // Base models, and the policies of projects this person may enter (decision 0031).
    .where((eb) => eb.or([eb("models.project_id", "is", null), visibleProjects(eb, context.actor!)]))
    .orderBy("models.id", "desc")
    .execute();
  const wanted = new URL(request.url).searchParams.get("model");
  return { models, selected: models.some((m) => m.id === wanted) ? wanted : (models[0]?.id ?? null) };
}

const playgroundSchema = z.object({
  modelId: z.string().regex(/^\d{1,18}$/, "Choose a model."),
  system: z.string().max(4000),
  message: z.string().trim().min(1, "Write a message.").max(8000),
  maxNewTokens: z.coerce.number().int().min(1).max(512),
  temperature: z.coerce.number().min(0).max(2),
  topP: z.coerce.number().gt(0).max(1),
  n: z.coerce.number().int().min(1).max(8),
  seed: z.coerce.number().int().min(0),
  /** A checkbox: the model may call the tools its project declares (run here, results spliced in). */
  tools: z.literal("on").optional(),
});

export async function action({ context, request }: Route.ActionArgs) {
  requireUser(context, request, "researcher");
  const form = Object.fromEntries(await request.formData()) as Record<string, string>;
  const parsed = playgroundSchema.safeParse(form);
  if (!parsed.success) return data({ values: form, errors: fieldErrors(parsed.error), answers: null, problem: null }, { status: 422 });
  const p = parsed.data;
  const owner = await context.db.selectFrom("models").select("project_id").where("id", "=", p.modelId).executeTakeFirst();
  if (owner?.project_id) await requireProjectRole(context, request, owner.project_id, "researcher");
  const messages = [...(p.system.trim() ? [{ role: "system" as const, content: p.system }] : []), { role: "user" as const, content: p.message }];
  try {
    const tools = p.tools === "on" ? await projectTools(context.db, p.modelId) : [];
    const result = await context.inference.generate(context.db, p.modelId, {
      messages, maxNewTokens: p.maxNewTokens, temperature: p.temperature, topP: p.topP, topK: 0, seed: p.seed, n: p.n,
      tools: { run: tools, client: [] },
    });
    return { values: form, errors: {}, answers: result.choices, problem: null };
  } catch (error) {
    if (!(error instanceof AppError) || error.code === "internal") throw error;
    return data({ values: form, errors: {}, answers: null, problem: error.message }, { status: error.status });
  }
}

/** Sample from any registered policy, with the decoding parameters the rounds use. */
export default function Playground({ loaderData, actionData }: Route.ComponentProps) {
  const { models, selected } = loaderData;
  const values: Record<string, string> = actionData?.values ?? {};
  const errors: Record<string, string> = actionData?.errors ?? {};
  const busy = useNavigation().state === "submitting";
  return (
    <>
      <PageTitle lead="Sample from any registered policy. The same models answer on the OpenAI-compatible endpoint: POST /v1/chat/completions with model tandem-<id>.">Playground</PageTitle>
      {models.length === 0 ? (
        <Card>
          <p>No models yet: a training round registers one.</p>
        </Card>
      ) : (
        <div className="grid gap-6 lg:grid-cols-2">
          <Card title="Ask">
            <Form method="post">
              <Select label="Model" name="modelId" defaultValue={values["modelId"] ?? selected ?? undefined} error={errors["modelId"]}>
                {models.map((m) => (
                  <option key={m.id} value={m.id}>
                    tandem-{m.id} · {m.name} ({m.kind})
                  </option>
                ))}
              </Select>
              <Field label="System message (optional)" name="system" defaultValue={values["system"] ?? ""} error={errors["system"]} />
              <div className="mb-4">
                <label htmlFor="field-message" className="mb-1 block text-sm font-medium">
                  Message
                </label>
                <textarea id="field-message" name="message" rows={4} defaultValue={values["message"] ?? ""} aria-invalid={errors["message"] ? true : undefined} aria-describedby={errors["message"] ? "field-message-error" : undefined} className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-slate-900 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100" />
                {errors["message"] ? (
                  <p id="field-message-error" className="mt-1 text-sm text-red-700 dark:text-red-400">
                    {errors["message"]}
                  </p>
                ) : null}
              </div>
              <div className="grid grid-cols-3 gap-3">
                <Field label="Max new tokens" name="maxNewTokens" inputMode="numeric" defaultValue={values["maxNewTokens"] ?? "64"} error={errors["maxNewTokens"]} />
                <Field label="Temperature" name="temperature" inputMode="decimal" defaultValue={values["temperature"] ?? "0.7"} error={errors["temperature"]} />
                <Field label="Top p" name="topP" inputMode="decimal" defaultValue={values["topP"] ?? "1"} error={errors["topP"]} />
                <Field label="Answers" name="n" inputMode="numeric" defaultValue={values["n"] ?? "1"} error={errors["n"]} />
                <Field label="Seed" name="seed" inputMode="numeric" defaultValue={values["seed"] ?? "0"} error={errors["seed"]} />
              </div>
              <label className="mb-4 flex items-center gap-2 text-sm">
                <input type="checkbox" name="tools" defaultChecked={actionData ? values["tools"] === "on" : true} />
                Let the model call the tools its project declares (the calculator runs here; its results go back to the model)
              </label>
              <Button type="submit" disabled={busy}>
                {busy ? "Sampling…" : "Sample"}
              </Button>
            </Form>
          </Card>
          <Card title="Answers">
            {actionData?.problem ? <Alert>{actionData.problem}</Alert> : null}
            {actionData?.answers ? (
              <ol className="space-y-3" data-testid="answers">
                {actionData.answers.map((a, i) => (
                  <li key={i} className="rounded-md border border-slate-200 p-3 dark:border-slate-800">
                    {a.toolCalls > 0 ? <Transcript messages={a.messages} /> : <p className="whitespace-pre-wrap">{a.text || "(empty)"}</p>}
                    <p className="mt-1 text-xs text-slate-600 dark:text-slate-400">
                      {a.tokens} tokens · {a.finished ? "stopped at end of turn" : "cut at the token limit"}
                      {a.toolCalls > 0 ? ` · ${a.toolCalls} tool call${a.toolCalls === 1 ? "" : "s"}` : ""}
                    </p>
                  </li>
                ))}
              </ol>
            ) : (
              <p className="text-sm">The model's answers appear here.</p>
            )}
          </Card>
        </div>
      )}
    </>
  );
}

/** An answer that used tools: the model's words, each call and each result, told apart. */
function Transcript({ messages }: { messages: ConversationMessage[] }) {
  return (
    <div className="space-y-2" data-testid="transcript">
      {messages.map((m, i) =>
        m.role === "tool" ? (
          <p key={i} className="rounded bg-slate-100 px-2 py-1 font-mono text-sm dark:bg-slate-800" data-testid="tool-result">
            <span className="text-slate-600 dark:text-slate-400">{m.name} → </span>
            <span className={m.content.startsWith("error:") ? "text-red-700 dark:text-red-400" : undefined}>{m.content}</span>
          </p>
        ) : (
          <div key={i}>
            {m.content ? <p className="whitespace-pre-wrap">{m.content}</p> : null}
            {(m.tool_calls ?? []).map((call, j) => (
              <p key={j} className="rounded border border-dashed border-slate-400 px-2 py-1 font-mono text-sm" data-testid="tool-call">
                calls {call.function.name}({Object.entries(call.function.arguments).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")})
              </p>
            ))}
          </div>
        ),
      )}
    </div>
  );
}
