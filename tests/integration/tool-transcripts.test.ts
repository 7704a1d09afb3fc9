/**
 * Tool transcripts in the app (issue #11, item 1; decision 0020), over real HTTP on a real
 * Postgres: completions that called the calculator are stored with their transcript (imported,
 * sampled, from an endpoint run's shape), a labeler's task view carries it, a demonstration can
 * call a declared tool, imports refuse malformed transcripts and undeclared tools by line, and
 * the project settings take tools and a checker (API and settings page) with the field named.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Selectable } from "kysely";
import type { JobsTable } from "../../server/db/schema.ts";
import { insertCompletionTask, storeSamples } from "../../server/rounds/samples.server.ts";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
before(async () => {
  server = await startTestServer();
  researcher = (await server.newUser("researcher")).client;
});
after(() => server.stop());

const call = (expression: string) => ({ type: "function", function: { name: "calculator", arguments: { expression } } });
const calculated = (expression: string, result: string, final: string) => [
  { role: "assistant", content: "", tool_calls: [call(expression)] },
  { role: "tool", name: "calculator", content: result },
  { role: "assistant", content: final },
];

async function newProject(name: string, settings: Record<string, unknown> = {}): Promise<string> {
  const response = await researcher.json("POST", "/api/v1/projects", { name: `${name} ${Date.now()}`, settings: { k: 3, overlap: { rank: 1, demonstrate: 1, review: 1, compare: 1 }, goldRate: 0, ...settings } });
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

async function importLines(projectId: string, lines: unknown[], extra: Record<string, unknown> = {}) {
  return researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: lines.map((l) => JSON.stringify(l)).join("\n"), commit: true, ...extra });
}

type View = { assignmentId: string; taskType: string; project: { tools: string[] }; completions: Array<{ id: string; text: string; messages: unknown[] | null }> };
async function claim(client: HttpClient, projectId: string): Promise<View | null> {
  const body = (await (await client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
  return body ? ((await (await client.json("GET", `/api/v1/assignments/${body.assignmentId}`)).json()) as View) : null;
}

async function completionRows(projectId: string) {
  return server.db
    .selectFrom("completions")
    .innerJoin("prompts", "prompts.id", "completions.prompt_id")
    .select(["completions.id", "completions.text", "completions.messages", "completions.decoding"])
    .where("prompts.project_id", "=", projectId)
    .orderBy("completions.id")
    .execute();
}

test("imported TRL tool-calling completions are stored with their transcript; the labeler's task carries it", async () => {
  const projectId = await newProject("Tools import", { tools: ["calculator"] });
  const imported = await importLines(projectId, [
    {
      prompt: "What is 37 × 4?",
      completions: [calculated("37*4", "148", "The answer is 148."), { messages: calculated("37*5", "185", "The answer is 185."), model: "m2" }, "About 150."],
      model: "m1",
    },
  ]);
  assert.equal(imported.status, 200, await imported.clone().text());
  const rows = await completionRows(projectId);
  // text is the final answer; messages the transcript (null for the plain completion).
  assert.deepEqual(rows.map((r) => r.text), ["The answer is 148.", "The answer is 185.", "About 150."]);
  assert.deepEqual(rows[0]!.messages, calculated("37*4", "148", "The answer is 148."));
  assert.equal(rows[2]!.messages, null);

  const view = await claim((await server.newMember(projectId, "labeler")).client, projectId);
  assert.equal(view?.taskType, "rank");
  const byText = new Map(view!.completions.map((c) => [c.text, c.messages]));
  assert.deepEqual(byText.get("The answer is 185."), calculated("37*5", "185", "The answer is 185."));
  assert.equal(byText.get("About 150."), null);
  assert.deepEqual(view!.project.tools, ["calculator"]);
});

test("an import with a malformed transcript or an undeclared tool is refused by line, naming the message; nothing is stored", async () => {
  const projectId = await newProject("Tools refused", { tools: ["calculator"] });
  const lines = [
    { prompt: "fine", completions: [calculated("1+1", "2", "2"), "two"] },
    { prompt: "orphan result", completions: [[{ role: "tool", content: "2" }, { role: "assistant", content: "2" }], "b"] },
    { prompt: "unknown tool", completions: [[{ role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "python", arguments: { code: "1+1" } } }] }, { role: "tool", content: "2" }, { role: "assistant", content: "2" }], "b"] },
    { prompt: "no final words", completions: [calculated("1+1", "2", "").slice(0, 2), "b"] },
  ];
  const refused = await importLines(projectId, lines);
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { detail: string; errors: Array<{ path: string; message: string }> };
  assert.match(problem.detail, /nothing was imported/);
  assert.deepEqual(problem.errors.map((e) => e.path), ["line 2", "line 3", "line 4"]);
  assert.match(problem.errors[0]!.message, /completions\[0\]\[0\]: a tool result must follow the assistant's tool call/);
  assert.equal(problem.errors[1]!.message, 'completions[0][0].tool_calls[0].function.name: "python" is not a tool this project declares (it declares "calculator")');
  assert.match(problem.errors[2]!.message, /completions\[0\]\[1\]: ends with a tool result/);
  assert.equal((await completionRows(projectId)).length, 0);

  // A project that declares no tools refuses the calculator too, and says where to turn it on.
  const plain = await newProject("No tools");
  const noTools = await importLines(plain, [lines[0]]);
  assert.equal(noTools.status, 422);
  assert.match(JSON.stringify(await noTools.json()), /"calculator\\" is not a tool this project declares \(it declares no tools; turn them on in the project settings\)/);
});

test("sampled completions keep their transcripts; near duplicates are judged on the whole transcript; old lines without messages still work", async () => {
  const projectId = await newProject("Tools sampling", { tools: ["calculator"], k: 3 });
  assert.equal((await importLines(projectId, [{ prompt: "What is 12 × 13?" }, { prompt: "What is 2 + 2?" }])).status, 200);
  const prompts = await server.db.selectFrom("prompts").select("id").where("project_id", "=", projectId).orderBy("id").execute();
  const round = await server.db
    .insertInto("rounds")
    .values({ project_id: projectId, name: "Tools round", spec: "{}", steps: JSON.stringify(["sample"]), data_snapshot: "{}" })
    .returning(["id", "project_id", "name"])
    .executeTakeFirstOrThrow();
  const sample = (line: number, completion: string, messages?: unknown[]) => JSON.stringify({ line, completion, tokens: 9, finished: true, sampling: { temperature: 1, seed: line }, ...(messages ? { messages } : {}) });
  // The sampling job's samples.jsonl: the same final words reached by two calculations are two
  // completions to rank; an exact copy of a transcript is a duplicate; line 2 is an old plain line.
  const text = [
    sample(1, "The answer is 156.", calculated("12*13", "156", "The answer is 156.")),
    sample(1, "The answer is 156.", calculated("13*12", "156", "The answer is 156.")),
    sample(1, "The answer is 156.", calculated("12*13", "156", "The answer is 156.")),
    sample(1, "The answer is 146."),
    sample(2, "4"),
    sample(2, "Four."),
  ].join("\n");
  const job = { spec: { promptIds: prompts.map((p) => p.id) } } as unknown as Selectable<JobsTable>;
  const summary = await server.db.transaction().execute((trx) => storeSamples(trx, round, job, { modelId: null, text }, null));
  assert.equal(summary.tasks, 2);
  assert.equal(summary.dropped.nearDuplicate, 1);
  const rows = await completionRows(projectId);
  assert.deepEqual(rows.map((r) => [r.text, r.messages === null ? null : (r.messages[0]!.tool_calls![0]!.function.arguments as { expression: string }).expression]), [
    ["The answer is 156.", "12*13"],
    ["The answer is 156.", "13*12"],
    ["The answer is 146.", null],
    ["4", null],
    ["Four.", null],
  ]);
  assert.equal(rows[0]!.decoding?.toolCalls, 1);
  assert.equal(rows[2]!.decoding?.toolCalls, undefined);

  // An endpoint run stores its completions the same way (generation-runs → insertCompletionTask).
  const settings = projectSettingsSchema.parse({ tools: ["calculator"] });
  await server.db.transaction().execute((trx) =>
    insertCompletionTask(trx, { projectId, promptId: prompts[1]!.id, type: "compare", settings, roundId: null }, [
      { text: "4", messages: calculated("2+2", "4", "4") as never, modelName: "endpoint:a/m", modelId: null, decoding: {} },
      { text: "5", messages: [{ role: "assistant", content: "5" }], modelName: "endpoint:b/m", modelId: null, decoding: {} },
    ]),
  );
  const endpointRows = (await completionRows(projectId)).slice(-2);
  assert.deepEqual(endpointRows[0]!.messages, calculated("2+2", "4", "4"));
  assert.equal(endpointRows[1]!.messages, null, "a single plain assistant message is stored as plain text");
});

test("a demonstration may call a declared tool: stored as toolTurns, exported as TRL tool-calling messages; bad calls are refused by field", async () => {
  const projectId = await newProject("Tools demonstration", { tools: ["calculator"] });
  assert.equal((await importLines(projectId, [{ prompt: "What is 12 × 13?" }])).status, 200);
  const labeler = (await server.newMember(projectId, "labeler")).client;
  const view = await claim(labeler, projectId);
  assert.equal(view?.taskType, "demonstrate");
  const submit = (payload: unknown) => labeler.json("POST", `/api/v1/assignments/${view!.assignmentId}/submit`, { idempotencyKey: `tools-demo-${view!.assignmentId}`, payload });
  const errors = async (payload: unknown) => {
    const response = await submit(payload);
    assert.equal(response.status, 422);
    return ((await response.json()) as { errors: Array<{ path: string; message: string }> }).errors.map((e) => `${e.path}: ${e.message}`);
  };
  const toolTurns = calculated("12*13", "156", "").slice(0, 2);
  assert.deepEqual(await errors({ text: "156", toolTurns: [toolTurns[0], { ...toolTurns[1], content: " " }] }), ["toolTurns.1.content: Write the tool's result (what the tool returned)."]);
  assert.deepEqual(await errors({ text: "156", toolTurns: [{ role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "python", arguments: {} } }] }, toolTurns[1]] }), [
    'toolTurns.1.name: answers the call to "python", not "calculator"',
    'toolTurns.0.tool_calls.0.function.name: "python" is not a tool this project declares (it declares "calculator")',
  ]);
  assert.deepEqual(await errors({ text: "156", toolTurns: [toolTurns[0]] }), ["toolTurns: A tool call needs its result."]);
  assert.deepEqual(await errors({ text: "156", toolTurns: [{ role: "assistant", content: "", tool_calls: [call(" ")] }, toolTurns[1]] }), ["toolTurns.0.tool_calls.0.function.arguments.expression: Write the expression the calculator evaluates."]);

  const accepted = await submit({ text: "12 × 13 = **156**.", toolTurns });
  assert.equal(accepted.status, 200, await accepted.clone().text());
  const stored = await server.db.selectFrom("submissions").select("payload").where("task_id", "in", server.db.selectFrom("tasks").select("id").where("project_id", "=", projectId)).executeTakeFirstOrThrow();
  assert.deepEqual(stored.payload, { text: "12 × 13 = **156**.", toolTurns });
  const sft = await researcher.get(`/api/v1/projects/${projectId}/exports/sft.jsonl`);
  assert.deepEqual(JSON.parse((await sft.text()).trim()), { messages: [{ role: "user", content: "What is 12 × 13?" }, ...calculated("12*13", "156", "12 × 13 = **156**.")] });
  const standard = await researcher.get(`/api/v1/projects/${projectId}/exports/trl/sft.jsonl?format=standard`);
  assert.deepEqual(JSON.parse((await standard.text()).trim()), {
    prompt: "What is 12 × 13?",
    completion: '<tool_call>\n{"name":"calculator","arguments":{"expression":"12*13"}}\n</tool_call>\n<tool_response>\n156\n</tool_response>\n12 × 13 = **156**.',
  });
});

test("project settings take tools and a checker; a refused value names its field (API and the settings page, typed values kept)", async () => {
  const projectId = await newProject("Tools settings");
  const put = (settings: Record<string, unknown>) => researcher.json("PUT", `/api/v1/projects/${projectId}`, { name: "Tools settings", settings });
  const refused = async (settings: Record<string, unknown>) => {
    const response = await put(settings);
    assert.equal(response.status, 422, await response.clone().text());
    return ((await response.json()) as { errors: Array<{ path: string; message: string }> }).errors.map((e) => e.path);
  };
  assert.deepEqual(await refused({ tools: ["python"] }), ["settings.tools.0"]);
  assert.deepEqual(await refused({ checker: { kind: "numeric", tolerance: -1 } }), ["settings.checker.tolerance"]);
  assert.deepEqual(await refused({ checker: { kind: "regex", field: "answer", pattern: "\\d+" } }), ["settings.checker.pattern"]);
  assert.deepEqual(await refused({ checker: { kind: "regex", pattern: "(" } }), ["settings.checker.pattern"]);
  assert.deepEqual(await refused({ checker: { kind: "json", path: "a..b" } }), ["settings.checker.path"]);
  const saved = await put({ tools: ["calculator"], checker: { kind: "numeric", field: "answer", relativeTolerance: 0.01 } });
  assert.equal(saved.status, 200, await saved.clone().text());
  const project = (await (await researcher.get(`/api/v1/projects/${projectId}`)).json()) as { settings: { tools: string[]; checker: unknown } };
  assert.deepEqual(project.settings.tools, ["calculator"]);
  assert.deepEqual(project.settings.checker, { kind: "numeric", field: "answer", tolerance: 0, relativeTolerance: 0.01 });

  // The settings page: a tolerance that is not a number comes back named, with what was typed.
  const form = new URLSearchParams({ name: "Tools settings", guidelines: "", k: "3", flags: "fails_task: Fails", "checker.kind": "numeric", "checker.field": "answer", "checker.tolerance": "a lot", "checker.relativeTolerance": "0", "checker.pattern": "kept (\\d+)", "checker.flags": "i", "checker.path": "" });
  form.append("tools", "calculator");
  const page = await researcher.request("POST", `/projects/${projectId}/settings`, { body: form, headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" } });
  assert.equal(page.status, 422);
  const html = await page.text();
  const has = (pattern: RegExp, what: string) => assert.ok(pattern.test(html), `${what}: ${pattern}`);
  has(/<li>settings\.checker\.tolerance<!-- -->: <!-- -->[^<]*number/, "the refused field is named");
  has(/aria-invalid="true"[^>]*name="checker\.tolerance" value="a lot"/, "the typed tolerance is kept and marked invalid");
  has(/name="checker\.pattern" value="kept \(\\d\+\)"/, "another kind's typed pattern is kept too");
  has(/<input type="checkbox" name="tools" checked="" value="calculator"\/>/, "the ticked tool stays ticked");
  // …and a valid form saves tools and checker.
  form.set("checker.kind", "exact");
  form.set("checker.caseSensitive", "on");
  const ok = await researcher.request("POST", `/projects/${projectId}/settings`, { body: form, headers: { "content-type": "application/x-www-form-urlencoded" } });
  assert.equal(ok.status, 302, await ok.clone().text());
  assert.equal(ok.headers.get("location"), `/projects/${projectId}/settings?saved=1`, "back to the settings, which confirm the save");
  const after = (await (await researcher.get(`/api/v1/projects/${projectId}`)).json()) as { settings: { tools: string[]; checker: unknown } };
  assert.deepEqual(after.settings.checker, { kind: "exact", field: "answer", caseSensitive: true });
  assert.deepEqual(after.settings.tools, ["calculator"]);
});
