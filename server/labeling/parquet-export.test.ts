import assert from "node:assert/strict";
import { test } from "node:test";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import type { PreferenceRecord } from "./exports.server.ts";
import { parquetChunks } from "./parquet-export.server.ts";

const record = (i: number): PreferenceRecord => ({
  promptId: String(i + 1),
  prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: `Question ${i} — ünïcödé ✓` }],
  chosen: `good ${i}`,
  rejected: `bad ${i}`,
  margin: i % 3,
  weight: 1 / (i + 1),
});

async function* batches(sizes: number[]): AsyncGenerator<PreferenceRecord[]> {
  let i = 0;
  for (const size of sizes) yield Array.from({ length: size }, () => record(i++));
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<{ file: ArrayBuffer; count: number }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  const buffer = Buffer.concat(parts);
  return { file: buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength), count: parts.length };
}

test("conversational rows read back as TRL's messages lists, one row group per rowsPerGroup rows, each group its own chunk", async () => {
  const { file, count } = await collect(parquetChunks(batches([3, 4]), "conversational", 3));
  // 7 rows in groups of 3: 3 + 3 + 1; header + 3 groups + footer.
  assert.deepEqual(parquetMetadata(file).row_groups.map((g) => Number(g.num_rows)), [3, 3, 1]);
  assert.equal(count, 5);
  const rows = await parquetReadObjects({ file });
  assert.equal(rows.length, 7);
  const expected = record(4);
  assert.deepEqual(rows[4], {
    prompt: expected.prompt,
    chosen: [{ role: "assistant", content: expected.chosen }],
    rejected: [{ role: "assistant", content: expected.rejected }],
    margin: expected.margin,
    weight: expected.weight,
  });
});

test("standard rows are plain strings; an empty export is still a valid file", async () => {
  const { file } = await collect(parquetChunks(batches([2]), "standard"));
  const rows = await parquetReadObjects({ file });
  assert.deepEqual(rows[1], { prompt: "system: Be brief.\n\nuser: Question 1 — ünïcödé ✓", chosen: "good 1", rejected: "bad 1", margin: 1, weight: 0.5 });
  const empty = await collect(parquetChunks(batches([]), "standard"));
  assert.equal(Number(parquetMetadata(empty.file).num_rows), 0);
  assert.deepEqual(await parquetReadObjects({ file: empty.file }), []);
});

test("a tool-using answer keeps its turns as { role, content } elements, the calls written into the content as tool blocks", async () => {
  const chosen = [
    { role: "assistant" as const, content: "", tool_calls: [{ type: "function" as const, function: { name: "calculator", arguments: { expression: "37*4" } } }] },
    { role: "tool" as const, name: "calculator", content: "148" },
    { role: "assistant" as const, content: "148." },
  ];
  async function* one(): AsyncGenerator<PreferenceRecord[]> {
    yield [{ promptId: "1", prompt: [{ role: "user", content: "37 × 4?" }], chosen, rejected: "150.", margin: 1, weight: 1 }];
  }
  const { file } = await collect(parquetChunks(one(), "conversational"));
  const [row] = await parquetReadObjects({ file });
  assert.deepEqual(row!.chosen, [
    { role: "assistant", content: '<tool_call>\n{"name":"calculator","arguments":{"expression":"37*4"}}\n</tool_call>' },
    { role: "tool", content: "148" },
    { role: "assistant", content: "148." },
  ]);
  assert.deepEqual(row!.rejected, [{ role: "assistant", content: "150." }]);
});
