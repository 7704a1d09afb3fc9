// A Hugging Face Llama-family folder through every job, from local files: import-hf (tokenizer and
// chat template checked), SFT with LoRA, DPO with LoRA on the SFT adapter (a chain), a reward model
// with LoRA, PPO with LoRA, sampling with the model's own template and EOS, eval, export as a PEFT
// folder and merged, and `trainer logits` against the model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import { readManifest } from "../checkpoint/checkpoint.ts";
import { importHfLlama } from "../checkpoint/hf-llama.ts";
import { loadModel } from "../checkpoint/load-model.ts";
import { decodeSafetensors } from "../checkpoint/safetensors.ts";
import { disposeModel, lmForward } from "../model/lm.ts";
import { createMemoryLogger } from "./logger.ts";
import { runJob } from "./run-job.ts";
import { exportHfCommand, importHfCommand } from "./hf.ts";
import { hfChatFormat } from "../tokenizer/hf-chat.ts";
import { fixtureTokenizerConfig, fixtureTokenizerJson, writeFixtureHfModel } from "../testing/hf-fixtures.ts";
import { createRng } from "../random/rng.ts";

let dir = "";
const path = (name: string): string => join(dir, name);
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const fewSteps = { steps: 3, batchSize: 2, optim: { lr: 1e-2, warmupSteps: 1, totalSteps: 3 } };
const lora = { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"] as ("q_proj" | "v_proj")[] };

async function run(spec: JobSpecInput): Promise<{ type: string; [k: string]: unknown }[]> {
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
}

before(async () => {
  await initBackend({ prefer: "wasm" });
  dir = mkdtempSync(join(tmpdir(), "tandem-llama-jobs-"));
  writeFixtureHfModel(path("hf"), { seed: 3 });
  const rng = createRng(1);
  const words = "the cat is in an answer here there helps".split(" ");
  const sentence = (n: number): string => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
  writeFileSync(path("sft.jsonl"), jsonl(Array.from({ length: 6 }, () => ({ messages: [{ role: "user", content: sentence(3) }, { role: "assistant", content: sentence(4) }] }))));
  writeFileSync(path("prefs.jsonl"), jsonl(Array.from({ length: 4 }, () => ({ prompt: sentence(3), chosen: sentence(4), rejected: sentence(2) }))));
  writeFileSync(path("prompts.jsonl"), jsonl([{ prompt: "the cat" }, { prompt: [{ role: "system", content: "be brief" }, { role: "user", content: "why" }] }]));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("import-hf keeps the weights, tokenizer, chat template and EOS; refuses a tokenizer that does not cover its template", async () => {
  const log = createMemoryLogger();
  await importHfCommand(path("hf"), path("base"), log);
  const done = log.events.at(-1);
  assert.equal(done?.["chatTemplate"], true);
  const manifest = readManifest(path("base"));
  assert.equal(manifest.hf?.tokenizerConfig?.["eos_token"], "<|im_end|>");
  assert.deepEqual(manifest.hf?.generationConfig, { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 });
  assert.equal(readFileSync(path("base/tokenizer.json"), "utf8"), fixtureTokenizerJson());
  // the checkpoint's model.safetensors is the HF file's tensors, names and layout
  const hfTensors = decodeSafetensors(readFileSync(path("hf/model.safetensors"))).tensors;
  const ours = decodeSafetensors(readFileSync(path("base/model.safetensors"))).tensors;
  assert.deepEqual([...ours.keys()].sort(), [...hfTensors.keys()].sort());
  assert.deepEqual(Array.from(ours.get("model.layers.1.mlp.down_proj.weight")?.data ?? []), Array.from(hfTensors.get("model.layers.1.mlp.down_proj.weight")?.data ?? []));

  writeFixtureHfModel(path("hf-unfit"), { template: "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>{{ m.content }}<|eot_id|>{% endfor %}" });
  await assert.rejects(importHfCommand(path("hf-unfit"), path("unfit"), createMemoryLogger()), /the tokenizer does not fit the model's template: the chat template writes "<\|start_header_id\|>", which is not a token/);
  assert.ok(!existsSync(path("unfit/manifest.json")), "nothing written");
});

test("SFT → DPO with LoRA (chained adapters), reward and PPO with LoRA, sampling with the model's template, eval", async () => {
  const tokenizer = path("base/tokenizer.json");
  const sft = await run({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer, model: { checkpoint: path("base") }, lora, train: fewSteps, out: path("sft"), backend: "wasm" });
  assert.ok(sft.filter((e) => e.type === "metrics").every((m) => Number.isFinite(m["loss"])));
  assert.deepEqual(sft.find((e) => e.type === "start")?.["lora"], { ...lora, dropout: 0 });
  const sftManifest = readManifest(path("sft"));
  assert.equal(sftManifest.lora?.base, path("base"));
  assert.deepEqual(sftManifest.hf, readManifest(path("base")).hf, "the chat template travels with the checkpoint");
  const stored = decodeSafetensors(readFileSync(path("sft/model.safetensors"))).tensors;
  assert.equal(stored.size, 2 * 2 * 2, "an adapter checkpoint holds only the adapters");
  const optimizer = decodeSafetensors(readFileSync(path("sft/optimizer.safetensors"))).tensors;
  assert.equal(optimizer.size, 2 * 8, "AdamW moments for the 8 adapter tensors only");

  // DPO on the SFT adapter: it is merged into the base, a fresh adapter trains, the reference is that merged model
  const dpo = await run({ schemaVersion: 1, kind: "dpo", data: path("prefs.jsonl"), tokenizer, model: { checkpoint: path("sft") }, lora, train: fewSteps, out: path("dpo"), backend: "wasm" });
  assert.ok(Math.abs(Number(dpo.find((e) => e.type === "metrics")?.["loss"]) - Math.LN2) < 1e-4, "DPO starts at ln 2 against the SFT policy");
  assert.equal(readManifest(path("dpo")).lora?.base, path("sft"));

  const rm = await run({ schemaVersion: 1, kind: "reward", data: path("prefs.jsonl"), tokenizer, model: { checkpoint: path("sft") }, lora, train: fewSteps, out: path("rm"), backend: "wasm" });
  assert.ok(Number.isFinite(rm.find((e) => e.type === "metrics")?.["accuracy"]));
  assert.ok(decodeSafetensors(readFileSync(path("rm/model.safetensors"))).tensors.has("base_model.model.score.weight"));

  const ppo = await run({
    schemaVersion: 1, kind: "ppo", prompts: path("prompts.jsonl"), tokenizer, model: { checkpoint: path("dpo") }, rewardModel: { checkpoint: path("rm") }, lora,
    train: { rollouts: 2, rolloutBatchSize: 2, miniBatchSize: 2, ppoEpochs: 1, responseLength: 4, optim: { lr: 1e-3, warmupSteps: 0 } }, out: path("ppo"), backend: "wasm",
  });
  const firstRollout = ppo.find((e) => e.type === "metrics");
  assert.ok(Math.abs(Number(firstRollout?.["objective/kl"])) < 1e-5, `PPO's first KL against adapters-off is 0: ${firstRollout?.["objective/kl"]}`);
  assert.equal(readManifest(path("ppo/value")).lora?.base, path("rm"));

  // sampling renders with the SmolLM2 template and stops on <|im_end|> (id 2)
  const sample = await run({ schemaVersion: 1, kind: "sample", prompts: path("prompts.jsonl"), tokenizer, model: { checkpoint: path("dpo") }, sampling: { maxNewTokens: 12, n: 2, temperature: 1, seed: 3 }, out: path("samples"), backend: "wasm" });
  assert.equal(sample.at(-1)?.["samples"], 4);
  const rows = readFileSync(path("samples/samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { completion: string; tokens: number; finished: boolean });
  for (const r of rows) assert.ok(!r.completion.includes("<|im_end|>"), "special tokens are not in the text");

  const evaluated = await run({ schemaVersion: 1, kind: "eval", data: path("sft.jsonl"), model: { checkpoint: path("dpo") }, out: path("eval"), backend: "wasm" });
  assert.ok(Number.isFinite(evaluated.find((e) => e.type === "metrics")?.["eval_loss"]));
});

test("export-hf: a PEFT folder for an adapter, the merged model with --merged; both give the trained model's logits", async () => {
  const log = createMemoryLogger();
  await exportHfCommand(path("sft"), path("sft-peft"), log);
  await exportHfCommand(path("sft"), path("sft-merged"), log, { merged: true });
  const cfg = JSON.parse(readFileSync(path("sft-peft/adapter_config.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual([cfg["r"], cfg["lora_alpha"], cfg["target_modules"], cfg["base_model_name_or_path"]], [4, 8, ["q_proj", "v_proj"], path("hf")]);
  assert.ok(existsSync(path("sft-peft/tokenizer_config.json")) && existsSync(path("sft-merged/tokenizer_config.json")) && existsSync(path("sft-merged/generation_config.json")));
  const ids = [[1, 200, 33, 45, 2, 1, 9]];
  const logits = (m: ReturnType<typeof loadModel>): Float32Array => tf.tidy(() => (lmForward(m, tf.tensor2d(ids, [1, 7], "int32")).logits as tf.Tensor).dataSync() as Float32Array);
  const trained = loadModel(path("sft"));
  const merged = importHfLlama(path("sft-merged")).model;
  const [a, b] = [logits(trained), logits(merged)];
  assert.ok(Array.from(a).every((x, i) => Math.abs(x - (b[i] ?? NaN)) < 1e-4));
  // the PEFT folder imported back over the base gives the same model
  await importHfCommand(path("sft-peft"), path("sft-again"), log, { base: path("base") });
  const again = loadModel(path("sft-again"));
  assert.deepEqual(Array.from(logits(again)), Array.from(a));
  for (const m of [trained, merged, again]) disposeModel(m);
});

test("trainer logits --model <dir> --ids prints one row of logits per position (an HF folder or a checkpoint)", () => {
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const r = spawnSync(process.execPath, [...process.execArgv, cli, "logits", "--model", path("hf"), "--ids", "1,200,33"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { logits: number[][] };
  assert.equal(out.logits.length, 3);
  const model = importHfLlama(path("hf")).model;
  const expected = tf.tidy(() => (lmForward(model, tf.tensor2d([[1, 200, 33]], [1, 3], "int32")).logits as tf.Tensor).arraySync() as number[][][]);
  out.logits.forEach((row, t) => {
    assert.equal(row.length, model.config.vocabSize);
    row.forEach((x, v) => assert.ok(Math.abs(x - (expected[0]?.[t]?.[v] ?? NaN)) < 1e-5));
  });
  disposeModel(model);
  const bad = spawnSync(process.execPath, [...process.execArgv, cli, "logits", "--model", path("hf"), "--ids", "1,x"], { encoding: "utf8" });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--ids: give comma-separated token ids/);
  // the template and tokenizer the fixture uses agree with the checkpoint's format
  assert.equal(hfChatFormat(fixtureTokenizerJson(), { tokenizerConfig: fixtureTokenizerConfig(), generationConfig: null }).stopTokens[0], 2);
});
