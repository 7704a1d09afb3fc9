import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig, type GptConfig } from "../contract/gpt-config.ts";
import { disposeGpt, gptForwardTidy, initGpt, type GptModel } from "../model/gpt.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { createMemoryLogger } from "../cli/logger.ts";
import { exportHfCommand, importHfCommand } from "../cli/hf.ts";
import { loadCheckpointInto, readManifest, saveCheckpoint } from "./checkpoint.ts";
import { exportHfGpt2, HfFormatError, importHfGpt2, tokenizerHashOf } from "./hf-gpt2.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const config: GptConfig = resolveGptConfig({ vocabSize: 37, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 });
const tmp = (): string => mkdtempSync(join(tmpdir(), "tandem-hf-"));

/** Every parameter random (biases and LayerNorm gains too), so a mis-mapped name changes the logits. */
function randomModel(c: GptConfig, seed: number): GptModel {
  const model = initGpt(c, seed);
  const rng = createRng(seed + 1);
  for (const v of model.params.values()) tf.tidy(() => v.assign(tf.tensor(normalArray(rng, v.size, 0.3), v.shape, "float32")));
  return model;
}

const inputIds = [
  [3, 7, 1, 36, 0, 12, 5, 9, 30, 2],
  [11, 11, 4, 8, 19, 25, 33, 6, 14, 21],
];

function logitsOf(model: GptModel): Float32Array {
  const input = tf.tensor2d(inputIds, [2, 10], "int32");
  const out = gptForwardTidy(model, input);
  const data = (out.logits as tf.Tensor).dataSync() as Float32Array;
  tf.dispose([input, out.hidden, out.logits as tf.Tensor]);
  return data;
}

test("export-hf → import-hf: HF GPT-2 names, Conv1D layout, config.json, identical logits", () => {
  const dir = tmp();
  const model = randomModel(config, 5);
  exportHfGpt2(dir, model, { ids: { bos: 35, eos: 35, pad: 36 }, tokenizerJson: '{"fake":true}' });
  const { tensors, metadata } = decodeSafetensors(readFileSync(join(dir, "model.safetensors")));
  assert.equal(metadata["format"], "pt");
  assert.deepEqual(tensors.get("wte.weight")?.shape, [37, 16]);
  assert.deepEqual(tensors.get("wpe.weight")?.shape, [16, 16]);
  assert.deepEqual(tensors.get("h.0.attn.c_attn.weight")?.shape, [16, 48]); // Conv1D: (in, out)
  assert.deepEqual(tensors.get("h.1.mlp.c_proj.weight")?.shape, [64, 16]);
  assert.ok(tensors.has("ln_f.bias") && tensors.has("h.1.ln_2.weight"));
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  assert.equal(cfg["model_type"], "gpt2");
  assert.deepEqual(cfg["architectures"], ["GPT2LMHeadModel"]);
  assert.equal(cfg["activation_function"], "gelu_new");
  assert.equal(cfg["tie_word_embeddings"], true);
  assert.deepEqual([cfg["n_embd"], cfg["n_layer"], cfg["n_head"], cfg["n_positions"], cfg["vocab_size"]], [16, 2, 2, 16, 37]);
  assert.deepEqual([cfg["bos_token_id"], cfg["eos_token_id"], cfg["pad_token_id"], cfg["layer_norm_epsilon"]], [35, 35, 36, 1e-5]);
  assert.equal(readFileSync(join(dir, "tokenizer.json"), "utf8"), '{"fake":true}');

  const back = importHfGpt2(dir);
  assert.deepEqual(back.model.config, model.config);
  assert.equal(back.tokenizerJson, '{"fake":true}');
  assert.deepEqual(Array.from(logitsOf(back.model)), Array.from(logitsOf(model)));
  disposeGpt(model);
  disposeGpt(back.model);
});

test("import-hf accepts real-checkpoint naming: transformer. prefix, tied lm_head.weight, attn.bias buffers, F16", () => {
  const dir = tmp();
  const model = randomModel(config, 9);
  exportHfGpt2(dir, model, { ids: { bos: 0, eos: 0, pad: null } });
  const { tensors } = decodeSafetensors(readFileSync(join(dir, "model.safetensors")));
  const renamed = new Map([...tensors].map(([k, v]) => [`transformer.${k}`, v]));
  renamed.set("lm_head.weight", tensors.get("wte.weight") as { shape: number[]; data: Float32Array });
  renamed.set("transformer.h.0.attn.bias", { shape: [1, 1, 16, 16], data: new Float32Array(256).fill(1) });
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(renamed));
  const back = importHfGpt2(dir);
  assert.deepEqual(Array.from(logitsOf(back.model)), Array.from(logitsOf(model)));
  assert.equal(back.tokenizerJson, null);
  disposeGpt(back.model);

  // an untied head is refused rather than silently dropped
  const untied = new Float32Array((tensors.get("wte.weight") as { data: Float32Array }).data);
  untied[0] = (untied[0] ?? 0) + 1;
  renamed.set("lm_head.weight", { shape: [37, 16], data: untied });
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(renamed));
  assert.throws(() => importHfGpt2(dir), /lm_head\.weight differs from wte\.weight/);

  // F16 storage (half of HF's checkpoints) is widened: 1.5 and -2 are exact in binary16
  const half = Buffer.alloc(8 + 88);
  const header = JSON.stringify({ x: { dtype: "F16", shape: [2], data_offsets: [0, 4] } }).padEnd(88, " ");
  half.writeBigUInt64LE(88n, 0);
  half.write(header, 8);
  const halfData = Buffer.concat([half, Buffer.from([0x00, 0x3e, 0x00, 0xc0])]);
  assert.deepEqual(Array.from(decodeSafetensors(halfData).tensors.get("x")?.data ?? []), [1.5, -2]);
  disposeGpt(model);
});

test("import-hf refuses another architecture, a wrong shape, a missing or unknown tensor, with the reason", () => {
  const dir = tmp();
  const model = randomModel(config, 2);
  exportHfGpt2(dir, model, { ids: { bos: 0, eos: 0, pad: null } });
  disposeGpt(model);
  const cfgPath = join(dir, "config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
  const withConfig = (patch: Record<string, unknown>): void => writeFileSync(cfgPath, JSON.stringify({ ...cfg, ...patch }));

  withConfig({ model_type: "llama" });
  assert.throws(() => importHfGpt2(dir), (e: Error) => e instanceof HfFormatError && /model_type "llama" is not supported; only GPT-2/.test(e.message));
  withConfig({ activation_function: "relu" });
  assert.throws(() => importHfGpt2(dir), /activation_function "relu" is not supported/);
  withConfig({ n_inner: 32 });
  assert.throws(() => importHfGpt2(dir), /n_inner 32 is not supported/);
  withConfig({ n_embd: 32 }); // the config no longer matches the tensors
  assert.throws(() => importHfGpt2(dir), /wte\.weight has shape \[37, 16\] but config\.json implies \[37, 32\]/);
  withConfig({ n_layer: 3 });
  assert.throws(() => importHfGpt2(dir), /missing tensor h\.2\.ln_1\.weight/);
  withConfig({ n_layer: 1 });
  assert.throws(() => importHfGpt2(dir), /unexpected tensor\(s\) for a GPT-2 of this config: h\.1\./);
  withConfig({});

  const weights = join(dir, "model.safetensors");
  const { tensors } = decodeSafetensors(readFileSync(weights));
  tensors.set("h.0.attn.c_attn.weight", { shape: [48, 16], data: (tensors.get("h.0.attn.c_attn.weight") as { data: Float32Array }).data });
  writeFileSync(weights, encodeSafetensors(tensors));
  assert.throws(() => importHfGpt2(dir), /h\.0\.attn\.c_attn\.weight has shape \[48, 16\] but config\.json implies \[16, 48\]/);
});

test("CLI export-hf / import-hf: checkpoint → HF folder → checkpoint keeps weights, tokenizer and special ids", async () => {
  const root = tmp();
  const model = randomModel({ ...config }, 4);
  const tokenizerJson = JSON.stringify({ added_tokens: [{ id: 35, content: "<|pad|>" }, { id: 36, content: "<|endoftext|>" }], model: { vocab: {} } });
  saveCheckpoint(join(root, "ckpt"), model, null, { step: 7, rngState: 1, trainConfig: {}, tokenizerHash: tokenizerHashOf(tokenizerJson) });
  writeFileSync(join(root, "ckpt", "tokenizer.json"), tokenizerJson);
  const log = createMemoryLogger();
  await exportHfCommand(join(root, "ckpt"), join(root, "hf"), log);
  const cfg = JSON.parse(readFileSync(join(root, "hf", "config.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual([cfg["eos_token_id"], cfg["bos_token_id"], cfg["pad_token_id"]], [36, 36, 35]);
  await importHfCommand(join(root, "hf"), join(root, "back"), log);
  assert.deepEqual(log.events.map((e) => e.type), ["done", "done"]);
  const manifest = readManifest(join(root, "back"));
  assert.equal(manifest.tokenizerHash, tokenizerHashOf(tokenizerJson));
  assert.equal(readFileSync(join(root, "back", "tokenizer.json"), "utf8"), tokenizerJson);
  const loaded = initGpt(manifest.modelConfig as GptConfig, 0);
  loadCheckpointInto(join(root, "back"), loaded, null, { tokenizerHash: tokenizerHashOf(tokenizerJson) });
  assert.deepEqual(Array.from(logitsOf(loaded)), Array.from(logitsOf(model)));
  disposeGpt(loaded);
  disposeGpt(model);
});

const PYTHON = "/usr/bin/python3";
const torchAvailable = existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;

test(
  "cross-framework parity: the exported folder in PyTorch (bench/hf_parity.py) gives the same logits (max abs diff < 1e-3)",
  { skip: torchAvailable ? false : `skipped: ${PYTHON} -c "import torch" fails (install python3-torch to run it)` },
  (t) => {
    const dir = tmp();
    const model = randomModel(config, 11);
    exportHfGpt2(dir, model, { ids: { bos: 0, eos: 0, pad: null } });
    writeFileSync(join(dir, "expected.json"), JSON.stringify({ input_ids: inputIds, logits: Array.from(logitsOf(model)) }));
    disposeGpt(model);
    const script = fileURLToPath(new URL("../../bench/hf_parity.py", import.meta.url));
    const r = spawnSync(PYTHON, [script, dir, join(dir, "expected.json"), "--tol", "1e-3"], { encoding: "utf8" });
    const lastLine = r.stdout.trim().split("\n").at(-1) ?? "";
    assert.equal(r.status, 0, `hf_parity.py failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
    const result = JSON.parse(lastLine) as { max_abs_diff: number; shape: number[] };
    assert.deepEqual(result.shape, [2, 10, 37]);
    assert.ok(result.max_abs_diff < 1e-3, `max abs diff ${result.max_abs_diff}`);
    t.diagnostic(`PyTorch parity: max abs diff ${result.max_abs_diff.toExponential(2)}`);
  },
);
