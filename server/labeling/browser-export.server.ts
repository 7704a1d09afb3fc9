import { sql } from "kysely";
import { z } from "zod";
import type { Actor } from "../auth/actor.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { datasetOptionsSchema, datasetZip, writeDatasetFiles } from "../bridges/formats/dataset-files.server.ts";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import { oneSelection, promptSelectionFields, selectionRules, type PromptSelection } from "./browser.server.ts";
import { rawRankingLines } from "./exports.server.ts";
import { preferenceParquet } from "./parquet-export.server.ts";

/**
 * "Export the selection" (decision 0047): the data of a data-browser selection — prompt ids, or
 * every prompt a browser filter finds — in any format the project exports already write. The
 * selection becomes one more export filter (`promptSubset`, eval-split.ts), so every record
 * kind, the eval-set and exclusion rules and the format options behave exactly as in the
 * project-wide download. Counted first; the download needs `confirm` equal to that count.
 */
export const selectionExportSchema = z
  .object({
    ...promptSelectionFields,
    /** What to export: a dataset kind of the format exports, or the raw rankings. */
    dataset: z.enum(["preferences", "sft", "unpaired", "prompts", "rankings"], { error: "must be preferences, sft, unpaired, prompts or rankings" }),
    /**
     * trl, openrlhf (JSONL), verl (prompts as Parquet), hf (a zipped Hugging Face folder): as
     * /exports/:format/:dataset; parquet: preferences.parquet; raw: rankings.jsonl.
     */
    format: z.enum(["trl", "openrlhf", "verl", "hf", "parquet", "raw"], { error: "must be trl, openrlhf, verl, hf, parquet or raw" }).default("trl"),
    /** The export's own options, as its query string takes them (since, minAgreement, pseudonymize, chatTemplate, …). */
    options: datasetOptionsSchema.strict().prefault({}),
  })
  .strict()
  .refine(oneSelection.check, oneSelection.params)
  .refine((b) => (b.dataset === "rankings") === (b.format === "raw"), { path: ["format"], message: "the rankings export is raw, and raw is only for rankings" })
  .refine((b) => b.format !== "parquet" || b.dataset === "preferences", { path: ["format"], message: "parquet is the preference set; use verl for prompts as Parquet" });
export type SelectionExportInput = z.infer<typeof selectionExportSchema>;

export type Download = { contentType: string; filename: string; chunks: AsyncIterable<string | Uint8Array> };

const subsetQuery = (rules: Awaited<ReturnType<typeof selectionRules>>) => sql`select p.id from prompts p where ${sql.join(rules, sql` and `)}`;

/** How many prompts a selection holds (ids must be the project's: refused by index otherwise). */
export async function countSelection(db: Db, projectId: string, selection: PromptSelection): Promise<number> {
  const rules = await selectionRules(db, projectId, selection);
  const counted = await sql<{ n: string }>`select count(*) as n from prompts p where ${sql.join(rules, sql` and `)}`.execute(db);
  return Number(counted.rows[0]!.n);
}

/**
 * Without `confirm`: the count only. With `confirm` equal to it: the download, audited
 * (`export.selection`). A count that moved is refused (409) before anything is read.
 */
export async function exportSelection(db: Db, actor: Actor | null, projectId: string, input: SelectionExportInput): Promise<{ count: number; download: Download | null }> {
  const selection: PromptSelection = input.promptIds ? { promptIds: input.promptIds } : { filter: input.filter! };
  const count = await countSelection(db, projectId, selection);
  if (input.confirm === undefined) return { count, download: null };
  if (input.confirm !== count) throw new AppError("conflict", `${count} prompts match now, not the ${input.confirm} you confirmed; nothing was exported. Count again.`);
  // The filter is read again as the export runs, as the project-wide exports read live data.
  const rules = await selectionRules(db, projectId, selection);
  const label = input.promptIds ? `${count} prompts chosen in the data browser` : `${count} prompts of the data browser filter ${JSON.stringify(input.filter)}`;
  const options = { ...input.options, promptSubset: { ids: subsetQuery(rules), label } };
  const base = `project-${projectId}-selection-${input.dataset}`;
  let download: Download;
  if (input.format === "raw") {
    const { export_salt } = await db.selectFrom("projects").select("export_salt").where("id", "=", projectId).executeTakeFirstOrThrow();
    download = { contentType: "application/x-ndjson; charset=utf-8", filename: `${base}.jsonl`, chunks: rawRankingLines(db, projectId, options, export_salt) };
  } else if (input.format === "parquet") {
    download = { contentType: "application/vnd.apache.parquet", filename: `${base}.parquet`, chunks: preferenceParquet(db, projectId, options) };
  } else {
    const dataset = input.dataset as Exclude<SelectionExportInput["dataset"], "rankings">;
    // writeDatasetFiles refuses what a format cannot hold (veRL is prompts only) before reading.
    const files = await writeDatasetFiles(db, projectId, dataset, input.format, options);
    download =
      input.format === "hf"
        ? { contentType: "application/zip", filename: `${base}-hf.zip`, chunks: once(await datasetZip(files, base)) }
        : { contentType: files[0]!.contentType, filename: `${base}-${input.format}.${input.format === "verl" ? "parquet" : "jsonl"}`, chunks: files[0]!.chunks };
  }
  await recordAudit(db, {
    actor,
    action: "export.selection",
    target: `project:${projectId}`,
    details: { count, dataset: input.dataset, format: input.format, options: input.options, promptIds: input.promptIds ?? null, filter: input.filter ?? null },
  });
  return { count, download };
}

async function* once<T>(value: T): AsyncGenerator<T> {
  yield value;
}
