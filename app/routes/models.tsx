import { data, Form, Link, redirect } from "react-router";
import { sql } from "kysely";
import type { Route } from "./+types/models";
import { Alert, Button, Card, Field, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";
import { visibleProjects } from "../../server/auth/project-access.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { hfImportRoot, importHfModel } from "../../server/rounds/model-import.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Models · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  requireUser(context, request, "researcher");
  const models = await context.db
    .selectFrom("models")
    .leftJoin("rounds", "rounds.id", "models.round_id")
    .leftJoin("projects", "projects.id", "models.project_id")
    // Base models, and the checkpoints of projects this person may enter (decision 0031).
    .where((eb) => eb.or([eb("models.project_id", "is", null), visibleProjects(eb, context.actor!)]))
    .select(["models.id", "models.name", "models.kind", "models.parent_id", "models.round_id", "models.metrics", "models.created_at", "rounds.name as round_name"])
    // the architecture and whether the checkpoint is LoRA adapters over its parent (manifest fields)
    .select(sql<string | null>`models.config->'modelConfig'->>'modelType'`.as("model_type"))
    .select(sql<boolean>`models.config ? 'lora'`.as("adapter"))
    .orderBy("models.id", "desc")
    .limit(500)
    .execute();
  return { models, importRoot: hfImportRoot(context.config) };
}

export async function action({ context, request }: Route.ActionArgs) {
  const user = requireUser(context, request, "researcher");
  const form = await request.formData();
  const values = { path: String(form.get("path") ?? ""), name: String(form.get("name") ?? "") };
  try {
    await importHfModel(context.db, context.config, { actorUserId: user.id }, { path: values.path, ...(values.name.trim() ? { name: values.name } : {}) });
    return redirect("/models");
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "validation_failed") throw error;
    return data({ error: error.message, fieldErrors: Object.fromEntries(error.fieldErrors.map((e) => [e.path, e.message])), values }, { status: 422 });
  }
}

/** Every registered checkpoint with its lineage (parent model, round) and final metrics; Hugging Face imports. */
export default function Models({ loaderData, actionData }: Route.ComponentProps) {
  const { models, importRoot } = loaderData;
  const errors: Record<string, string> = actionData?.fieldErrors ?? {};
  return (
    <>
      <PageTitle lead="Every checkpoint a round registered or a researcher imported, with its parent and the round that trained it. LoRA adapters list their base as parent. Files download in Hugging Face naming.">Models</PageTitle>
      <Card title="Import from Hugging Face">
        <p className="mb-3 text-sm">
          A model folder on the server (config.json with model_type llama, qwen2 or gpt2, model.safetensors or its shards, tokenizer.json and
          tokenizer_config.json) under <code>{importRoot}</code> becomes a base model that rounds can start from or train LoRA adapters on.
        </p>
        {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
        <Form method="post" className="grid grid-cols-3 items-end gap-3">
          <Field label="Folder (relative to the import folder)" name="path" required defaultValue={actionData?.values.path ?? ""} error={errors["path"]} />
          <Field label="Name (blank = the folder's name)" name="name" defaultValue={actionData?.values.name ?? ""} error={errors["name"]} />
          <div className="mb-4">
            <Button type="submit">Import</Button>
          </div>
        </Form>
      </Card>
      <Card>
        {models.length === 0 ? (
          <p>No models yet. Launch a training round from a project, or import one above.</p>
        ) : (
          <table className="w-full text-left text-sm" data-testid="model-table">
            <thead>
              <tr>
                <th className="py-1">Model</th>
                <th>Kind</th>
                <th>Parent</th>
                <th>Round</th>
                <th>Final metrics</th>
                <th>Files</th>
              </tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <tr key={m.id} className="border-t border-slate-200 dark:border-slate-800">
                  <td className="py-1">
                    #{m.id} {m.name}
                  </td>
                  <td>
                    {m.kind}
                    {m.model_type ? ` · ${m.model_type}` : ""}
                    {m.adapter ? " · LoRA" : ""}
                  </td>
                  <td>{m.parent_id ? `${m.adapter ? "adapts " : ""}#${m.parent_id}` : "–"}</td>
                  <td>{m.round_id ? <Link className="underline" to={`/rounds/${m.round_id}`}>{m.round_name}</Link> : "–"}</td>
                  <td className="font-mono text-xs">
                    {Object.entries(m.metrics as Record<string, unknown>)
                      .filter((entry): entry is [string, number] => entry[0] !== "step" && typeof entry[1] === "number")
                      .slice(0, 3)
                      .map(([k, v]) => `${k} ${v.toPrecision(3)}`)
                      .join(" · ")}
                  </td>
                  <td className="space-x-2">
                    {m.kind !== "reward" ? (
                      <Link className="underline" to={`/playground?model=${m.id}`}>
                        try it
                      </Link>
                    ) : null}
                    {(["model.safetensors", "tokenizer.json", "manifest.json"] as const).map((f) => (
                      <a key={f} className="underline" href={`/api/v1/models/${m.id}/files/${f}`} download>
                        {f.split(".")[0]}
                      </a>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
