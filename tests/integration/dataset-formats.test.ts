/**
 * Dataset formats over real HTTP on a real Postgres: every format's export imports into a fresh
 * project whose export is then the same, byte for byte (issue #6, "round-trips for every
 * format"); a bad file is refused with line / row numbers and changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { unzipSync, strFromU8 } from "fflate";
import { verlParquetChunks } from "../../server/bridges/formats/verl-parquet.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
let source = "";
/** A second source whose answers called the calculator (decision 0020). */
let toolSource = "";

type View = { assignmentId: string; taskType: string; messages: Array<{ content: string }>; completions: Array<{ id: string; text: string }> };
type Report = { dataset: string; counts: Record<string, number>; issues: Array<{ line: number; reason: string }>; committed: { prompts: number; tasks: Record<string, number> } | null };

const settings = { k: 3, overlap: { demonstrate: 1, rank: 1, review: 1, compare: 1 }, goldRate: 0, tools: ["calculator"] };

async function newProject(name: string, own: Record<string, unknown> = {}): Promise<string> {
  const response = await researcher.json("POST", "/api/v1/projects", { name: `${name} ${Date.now()}`, settings: { ...settings, ...own } });
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

async function importJson(projectId: string, lines: unknown[], purpose: "prompts" | "qa" | "compare") {
  const response = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: lines.map((l) => JSON.stringify(l)).join("\n"), commit: true, purpose });
  assert.equal(response.status, 200, await response.clone().text());
}

async function claim(client: HttpClient, projectId: string): Promise<View | null> {
  const body = (await (await client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
  if (!body) return null;
  return (await (await client.json("GET", `/api/v1/assignments/${body.assignmentId}`)).json()) as View;
}

async function submit(client: HttpClient, assignmentId: string, payload: unknown) {
  const response = await client.json("POST", `/api/v1/assignments/${assignmentId}/submit`, { idempotencyKey: `formats-${assignmentId}`, payload });
  assert.equal(response.status, 200, await response.clone().text());
}

/**
 * The source project, labeled through the real queue: two ranked prompts (one multi-turn), a
 * demonstration continued for another turn, and three synthetic Q&A answers a reviewer accepts,
 * edits and rejects. Prompts carry reference answers in their metadata, like the demo's.
 */
before(async () => {
  server = await startTestServer();
  researcher = (await server.newUser("researcher")).client;
  source = await newProject("Formats source");
  await importJson(
    source,
    [
      { prompt: "What is 37 × 4?", completions: ["<<37*4=148>> 148", "148", "150"], metadata: { answer: 148, expression: "37*4" } },
      { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }, { role: "user", content: "What is 2+2?" }], completions: ["4", "four", "5"] },
      { prompt: "Name a colour — ünïcödé ✓", metadata: { answer: "blue" } },
    ],
    "prompts",
  );
  await importJson(
    source,
    [
      { prompt: "What is the capital of Australia?", completions: ["Sydney."] },
      { prompt: "What is 9 squared?", completions: ["81"] },
      { prompt: "Is the sun a planet?", completions: ["Yes."] },
    ],
    "qa",
  );
  const labeler = (await server.newMember(source, "labeler")).client;
  for (let view = await claim(labeler, source); view; view = await claim(labeler, source)) {
    if (view.taskType === "rank") {
      const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
      const order = view.completions.map((c) => c.text).sort((a, b) => (a.startsWith("<<") ? -1 : b.startsWith("<<") ? 1 : a.localeCompare(b)));
      await submit(labeler, view.assignmentId, { ranking: { tiers: order.map((t) => [byText[t]]) } });
    } else {
      await submit(labeler, view.assignmentId, { text: "Blue.", continuation: [{ role: "user", content: "Another?" }, { role: "assistant", content: "Green." }] });
    }
  }
  const reviewer = (await server.newMember(source, "reviewer")).client;
  for (let view = await claim(reviewer, source); view; view = await claim(reviewer, source)) {
    const question = view.messages[0]!.content;
    const payload = question.includes("Australia")
      ? { decision: "edit", editedText: "Canberra.", reasons: ["factual_error"] }
      : question.includes("sun")
        ? { decision: "reject", reasons: ["factual_error"] }
        : { decision: "accept" };
    await submit(reviewer, view.assignmentId, payload);
  }
  await labelToolSource();
});

const calculated = (expression: string, result: string, final: string) => [
  { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression } } }] },
  { role: "tool", name: "calculator", content: result },
  { role: "assistant", content: final },
];

/**
 * The tool source, labeled through the real queue: a ranking over two calculator transcripts and
 * a plain answer, an A/B choice between a transcript and a plain answer, a demonstration that
 * calls the calculator, one continued after a reply that called it, and a reviewer's correction
 * of a transcript's final words.
 */
async function labelToolSource() {
  toolSource = await newProject("Formats tools");
  await importJson(
    toolSource,
    [
      { prompt: "What is 12 × 13?", completions: [calculated("12*13", "156", "The answer is 156."), calculated("12*12", "144", "The answer is 144."), "About 150."], metadata: { answer: 156 } },
      { prompt: "What is 7 × 8?" },
      { prompt: "What is 9 × 9?" },
    ],
    "prompts",
  );
  await importJson(toolSource, [{ prompt: "What is 25 × 4?", completions: [{ messages: calculated("25*4", "100", "100."), model: "a" }, { text: "90.", model: "b" }] }], "compare");
  await importJson(toolSource, [{ prompt: "What is 6 × 7?", completions: [calculated("6*7", "42", "It is 24.")] }], "qa");
  const toolTurns = (expression: string, result: string) => calculated(expression, result, "").slice(0, 2);
  const labeler = (await server.newMember(toolSource, "labeler")).client;
  for (let view = await claim(labeler, toolSource); view; view = await claim(labeler, toolSource)) {
    const question = view.messages.at(-1)!.content;
    if (view.taskType === "rank") {
      const rank = (t: string) => (t.includes("156") ? 0 : t.includes("150") ? 1 : 2);
      await submit(labeler, view.assignmentId, { ranking: { tiers: [...view.completions].sort((a, b) => rank(a.text) - rank(b.text)).map((c) => [c.id]) } });
    } else if (view.taskType === "compare") {
      await submit(labeler, view.assignmentId, { choice: view.completions[0]!.text === "100." ? "A" : "B", strength: 2 });
    } else if (question.includes("7 × 8")) {
      await submit(labeler, view.assignmentId, { text: "7 × 8 = 56.", toolTurns: toolTurns("7*8", "56") });
    } else {
      await submit(labeler, view.assignmentId, {
        text: "81.",
        toolTurns: toolTurns("9*9", "81"),
        continuation: [{ role: "user", content: "And its square root times 5?" }, { role: "assistant", content: "45.", toolTurns: toolTurns("sqrt(81)*5", "45") }],
      });
    }
  }
  const reviewer = (await server.newMember(toolSource, "reviewer")).client;
  for (let view = await claim(reviewer, toolSource); view; view = await claim(reviewer, toolSource)) {
    await submit(reviewer, view.assignmentId, { decision: "edit", editedText: "It is 42.", reasons: ["factual_error"] });
  }
}
after(() => server.stop());

async function download(projectId: string, path: string): Promise<Uint8Array> {
  const response = await researcher.get(`/api/v1/projects/${projectId}/exports/${path}`);
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return new Uint8Array(await response.arrayBuffer());
}

function upload(projectId: string, format: string, bytes: Uint8Array, query: string) {
  return researcher.request("POST", `/api/v1/projects/${projectId}/imports/${format}?${query}`, { body: Buffer.from(bytes), headers: { "content-type": "application/octet-stream" } });
}

async function importInto(projectId: string, format: string, bytes: Uint8Array, query: string): Promise<Report> {
  const preview = await upload(projectId, format, bytes, query);
  assert.equal(preview.status, 200, await preview.clone().text());
  const previewed = (await preview.json()) as Report;
  assert.deepEqual(previewed.issues, []);
  assert.equal(previewed.committed, null);
  assert.equal(await count("prompts", projectId), 0, "a preview writes nothing");
  const committed = await upload(projectId, format, bytes, `${query}&commit=true`);
  assert.equal(committed.status, 200, await committed.clone().text());
  return (await committed.json()) as Report;
}

async function count(table: "prompts" | "tasks", projectId: string): Promise<number> {
  const row = await server.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as("n")).where("project_id", "=", projectId).executeTakeFirstOrThrow();
  return Number(row.n);
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");
const lines = (bytes: Uint8Array) => text(bytes).trim().split("\n").filter(Boolean);

type Case = { name: string; format: string; path: string; query: string; records: number };
const jsonlCases: Case[] = [
  { name: "TRL conversational preferences", format: "trl", path: "trl/preferences.jsonl", query: "", records: 7 },
  { name: "TRL standard preferences", format: "trl", path: "trl/preferences.jsonl", query: "format=standard", records: 7 },
  { name: "TRL conversational SFT (messages)", format: "trl", path: "trl/sft.jsonl", query: "", records: 3 },
  { name: "TRL standard SFT (prompt / completion)", format: "trl", path: "trl/sft.jsonl", query: "format=standard", records: 3 },
  { name: "TRL unpaired (KTO) conversational", format: "trl", path: "trl/unpaired.jsonl", query: "", records: 16 },
  { name: "TRL unpaired (KTO) standard", format: "trl", path: "trl/unpaired.jsonl", query: "format=standard", records: 16 },
  { name: "TRL prompts", format: "trl", path: "trl/prompts.jsonl", query: "", records: 3 },
  { name: "OpenRLHF preferences, chat template, custom keys", format: "openrlhf", path: "openrlhf/preferences.jsonl", query: "promptKey=context&chosenKey=good&rejectedKey=bad", records: 7 },
  { name: "OpenRLHF preferences, plain strings", format: "openrlhf", path: "openrlhf/preferences.jsonl", query: "chatTemplate=false", records: 7 },
  { name: "OpenRLHF preferences, whole conversations (no prompt key)", format: "openrlhf", path: "openrlhf/preferences.jsonl", query: "promptKey=", records: 7 },
  { name: "OpenRLHF SFT, input / output keys", format: "openrlhf", path: "openrlhf/sft.jsonl", query: "inputKey=question&outputKey=response&chatTemplate=false", records: 3 },
  { name: "OpenRLHF unpaired (KTO), label key", format: "openrlhf", path: "openrlhf/unpaired.jsonl", query: "labelKey=desirable", records: 16 },
  { name: "OpenRLHF prompts", format: "openrlhf", path: "openrlhf/prompts.jsonl", query: "inputKey=context_messages", records: 3 },
];

for (const c of jsonlCases) {
  test(`round-trip: ${c.name}`, async () => {
    const first = await download(source, `${c.path}?${c.query}`);
    assert.equal(lines(first).length, c.records, text(first));
    const target = await newProject(c.name);
    const dataset = c.path.split("/")[1]!.replace(".jsonl", "");
    const report = await importInto(target, c.format, first, `dataset=${dataset}&filename=${dataset}.jsonl&${c.query}`);
    assert.equal(report.counts.records, c.records);
    assert.ok(report.committed);
    const second = await download(target, `${c.path}?${c.query}`);
    assert.equal(text(second), text(first));
  });
}

// The same formats over answers that called the calculator: each export carries the transcripts
// (messages, or flattened tool blocks in plain strings) and imports back to the same export.
const toolRecords: Record<string, number> = { preferences: 5, sft: 3, unpaired: 10 };
for (const c of jsonlCases.filter((c) => !c.path.endsWith("prompts.jsonl"))) {
  test(`round-trip with tool calls: ${c.name}`, async () => {
    const dataset = c.path.split("/")[1]!.replace(".jsonl", "");
    const first = await download(toolSource, `${c.path}?${c.query}`);
    assert.equal(lines(first).length, toolRecords[dataset], text(first));
    const plain = /format=standard|chatTemplate=false/.test(c.query);
    assert.match(text(first), plain ? /<tool_call>\\n\{\\"name\\":\\"calculator\\"/ : /"tool_calls":\[\{"type":"function","function":\{"name":"calculator"/);
    const target = await newProject(`${c.name} (tools)`);
    const report = await importInto(target, c.format, first, `dataset=${dataset}&filename=${dataset}.jsonl&${c.query}`);
    assert.equal(report.counts.records, toolRecords[dataset]);
    const second = await download(target, `${c.path}?${c.query}`);
    assert.equal(text(second), text(first));
  });
}

test("tool transcripts: Tandem's own exports of imported data match the source's, the stored completions keep their transcripts, the HF zip round-trips", async () => {
  const target = await newProject("Own exports (tools)");
  await importInto(target, "trl", await download(toolSource, "trl/preferences.jsonl"), "dataset=preferences");
  for (const query of ["", "format=standard"]) {
    assert.equal(text(await download(target, `preferences.jsonl?${query}`)), text(await download(toolSource, `preferences.jsonl?${query}`)));
  }
  const stored = await server.db
    .selectFrom("completions")
    .innerJoin("prompts", "prompts.id", "completions.prompt_id")
    .select(["completions.text", "completions.messages"])
    .where("prompts.project_id", "=", target)
    .where("completions.text", "=", "The answer is 156.")
    .executeTakeFirstOrThrow();
  assert.deepEqual(stored.messages, calculated("12*13", "156", "The answer is 156."));
  const sftTarget = await newProject("Own SFT (tools)");
  await importInto(sftTarget, "trl", await download(toolSource, "trl/sft.jsonl"), "dataset=sft");
  assert.equal(text(await download(sftTarget, "sft.jsonl")), text(await download(toolSource, "sft.jsonl")));
  // The continued demonstration comes back as one: its prompt is the first user turn, the calls stay in their replies.
  const conversation = lines(await download(toolSource, "sft.jsonl")).map((l) => JSON.parse(l) as { messages: Array<{ role: string }> }).find((r) => r.messages.length > 4)!;
  assert.deepEqual(conversation.messages.map((m) => m.role), ["user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant"]);
  for (const [dataset, query] of [["preferences", ""], ["sft", "data=openrlhf&inputKey=q&outputKey=a"], ["unpaired", "format=standard"]] as const) {
    const first = zipEntries(await download(toolSource, `hf/${dataset}.zip?${query}`));
    const zipTarget = await newProject(`HF ${dataset} (tools)`);
    await importInto(zipTarget, "hf", await download(toolSource, `hf/${dataset}.zip?${query}`), "filename=dataset.zip");
    assert.deepEqual(zipEntries(await download(zipTarget, `hf/${dataset}.zip?${query}`))["data/train.jsonl"], first["data/train.jsonl"]);
  }
});

test("a tool-calling file imported into a project that does not declare the tool is refused by line, naming the call", async () => {
  const target = await newProject("No tools", { tools: [] });
  const file = await download(toolSource, "trl/preferences.jsonl?format=standard");
  const preview = (await (await upload(target, "trl", file, "dataset=preferences&format=standard")).json()) as Report;
  const withTools = lines(file).flatMap((l, i) => (l.includes("<tool_call>") ? [i + 1] : []));
  assert.deepEqual(preview.issues.map((i) => i.line), withTools);
  assert.match(preview.issues[0]!.reason, /^(chosen|rejected)\[0\]\.tool_calls\[0\]\.function\.name: "calculator" is not a tool this project declares \(it declares no tools; turn them on in the project settings\)/);
  const refused = await upload(target, "trl", file, "dataset=preferences&format=standard&commit=true");
  assert.equal(refused.status, 422);
  assert.equal(await count("prompts", target), 0);
});

test("imported judgements are ordinary data: Tandem's own exports include them, labelers never get them", async () => {
  const target = await newProject("Own exports");
  const report = await importInto(target, "trl", await download(source, "trl/preferences.jsonl"), "dataset=preferences&filename=prefs.jsonl");
  // Seven pairs over three distinct prompts; each pair is one completed A/B task.
  assert.deepEqual(report.committed, { prompts: 3, tasks: { demonstrate: 0, rank: 0, review: 0, compare: 7 }, gold: 0, heldOut: 0 });
  for (const query of ["", "format=standard"]) {
    assert.equal(text(await download(target, `preferences.jsonl?${query}`)), text(await download(source, `preferences.jsonl?${query}`)));
  }
  const sftTarget = await newProject("Own SFT");
  await importInto(sftTarget, "trl", await download(source, "trl/sft.jsonl"), "dataset=sft");
  assert.equal(text(await download(sftTarget, "sft.jsonl")), text(await download(source, "sft.jsonl")));

  const prompts = await server.db.selectFrom("prompts").select(["source", "status"]).where("project_id", "=", target).execute();
  assert.deepEqual([...new Set(prompts.map((p) => `${p.source} ${p.status}`))], ["prefs.jsonl active"]);
  const importer = await server.db.selectFrom("users").select(["id", "name", "active"]).where("email", "=", "imported-data@tandem.local").executeTakeFirstOrThrow();
  assert.equal(importer.name, "Imported data");
  assert.equal(importer.active, false, "the account cannot sign in");
  // The labeler filter picks the imported judgements out.
  assert.equal(lines(await download(target, `trl/preferences.jsonl?labeler=${importer.id}`)).length, 7);
  assert.equal(lines(await download(target, `trl/preferences.jsonl?labeler=${importer.id}0`)).length, 0);
  const labeler = (await server.newMember(target, "labeler")).client;
  assert.equal(await claim(labeler, target), null, "imported tasks are complete");
  // A second import of the same pairs reuses the prompts (same content) and adds the judgements.
  const again = await upload(target, "trl", await download(source, "trl/preferences.jsonl"), "dataset=preferences&commit=true");
  assert.equal(((await again.json()) as Report).committed?.prompts, 0);
  assert.equal(lines(await download(target, "preferences.jsonl")).length, 14);
});

test("round-trip: veRL Parquet prompts with their reference answers", async () => {
  const first = await download(source, "verl/prompts.parquet?dataSource=tandem/math&ability=math");
  const target = await newProject("veRL");
  // A veRL file is a prompt set: no dataset option needed.
  const report = await importInto(target, "verl", first, "filename=train.parquet");
  assert.equal(report.committed?.prompts, 3);
  const metadata = await server.db.selectFrom("prompts").select("metadata").where("project_id", "=", target).orderBy("id").executeTakeFirstOrThrow();
  assert.deepEqual(metadata.metadata, { answer: "148", ability: "math", expression: "37*4", data_source: "tandem/math" });
  const second = await download(target, "verl/prompts.parquet?dataSource=tandem/math&ability=math");
  assert.deepEqual(Buffer.from(second), Buffer.from(first));
});

function zipEntries(bytes: Uint8Array): Record<string, string | Uint8Array> {
  return Object.fromEntries(Object.entries(unzipSync(bytes)).map(([name, data]) => [name.replace(/^[^/]+\//, ""), name.endsWith(".parquet") ? data : strFromU8(data)]));
}

for (const c of [
  { dataset: "preferences", query: "", data: "data/train.jsonl", records: 7 },
  { dataset: "sft", query: "data=openrlhf&inputKey=q&outputKey=a", data: "data/train.jsonl", records: 3 },
  { dataset: "prompts", query: "data=verl", data: "data/train.parquet", records: 3 },
  { dataset: "unpaired", query: "format=standard", data: "data/train.jsonl", records: 16 },
]) {
  test(`round-trip: Hugging Face layout (zip) of ${c.dataset} ${c.query}`, async () => {
    const first = zipEntries(await download(source, `hf/${c.dataset}.zip?${c.query}`));
    assert.deepEqual(Object.keys(first).sort(), ["README.md", c.data]);
    const card = first["README.md"] as string;
    assert.match(card, new RegExp(`path: ${c.data}`));
    assert.match(card, new RegExp(`"counts":\\{"train":${c.records}\\}`));
    assert.match(card, /"project":\{"id":"\d+","name":"Formats source/);
    const target = await newProject(`HF ${c.dataset}`);
    // The card says the dataset and the data files' format and keys: the import needs no options.
    const report = await importInto(target, "hf", await download(source, `hf/${c.dataset}.zip?${c.query}`), "filename=dataset.zip");
    assert.equal(report.dataset, c.dataset);
    assert.equal(report.counts.records, c.records);
    const second = zipEntries(await download(target, `hf/${c.dataset}.zip?${c.query}`));
    assert.deepEqual(second[c.data], first[c.data]);
  });
}

test("a bad file is refused with line numbers and changes nothing; the valid lines import only when asked", async () => {
  const target = await newProject("Refused");
  const bad = Buffer.from(
    [
      JSON.stringify({ prompt: "fine", chosen: "a", rejected: "b" }),
      JSON.stringify({ prompt: "typo", chosen: "a", rejectd: "b" }),
      "{ not json",
      JSON.stringify({ prompt: "also fine", chosen: "c", rejected: "d" }),
    ].join("\n"),
  );
  const before = { prompts: await count("prompts", target), tasks: await count("tasks", target), submissions: await submissionCount() };
  const preview = (await (await upload(target, "trl", bad, "dataset=preferences")).json()) as Report;
  assert.deepEqual(preview.issues.map((i) => i.line), [2, 3]);
  assert.match(preview.issues[0]!.reason, /missing "rejected"/);
  const refused = await upload(target, "trl", bad, "dataset=preferences&commit=true");
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { detail: string; errors: Array<{ path: string }> };
  assert.match(problem.detail, /nothing was imported/);
  assert.deepEqual(problem.errors.map((e) => e.path), ["line 2", "line 3"]);
  assert.deepEqual({ prompts: await count("prompts", target), tasks: await count("tasks", target), submissions: await submissionCount() }, before);

  const accepted = await upload(target, "trl", bad, "dataset=preferences&commit=true&importValidLines=true");
  assert.equal(accepted.status, 200);
  assert.equal(((await accepted.json()) as Report).committed?.tasks.compare, 2);

  // veRL Parquet: a row whose prompt does not end with the user's turn, reported by row number.
  async function* rows() {
    yield [
      { data_source: "x", prompt: [{ role: "user", content: "ok?" }], ability: "a", reward_model: { style: "rule", ground_truth: "1" }, extra_info: { split: "train", index: 0, metadata: "{}" } },
      { data_source: "x", prompt: [{ role: "assistant", content: "no" }], ability: "a", reward_model: { style: "rule", ground_truth: "2" }, extra_info: { split: "train", index: 1, metadata: "{}" } },
    ];
  }
  const parts: Uint8Array[] = [];
  for await (const chunk of verlParquetChunks(rows())) parts.push(chunk);
  const verlTarget = await newProject("Refused veRL");
  const refusedParquet = await upload(verlTarget, "verl", Buffer.concat(parts), "dataset=prompts&commit=true");
  assert.equal(refusedParquet.status, 422);
  assert.deepEqual(((await refusedParquet.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["line 2"]);
  assert.equal(await count("prompts", verlTarget), 0);

  // A zip that is not a dataset folder, and a format that cannot hold the dataset.
  assert.equal((await upload(target, "hf", bad, "dataset=preferences")).status, 422);
  assert.equal((await researcher.get(`/api/v1/projects/${source}/exports/hf/preferences.zip?data=verl`)).status, 422);
  // A filter that means nothing for the dataset is refused, as on the existing exports.
  const inapplicable = await researcher.get(`/api/v1/projects/${source}/exports/trl/sft.jsonl?minAgreement=0.5`);
  assert.equal(inapplicable.status, 422);
  assert.deepEqual(((await inapplicable.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path), ["minAgreement"]);
});

test("only researchers import; exports need a researcher or a trainer token", async () => {
  const labeler = (await server.newUser("labeler")).client;
  const response = await labeler.request("POST", `/api/v1/projects/${source}/imports/trl?dataset=sft`, { body: "{}", headers: { "content-type": "application/octet-stream" } });
  assert.equal(response.status, 403);
  assert.equal((await labeler.get(`/api/v1/projects/${source}/exports/trl/sft.jsonl`)).status, 403);
  const token = await server.newToken("trainer");
  const trainer = await fetch(`${server.url}/api/v1/projects/${source}/exports/verl/prompts.parquet`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(trainer.status, 200);
});

test("the OpenAPI document describes the dataset endpoints (the import takes the file as application/octet-stream)", async () => {
  const doc = (await (await researcher.get("/api/v1/openapi.json")).json()) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> };
  assert.ok(doc.paths["/api/v1/projects/{id}/exports/{format}/{dataset}.jsonl"]?.get);
  assert.ok(doc.paths["/api/v1/projects/{id}/exports/hf/{dataset}.zip"]?.get);
  assert.deepEqual(Object.keys(doc.paths["/api/v1/projects/{id}/imports/{format}"]!.post!.requestBody!.content), ["application/octet-stream"]);
});

async function submissionCount(): Promise<number> {
  return Number((await server.db.selectFrom("submissions").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow()).n);
}
