import { ByteWriter, ParquetWriter, type SchemaElement } from "hyparquet-writer";
import type { VerlRow } from "./verl-format.ts";

/**
 * veRL rows as Parquet, streamed a row group at a time (as the preference Parquet export does):
 * data_source, prompt (list of { role, content }), ability, reward_model { style, ground_truth },
 * extra_info { split, index, metadata }.
 */
export const VERL_ROWS_PER_GROUP = 10_000;

const text = (name: string): SchemaElement => ({ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" });
export const verlSchema: SchemaElement[] = [
  { name: "root", num_children: 5 },
  text("data_source"),
  { name: "prompt", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", repetition_type: "REQUIRED", num_children: 2 },
  text("role"),
  text("content"),
  text("ability"),
  { name: "reward_model", repetition_type: "REQUIRED", num_children: 2 },
  text("style"),
  text("ground_truth"),
  { name: "extra_info", repetition_type: "REQUIRED", num_children: 3 },
  text("split"),
  { name: "index", type: "INT64", repetition_type: "REQUIRED" },
  text("metadata"),
];

export async function* verlParquetChunks(rows: AsyncIterable<VerlRow[]>, rowsPerGroup = VERL_ROWS_PER_GROUP): AsyncGenerator<Uint8Array> {
  const writer = new ByteWriter();
  const parquet = new ParquetWriter({ writer, schema: verlSchema, createdBy: "tandem" });
  // Hand over what the writer holds and start its buffer over (see parquet-export.server.ts).
  const drain = (): Uint8Array => {
    const bytes = writer.getBytes().slice();
    writer.index = 0;
    return bytes;
  };
  let group: VerlRow[] = [];
  const writeGroup = (): Uint8Array => {
    const column = <T>(pick: (row: VerlRow) => T) => group.map(pick);
    parquet.write({
      columnData: [
        { name: "data_source", data: column((r) => r.data_source) },
        { name: "prompt", data: column((r) => r.prompt) },
        { name: "ability", data: column((r) => r.ability) },
        { name: "reward_model", data: column((r) => r.reward_model) },
        { name: "extra_info", data: column((r) => ({ ...r.extra_info, index: BigInt(r.extra_info.index) })) },
      ],
      rowGroupSize: group.length,
    });
    group = [];
    return drain();
  };
  yield drain();
  for await (const batch of rows) {
    for (const row of batch) {
      group.push(row);
      if (group.length >= rowsPerGroup) yield writeGroup();
    }
  }
  if (group.length > 0) yield writeGroup();
  await parquet.finish();
  yield drain();
}
