import { ByteWriter, ParquetWriter, type SchemaElement } from "hyparquet-writer";
import type { Db } from "../db/database.server.ts";
import { flattenAnswer, type ConversationMessage } from "./transcript.ts";
import { formatPreference, preferenceBatches, type ExportFilter, type PreferenceRecord } from "./exports.server.ts";

/**
 * The preference set as Parquet: the same records and filters as preferences.jsonl, in the
 * same TRL shapes. Conversational: prompt / chosen / rejected are lists of { role, content }
 * (what Hugging Face `datasets` writes for messages); standard: plain strings. The struct has
 * no tool_calls field, so an assistant message that calls tools holds its calls as the
 * <tool_call> blocks of the standard flattening in its content, and a tool result is a
 * { role: "tool", content } element (decision 0020). Rows are
 * written in row groups of ROWS_PER_GROUP and each group's bytes leave as soon as it is
 * written, so memory holds one row group, not the file (the footer's metadata grows by a
 * few hundred bytes per group).
 */
export const ROWS_PER_GROUP = 10_000;

const text = (name: string): SchemaElement => ({ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" });
const double = (name: string): SchemaElement => ({ name, type: "DOUBLE", repetition_type: "REQUIRED" });
// The three-level LIST of the Parquet spec, each element a { role, content } struct.
const messages = (name: string): SchemaElement[] => [
  { name, repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", repetition_type: "REQUIRED", num_children: 2 },
  text("role"),
  text("content"),
];

export function preferenceSchema(format: ExportFilter["format"]): SchemaElement[] {
  const column = format === "conversational" ? messages : (name: string) => [text(name)];
  return [{ name: "root", num_children: 5 }, ...column("prompt"), ...column("chosen"), ...column("rejected"), double("margin"), double("weight")];
}

/** Messages as the { role, content } structs of the file: tool calls written into the content. */
const roleContent = (messages: unknown) =>
  (messages as ConversationMessage[]).map((m) => ({ role: m.role, content: m.tool_calls ? flattenAnswer([m]) : m.content }));

export function preferenceParquet(db: Db, projectId: string, filter: ExportFilter): AsyncGenerator<Uint8Array> {
  return parquetChunks(preferenceBatches(db, projectId, filter), filter.format);
}

/** Parquet bytes for a stream of preference batches: the header, then one chunk per row group, then the footer. */
export async function* parquetChunks(
  batches: AsyncIterable<PreferenceRecord[]>,
  format: ExportFilter["format"],
  rowsPerGroup = ROWS_PER_GROUP,
): AsyncGenerator<Uint8Array> {
  const writer = new ByteWriter();
  const parquet = new ParquetWriter({ writer, schema: preferenceSchema(format), createdBy: "tandem" });
  // Hand over what the writer holds and start its buffer over; `offset` keeps counting the
  // file's bytes, which is all the footer's offsets need (hyparquet-writer's fileWriter does the same).
  const drain = (): Uint8Array => {
    const bytes = writer.getBytes().slice();
    writer.index = 0;
    return bytes;
  };
  let rows: PreferenceRecord[] = [];
  const writeGroup = (): Uint8Array => {
    const records = rows.map((record) => {
      const r = formatPreference(record, format);
      return format === "conversational" ? { ...r, chosen: roleContent(r.chosen), rejected: roleContent(r.rejected) } : r;
    });
    parquet.write({
      columnData: (["prompt", "chosen", "rejected", "margin", "weight"] as const).map((name) => ({ name, data: records.map((r) => r[name]) })),
      rowGroupSize: records.length,
    });
    rows = [];
    return drain();
  };

  yield drain(); // the magic "PAR1"
  for await (const batch of batches) {
    for (const record of batch) {
      rows.push(record);
      if (rows.length >= rowsPerGroup) yield writeGroup();
    }
  }
  if (rows.length > 0) yield writeGroup();
  await parquet.finish();
  yield drain();
}
