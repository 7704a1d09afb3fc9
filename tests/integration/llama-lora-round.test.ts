/**
 * A Llama-family model from Hugging Face through the app: a researcher registers a folder on the
 * server's disk (an HF layout SmolLM2-style model with random weights, ChatML template), launches
 * an SFT → DPO round that trains LoRA adapters on it, a real trainer service trains it, the
 * registry records each adapter with its base, and /v1/chat/completions serves base + adapter
 * with the model's own chat template. Also: imports refused with the field named, by role and path.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { insertPrompts } from "../../server/labeling/prompts.server.ts";
import { modelDir } from "../../server/rounds/model-files.server.ts";
import { initBackend } from "../../trainer/backend/select-backend.ts";
import { fixtureTokenizerConfig, fixtureTokenizerJson, writeFixtureHfModel } from "../../trainer/testing/hf-fixtures.ts";
import { hfChatFormat } from "../../trainer/tokenizer/hf-chat.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";
import { runTrainerService } from "../support/trainer-service.ts";

let server: TestServer;
let dataDir = "";
let importDir = "";
before(async () => {
  await initBackend({ prefer: "wasm" }); // to write the fixture's random weights
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-llama-round-"));
  importDir = path.join(dataDir, "hf-models");
  writeFixtureHfModel(path.join(importDir, "smol-tiny"), { seed: 2 });
  const mistral = path.join(importDir, "mistral-like");
  writeFixtureHfModel(mistral, { seed: 3 });
  const cfg = JSON.parse(fs.readFileSync(path.join(mistral, "config.json"), "utf8")) as Record<string, unknown>;
  fs.writeFileSync(path.join(mistral, "config.json"), JSON.stringify({ ...cfg, model_type: "mistral" }));
  fs.mkdirSync(path.join(dataDir, "elsewhere"));
  writeFixtureHfModel(path.join(dataDir, "elsewhere", "model"), { seed: 4 });
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_HF_IMPORT_DIR: importDir });
});
after(async () => {
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
type Problem = { errors?: Array<{ path: string; message: string }> };

async function seededProject(researcher: HttpClient): Promise<string> {
  const created = await researcher.json("POST", "/api/v1/projects", { name: "Llama loop", settings: projectSettingsSchema.parse({ k: 2, overlap: { rank: 1, demonstrate: 1 } }) });
  const projectId = ((await created.json()) as { id: string }).id;
  const project = await getProject(server.db, projectId);
  const questions = ["What is 2 + 3?", "What is 7 - 4?", "What is 3 × 3?", "What is 10 / 2?", "What is 6 + 6?"];
  await server.db.transaction().execute((trx) =>
    insertPrompts(
      trx, projectId, project.settings,
      questions.map((q, i) => ({
        messages: [{ role: "user" as const, content: q }],
        completions: i < 2 ? [{ text: `The answer is ${i + 5}.`, model: "seed" }, { text: "I do not know.", model: "seed" }] : [],
        source: null, metadata: {}, contentHash: `llama-${projectId}-${i}`, minhash: "", status: "active" as const,
      })),
      null,
    ),
  );
  return projectId;
}

async function labelEverything(labeler: HttpClient, projectId: string): Promise<void> {
  for (;;) {
    const claim = (await (await labeler.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
    if (!claim) return;
    const view = (await (await labeler.json("GET", `/api/v1/assignments/${claim.assignmentId}`)).json()) as { taskType: string; completions: Array<{ id: string; text: string }> };
    const sorted = [...view.completions].sort((a, b) => Number(b.text.startsWith("The answer")) - Number(a.text.startsWith("The answer")));
    const payload = view.taskType === "rank" ? { ranking: { tiers: sorted.map((c) => [c.id]) } } : { text: "The answer is 12." };
    const response = await labeler.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, { idempotencyKey: `llama-key-${claim.assignmentId}`, payload, timings: {} });
    assert.equal(response.status, 200, await response.clone().text());
  }
}

test("import an HF Llama folder → a LoRA SFT → DPO round → adapters registered over their base → served with the model's own template", { timeout: 300_000 }, async () => {
  const researcher = (await server.newUser("researcher")).client;
  const modelsBefore = (await server.db.selectFrom("models").select("id").execute()).length;

  // Refused imports name the field, and register nothing.
  const labeler = await server.newUser("labeler");
  assert.equal((await labeler.client.json("POST", "/api/v1/models/import", { path: "smol-tiny" })).status, 403);
  for (const [body, field, why] of [
    [{ path: "../elsewhere/model" }, "path", /must be a folder under/],
    [{ path: path.join(dataDir, "elsewhere", "model") }, "path", /must be a folder under/],
    [{ path: "nothing-here" }, "path", /no folder nothing-here/],
    [{ path: "mistral-like" }, "path", /model_type "mistral" is not supported; supported: gpt2, llama, qwen2/],
    [{ path: "smol-tiny", projectId: "999999" }, "projectId", /no such project/],
  ] as const) {
    const refused = await researcher.json("POST", "/api/v1/models/import", body);
    assert.equal(refused.status, 422, JSON.stringify(body));
    const problem = (await refused.json()) as Problem;
    assert.ok(problem.errors?.some((e) => e.path === field && why.test(e.message)), JSON.stringify(problem));
  }
  // the Models page's form refuses the same way, keeping what was typed
  const page = await researcher.postForm("/models", { path: "../elsewhere/model", name: "typed name" });
  assert.equal(page.status, 422);
  const html = await page.text();
  assert.match(html, /must be a folder under/);
  assert.match(html, /value="typed name"/);
  assert.equal((await labeler.client.postForm("/models", { path: "smol-tiny", name: "" })).status, 403);
  assert.equal((await server.db.selectFrom("models").select("id").execute()).length, modelsBefore);

  const imported = await researcher.json("POST", "/api/v1/models/import", { path: "smol-tiny", name: "SmolLM2-style tiny" });
  assert.equal(imported.status, 201, await imported.clone().text());
  const base = (await imported.json()) as { id: string; name: string; kind: string; architecture: string; chatTemplate: boolean };
  assert.deepEqual([base.name, base.kind, base.architecture, base.chatTemplate], ["SmolLM2-style tiny", "base", "llama", true]);
  const audit = await server.db.selectFrom("audit_log").select(["action", "target"]).where("action", "=", "model.import").execute();
  assert.deepEqual(audit, [{ action: "model.import", target: `model:${base.id}` }]);

  // A round that trains LoRA adapters on it.
  const projectId = await seededProject(researcher);
  await server.addMembers(projectId, [labeler]);
  await labelEverything(labeler.client, projectId);
  const steps = { steps: 2, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 1, totalSteps: 2 } };
  const round = { name: "LoRA round", path: "sft-dpo", base: { modelId: base.id }, lora: { r: 4, alpha: 8 }, sft: steps, dpo: steps, next: { prompts: 2, maxNewTokens: 6, temperature: 1, seed: 7 } };
  const scratch = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { ...round, base: { init: { preset: "nano" } } });
  assert.equal(scratch.status, 422);
  assert.ok(((await scratch.json()) as Problem).errors?.some((e) => e.path === "lora"));
  const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, round);
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id: roundId } = (await launched.json()) as { id: string };
  const { code, output } = await runTrainerService(server.url, await server.newToken("trainer"), { backend: "wasm" });
  assert.equal(code, 0, output);

  type Detail = { state: string; error: string | null; models: Array<{ id: string; kind: string; parent_id: string | null }>; report: { samples: { tasks: number } } };
  const detail = (await (await researcher.get(`/api/v1/rounds/${roundId}`)).json()) as Detail;
  assert.equal(detail.state, "done", `${detail.error}\n${output}`);
  const [sft, policy] = detail.models;
  assert.equal(sft?.parent_id, base.id, "the SFT adapter's base is the imported model");
  assert.equal(policy?.parent_id, sft?.id, "the DPO adapter's base is the SFT model (base + SFT adapter)");
  assert.ok(detail.report.samples.tasks >= 1, "the adapted policy sampled the next ranking tasks");

  // The registry's lineage: adapter config in the model's config, its base as parent; the files hold only adapters.
  const entry = (await (await researcher.get(`/api/v1/models/${policy!.id}`)).json()) as { parent_id: string; config: { lora?: { config: { r: number; alpha: number; targetModules: string[] } } } };
  assert.deepEqual(entry.config.lora?.config, { r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj"] });
  const weights = Buffer.from(await (await researcher.get(`/api/v1/models/${policy!.id}/files/model.safetensors`)).arrayBuffer());
  const header = JSON.parse(weights.subarray(8, 8 + Number(weights.readBigUInt64LE(0))).toString()) as Record<string, unknown>;
  assert.ok(Object.keys(header).filter((k) => k !== "__metadata__").every((k) => /^base_model\.model\.model\.layers\.\d+\.self_attn\.[qv]_proj\.lora_[AB]\.weight$/.test(k)), Object.keys(header).join(", "));
  const row = await server.db.selectFrom("models").select("storage_key").where("id", "=", policy!.id).executeTakeFirstOrThrow();
  assert.ok(fs.existsSync(path.join(modelDir(dataDir, row.storage_key), "base", "base", "manifest.json")), "base/ links down the chain to the imported model");

  // Served through the OpenAI-compatible endpoint: base + adapters, the model's own ChatML template.
  const token = bearer(await server.newToken("researcher"));
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "What is 2 + 3?" }];
  const answer = await server.client().json("POST", "/v1/chat/completions", { model: `tandem-${policy!.id}`, messages, max_tokens: 5, seed: 1 }, token);
  assert.equal(answer.status, 200, await answer.clone().text());
  const chat = (await answer.json()) as { choices: Array<{ message: { role: string; content: string } }>; usage: { prompt_tokens: number; completion_tokens: number } };
  assert.equal(chat.choices[0]?.message.role, "assistant");
  assert.equal(typeof chat.choices[0]?.message.content, "string");
  const format = hfChatFormat(fixtureTokenizerJson(), { tokenizerConfig: fixtureTokenizerConfig(), generationConfig: null });
  const expectedPrompt = await format.renderChat(messages as never, { addGenerationPrompt: true });
  assert.equal(chat.usage.prompt_tokens, expectedPrompt.ids.length, "the prompt was rendered with SmolLM2's ChatML template");
  assert.ok(chat.usage.completion_tokens >= 1 && chat.usage.completion_tokens <= 5);
  // streamed, the model's own tokenizer decodes the pieces: they add up to the same answer (decision 0052)
  const streamed = await server.client().json("POST", "/v1/chat/completions", { model: `tandem-${policy!.id}`, messages, max_tokens: 5, seed: 1, stream: true }, token);
  const events = (await streamed.text()).trim().split("\n\n");
  assert.equal(events.at(-1), "data: [DONE]");
  const pieces = events.slice(0, -1).map((e) => (JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "");
  assert.equal(pieces.join(""), chat.choices[0]?.message.content);
  const baseAnswer = await server.client().json("POST", "/v1/chat/completions", { model: `tandem-${base.id}`, messages, max_tokens: 5, seed: 1 }, token);
  assert.equal(baseAnswer.status, 200, await baseAnswer.clone().text());
});
