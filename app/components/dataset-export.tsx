import { useState } from "react";

const datasets = { preferences: "Preference pairs", sft: "SFT examples", unpaired: "Unpaired labels (KTO)", prompts: "Prompts with their metadata" } as const;
const formats = { trl: "TRL (JSONL)", openrlhf: "OpenRLHF (JSONL)", verl: "veRL (Parquet, prompts)", hf: "Hugging Face dataset (.zip)" } as const;
type Dataset = keyof typeof datasets;
type Format = keyof typeof formats;

/** The download link of a dataset in one of the bridge formats (decision 0013); key names and filters go in the URL. */
export function datasetExportHref(projectId: string, format: Format, dataset: Dataset, conversational: boolean, more = ""): string {
  const base = `/api/v1/projects/${projectId}/exports`;
  const query = new URLSearchParams(more.trim().replace(/^\?/, ""));
  const style = conversational ? "conversational" : "standard";
  let path = `${base}/trl/${dataset}.jsonl`;
  if (format === "verl") path = `${base}/verl/prompts.parquet`;
  else if (format === "openrlhf") {
    path = `${base}/openrlhf/${dataset}.jsonl`;
    if (!query.has("chatTemplate")) query.set("chatTemplate", String(conversational));
  } else if (format === "hf") {
    path = `${base}/hf/${dataset}.zip`;
    if (dataset === "prompts" && !query.has("data")) query.set("data", "verl");
  }
  if (format !== "verl" && format !== "openrlhf" && !query.has("format")) query.set("format", style);
  const search = query.toString();
  return search ? `${path}?${search}` : path;
}

const select = "w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950";

export function DatasetExport({ projectId }: { projectId: string }) {
  const [format, setFormat] = useState<Format>("trl");
  const [dataset, setDataset] = useState<Dataset>("preferences");
  const [conversational, setConversational] = useState(true);
  const [more, setMore] = useState("");
  const shown = format === "verl" ? "prompts" : dataset;
  return (
    <div className="space-y-2 text-sm" data-testid="dataset-export">
      <div className="grid grid-cols-2 gap-2">
        <div>
          <label htmlFor="dataset-export-format" className="block font-medium">
            Format
          </label>
          <select id="dataset-export-format" className={select} value={format} onChange={(e) => setFormat(e.target.value as Format)}>
            {Object.entries(formats).map(([value, label]) => (
              <option key={value} value={value}>{label}</option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="dataset-export-dataset" className="block font-medium">
            Dataset
          </label>
          <select id="dataset-export-dataset" className={select} value={shown} disabled={format === "verl"} onChange={(e) => setDataset(e.target.value as Dataset)}>
            {Object.entries(datasets).map(([value, label]) => (
              <option key={value} value={value}>{label}</option>
            ))}
          </select>
        </div>
      </div>
      {format !== "verl" ? (
        <label className="flex items-center gap-2">
          <input type="checkbox" checked={conversational} onChange={(e) => setConversational(e.target.checked)} /> Chat messages (conversational); off: plain strings
        </label>
      ) : null}
      <label className="block">
        <span className="block font-medium">More options</span>
        <input className={select} value={more} placeholder={format === "openrlhf" ? "inputKey=question&outputKey=answer" : "since=2026-01-01T00:00:00Z&round=3"}
          onChange={(e) => setMore(e.target.value)} />
      </label>
      <a className="text-brand-700 underline dark:text-brand-50" href={datasetExportHref(projectId, format, shown, conversational, more)} download>
        Download {datasets[shown].toLowerCase()} as {formats[format]}
      </a>
    </div>
  );
}
