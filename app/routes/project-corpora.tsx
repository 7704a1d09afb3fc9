import { useEffect, useState } from "react";
import { Link, useRevalidator } from "react-router";
import type { Route } from "./+types/project-corpora";
import { getProject } from "../../server/labeling/projects.server.ts";
import { listCorpora, type FileReport } from "../../server/corpora/corpora.server.ts";
import { cleaningReport, cleaningSummary, listCleaningJobs, reportQuerySchema } from "../../server/corpora/cleaning-jobs.server.ts";
import { cleaningSettingsSchema, dropReasons } from "../../server/corpora/cleaning-settings.ts";
import { SUPPORTED_LANGUAGES } from "../../server/corpora/language.ts";
import { reviewQueue } from "../../server/corpora/corpus-review.server.ts";
import { ratingSummary } from "../../server/corpora/corpus-ratings.server.ts";
import { listClassifiers, thresholdCurve, type CurvePoint } from "../../server/corpora/quality-classifier.server.ts";
import { postJson, type ApiProblem } from "../components/task/task-client.ts";
import { Alert, Button, Card, PageTitle, ProblemAlert } from "../components/ui.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `Corpora · ${data?.project.name ?? "Project"} · Tandem` }];

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const url = new URL(request.url);
  const [corpora, jobs] = await Promise.all([listCorpora(context.db, project.id), listCleaningJobs(context.db, project.id, 10)]);
  // The report shown: ?job= (one of this project's), else the newest job; ?verdict= / ?reason= filter it.
  const job = jobs.find((j) => j.id === url.searchParams.get("job")) ?? jobs[0] ?? null;
  const query = reportQuerySchema.safeParse({ verdict: url.searchParams.get("verdict") || undefined, reason: url.searchParams.get("reason") || undefined, limit: 50 });
  const filter = query.success ? query.data : reportQuerySchema.parse({ limit: 50 });
  const [summary, report, ratings] = job
    ? await Promise.all([cleaningSummary(context.db, job.id), cleaningReport(context.db, job.id, filter), ratingSummary(context.db, job.id)])
    : [[], { rows: [], next: null }, null];
  const reviews = await reviewQueue(context.db, project.id, "open", 0);
  const classifier = job ? ((await listClassifiers(context.db, job.id))[0] ?? null) : null;
  const curve = classifier ? await thresholdCurve(context.db, classifier.id, 10) : [];
  return {
    project: { id: project.id, name: project.name }, corpora, jobs, job, summary, report: report.rows, ratings, reviews: { open: reviews.open, decided: reviews.decided }, classifier, curve,
    filter: { verdict: filter.verdict ?? "", reason: filter.reason ?? "" },
  };
}

const inputClass = "w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950";
const link = "text-brand-700 underline dark:text-brand-50";

/** Sends one File as the request body: the browser streams it from disk, the server streams it into the database. */
async function uploadFile(corpusId: string, file: File): Promise<{ ok: true; data: FileReport } | { ok: false; problem: ApiProblem }> {
  try {
    const response = await fetch(`/api/v1/corpora/${corpusId}/files?name=${encodeURIComponent(file.name)}`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: file });
    const parsed: unknown = await response.json();
    return response.ok ? { ok: true, data: parsed as FileReport } : { ok: false, problem: parsed as ApiProblem };
  } catch {
    return { ok: false, problem: { status: 0, code: "network", detail: `The network failed while sending ${file.name}; nothing of that file was stored. Try it again.` } };
  }
}

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MB`;

/**
 * Pre-training corpora: add sources (upload or a server folder), clean them in the background, read the per-document
 * report.
 */
export default function ProjectCorpora({ loaderData }: Route.ComponentProps) {
  const { project, corpora, jobs, job, summary, report, filter, ratings, reviews, classifier, curve } = loaderData;
  const revalidator = useRevalidator();
  const busy = jobs.some((j) => j.state === "queued" || j.state === "running");

  // Progress: reload the page data every 2 s while a job is queued or running.
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => void revalidator.revalidate(), 2_000);
    return () => clearInterval(timer);
  }, [busy, revalidator]);
  const refresh = () => void revalidator.revalidate();

  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Pre-training corpora</PageTitle>
      <div className="grid gap-6 lg:grid-cols-2">
        <AddCorpusCard projectId={project.id} onDone={refresh} />
        <CleanCard projectId={project.id} corpora={corpora} onDone={refresh} />
      </div>
      <div className="mt-6">
        <Card title="Corpora">
          {corpora.length === 0 ? (
            <p className="text-sm">No corpora yet.</p>
          ) : (
            <table className="w-full text-left text-sm" data-testid="corpora">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>License</th>
                  <th>Provenance</th>
                  <th>Documents</th>
                  <th>Size</th>
                  <th>Problems</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {corpora.map((c) => (
                  <CorpusRow key={c.id} corpus={c} onChange={refresh} />
                ))}
              </tbody>
            </table>
          )}
        </Card>
      </div>
      <div className="mt-6 grid gap-6 lg:grid-cols-2">
        <Card title="Cleaning jobs">
          {jobs.length === 0 ? (
            <p className="text-sm">No jobs yet.</p>
          ) : (
            <ul className="space-y-3 text-sm" data-testid="cleaning-jobs">
              {jobs.map((j) => (
                <JobRow key={j.id} projectId={project.id} job={j} selected={j.id === job?.id} onChange={refresh} />
              ))}
            </ul>
          )}
        </Card>
        <Card title={job ? `Job ${job.id}: documents by verdict` : "Report"}>
          {job ? (
            <table className="w-full text-left text-sm" data-testid="cleaning-summary">
              <thead>
                <tr>
                  <th>Corpus</th>
                  <th>Verdict</th>
                  <th>Reason</th>
                  <th>Documents</th>
                  <th>Characters</th>
                </tr>
              </thead>
              <tbody>
                {summary.map((s) => (
                  <tr key={`${s.corpusId}-${s.verdict}-${s.reason ?? ""}`}>
                    <td>{corpora.find((c) => c.id === s.corpusId)?.name ?? s.corpusId}</td>
                    <td>{s.verdict}</td>
                    <td>{s.reason ?? "—"}</td>
                    <td>{s.documents}</td>
                    <td>{s.chars.toLocaleString("en")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="text-sm">Start a cleaning job to see its report.</p>
          )}
        </Card>
      </div>
      {job ? (
        <div className="mt-6 grid gap-6 lg:grid-cols-2">
          <Card title="Review">
            <p className="text-sm" data-testid="review-counts">
              {reviews.open} flagged document(s) wait for review, {reviews.decided} decided. A reviewer&apos;s keep, drop or redact overrides the filter.{" "}
              <Link className={link} to={`/projects/${project.id}/corpus-review`}>Open the review queue</Link>
            </p>
            <p className="mt-2 text-sm">
              <a className={link} href={`/api/v1/cleaning-jobs/${job.id}/kept.jsonl`}>Download the kept documents (JSONL, redactions applied)</a>
            </p>
          </Card>
          {ratings ? <RatingCard jobId={job.id} jobDone={job.state === "done"} ratings={ratings} onDone={refresh} /> : null}
        </div>
      ) : null}
      {job && ratings && ratings.ratings > 0 ? (
        <div className="mt-6">
          <ClassifierCard jobId={job.id} classifier={classifier} curve={curve} onDone={refresh} />
        </div>
      ) : null}
      {job ? (
        <div className="mt-6">
          <Card title="Per-document report">
            <form method="get" className="mb-3 flex flex-wrap items-end gap-2 text-sm">
              <input type="hidden" name="job" value={job.id} />
              <label>
                Verdict{" "}
                <select name="verdict" defaultValue={filter.verdict} className={inputClass}>
                  <option value="">any</option>
                  <option value="kept">kept</option>
                  <option value="flagged">flagged</option>
                  <option value="dropped">dropped</option>
                </select>
              </label>
              <label>
                Reason{" "}
                <select name="reason" defaultValue={filter.reason} className={inputClass}>
                  <option value="">any</option>
                  {dropReasons.map((r) => (
                    <option key={r} value={r}>{r}</option>
                  ))}
                </select>
              </label>
              <Button type="submit" variant="secondary">Show</Button>
              <a className={link} href={`/api/v1/cleaning-jobs/${job.id}/report.jsonl`}>Download the whole report (JSONL)</a>
            </form>
            <table className="w-full text-left text-sm" data-testid="cleaning-report">
              <thead>
                <tr>
                  <th>Document</th>
                  <th>Corpus · file:line</th>
                  <th>Verdict</th>
                  <th>Reason</th>
                  <th>Review</th>
                  <th>Language</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {report.map((r) => (
                  <tr key={r.documentId}>
                    <td>{r.title ?? r.documentId}</td>
                    <td>{r.corpus} · {r.file}:{r.line}</td>
                    <td>{r.final}{r.final !== r.verdict ? ` (filter: ${r.verdict})` : ""}</td>
                    <td>{r.reason ?? "—"}</td>
                    <td>{r.decision ? `${r.decision}${r.category ? ` (${r.category})` : ""}` : "—"}</td>
                    <td>{r.language ?? "—"} {r.languageConfidence !== null ? `(${r.languageConfidence.toFixed(2)})` : ""}</td>
                    <td>
                      {r.duplicateOf ? `duplicate of document ${r.duplicateOf} (similarity ${(r.similarity ?? 1).toFixed(2)}) ` : ""}
                      {r.hits.length ? `hits: ${r.hits.map((h) => `${String(h.kind)} "${String(h.match)}"`).join(", ")} ` : ""}
                      {r.redacted ? "PII redacted" : ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {report.length === 50 ? <p className="mt-2 text-sm">The first 50 shown; download the report for all of them.</p> : null}
          </Card>
        </div>
      ) : null}
    </>
  );
}

type CorpusItem = Route.ComponentProps["loaderData"]["corpora"][number];

function CorpusRow({ corpus, onChange }: { corpus: CorpusItem; onChange: () => void }) {
  const [problems, setProblems] = useState<Array<{ fileName: string; line: number; message: string }> | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const showProblems = async () => {
    const response = await fetch(`/api/v1/corpora/${corpus.id}`);
    if (response.ok) setProblems(((await response.json()) as { problems: Array<{ fileName: string; line: number; message: string }> }).problems);
  };
  const remove = async () => {
    if (!window.confirm(`Delete the corpus "${corpus.name}" and its documents?`)) return;
    const response = await fetch(`/api/v1/corpora/${corpus.id}`, { method: "DELETE" });
    if (response.ok) return onChange();
    setProblem((await response.json()) as ApiProblem);
  };
  return (
    <>
      <tr>
        <td>{corpus.name} <span className="text-slate-500">({corpus.origin === "path" ? corpus.path : "uploaded"})</span></td>
        <td>{corpus.license}</td>
        <td className="max-w-xs truncate" title={corpus.provenance}>{corpus.provenance || "—"}</td>
        <td>{corpus.documents.toLocaleString("en")}</td>
        <td>{megabytes(corpus.bytes)}</td>
        <td>
          {corpus.issues === 0 ? "none" : (
            <button type="button" className={link} onClick={() => void showProblems()}>{corpus.issues} — list them</button>
          )}
        </td>
        <td>
          <Button type="button" variant="danger" onClick={() => void remove()}>Delete</Button>
        </td>
      </tr>
      {problem ? (
        <tr><td colSpan={7}><ProblemAlert problem={problem} /></td></tr>
      ) : null}
      {problems ? (
        <tr>
          <td colSpan={7}>
            <ul className="list-disc pl-5 text-xs" data-testid={`corpus-problems-${corpus.id}`}>
              {problems.map((p, i) => (
                <li key={i}>{p.fileName} line {p.line}: {p.message}</li>
              ))}
            </ul>
          </td>
        </tr>
      ) : null}
    </>
  );
}

function AddCorpusCard({ projectId, onDone }: { projectId: string; onDone: () => void }) {
  const [name, setName] = useState("");
  const [license, setLicense] = useState("");
  const [provenance, setProvenance] = useState("");
  const [serverPath, setServerPath] = useState("");
  const [files, setFiles] = useState<File[]>([]);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [reports, setReports] = useState<FileReport[]>([]);
  const [busy, setBusy] = useState<string | null>(null);

  const add = async () => {
    setProblem(null);
    setReports([]);
    if (serverPath.trim()) {
      setBusy("Reading the server folder…");
      const result = await postJson<{ files: FileReport[] }>(`/api/v1/projects/${projectId}/corpora/register`, { name, license, provenance, path: serverPath });
      setBusy(null);
      if (!result.ok) return setProblem(result.problem);
      setReports(result.data.files);
      return onDone();
    }
    const created = await postJson<{ id: string }>(`/api/v1/projects/${projectId}/corpora`, { name, license, provenance });
    if (!created.ok) return setProblem(created.problem);
    const done: FileReport[] = [];
    for (const file of files) {
      setBusy(`Sending ${file.name} (${megabytes(file.size)})…`);
      const result = await uploadFile(created.data.id, file);
      if (!result.ok) {
        setProblem(result.problem);
        break;
      }
      done.push(result.data);
      setReports([...done]);
    }
    setBusy(null);
    onDone();
  };
  return (
    <Card title="Add a corpus">
      <p className="mb-3 text-sm">
        Plain text or markdown (one document per file, or several separated by lines reading <code>{"<|endoftext|>"}</code>) or JSONL with one{" "}
        <code>{'{"text": "…", "title": "…"}'}</code> per line. Files are streamed; lines that cannot be read are reported by file and line and left out.
      </p>
      <label htmlFor="corpus-name" className="mb-1 block text-sm font-medium">Name</label>
      <input id="corpus-name" value={name} onChange={(e) => setName(e.target.value)} className={`${inputClass} mb-3`} />
      <label htmlFor="corpus-license" className="mb-1 block text-sm font-medium">License</label>
      <input id="corpus-license" value={license} placeholder="CC-BY-4.0, proprietary, unknown…" onChange={(e) => setLicense(e.target.value)} className={`${inputClass} mb-3`} />
      <label htmlFor="corpus-provenance" className="mb-1 block text-sm font-medium">Provenance</label>
      <textarea id="corpus-provenance" rows={2} value={provenance} placeholder="Where it came from, when, what was done to it" onChange={(e) => setProvenance(e.target.value)} className={`${inputClass} mb-3`} />
      <label htmlFor="corpus-files" className="mb-1 block text-sm font-medium">Files to upload</label>
      <input id="corpus-files" type="file" multiple accept=".txt,.md,.markdown,.jsonl,.ndjson,text/plain,text/markdown" className="mb-3 block w-full text-sm" onChange={(e) => setFiles([...(e.currentTarget.files ?? [])])} />
      <label htmlFor="corpus-path" className="mb-1 block text-sm font-medium">…or a file or folder on the server (under TANDEM_CORPUS_DIR)</label>
      <input id="corpus-path" value={serverPath} onChange={(e) => setServerPath(e.target.value)} className={`${inputClass} mb-4`} />
      <Button type="button" disabled={busy !== null || (files.length === 0 && !serverPath.trim())} onClick={() => void add()}>
        Add corpus
      </Button>
      <div className="mt-4 space-y-2 text-sm" aria-live="polite">
        {busy ? <p>{busy}</p> : null}
        {problem ? <ProblemAlert problem={problem} /> : null}
        {reports.map((r) => (
          <Alert key={r.file} tone={r.issues ? "error" : "success"}>
            {r.file}: {r.documents} documents from {megabytes(r.bytes)}
            {r.issues ? `; ${r.issues} problem(s): ${r.firstIssues.slice(0, 5).map((i) => `line ${i.line}: ${i.message}`).join("; ")}` : ""}
          </Alert>
        ))}
      </div>
    </Card>
  );
}

const defaults = cleaningSettingsSchema.parse({ corpusIds: ["0"] });

function CleanCard({ projectId, corpora, onDone }: { projectId: string; corpora: CorpusItem[]; onDone: () => void }) {
  const [chosen, setChosen] = useState<string[]>([]);
  const [fields, setFields] = useState({
    minChars: String(defaults.minChars),
    maxChars: String(defaults.maxChars),
    languages: "",
    minLanguageConfidence: String(defaults.minLanguageConfidence),
    nearDuplicateThreshold: String(defaults.nearDuplicateThreshold),
    pii: defaults.pii as string,
    contentFilter: defaults.contentFilter as string,
  });
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const set = (key: keyof typeof fields) => (e: { target: { value: string } }) => setFields({ ...fields, [key]: e.target.value });
  const start = async () => {
    setProblem(null);
    const result = await postJson(`/api/v1/projects/${projectId}/cleaning-jobs`, {
      corpusIds: chosen,
      minChars: Number(fields.minChars),
      maxChars: Number(fields.maxChars),
      languages: fields.languages.split(/[\s,]+/).filter(Boolean),
      minLanguageConfidence: Number(fields.minLanguageConfidence),
      nearDuplicateThreshold: Number(fields.nearDuplicateThreshold),
      pii: fields.pii,
      contentFilter: fields.contentFilter,
    });
    if (!result.ok) return setProblem(result.problem);
    onDone();
  };
  const numberField = (key: keyof typeof fields, label: string) => (
    <label className="block text-sm">
      <span className="mb-1 block font-medium">{label}</span>
      <input inputMode="decimal" value={fields[key]} onChange={set(key)} className={inputClass} name={key} />
    </label>
  );
  return (
    <Card title="Clean">
      <p className="mb-3 text-sm">
        Drops documents by length and language, then exact and near duplicates across the chosen corpora (earlier corpora win), then applies the
        project&apos;s content filter and PII patterns (set in the project&apos;s settings). Runs in the background; cancel and resume at any time.
      </p>
      <fieldset className="mb-3 text-sm">
        <legend className="mb-1 font-medium">Corpora, in order</legend>
        {corpora.length === 0 ? <p>Add a corpus first.</p> : null}
        {corpora.map((c) => (
          <label key={c.id} className="mr-4 inline-flex items-center gap-1">
            <input type="checkbox" checked={chosen.includes(c.id)} onChange={(e) => setChosen(e.target.checked ? [...chosen, c.id] : chosen.filter((id) => id !== c.id))} />
            {c.name}
          </label>
        ))}
      </fieldset>
      <div className="mb-3 grid grid-cols-2 gap-3">
        {numberField("minChars", "Fewest characters")}
        {numberField("maxChars", "Most characters")}
        {numberField("nearDuplicateThreshold", "Near-duplicate similarity (0.5–0.99)")}
        {numberField("minLanguageConfidence", "Least language confidence (0–1)")}
        <label className="block text-sm">
          <span className="mb-1 block font-medium">Languages to keep (empty: all)</span>
          <input value={fields.languages} onChange={set("languages")} placeholder="en de" className={inputClass} name="languages" title={SUPPORTED_LANGUAGES.join(", ")} />
        </label>
        <label className="block text-sm">
          <span className="mb-1 block font-medium">PII</span>
          <select value={fields.pii} onChange={set("pii")} className={inputClass} name="pii">
            <option value="redact">redact and keep</option>
            <option value="flag">send to review</option>
            <option value="drop">drop</option>
          </select>
        </label>
        <label className="block text-sm">
          <span className="mb-1 block font-medium">Content filter hits</span>
          <select value={fields.contentFilter} onChange={set("contentFilter")} className={inputClass} name="contentFilter">
            <option value="flag">send to review</option>
            <option value="drop">drop</option>
          </select>
        </label>
      </div>
      <Button type="button" disabled={chosen.length === 0} onClick={() => void start()}>Start cleaning</Button>
      <div className="mt-4 text-sm">{problem ? <ProblemAlert problem={problem} /> : null}</div>
    </Card>
  );
}

type JobItem = Route.ComponentProps["loaderData"]["jobs"][number];

function JobRow({ projectId, job, selected, onChange }: { projectId: string; job: JobItem; selected: boolean; onChange: () => void }) {
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const act = async (action: "cancel" | "resume") => {
    setProblem(null);
    const result = await postJson(`/api/v1/cleaning-jobs/${job.id}/${action}`, undefined);
    if (!result.ok) return setProblem(result.problem);
    onChange();
  };
  const { progress } = job;
  const percent = progress.total > 0 ? Math.round((100 * progress.processed) / progress.total) : 100;
  return (
    <li data-testid={`cleaning-job-${job.id}`}>
      <Link className={selected ? "font-semibold" : link} to={`/projects/${projectId}/corpora?job=${job.id}`}>Job {job.id}</Link> · <span data-testid="job-state">{job.state}</span> ·{" "}
      {progress.processed.toLocaleString("en")} / {progress.total.toLocaleString("en")} documents · kept {progress.kept}, flagged {progress.flagged}, dropped {progress.dropped}
      <progress className="block w-full" max={100} value={percent} aria-label={`Job ${job.id} progress`} />
      {job.error ? <span className="block text-red-700 dark:text-red-300">{job.error}</span> : null}
      {job.state === "queued" || job.state === "running" ? (
        <Button type="button" variant="secondary" onClick={() => void act("cancel")}>Cancel</Button>
      ) : null}
      {job.state === "cancelled" || job.state === "failed" ? (
        <Button type="button" variant="secondary" onClick={() => void act("resume")}>Resume</Button>
      ) : null}
      {problem ? <ProblemAlert problem={problem} /> : null}
    </li>
  );
}

type Ratings = NonNullable<Route.ComponentProps["loaderData"]["ratings"]>;

function RatingCard({ jobId, jobDone, ratings, onDone }: { jobId: string; jobDone: boolean; ratings: Ratings; onDone: () => void }) {
  const [fields, setFields] = useState({ size: "100", overlap: "3", seed: "0" });
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const sample = async () => {
    setProblem(null);
    setNotice(null);
    const result = await postJson<{ created: number }>(`/api/v1/cleaning-jobs/${jobId}/rating-tasks`, { size: Number(fields.size), overlap: Number(fields.overlap), seed: Number(fields.seed) });
    if (!result.ok) return setProblem(result.problem);
    setNotice(`${result.data.created} document(s) sent to rating.`);
    onDone();
  };
  const alpha = (value: number | null) => (value === null ? "—" : value.toFixed(2));
  return (
    <Card title="Quality ratings">
      <p className="mb-2 text-sm" data-testid="rating-summary">
        {ratings.tasks} document(s) to rate, {ratings.complete} complete, {ratings.ratings} rating(s)
        {ratings.meanScore !== null ? `, mean ${ratings.meanScore.toFixed(2)}` : ""}; scores 1–5: {ratings.histogram.join(" / ")}; Krippendorff&apos;s α {alpha(ratings.alphaOrdinal)} (ordinal),{" "}
        {alpha(ratings.alphaInterval)} (interval) over {ratings.pairableDocuments} document(s) with two or more ratings.
      </p>
      <div className="mb-3 grid grid-cols-3 gap-2">
        {(["size", "overlap", "seed"] as const).map((key) => (
          <label key={key} className="block text-sm">
            <span className="mb-1 block font-medium">{key === "size" ? "Documents" : key === "overlap" ? "Raters each" : "Seed"}</span>
            <input inputMode="numeric" value={fields[key]} onChange={(e) => setFields({ ...fields, [key]: e.target.value })} className={inputClass} />
          </label>
        ))}
      </div>
      <Button type="button" disabled={!jobDone} onClick={() => void sample()}>Send a sample to rating</Button>
      <div className="mt-3 text-sm">
        {problem ? <ProblemAlert problem={problem} /> : null}
        {notice ? <Alert tone="success">{notice}</Alert> : null}
      </div>
    </Card>
  );
}

type Classifier = NonNullable<Route.ComponentProps["loaderData"]["classifier"]>;

/** Train from the ratings, read the held-out metrics, pick a threshold on the curve after reading samples at it. */
function ClassifierCard({ jobId, classifier, curve, onDone }: { jobId: string; classifier: Classifier | null; curve: CurvePoint[]; onDone: () => void }) {
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const [samples, setSamples] = useState<{ threshold: number; rows: Array<{ documentId: string; score: number; title: string | null; excerpt: string }> } | null>(null);
  const train = async () => {
    setProblem(null);
    setBusy(true);
    const result = await postJson(`/api/v1/cleaning-jobs/${jobId}/quality-classifiers`, {});
    setBusy(false);
    if (!result.ok) return setProblem(result.problem);
    setSamples(null);
    onDone();
  };
  const read = async (threshold: number) => {
    if (!classifier) return;
    const response = await fetch(`/api/v1/quality-classifiers/${classifier.id}/samples?threshold=${threshold}`);
    if (response.ok) setSamples({ threshold, rows: (await response.json()) as Array<{ documentId: string; score: number; title: string | null; excerpt: string }> });
  };
  const choose = async (threshold: number) => {
    if (!classifier) return;
    setProblem(null);
    const response = await fetch(`/api/v1/quality-classifiers/${classifier.id}/threshold`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ threshold }) });
    if (!response.ok) return setProblem((await response.json()) as ApiProblem);
    onDone();
  };
  const m = classifier?.metrics;
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(0)} %`);
  return (
    <Card title="Quality classifier">
      <p className="mb-3 text-sm">
        A ridge regression of the mean rating on hashed word unigrams and bigrams, trained on the rated documents, measured on a held-out part of them, then
        run over every kept document.
      </p>
      <Button type="button" disabled={busy} onClick={() => void train()}>{classifier ? "Train again" : "Train from the ratings"}</Button>
      <div className="mt-3 text-sm">{problem ? <ProblemAlert problem={problem} /> : null}</div>
      {classifier && m ? (
        <div className="mt-4 grid gap-6 lg:grid-cols-2">
          <table className="text-left text-sm" data-testid="classifier-metrics">
            <tbody>
              <tr><th className="pr-4">Trained on / held out</th><td>{m.trainDocuments} / {m.heldOutDocuments} documents</td></tr>
              <tr><th className="pr-4">Held-out accuracy (mean ≥ {classifier.settings.highQuality})</th><td>{pct(m.heldOut.accuracy)}</td></tr>
              <tr><th className="pr-4">Raters&apos; agreement on the same documents</th><td>{pct(m.heldOut.raterAgreement)}</td></tr>
              <tr><th className="pr-4">Always the majority class</th><td>{pct(m.heldOut.majorityAccuracy)}</td></tr>
              <tr><th className="pr-4">Ranking (AUC, 50 % = chance)</th><td>{pct(m.heldOut.auc)}</td></tr>
              <tr><th className="pr-4">Correlation with the mean rating</th><td>{m.heldOut.pearson === null ? "—" : m.heldOut.pearson.toFixed(2)}</td></tr>
              <tr><th className="pr-4">Scored documents</th><td>{m.scoredDocuments}</td></tr>
              <tr><th className="pr-4">Chosen threshold</th><td data-testid="chosen-threshold">{classifier.threshold === null ? "none yet" : classifier.threshold.toFixed(2)}</td></tr>
            </tbody>
          </table>
          <div>
            <table className="w-full text-left text-sm" data-testid="threshold-curve">
              <thead>
                <tr><th>Predicted quality ≥</th><th>Documents</th><th>Words kept</th><th /></tr>
              </thead>
              <tbody>
                {curve.map((p) => (
                  <tr key={p.threshold}>
                    <td>{p.threshold.toFixed(2)}</td>
                    <td>{p.documents}</td>
                    <td>
                      <span className="inline-block h-2 bg-brand-700 align-middle dark:bg-brand-50" style={{ width: `${Math.round(p.share * 80)}px` }} aria-hidden="true" /> {pct(p.share)}
                    </td>
                    <td>
                      <button type="button" className={link} onClick={() => void read(p.threshold)} aria-label={`Read samples at ${p.threshold.toFixed(2)}`}>samples</button>{" "}
                      <button type="button" className={link} onClick={() => void choose(p.threshold)} aria-label={`Choose ${p.threshold.toFixed(2)}`}>choose</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {classifier.threshold !== null ? (
              <p className="mt-2 text-sm">
                <a className={link} href={`/api/v1/cleaning-jobs/${jobId}/kept.jsonl?classifier=${classifier.id}`}>Download the documents at or above the threshold (JSONL)</a>
              </p>
            ) : null}
          </div>
        </div>
      ) : null}
      {samples ? (
        <div className="mt-4" data-testid="threshold-samples">
          <h3 className="mb-2 text-sm font-semibold">The documents just at or above {samples.threshold.toFixed(2)}</h3>
          <ul className="space-y-2 text-xs">
            {samples.rows.map((r) => (
              <li key={r.documentId} className="rounded border border-slate-200 p-2 dark:border-slate-700">
                <span className="font-medium">{r.title ?? r.documentId} · {r.score.toFixed(2)}</span>
                <span className="block whitespace-pre-wrap">{r.excerpt}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </Card>
  );
}
