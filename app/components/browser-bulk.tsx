import { Form } from "react-router";
import { browserInputClass } from "./browser-tabs.tsx";
import { Alert, Button, Card } from "./ui.tsx";

/** The prompt listing's bulk actions (decisions 0032, 0047), each over the selected prompts or the whole filter. */
export const bulkKinds = {
  exclude: "exclude from training",
  include: "take back into training",
  review: "move to review",
  release: "take out of review",
  export: "export",
} as const;
export type BulkKind = keyof typeof bulkKinds;

const exportDatasets = { preferences: "preference pairs", sft: "SFT examples", unpaired: "unpaired labels (KTO)", prompts: "prompts", rankings: "raw rankings" } as const;
const exportFormats = { trl: "TRL (JSONL)", openrlhf: "OpenRLHF (JSONL)", verl: "veRL (Parquet, prompts)", hf: "Hugging Face dataset (.zip)", parquet: "Parquet (preference pairs)", raw: "raw (rankings)" } as const;

/** A counted bulk action waiting for its confirmation: what it does, to how many prompts, and the selection again. */
export type PendingBulk = {
  kind: BulkKind;
  count: number;
  reason: string;
  scope: "selected" | "filter";
  promptIds: string[];
  filter: string;
  dataset: string;
  format: string;
};

function pendingWords(p: PendingBulk): string {
  const prompts = `${p.count} ${p.count === 1 ? "prompt" : "prompts"}`;
  if (p.kind === "exclude") return `This leaves ${prompts} out of training.`;
  if (p.kind === "include") return `This takes back ${prompts} into training.`;
  if (p.kind === "review") return `This moves ${prompts} to review; their open labeling tasks wait until a reviewer accepts them.`;
  if (p.kind === "release") return `This takes ${prompts} out of review, back to the labelers.`;
  return `This exports the ${exportDatasets[p.dataset as keyof typeof exportDatasets] ?? p.dataset} of ${prompts} as ${exportFormats[p.format as keyof typeof exportFormats] ?? p.format}.`;
}

/** The count, and the button that applies the action at that count (an export downloads from the export route). */
export function PendingBulkConfirm({ pending, projectId }: { pending: PendingBulk; projectId: string }) {
  const isExport = pending.kind === "export";
  return (
    <Alert>
      <Form method="post" className="flex flex-wrap items-center gap-3" {...(isExport ? { action: `/projects/${projectId}/browser/export`, reloadDocument: true } : {})}>
        <input type="hidden" name="bulk" value={pending.kind} />
        <input type="hidden" name="reason" value={pending.reason} />
        <input type="hidden" name="scope" value={pending.scope} />
        <input type="hidden" name="filter" value={pending.filter} />
        <input type="hidden" name="dataset" value={pending.dataset} />
        <input type="hidden" name="format" value={pending.format} />
        {pending.promptIds.map((id) => <input key={id} type="hidden" name="promptIds" value={id} />)}
        <input type="hidden" name="confirm" value={pending.count} />
        <span data-testid="bulk-count">{pendingWords(pending)}</span>
        <Button type="submit" variant={isExport ? "primary" : "danger"} disabled={pending.count === 0}>{isExport ? `Download ${pending.count}` : `Confirm ${pending.count}`}</Button>
      </Form>
    </Alert>
  );
}

/** The form: which prompts, which action (and its reason or export format), then "Count first". */
export function BulkActionsCard({ filter }: { filter: Record<string, string> }) {
  return (
    <Card title="Bulk actions">
      <Form method="post" id="bulk" className="flex flex-wrap items-end gap-3">
        <input type="hidden" name="filter" value={JSON.stringify(filter)} />
        <label className="text-sm">Which<br />
          <select name="scope" defaultValue="selected" className={browserInputClass}>
            <option value="selected">the selected prompts</option><option value="filter">every prompt this filter finds</option>
          </select>
        </label>
        <label className="text-sm">Action<br />
          <select name="bulk" defaultValue="exclude" className={browserInputClass}>
            {Object.entries(bulkKinds).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
        </label>
        <label className="text-sm">Reason (needed to exclude)<br /><input name="reason" className={browserInputClass} /></label>
        <label className="text-sm">Export what<br />
          <select name="dataset" defaultValue="preferences" className={browserInputClass}>
            {Object.entries(exportDatasets).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
        </label>
        <label className="text-sm">Export format<br />
          <select name="format" defaultValue="trl" className={browserInputClass}>
            {Object.entries(exportFormats).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
        </label>
        <Button type="submit" variant="secondary">Count first</Button>
      </Form>
    </Card>
  );
}
