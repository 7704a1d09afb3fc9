import assert from "node:assert/strict";
import { test } from "node:test";
import type { Codec, DatasetItem, DatasetKind } from "./dataset-records.ts";
import { datasetCard, readCard, unzipDataset, zipFiles } from "./hf-layout.ts";
import { openRlhfCodec, openRlhfOptionsSchema } from "./openrlhf-format.ts";
import { decodeRows, readJsonl, readRows } from "./read-rows.ts";
import { trlCodec } from "./trl-format.ts";
import { verlCodec, verlOptionsSchema } from "./verl-format.ts";
import { verlParquetChunks } from "./verl-parquet.ts";

const system = { role: "system" as const, content: "Be brief." };
const user = (content: string) => ({ role: "user" as const, content });
const multiTurn = [system, user("Hi"), { role: "assistant" as const, content: "Hello!" }, user("What is 2+2?")];
/** An answer that used the calculator: TRL's tool-calling messages (decision 0020). */
const withCalculator = (expression: string, result: string, final: string) => [
  { role: "assistant" as const, content: "", tool_calls: [{ type: "function" as const, function: { name: "calculator", arguments: { expression } } }] },
  { role: "tool" as const, name: "calculator", content: result },
  { role: "assistant" as const, content: final },
];

const samples: { [K in DatasetKind]: Array<DatasetItem[K]> } = {
  preferences: [
    { prompt: [user("What is 37 × 4?")], chosen: "<<37*4=148>> 148", rejected: "150", margin: 2, weight: 1 / 6 },
    { prompt: multiTurn, chosen: "4", rejected: "5", margin: 1, weight: 1 },
    { prompt: [user("What is 12 × 13?")], chosen: withCalculator("12*13", "156", "The answer is 156."), rejected: "The answer is 146.", margin: 1, weight: 1 },
  ],
  sft: [
    { prompt: [user("Name a colour — ünïcödé ✓")], completion: "Blue." },
    { prompt: multiTurn, completion: "4" },
    { prompt: [user("What is 12 × 13?")], completion: withCalculator("12*13", "156", "The answer is 156.") },
    // A continued conversation whose first reply used the calculator: the tool use stays in its turn.
    { prompt: [user("What is 2+2?"), ...withCalculator("2+2", "4", "4"), user("And times 3?")], completion: withCalculator("4*3", "12", "12") },
  ],
  unpaired: [
    { prompt: [user("Say hi")], completion: "Hi!", label: true },
    { prompt: multiTurn, completion: "22", label: false },
    { prompt: [user("What is 7 × 8?")], completion: withCalculator("7*8", "56", "56."), label: true },
  ],
  prompts: [
    { messages: [user("What is 12 * 7?")], metadata: { answer: 84, expression: "12*7" } },
    { messages: multiTurn, metadata: {} },
  ],
};

/** Encode → JSON text → decode → encode again gives the same records. */
function roundTrip<K extends DatasetKind>(kind: K, codec: Codec<DatasetItem[K]>) {
  const first = samples[kind].map((item, i) => codec.encode(item, i));
  const jsonl = first.map((r) => JSON.stringify(r)).join("\n");
  const decoded = decodeRows(readJsonl(jsonl), codec);
  assert.deepEqual(decoded.issues, [], `${kind}: ${JSON.stringify(decoded.issues)}`);
  const second = decoded.items.map(({ item }, i) => codec.encode(item, i));
  assert.deepEqual(second, first);
  return { first, decoded };
}

for (const kind of ["preferences", "sft", "unpaired", "prompts"] as const) {
  test(`TRL conversational ${kind}: export → import → export is the same, and the items come back whole`, () => {
    const { decoded } = roundTrip(kind, trlCodec(kind, "conversational"));
    // Conversational keeps every turn, so the items themselves survive (metadata numbers included).
    assert.deepEqual(decoded.items.map((i) => i.item), samples[kind]);
  });
  test(`TRL standard ${kind}: export → import → export is the same`, () => {
    roundTrip(kind, trlCodec(kind, "standard"));
  });
  for (const chatTemplate of [true, false]) {
    test(`OpenRLHF ${kind} (chatTemplate=${chatTemplate}, custom keys): export → import → export is the same`, () => {
      const options = openRlhfOptionsSchema.parse({ chatTemplate: String(chatTemplate), inputKey: "question", outputKey: "answer", promptKey: "context", chosenKey: "good", rejectedKey: "bad", labelKey: "ok" });
      const { first } = roundTrip(kind, openRlhfCodec(kind, options));
      const keys = { preferences: ["context", "good", "bad"], sft: ["question", "answer"], unpaired: ["question", "answer", "ok"], prompts: ["question"] }[kind];
      for (const key of keys) assert.ok(key in first[0]!, `${key} in ${JSON.stringify(first[0])}`);
    });
  }
}

test("TRL conversational records have TRL's shapes", () => {
  assert.deepEqual(trlCodec("sft", "conversational").encode(samples.sft[0]!, 0), { messages: [user("Name a colour — ünïcödé ✓"), { role: "assistant", content: "Blue." }] });
  assert.deepEqual(trlCodec("preferences", "standard").encode(samples.preferences[0]!, 0), { prompt: "What is 37 × 4?", chosen: "<<37*4=148>> 148", rejected: "150", margin: 2, weight: 1 / 6 });
  assert.deepEqual(trlCodec("unpaired", "conversational").encode(samples.unpaired[0]!, 0), { prompt: [user("Say hi")], completion: [{ role: "assistant", content: "Hi!" }], label: true });
});

test("tool-calling answers: conversational writes TRL's messages, standard flattens them to tool blocks, both read back", () => {
  const item = samples.preferences[2]!;
  assert.deepEqual(trlCodec("preferences", "conversational").encode(item, 0), { prompt: [user("What is 12 × 13?")], chosen: item.chosen, rejected: [{ role: "assistant", content: "The answer is 146." }], margin: 1, weight: 1 });
  const standard = trlCodec("preferences", "standard").encode(item, 0);
  assert.equal(standard.chosen, '<tool_call>\n{"name":"calculator","arguments":{"expression":"12*13"}}\n</tool_call>\n<tool_response>\n156\n</tool_response>\nThe answer is 156.');
  assert.deepEqual(trlCodec("preferences", "standard").decode(standard), { ok: true, item });
  assert.deepEqual(openRlhfCodec("sft", openRlhfOptionsSchema.parse({ outputKey: "" })).encode(samples.sft[2]!, 0), { input: [user("What is 12 × 13?"), ...withCalculator("12*13", "156", "The answer is 156.")] });
});

test("a malformed tool-calling answer is refused with the message that breaks it", () => {
  const decode = (record: unknown) => trlCodec("sft", "conversational").decode(record);
  const unanswered = decode({ messages: [user("Q"), withCalculator("1", "1", "x")[0], { role: "assistant", content: "x" }] });
  assert.deepEqual(unanswered, { ok: false, reason: "messages[2]: the tool call before it has no result: give each call its tool message" });
  const orphan = decode({ prompt: [user("Q")], completion: [{ role: "tool", content: "4" }, { role: "assistant", content: "4" }] });
  assert.equal(orphan.ok, false);
  assert.match((orphan as { reason: string }).reason, /completion\[0\]: a tool result must follow the assistant's tool call/);
  const flatBad = trlCodec("unpaired", "standard").decode({ prompt: "Q", completion: "<tool_call>\n{oops}\n</tool_call>\nx", label: true });
  assert.deepEqual(flatBad, { ok: false, reason: "completion: tool call 1: the <tool_call> block is not JSON" });
  // A prompt outside SFT holds plain turns: tool use there is named, not silently dropped.
  const inPrompt = trlCodec("preferences", "conversational").decode({ prompt: [user("Q"), ...withCalculator("1", "1", "1"), user("Q2")], chosen: "a", rejected: "b" });
  assert.match((inPrompt as { reason: string }).reason, /prompt\[1\]: tool calls and results belong to the answer/);
});

test("OpenRLHF without a prompt key (chat template) writes whole conversations and splits them back", () => {
  const options = openRlhfOptionsSchema.parse({ promptKey: "", outputKey: "" });
  const pref = openRlhfCodec("preferences", options).encode(samples.preferences[0]!, 0);
  assert.deepEqual(pref, { chosen: [user("What is 37 × 4?"), { role: "assistant", content: "<<37*4=148>> 148" }], rejected: [user("What is 37 × 4?"), { role: "assistant", content: "150" }] });
  roundTrip("preferences", openRlhfCodec("preferences", options));
  roundTrip("sft", openRlhfCodec("sft", options));
  assert.equal(openRlhfOptionsSchema.safeParse({ chatTemplate: "false", promptKey: "" }).success, false);
});

test("TRL implicit-prompt preferences: the shared turns are the prompt", () => {
  const decoded = trlCodec("preferences", "conversational").decode({
    chosen: [user("Q"), { role: "assistant", content: "good" }],
    rejected: [user("Q"), { role: "assistant", content: "bad" }],
  });
  assert.deepEqual(decoded, { ok: true, item: { prompt: [user("Q")], chosen: "good", rejected: "bad", margin: 1, weight: 1 } });
});

test("bad records are reported with their line numbers and a reason", () => {
  const lines = [
    JSON.stringify({ prompt: "fine", chosen: "a", rejected: "b" }),
    "{ not json",
    JSON.stringify({ prompt: "no rejected", chosen: "a", rejeted: "b" }),
    "",
    JSON.stringify({ prompt: [{ role: "assistant", content: "x" }], chosen: "a", rejected: "b" }),
    JSON.stringify({ prompt: "same", chosen: "a", rejected: "a" }),
    JSON.stringify({ prompt: "q", chosen: "a", rejected: "b", margin: "big" }),
    JSON.stringify([1, 2]),
  ].join("\n");
  const { items, issues } = decodeRows(readJsonl(lines), trlCodec("preferences", "conversational"));
  assert.deepEqual(items.map((i) => i.line), [1]);
  assert.deepEqual(issues.map((i) => i.line), [2, 3, 5, 6, 7, 8]);
  assert.match(issues[0]!.reason, /invalid JSON/);
  assert.match(issues[1]!.reason, /missing "rejected" \(the record has "prompt", "chosen", "rejeted"\)/);
  assert.match(issues[2]!.reason, /must end with a "user" turn/);
  assert.match(issues[3]!.reason, /the same answer/);
  assert.match(issues[4]!.reason, /margin: must be a number/);
  assert.match(issues[5]!.reason, /expected an object/);

  const kto = decodeRows(readJsonl([JSON.stringify({ prompt: "q", completion: "a", label: "yes" }), JSON.stringify({ prompt: "q", completion: " ", label: true })].join("\n")), trlCodec("unpaired", "standard"));
  assert.deepEqual(kto.issues.map((i) => [i.line, i.reason]), [[1, 'label: must be true or false, got "yes"'], [2, "completion: is empty or whitespace-only"]]);
  const sft = decodeRows(readJsonl(JSON.stringify({ messages: [user("only a question")] })), trlCodec("sft", "conversational"));
  assert.match(sft.issues[0]!.reason, /messages: the last turn is "user"; it must be the assistant's answer/);
  assert.deepEqual(decodeRows(readJsonl("\n\n"), trlCodec("sft", "conversational")).issues, [{ line: 0, reason: "the file holds no records" }]);
});

test("OpenRLHF bad records name the configured keys", () => {
  const options = openRlhfOptionsSchema.parse({ inputKey: "question", outputKey: "answer" });
  const { issues } = decodeRows(readJsonl(JSON.stringify({ input: "q", output: "a" })), openRlhfCodec("sft", options));
  assert.match(issues[0]!.reason, /missing "question"/);
});

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

test("veRL Parquet: rows hold the prompt, the answer as ground truth and the rest in extra_info; they read back to the same rows", async () => {
  const options = verlOptionsSchema.parse({ dataSource: "tandem/math" });
  const codec = verlCodec(options);
  const rows = samples.prompts.map((p, i) => codec.encodeRow(p, i));
  assert.deepEqual(rows[0], {
    data_source: "tandem/math",
    prompt: [user("What is 12 * 7?")],
    ability: "general",
    reward_model: { style: "rule", ground_truth: "84" },
    extra_info: { split: "train", index: 0, metadata: JSON.stringify({ expression: "12*7" }) },
  });
  async function* batches() {
    yield rows;
  }
  const parquet = await collect(verlParquetChunks(batches(), 1));
  const read = await readRows(parquet);
  assert.equal(read.kind, "parquet");
  assert.deepEqual(read.rows.map((r) => r.raw), rows);
  const decoded = decodeRows(read, codec);
  assert.deepEqual(decoded.issues, []);
  // The answer comes back as the ground truth's text, with data_source and ability kept in metadata.
  assert.deepEqual(decoded.items[0]!.item.metadata, { expression: "12*7", answer: "84", data_source: "tandem/math", ability: "general" });
  assert.deepEqual(decoded.items.map(({ item }, i) => codec.encodeRow(item, i)), rows);
});

test("veRL rows from veRL's own preprocessing (extra keys in extra_info) import, bad rows by row number", () => {
  const codec = verlCodec(verlOptionsSchema.parse({}));
  const rows = {
    kind: "parquet" as const,
    issues: [],
    rows: [
      { line: 1, raw: { data_source: "openai/gsm8k", prompt: [user("Q?")], ability: "math", reward_model: { style: "rule", ground_truth: "72" }, extra_info: { split: "train", index: 0, question: "Q?" } } },
      { line: 2, raw: { data_source: "openai/gsm8k", prompt: "Q?", ability: "math", reward_model: { style: "rule", ground_truth: "1" } } },
      { line: 3, raw: { data_source: "x", prompt: [user("Q2?")], reward_model: { ground_truth: { a: 1 } } } },
    ],
  };
  const { items, issues } = decodeRows(rows, codec);
  assert.deepEqual(items[0]!.item.metadata, { question: "Q?", answer: "72", data_source: "openai/gsm8k", ability: "math" });
  assert.deepEqual(issues.map((i) => i.line), [2, 3]);
  assert.match(issues[0]!.reason, /prompt: must be a list/);
  assert.match(issues[1]!.reason, /ground_truth: expected a string/);
});

test("HF layout: the card names the data files and records project, filters and counts; the zip reads back", () => {
  const card = datasetCard(
    {
      project: { id: "7", name: "Math" },
      dataset: "preferences",
      format: "openrlhf",
      options: { chosenKey: "good" },
      round: { id: "3", name: "Round 3" },
      filters: { minAgreement: 0.5, labeler: undefined },
      counts: { train: 12 },
      exportedAt: "2026-12-01T12:00:00.000Z",
    },
    [{ split: "train", path: "data/train.jsonl" }],
  );
  assert.match(card, /^---\nconfigs:\n- config_name: default\n {2}data_files:\n {2}- split: train\n {4}path: data\/train\.jsonl\n/);
  assert.match(card, /12 records/);
  assert.match(card, /minAgreement=0.5/);
  const parsed = readCard(card);
  assert.deepEqual(parsed.paths, ["data/train.jsonl"]);
  assert.equal(parsed.tandem?.format, "openrlhf");
  assert.deepEqual(parsed.tandem?.round, { id: "3", name: "Round 3" });

  const zip = zipFiles([{ path: "README.md", bytes: card }, { path: "data/train.jsonl", bytes: '{"a":1}\n' }], "project-7-preferences");
  const folder = unzipDataset(zip);
  assert.deepEqual(folder.files.map((f) => [f.path, Buffer.from(f.bytes).toString()]), [["data/train.jsonl", '{"a":1}\n']]);
  assert.equal(folder.card?.tandem?.dataset, "preferences");
  // Without a card: every data file under data/.
  const bare = unzipDataset(zipFiles([{ path: "data/test.jsonl", bytes: "{}" }, { path: "data/train.jsonl", bytes: "{}" }, { path: "notes.txt", bytes: "x" }], "x"));
  assert.deepEqual(bare.files.map((f) => f.path), ["data/test.jsonl", "data/train.jsonl"]);
  assert.throws(() => unzipDataset(zipFiles([{ path: "README.md", bytes: card }], "y")), /does not hold/);
  // A Hub card naming shards with a glob.
  const hub = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n---\n# x\n";
  const shards = unzipDataset(zipFiles([{ path: "README.md", bytes: hub }, { path: "data/train-00001-of-00002.parquet", bytes: "b" }, { path: "data/train-00000-of-00002.parquet", bytes: "a" }, { path: "data/test-00000.parquet", bytes: "c" }], "hub"));
  assert.deepEqual(shards.files.map((f) => f.path), ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"]);
  assert.throws(() => unzipDataset(zipFiles([{ path: "README.md", bytes: hub }], "z")), /no file in the zip matches/);
});
