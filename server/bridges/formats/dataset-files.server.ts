import { z } from "zod";
import type { Db } from "../../db/database.server.ts";
import type { EvalSplitFilter } from "../../labeling/eval-split.ts";
import { exportFilterSchema, withChosenChecker } from "../../labeling/exports.server.ts";
import { AppError } from "../../lib/app-error.ts";
import { inapplicableMix } from "../../labeling/data-mix.ts";
import type { Codec, DatasetItem, DatasetKind } from "./dataset-records.ts";
import { datasetBatches } from "./dataset-source.server.ts";
import { datasetCard, zipFiles } from "./hf-layout.ts";
import { openRlhfCodec, openRlhfOptionShape, openRlhfOptionsSchema } from "./openrlhf-format.ts";
import { trlCodec } from "./trl-format.ts";
import { verlCodec, verlOptionsSchema, type VerlRow } from "./verl-format.ts";
import { verlParquetChunks } from "./verl-parquet.ts";

/**
 * The files of one dataset in one format — what the export endpoints stream and what a round
 * bundle puts in its folder. `format` in the options is TRL's style (conversational | standard),
 * as on the existing exports; the file format is the `format` argument.
 */
export const fileFormats = ["trl", "openrlhf", "verl", "hf"] as const;
export type FileFormat = (typeof fileFormats)[number];
export type DataFormat = Exclude<FileFormat, "hf">;

export const datasetOptionsSchema = exportFilterSchema.extend({
  ...openRlhfOptionShape,
  ...verlOptionsSchema.shape,
  /** hf only: the format of the data files (default: trl, or verl for prompts). */
  data: z.enum(["trl", "openrlhf", "verl"]).optional(),
});
export type DatasetOptions = z.infer<typeof datasetOptionsSchema> & Pick<EvalSplitFilter, "promptSubset">;

export type DatasetFile = { path: string; contentType: string; chunks: AsyncIterable<string | Uint8Array> };

/** The hf layout is zipped in memory: beyond this many records, use the streamed JSONL or Parquet export. */
export const HF_MAX_RECORDS = 200_000;

export function codecFor<K extends DatasetKind>(format: DataFormat, dataset: K, options: DatasetOptions): Codec<DatasetItem[K]> {
  if (format === "trl") return trlCodec(dataset, options.format);
  if (format === "openrlhf") {
    const parsed = openRlhfOptionsSchema.safeParse(options);
    if (!parsed.success) throw AppError.fromZod(parsed.error, "The OpenRLHF options are not valid.");
    return openRlhfCodec(dataset, parsed.data);
  }
  if (dataset !== "prompts") throw new AppError("validation_failed", "veRL Parquet is a prompt set for RL with reference answers: use the prompts dataset.", [{ path: "dataset", message: "must be prompts for veRL" }]);
  return verlCodec(options) as unknown as Codec<DatasetItem[K]>;
}

/** The data format of an hf folder's files: the one asked for, else trl. */
export const hfDataFormat = (options: DatasetOptions): DataFormat => options.data ?? "trl";

/** Options of a data format worth recording (the card) so the files import back as written. */
export function formatOptions(format: DataFormat, options: DatasetOptions): Record<string, unknown> {
  if (format === "trl") return { format: options.format };
  if (format === "openrlhf") {
    const { chatTemplate, inputKey, outputKey, promptKey, chosenKey, rejectedKey, labelKey } = options;
    return { chatTemplate, inputKey, outputKey, promptKey, chosenKey, rejectedKey, labelKey };
  }
  const { dataSource, ability, answerKey, split } = options;
  return { dataSource, ability, answerKey, split };
}

async function* jsonlChunks<T>(batches: AsyncIterable<T[]>, codec: Codec<T>, counter?: { n: number }): AsyncGenerator<string> {
  let index = 0;
  for await (const batch of batches) {
    let chunk = "";
    for (const item of batch) chunk += JSON.stringify(codec.encode(item, index++)) + "\n";
    if (counter) counter.n = index;
    if (chunk) yield chunk;
  }
}

async function* verlRows(batches: AsyncIterable<Array<DatasetItem["prompts"]>>, options: DatasetOptions, counter?: { n: number }): AsyncGenerator<VerlRow[]> {
  const codec = verlCodec(options);
  let index = 0;
  for await (const batch of batches) {
    yield batch.map((item) => codec.encodeRow(item, index++));
    if (counter) counter.n = index;
  }
}

function dataFile(db: Db, projectId: string, dataset: DatasetKind, format: DataFormat, options: DatasetOptions, counter?: { n: number }): DatasetFile {
  // Refuses a dataset the format cannot hold, and bad OpenRLHF keys, before anything is read.
  const codec = codecFor(format, dataset, options);
  const batches = datasetBatches(db, projectId, dataset, options);
  if (format === "verl") {
    return { path: `${dataset}.parquet`, contentType: "application/vnd.apache.parquet", chunks: verlParquetChunks(verlRows(batches as AsyncGenerator<Array<DatasetItem["prompts"]>>, options, counter)) };
  }
  return { path: `${dataset}.jsonl`, contentType: "application/x-ndjson; charset=utf-8", chunks: jsonlChunks(batches, codec as Codec<unknown>, counter) };
}

/**
 * The files of a dataset: trl / openrlhf → one streamed `<dataset>.jsonl`; verl → one streamed
 * `prompts.parquet`; hf → `README.md` (the dataset card) and `data/train.jsonl` (or .parquet),
 * built in memory (at most HF_MAX_RECORDS records).
 */
/** `exportedAt` (hf card): a round bundle passes its snapshot time, so the same data make the same bytes. */
export async function writeDatasetFiles(db: Db, projectId: string, dataset: DatasetKind, format: FileFormat, asked: DatasetOptions, exportedAt = new Date().toISOString()): Promise<DatasetFile[]> {
  refuseInapplicableFilters(dataset, asked);
  // before any file streams: a project without a checker is refused now, not halfway through a download
  const options = await withChosenChecker(db, projectId, asked);
  if (format !== "hf") return [dataFile(db, projectId, dataset, format, options)];
  const data = hfDataFormat(options);
  const counter = { n: 0 };
  const file = dataFile(db, projectId, dataset, data, options, counter);
  const parts: Uint8Array[] = [];
  const tooMany = () =>
    new AppError("bad_request", `The dataset has more than ${HF_MAX_RECORDS.toLocaleString("en")} records, too many for a zip built in memory; narrow the filters or download the ${data === "verl" ? "Parquet" : "JSONL"} export.`);
  for await (const chunk of file.chunks) {
    if (counter.n > HF_MAX_RECORDS) throw tooMany();
    parts.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
  }
  if (counter.n > HF_MAX_RECORDS) throw tooMany();
  const path = `data/train.${data === "verl" ? "parquet" : "jsonl"}`;
  const project = await db.selectFrom("projects").select(["id", "name"]).where("id", "=", projectId).executeTakeFirstOrThrow();
  const round = options.round ? ((await db.selectFrom("rounds").select(["id", "name"]).where("id", "=", options.round).executeTakeFirst()) ?? null) : null;
  const { since, until, labeler, labelers, mix, minAgreement, consensus, pairs, margin, chosenChecker } = options;
  const card = datasetCard(
    {
      project,
      dataset,
      format: data,
      options: formatOptions(data, options),
      round,
      filters: { since, until, labeler, labelers, mix, round: options.round, minAgreement, selection: options.promptSubset?.label, ...(dataset === "preferences" || dataset === "unpaired" ? { consensus, pairs, margin } : {}), ...(dataset === "preferences" ? { chosenChecker } : {}) },
      counts: { train: counter.n },
      exportedAt,
    },
    [{ split: "train", path }],
  );
  const bytes = Buffer.concat(parts);
  return [
    { path: "README.md", contentType: "text/markdown; charset=utf-8", chunks: once(card) },
    { path, contentType: file.contentType, chunks: once(bytes) },
  ];
}

/** A file's chunks as one buffer. */
export async function bytesOf(chunks: AsyncIterable<string | Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
  return Buffer.concat(parts);
}

/** The hf layout as one zip (folder `<name>/`), for the download. */
export async function datasetZip(files: DatasetFile[], folder: string): Promise<Uint8Array> {
  const entries: Array<{ path: string; bytes: Uint8Array }> = [];
  for (const file of files) entries.push({ path: file.path, bytes: await bytesOf(file.chunks) });
  return zipFiles(entries, folder);
}

/** A filter that means nothing for a dataset is refused, not silently ignored (as on the existing exports). */
export function refuseInapplicableFilters(dataset: DatasetKind, options: DatasetOptions): void {
  const errors: Array<{ path: string; message: string }> = [];
  if (options.consensus && dataset !== "preferences" && dataset !== "unpaired") errors.push({ path: "consensus", message: "only preference pairs (and the unpaired labels made from them) have a consensus" });
  if (options.minAgreement !== undefined && (dataset === "sft" || dataset === "prompts")) errors.push({ path: "minAgreement", message: `${dataset === "sft" ? "demonstrations" : "prompts"} are not ranked, so they have no agreement` });
  if (options.labeler !== undefined && dataset === "prompts") errors.push({ path: "labeler", message: "prompts have no labeler" });
  if (options.chosenChecker !== undefined && dataset !== "preferences") errors.push({ path: "chosenChecker", message: "only preference pairs have a chosen answer to check" });
  const mix = inapplicableMix(options.mix, dataset);
  if (mix) errors.push(mix);
  if (errors.length > 0) throw new AppError("validation_failed", "The query string is not valid.", errors);
}

async function* once<T>(value: T): AsyncGenerator<T> {
  yield value;
}
