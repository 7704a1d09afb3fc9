import { useState } from "react";
import { Link } from "react-router";
import type { Route } from "./+types/project-import";
import type { ImportReport } from "../../server/labeling/import-prompts.server.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { postJson, type ApiProblem } from "../components/task/task-client.ts";
import { Alert, Button, Card, PageTitle, ProblemAlert } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Import prompts · Tandem" }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  return { project: { id: project.id, name: project.name } };
}

/** The file's format: Tandem's own prompt files, or a dataset format (decision 0013), posted as the raw file. */
const fileFormats = {
  tandem: "Tandem prompts (JSONL, CSV or JSON)",
  trl: "TRL dataset (JSONL or Parquet)",
  openrlhf: "OpenRLHF dataset (JSONL)",
  verl: "veRL prompts (Parquet)",
  hf: "Hugging Face dataset folder (.zip)",
} as const;
type FileFormat = keyof typeof fileFormats;
const datasetLabels = { prompts: "Prompts (with metadata)", preferences: "Preference pairs", sft: "SFT examples", unpaired: "Unpaired labels (KTO)" } as const;
const openRlhfKeys = ["inputKey", "outputKey", "promptKey", "chosenKey", "rejectedKey", "labelKey"] as const;
const openRlhfDefaults: Record<(typeof openRlhfKeys)[number], string> = { inputKey: "input", outputKey: "output", promptKey: "prompt", chosenKey: "chosen", rejectedKey: "rejected", labelKey: "label" };
const selectClass = "mb-4 w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950";

/** A dataset file goes up as it is (application/octet-stream); the options ride in the query string. */
async function postFile<T>(url: string, bytes: ArrayBuffer): Promise<{ ok: true; data: T } | { ok: false; problem: ApiProblem }> {
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: bytes });
  } catch {
    return { ok: false, problem: { status: 0, code: "network", detail: "The network failed; try again." } };
  }
  const parsed: unknown = await response.json().catch(() => null);
  return response.ok ? { ok: true, data: parsed as T } : { ok: false, problem: (parsed ?? { status: response.status, code: "http", detail: response.statusText }) as ApiProblem };
}

const statusLabels: Record<string, string> = {
  exact_duplicate_in_file: "duplicate in this file",
  exact_duplicate_in_project: "already in the project",
  near_duplicate_in_file: "near duplicate in this file",
  near_duplicate_in_project: "near duplicate of a project prompt",
  filtered: "content filter hit → review queue",
};

/**
 * Two steps, as in the issue: a preview report (line-numbered problems, duplicates, filter
 * hits) and then the import. The file stays in the page between the two.
 */
export default function ProjectImport({ loaderData }: Route.ComponentProps) {
  const { project } = loaderData;
  const [file, setFile] = useState<{ name: string; content: string; bytes: ArrayBuffer } | null>(null);
  const [fileFormat, setFileFormat] = useState<FileFormat>("tandem");
  const [dataset, setDataset] = useState<keyof typeof datasetLabels | "">("");
  const [keys, setKeys] = useState(openRlhfDefaults);
  const [chatTemplate, setChatTemplate] = useState(true);
  const [report, setReport] = useState<ImportReport | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [validOnly, setValidOnly] = useState(false);
  const [nearDuplicates, setNearDuplicates] = useState(false);
  const [purpose, setPurpose] = useState<"prompts" | "qa" | "compare">("prompts");
  const [busy, setBusy] = useState(false);

  const send = async (commit: boolean) => {
    if (!file) return;
    setBusy(true);
    setProblem(null);
    const query = new URLSearchParams({ filename: file.name, commit: String(commit), importValidLines: String(validOnly), includeNearDuplicates: String(nearDuplicates) });
    if (dataset) query.set("dataset", dataset);
    if (fileFormat === "openrlhf") {
      for (const key of openRlhfKeys) query.set(key, keys[key]);
      query.set("chatTemplate", String(chatTemplate));
    }
    const result =
      fileFormat === "tandem"
        ? await postJson<ImportReport>(`/api/v1/projects/${project.id}/imports`, {
            content: file.content,
            filename: file.name,
            commit,
            importValidLines: validOnly,
            includeNearDuplicates: nearDuplicates,
            purpose,
          })
        : await postFile<ImportReport>(`/api/v1/projects/${project.id}/imports/${fileFormat}?${query}`, file.bytes);
    setBusy(false);
    if (result.ok) setReport(result.data);
    else setProblem(result.problem);
  };

  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Import prompts</PageTitle>
      <div className="grid gap-6 lg:grid-cols-[1fr_2fr]">
        <Card title="File">
          <p className="mb-3 text-sm">
            JSONL, CSV or JSON. Each record: <code>prompt</code> or chat <code>messages</code>, optionally <code>completions</code> (2–9 make a ranking task) and <code>model</code>.
            A ranking record with <code>gold</code> (one rank per completion, 1 = best, e.g. <code>[1, 3, 2]</code>) becomes a gold task: a known answer that measures each labeler.
          </p>
          <label htmlFor="import-file" className="mb-1 block text-sm font-medium">Prompt file</label>
          <input
            id="import-file"
            type="file"
            accept=".jsonl,.ndjson,.json,.csv,.tsv,.txt,.parquet,.zip"
            className="mb-4 block w-full text-sm"
            onChange={async (event) => {
              const chosen = event.currentTarget.files?.[0];
              setReport(null);
              setFile(chosen ? { name: chosen.name, content: await chosen.text(), bytes: await chosen.arrayBuffer() } : null);
            }}
          />
          <label htmlFor="import-format" className="mb-1 block text-sm font-medium">File format</label>
          <select id="import-format" value={fileFormat} className={selectClass}
            onChange={(e) => { setFileFormat(e.target.value as FileFormat); setReport(null); }}>
            {Object.entries(fileFormats).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
          {fileFormat !== "tandem" ? (
            <>
              <label htmlFor="import-dataset" className="mb-1 block text-sm font-medium">Dataset</label>
              <select id="import-dataset" value={dataset} className={selectClass}
                onChange={(e) => { setDataset(e.target.value as keyof typeof datasetLabels | ""); setReport(null); }}>
                <option value="">{fileFormat === "hf" ? "As the dataset card says" : "Choose…"}</option>
                {Object.entries(datasetLabels).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
              </select>
              <p className="mb-4 text-sm text-slate-600 dark:text-slate-400">
                Labeled records become completed tasks of the deactivated “Imported data” account, so the project’s exports include them.
              </p>
            </>
          ) : null}
          {fileFormat === "openrlhf" ? (
            <fieldset className="mb-4 grid grid-cols-2 gap-2 text-sm">
              <legend className="mb-1 font-medium">OpenRLHF keys (empty prompt/output key: whole conversations)</legend>
              {openRlhfKeys.map((key) => (
                <label key={key}>
                  <span className="block">{key.replace("Key", "")}</span>
                  <input className="w-full rounded-md border border-slate-300 px-2 py-1 dark:border-slate-700 dark:bg-slate-950" value={keys[key]}
                    onChange={(e) => { setKeys({ ...keys, [key]: e.target.value }); setReport(null); }} />
                </label>
              ))}
              <label className="col-span-2 flex items-center gap-2">
                <input type="checkbox" checked={chatTemplate} onChange={(e) => setChatTemplate(e.target.checked)} /> Message lists (--apply_chat_template)
              </label>
            </fieldset>
          ) : null}
          {fileFormat === "tandem" ? (
            <>
              <label htmlFor="import-purpose" className="mb-1 block text-sm font-medium">What the file holds</label>
              <select id="import-purpose" value={purpose} onChange={(e) => { setPurpose(e.target.value as "prompts" | "qa" | "compare"); setReport(null); }}
                className="mb-4 w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950">
                <option value="prompts">Prompts to label</option>
                <option value="qa">Synthetic Q&amp;A for review (one answer each)</option>
                <option value="compare">A/B comparisons (two completions from two models each)</option>
              </select>
            </>
          ) : null}
          <label className="mb-2 flex items-center gap-2 text-sm">
            <input type="checkbox" checked={validOnly} onChange={(e) => setValidOnly(e.target.checked)} /> Import the valid lines even if some are invalid
          </label>
          <label className="mb-4 flex items-center gap-2 text-sm">
            <input type="checkbox" checked={nearDuplicates} onChange={(e) => setNearDuplicates(e.target.checked)} /> Keep near duplicates
          </label>
          <div className="flex gap-2">
            <Button type="button" variant="secondary" disabled={!file || busy} onClick={() => void send(false)}>
              Preview
            </Button>
            <Button type="button" disabled={!file || busy || !report || report.committed !== null} onClick={() => void send(true)}>
              Import
            </Button>
          </div>
        </Card>
        <Card title="Report">
          {problem ? <ProblemAlert problem={problem} /> : null}
          {!report ? (
            <p>Choose a file and press Preview. Nothing is stored until you press Import.</p>
          ) : (
            <div className="space-y-4 text-sm" data-testid="import-report">
              {report.committed ? (
                <Alert tone="success">
                  Imported {report.committed.prompts} prompts: {report.committed.tasks.rank} ranking{report.committed.gold ? ` (${report.committed.gold} of them gold)` : ""}, {report.committed.tasks.demonstrate} demonstration and{" "}
                  {report.committed.tasks.review} review and {report.committed.tasks.compare} comparison tasks.
                  {report.committed.heldOut ? ` ${report.committed.heldOut} prompts joined the eval set (held out: no tasks, never trained on).` : ""}
                </Alert>
              ) : null}
              <p>
                {report.counts.records} valid records ({report.format}); {report.counts.toImport} to import; {report.counts.invalidLines} invalid lines.
              </p>
              {report.issues.length > 0 ? (
                <section>
                  <h3 className="font-semibold">Invalid lines</h3>
                  <ul className="list-disc pl-5">
                    {report.issues.map((issue, i) => (
                      <li key={i}>
                        Line {issue.line}: {issue.reason}
                      </li>
                    ))}
                  </ul>
                </section>
              ) : null}
              {report.flagged.length > 0 ? (
                <section>
                  <h3 className="font-semibold">Duplicates and filter hits</h3>
                  <ul className="list-disc pl-5">
                    {report.flagged.map((item) => (
                      <li key={item.line}>
                        Line {item.line}: {statusLabels[item.status] ?? item.status}
                        {item.similarity !== null && item.similarity < 1 ? ` (similarity ${item.similarity.toFixed(2)})` : ""}
                        {item.filterHits.length ? ` — ${item.filterHits.join(", ")}` : ""}
                        <span className="block truncate text-slate-600 dark:text-slate-400">{item.preview}</span>
                      </li>
                    ))}
                  </ul>
                </section>
              ) : null}
            </div>
          )}
        </Card>
      </div>
    </>
  );
}
