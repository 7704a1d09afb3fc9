import { useCallback, useEffect, useState } from "react";
import { Link, useRevalidator } from "react-router";
import type { Route } from "./+types/project-documents";
import { getProject } from "../../server/labeling/projects.server.ts";
import { failedChunks, listDocuments, type UploadReport } from "../../server/bridges/qa/documents.server.ts";
import { generatorOptions } from "../../server/bridges/qa/qa-generators.server.ts";
import { listQaRuns } from "../../server/bridges/qa/qa-runs.server.ts";
import { getQaTemplate } from "../../server/bridges/qa/qa-templates.server.ts";
import { DEFAULT_QA_TEMPLATE } from "../../server/bridges/qa/qa-template.ts";
import { DEFAULT_CHUNK_CHARS } from "../../server/bridges/qa/chunking.ts";
import { postJson, type ApiProblem } from "../components/task/task-client.ts";
import { Alert, Button, Card, PageTitle, ProblemAlert } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `Synthetic Q&A · ${data?.project.name ?? "Project"} · Tandem` }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const [documents, template, generators, runs, errors] = await Promise.all([
    listDocuments(context.db, project.id),
    getQaTemplate(context.db, project.id),
    generatorOptions(context.db, project.id),
    listQaRuns(context.db, project.id, 10),
    failedChunks(context.db, project.id, 100),
  ]);
  return { project: { id: project.id, name: project.name }, documents, template, generators, runs, errors };
}

const inputClass = "w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950";

async function putJson<T>(url: string, body: unknown): Promise<{ ok: true; data: T } | { ok: false; problem: ApiProblem }> {
  try {
    const response = await fetch(url, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const parsed: unknown = await response.json();
    return response.ok ? { ok: true, data: parsed as T } : { ok: false, problem: parsed as ApiProblem };
  } catch {
    return { ok: false, problem: { status: 0, code: "network", detail: "The network failed. What you typed is kept; try again." } };
  }
}

/**
 * Synthetic Q&A for review: upload documents, edit the prompt template, pick a generator, start
 * a run and watch it; the pairs land in the review queue.
 */
export default function ProjectDocuments({ loaderData }: Route.ComponentProps) {
  const { project, documents, template, generators, runs, errors } = loaderData;
  const revalidator = useRevalidator();
  const running = runs.find((r) => r.state === "running") ?? null;

  // Progress: reload the page data every 2 s while a run is going.
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => void revalidator.revalidate(), 2_000);
    return () => clearInterval(timer);
  }, [running, revalidator]);

  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Synthetic Q&amp;A from documents</PageTitle>
      <div className="grid gap-6 lg:grid-cols-2">
        <UploadCard projectId={project.id} onDone={() => void revalidator.revalidate()} />
        <TemplateCard projectId={project.id} saved={template} />
        <RunCard projectId={project.id} generators={generators} running={running} onChange={() => void revalidator.revalidate()} />
        <Card title="Runs">
          {runs.length === 0 ? (
            <p className="text-sm">No runs yet.</p>
          ) : (
            <ul className="space-y-2 text-sm" data-testid="qa-runs">
              {runs.map((run) => (
                <li key={run.id}>
                  <span className="font-medium">Run {run.id}</span> · {run.state} · {String(run.generator.label ?? "")} · {run.doneChunks + run.failedChunks}/{run.totalChunks} chunks ·{" "}
                  {run.pairsCreated} pairs{run.duplicatesSkipped ? `, ${run.duplicatesSkipped} duplicates skipped` : ""}
                  {run.failedChunks ? `, ${run.failedChunks} failed` : ""}
                  {run.error ? <span className="block text-red-700 dark:text-red-300">{run.error}</span> : null}
                </li>
              ))}
            </ul>
          )}
          <p className="mt-4 text-sm">
            Generated pairs wait in the review queue: reviewers accept, edit or reject them from the{" "}
            <Link className="text-brand-700 underline dark:text-brand-50" to={`/projects/${project.id}`}>project page</Link> (Start labeling).
          </p>
        </Card>
      </div>
      <div className="mt-6 grid gap-6 lg:grid-cols-2">
        <Card title="Documents">
          {documents.length === 0 ? (
            <p className="text-sm">No documents yet.</p>
          ) : (
            <table className="w-full text-left text-sm" data-testid="documents">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Chunks (pending / done / failed)</th>
                  <th>Pairs</th>
                </tr>
              </thead>
              <tbody>
                {documents.map((doc) => (
                  <DocumentRow key={doc.id} doc={doc} />
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Chunk errors">
          {errors.length === 0 ? (
            <p className="text-sm">No failed chunks.</p>
          ) : (
            <ul className="list-disc space-y-1 pl-5 text-sm" data-testid="chunk-errors">
              {errors.map((e) => (
                <li key={e.id}>
                  {e.document_name}, chunk {e.index + 1}: {e.error}
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </>
  );
}

type ChunkView = { id: string; index: number; heading: string | null; text: string; status: string; error: string | null; generated: number };

/** One document; its chunks (text, state, error) load when asked for. */
function DocumentRow({ doc }: { doc: { id: string; name: string; format: string; chunks: Record<string, number>; generated: number } }) {
  const [chunks, setChunks] = useState<ChunkView[] | null>(null);
  const [open, setOpen] = useState(false);
  const toggle = async () => {
    if (!open && chunks === null) {
      const response = await fetch(`/api/v1/documents/${doc.id}/chunks`);
      if (response.ok) setChunks(((await response.json()) as { chunks: ChunkView[] }).chunks);
    }
    setOpen(!open);
  };
  return (
    <>
      <tr>
        <td>
          {doc.name} <span className="text-slate-500">({doc.format})</span>{" "}
          <button type="button" className="text-brand-700 underline dark:text-brand-50" aria-expanded={open} onClick={() => void toggle()}>
            {open ? "hide chunks" : "chunks"}
          </button>
        </td>
        <td>
          {(doc.chunks.pending ?? 0) + (doc.chunks.generating ?? 0)} / {doc.chunks.done ?? 0} / {doc.chunks.failed ?? 0}
        </td>
        <td>{doc.generated}</td>
      </tr>
      {open && chunks ? (
        <tr>
          <td colSpan={3}>
            <ol className="mb-2 space-y-2 text-xs">
              {chunks.map((c) => (
                <li key={c.id} className="rounded border border-slate-200 p-2 dark:border-slate-700">
                  <span className="font-medium">
                    #{c.index + 1}
                    {c.heading ? ` · ${c.heading}` : ""} · {c.status}
                    {c.generated ? ` · ${c.generated} pairs` : ""}
                  </span>
                  {c.error ? <span className="block text-red-700 dark:text-red-300">{c.error}</span> : null}
                  <span className="block whitespace-pre-wrap">{c.text.length > 400 ? `${c.text.slice(0, 400)}…` : c.text}</span>
                </li>
              ))}
            </ol>
          </td>
        </tr>
      ) : null}
    </>
  );
}

function UploadCard({ projectId, onDone }: { projectId: string; onDone: () => void }) {
  const [files, setFiles] = useState<Array<{ name: string; content: string }>>([]);
  const [chunkChars, setChunkChars] = useState(String(DEFAULT_CHUNK_CHARS));
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [report, setReport] = useState<UploadReport | null>(null);
  const [busy, setBusy] = useState(false);
  const upload = async () => {
    setBusy(true);
    setProblem(null);
    setReport(null);
    const result = await postJson<UploadReport>(`/api/v1/projects/${projectId}/documents`, { files, chunkChars: Number(chunkChars) });
    setBusy(false);
    if (!result.ok) return setProblem(result.problem);
    setReport(result.data);
    onDone();
  };
  return (
    <Card title="Upload documents">
      <p className="mb-3 text-sm">
        Plain text (<code>.txt</code>), markdown (<code>.md</code>, split at headings) or JSONL with one document per line:{" "}
        <code>{'{"title": "…", "text": "…"}'}</code>. A problem in any file stores nothing.
      </p>
      <label htmlFor="document-files" className="mb-1 block text-sm font-medium">Files</label>
      <input
        id="document-files"
        type="file"
        multiple
        accept=".txt,.md,.markdown,.jsonl,.ndjson,text/plain,text/markdown"
        className="mb-4 block w-full text-sm"
        onChange={async (event) => {
          const chosen = [...(event.currentTarget.files ?? [])];
          setReport(null);
          setFiles(await Promise.all(chosen.map(async (f) => ({ name: f.name, content: await f.text() }))));
        }}
      />
      <label htmlFor="chunk-chars" className="mb-1 block text-sm font-medium">Chunk size (characters)</label>
      <input id="chunk-chars" inputMode="numeric" value={chunkChars} onChange={(e) => setChunkChars(e.target.value)} className={`${inputClass} mb-4`} />
      <Button type="button" disabled={files.length === 0 || busy} onClick={() => void upload()}>
        Upload
      </Button>
      <div className="mt-4 space-y-2 text-sm">
        {problem ? <ProblemAlert problem={problem} /> : null}
        {report ? (
          <Alert tone="success">
            Stored {report.documents.length} documents ({report.documents.reduce((n, d) => n + d.chunks, 0)} chunks).
            {report.skipped.length ? ` Skipped ${report.skipped.length}: ${report.skipped.map((s) => `${s.path} ${s.reason}`).join("; ")}.` : ""}
          </Alert>
        ) : null}
      </div>
    </Card>
  );
}

function TemplateCard({ projectId, saved }: { projectId: string; saved: { template: string; pairsPerChunk: number; isDefault: boolean } }) {
  // What the person typed stays in the fields when the server refuses it.
  const [template, setTemplate] = useState(saved.template);
  const [pairs, setPairs] = useState(String(saved.pairsPerChunk));
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const save = useCallback(async () => {
    setProblem(null);
    setNotice(null);
    const result = await putJson(`/api/v1/projects/${projectId}/qa-template`, { template, pairsPerChunk: Number(pairs) });
    if (result.ok) setNotice("Template saved.");
    else setProblem(result.problem);
  }, [projectId, template, pairs]);
  return (
    <Card title="Prompt template">
      <p className="mb-3 text-sm">
        Placeholders: <code>{"{{document_title}}"}</code>, <code>{"{{chunk}}"}</code> (required), <code>{"{{n}}"}</code> (pairs per chunk). Ask for a JSON list of{" "}
        <code>{'{"question", "answer"}'}</code>; &quot;Q: … A: …&quot; blocks are read too.
      </p>
      <label htmlFor="qa-template" className="mb-1 block text-sm font-medium">Template{saved.isDefault ? " (the default)" : ""}</label>
      <textarea id="qa-template" rows={14} value={template} onChange={(e) => setTemplate(e.target.value)} className={`${inputClass} mb-3 font-mono`} />
      <label htmlFor="qa-pairs" className="mb-1 block text-sm font-medium">Pairs per chunk</label>
      <input id="qa-pairs" inputMode="numeric" value={pairs} onChange={(e) => setPairs(e.target.value)} className={`${inputClass} mb-4`} />
      <div className="flex gap-2">
        <Button type="button" onClick={() => void save()}>Save template</Button>
        <Button type="button" variant="secondary" onClick={() => setTemplate(DEFAULT_QA_TEMPLATE)}>Use the default</Button>
      </div>
      <div className="mt-4 text-sm">
        {problem ? <ProblemAlert problem={problem} /> : null}
        {notice ? <Alert tone="success">{notice}</Alert> : null}
      </div>
    </Card>
  );
}

type RunView = { id: string; state: string; totalChunks: number; doneChunks: number; failedChunks: number; pairsCreated: number };

function RunCard({
  projectId,
  generators,
  running,
  onChange,
}: {
  projectId: string;
  generators: Array<{ source: Record<string, unknown>; label: string }>;
  running: RunView | null;
  onChange: () => void;
}) {
  const [choice, setChoice] = useState(generators[0] ? JSON.stringify(generators[0].source) : "");
  const [includeDone, setIncludeDone] = useState(false);
  const [temperature, setTemperature] = useState("0.7");
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const start = async () => {
    setProblem(null);
    const result = await postJson(`/api/v1/projects/${projectId}/qa-runs`, { generator: JSON.parse(choice) as unknown, includeDone, temperature: Number(temperature) });
    if (!result.ok) setProblem(result.problem);
    onChange();
  };
  const cancel = async () => {
    if (!running) return;
    const result = await postJson(`/api/v1/qa-runs/${running.id}/cancel`, undefined);
    if (!result.ok) setProblem(result.problem);
    onChange();
  };
  return (
    <Card title="Generate">
      {generators.length === 0 ? (
        <p className="mb-3 text-sm">No generator yet: register a policy (a training round, or the models page), or an external endpoint.</p>
      ) : null}
      <label htmlFor="qa-generator" className="mb-1 block text-sm font-medium">Generator</label>
      <select id="qa-generator" value={choice} onChange={(e) => setChoice(e.target.value)} className={`${inputClass} mb-3`}>
        {generators.map((g) => (
          <option key={JSON.stringify(g.source)} value={JSON.stringify(g.source)}>{g.label}</option>
        ))}
      </select>
      <label htmlFor="qa-temperature" className="mb-1 block text-sm font-medium">Temperature</label>
      <input id="qa-temperature" inputMode="decimal" value={temperature} onChange={(e) => setTemperature(e.target.value)} className={`${inputClass} mb-3`} />
      <label className="mb-4 flex items-center gap-2 text-sm">
        <input type="checkbox" checked={includeDone} onChange={(e) => setIncludeDone(e.target.checked)} /> Also redo chunks that are done (duplicates are skipped)
      </label>
      <div className="flex gap-2">
        <Button type="button" disabled={!choice || running !== null} onClick={() => void start()}>Start</Button>
        <Button type="button" variant="danger" disabled={running === null} onClick={() => void cancel()}>Cancel</Button>
      </div>
      {running ? (
        <div className="mt-4 text-sm" data-testid="qa-progress">
          <progress className="w-full" max={running.totalChunks} value={running.doneChunks + running.failedChunks} />
          Run {running.id}: {running.doneChunks + running.failedChunks} of {running.totalChunks} chunks, {running.pairsCreated} pairs, {running.failedChunks} failed.
        </div>
      ) : null}
      {problem ? <div className="mt-4 text-sm"><ProblemAlert problem={problem} /></div> : null}
    </Card>
  );
}
