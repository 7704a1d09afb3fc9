import { Link } from "react-router";
import type { Route } from "./+types/models";
import { Card, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Models · Tandem" }];

export async function loader({ context, request }: Route.LoaderArgs) {
  requireUser(context, request, "researcher");
  const models = await context.db
    .selectFrom("models")
    .leftJoin("rounds", "rounds.id", "models.round_id")
    .select(["models.id", "models.name", "models.kind", "models.parent_id", "models.round_id", "models.metrics", "models.created_at", "rounds.name as round_name"])
    .orderBy("models.id", "desc")
    .limit(500)
    .execute();
  return { models };
}

/** Every registered checkpoint with its lineage (parent model, round) and final metrics. */
export default function Models({ loaderData }: Route.ComponentProps) {
  const { models } = loaderData;
  return (
    <>
      <PageTitle lead="Every checkpoint a round registered, with its parent and the round that trained it. Files download in Hugging Face GPT-2 naming.">Models</PageTitle>
      <Card>
        {models.length === 0 ? (
          <p>No models yet. Launch a training round from a project.</p>
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
                  <td>{m.kind}</td>
                  <td>{m.parent_id ? `#${m.parent_id}` : "–"}</td>
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
