import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveLlamaConfig, type LlamaConfig } from "../contract/llama-config.ts";
import { disposeLlama, initLlama, llamaForward, type LlamaModel } from "../model/llama.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { exportHfLlama, importHfLlama, llamaConfigFromHf, toHfTensors } from "./hf-llama.ts";
import { HfFormatError, readHfConfig } from "./hf-folder.ts";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "./safetensors.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const tmp = (): string => mkdtempSync(join(tmpdir(), "tandem-hf-llama-"));

// grouped-query attention: 4 query heads over 2 key/value heads
const llama: LlamaConfig = resolveLlamaConfig({
  architecture: "llama", vocabSize: 41, blockSize: 32, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, intermediateSize: 40, ropeTheta: 500, rmsNormEps: 1e-5,
});
const CONFIGS: [string, LlamaConfig][] = [
  ["llama, tied, GQA 4/2", llama],
  ["llama, untied, GQA 4/1", { ...llama, nKvHead: 1, tieWordEmbeddings: false }],
  ["qwen2, tied, GQA 4/2 (q/k/v biases)", { ...llama, modelType: "qwen2" }],
  ["qwen2, untied, GQA 4/2 (q/k/v biases)", { ...llama, modelType: "qwen2", tieWordEmbeddings: false, ropeTheta: 1e6 }],
];

/** Every parameter random, norms near 1, so a mis-mapped or mis-transposed tensor changes the logits. */
function randomLlama(c: LlamaConfig, seed: number): LlamaModel {
  const model = initLlama(c, seed);
  const rng = createRng(seed + 1);
  for (const [name, v] of model.params) {
    const norm = name.endsWith("norm.weight");
    tf.tidy(() => v.assign(tf.add(tf.tensor(normalArray(rng, v.size, norm ? 0.2 : 0.4), v.shape, "float32"), norm ? 1 : 0)));
  }
  return model;
}

const inputIds = [
  [0, 0, 0, 3, 7, 1, 36, 12, 5, 9],
  [11, 11, 4, 8, 19, 25, 33, 6, 14, 40],
];
const attentionMask = [
  [0, 0, 0, 1, 1, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
];

function forwardOf(model: LlamaModel): { logits: Float32Array; scores: Float32Array | null } {
  let result: { logits: Float32Array; scores: Float32Array | null } = { logits: new Float32Array(0), scores: null };
  tf.tidy(() => {
    const out = llamaForward(model, tf.tensor2d(inputIds, [2, 10], "int32"), { attentionMask: tf.tensor2d(attentionMask, [2, 10], "int32") });
    result = { logits: (out.logits as tf.Tensor).dataSync() as Float32Array, scores: out.scores ? (out.scores.dataSync() as Float32Array) : null };
  });
  return result;
}

const ids = { bos: 1, eos: [2, 3], pad: 0 };

test("export-hf → import-hf: HF names, (out, in) linear weights, config.json, no lm_head when tied, identical logits", () => {
  for (const [label, config] of CONFIGS) {
    const dir = tmp();
    const model = randomLlama(config, 5);
    exportHfLlama(dir, model, { ids, tokenizer: { tokenizerJson: '{"fake":true}', tokenizerConfig: { chat_template: "{{ messages }}" }, generationConfig: { eos_token_id: [2, 3] } } });
    const { tensors, metadata } = decodeSafetensors(readFileSync(join(dir, "model.safetensors")));
    assert.equal(metadata["format"], "pt");
    assert.deepEqual(tensors.get("model.embed_tokens.weight")?.shape, [41, 16]);
    assert.deepEqual(tensors.get("model.layers.0.self_attn.q_proj.weight")?.shape, [16, 16], label);
    assert.deepEqual(tensors.get("model.layers.1.self_attn.k_proj.weight")?.shape, [config.nKvHead * 4, 16], label); // nn.Linear: (out, in)
    assert.deepEqual(tensors.get("model.layers.0.mlp.down_proj.weight")?.shape, [16, 40]);
    assert.equal(tensors.has("lm_head.weight"), !config.tieWordEmbeddings, label);
    assert.equal(tensors.has("model.layers.0.self_attn.q_proj.bias"), config.modelType === "qwen2", label);
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(cfg["model_type"], config.modelType);
    assert.deepEqual(cfg["architectures"], [config.modelType === "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"]);
    assert.deepEqual(
      [cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["intermediate_size"], cfg["vocab_size"], cfg["max_position_embeddings"]],
      [16, 2, 4, config.nKvHead, 4, 40, 41, 32],
    );
    assert.deepEqual([cfg["rope_theta"], cfg["rms_norm_eps"], cfg["tie_word_embeddings"], cfg["hidden_act"], cfg["eos_token_id"]], [config.ropeTheta, 1e-5, config.tieWordEmbeddings, "silu", [2, 3]]);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "generation_config.json"), "utf8")), { eos_token_id: [2, 3] });

    const back = importHfLlama(dir);
    assert.deepEqual(back.model.config, model.config, label);
    assert.equal(back.tokenizer.tokenizerJson, '{"fake":true}');
    assert.equal(back.tokenizer.tokenizerConfig?.["chat_template"], "{{ messages }}");
    assert.deepEqual(Array.from(forwardOf(back.model).logits), Array.from(forwardOf(model).logits), label);
    disposeLlama(model);
    disposeLlama(back.model);
  }
});

test("import-hf reads what real checkpoints carry: shards (BF16 and F16), lm_head beside tied embeddings, inv_freq buffers, chat_template.jinja", () => {
  const dir = tmp();
  const model = randomLlama(llama, 9);
  exportHfLlama(dir, model, { ids, tokenizer: { tokenizerConfig: { bos_token: "<s>" } } });
  const tensors = toHfTensors(model);
  rmSync(join(dir, "model.safetensors"));
  // two shards, one BF16 and one F16, as `save_pretrained(max_shard_size=…)` with a half dtype writes them
  const names = [...tensors.keys()];
  const half = Math.ceil(names.length / 2);
  const shards: [string, string[], "BF16" | "F16"][] = [
    ["model-00001-of-00002.safetensors", names.slice(0, half), "BF16"],
    ["model-00002-of-00002.safetensors", names.slice(half), "F16"],
  ];
  const weightMap: Record<string, string> = {};
  for (const [file, part, dtype] of shards) {
    const subset = new Map(part.map((n) => [n, tensors.get(n) as NamedArray]));
    if (file.startsWith("model-00002")) {
      subset.set("lm_head.weight", tensors.get("model.embed_tokens.weight") as NamedArray);
      subset.set("model.layers.0.self_attn.rotary_emb.inv_freq", { shape: [2], data: new Float32Array([1, 0.01]) });
    }
    writeFileSync(join(dir, file), encodeSafetensors(subset, { format: "pt" }, dtype));
    for (const n of subset.keys()) weightMap[n] = file;
  }
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  writeFileSync(join(dir, "chat_template.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}");
  const back = importHfLlama(dir);
  assert.equal(back.tokenizer.tokenizerConfig?.["chat_template"], "{% for m in messages %}{{ m.content }}{% endfor %}");
  // the weights went through 16-bit storage: close to the originals, not equal
  const [a, b] = [forwardOf(back.model).logits, forwardOf(model).logits];
  let maxDiff = 0;
  a.forEach((x, i) => (maxDiff = Math.max(maxDiff, Math.abs(x - (b[i] ?? NaN)))));
  assert.ok(maxDiff > 0 && maxDiff < 0.2, `max diff ${maxDiff}`);
  const embed = decodeSafetensors(readFileSync(join(dir, "model-00001-of-00002.safetensors"))).tensors.get("model.embed_tokens.weight") as NamedArray;
  const loaded = back.model.params.get("model.embed_tokens.weight")?.dataSync() as Float32Array;
  assert.deepEqual(Array.from(loaded), Array.from(embed.data)); // exactly the widened bfloat16 values
  disposeLlama(model);
  disposeLlama(back.model);
});

test("import-hf refuses with the file and tensor named: unsupported model_type, activation, rope scaling, sliding window, missing shard, wrong shape, unexpected tensor", () => {
  const dir = tmp();
  const model = randomLlama(llama, 2);
  exportHfLlama(dir, model, { ids });
  const cfgPath = join(dir, "config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
  const withConfig = (patch: Record<string, unknown>): void => writeFileSync(cfgPath, JSON.stringify({ ...cfg, ...patch }));

  withConfig({ model_type: "mistral" });
  assert.throws(() => readHfConfig(dir), (e: Error) => e instanceof HfFormatError && /model_type "mistral" is not supported; supported: gpt2, llama, qwen2/.test(e.message));
  assert.throws(() => importHfLlama(dir), /model_type "mistral" is not supported/);
  withConfig({ hidden_act: "gelu" });
  assert.throws(() => importHfLlama(dir), /hidden_act "gelu" is not supported/);
  withConfig({ rope_scaling: { rope_type: "llama3", factor: 8 } });
  assert.throws(() => importHfLlama(dir), /rope_scaling \{"rope_type":"llama3","factor":8\} is not supported/);
  withConfig({ model_type: "qwen2", use_sliding_window: true });
  assert.throws(() => importHfLlama(dir), /use_sliding_window true is not supported/);
  withConfig({ num_key_value_heads: 3 });
  assert.throws(() => importHfLlama(dir), /nKvHead: nHead must be a multiple of nKvHead/);
  withConfig({ intermediate_size: 48 });
  assert.throws(() => importHfLlama(dir), /model\.safetensors: model\.layers\.0\.mlp\.gate_proj\.weight has shape \[40, 16\] but config\.json implies \[48, 16\]/);
  withConfig({ num_hidden_layers: 3 });
  assert.throws(() => importHfLlama(dir), /missing tensor model\.layers\.2\.input_layernorm\.weight/);
  withConfig({ num_hidden_layers: 1 });
  assert.throws(() => importHfLlama(dir), /model\.safetensors: unexpected tensor\(s\) for a llama of this config: model\.layers\.1\./);
  withConfig({ model_type: "qwen2" }); // qwen2 expects q/k/v biases the llama file lacks
  assert.throws(() => importHfLlama(dir), /missing tensor model\.layers\.0\.self_attn\.q_proj\.bias/);
  withConfig({});

  // sharded: a shard the index names is missing; a shard lacks a tensor the index puts there
  const weights = readFileSync(join(dir, "model.safetensors"));
  rmSync(join(dir, "model.safetensors"));
  const { tensors } = decodeSafetensors(weights);
  const weightMap = Object.fromEntries([...tensors.keys()].map((n, i) => [n, i % 2 ? "b.safetensors" : "a.safetensors"]));
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: weightMap }));
  writeFileSync(join(dir, "a.safetensors"), encodeSafetensors(new Map([...tensors].filter(([n]) => weightMap[n] === "a.safetensors"))));
  assert.throws(() => importHfLlama(dir), /model\.safetensors\.index\.json names b\.safetensors, which is missing \(it holds model\.layers\.0\.input_layernorm\.weight and \d+ more\)/);
  writeFileSync(join(dir, "b.safetensors"), encodeSafetensors(new Map([...tensors].filter(([n]) => weightMap[n] === "b.safetensors" && n !== "model.norm.weight"))));
  weightMap["model.norm.weight"] = "b.safetensors";
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: weightMap }));
  assert.throws(() => importHfLlama(dir), /puts model\.norm\.weight in b\.safetensors, which does not hold it/);
  // an unsupported stored dtype is named with its file and tensor
  const header = JSON.stringify({ "model.norm.weight": { dtype: "I8", shape: [16], data_offsets: [0, 16] } }).padEnd(96, " ");
  const bad = Buffer.alloc(8 + 96 + 16);
  bad.writeBigUInt64LE(96n, 0);
  bad.write(header, 8);
  writeFileSync(join(dir, "b.safetensors"), bad);
  assert.throws(() => importHfLlama(dir), /b\.safetensors: model\.norm\.weight: dtype I8 is not supported \(F32, F16, BF16\)/);
  disposeLlama(model);
});

test("config.json: a sequence classifier becomes a reward model; num_labels other than 1 is refused", () => {
  const base = JSON.parse(JSON.stringify({ model_type: "llama", vocab_size: 10, max_position_embeddings: 8, num_hidden_layers: 1, num_attention_heads: 2, hidden_size: 8, intermediate_size: 8 })) as Record<string, unknown>;
  assert.equal(llamaConfigFromHf({ ...base, architectures: ["LlamaForSequenceClassification"], num_labels: 1 }).scalarHead, "reward");
  assert.equal(llamaConfigFromHf({ ...base, tandem_scalar_head: "value" }).scalarHead, "value");
  assert.equal(llamaConfigFromHf(base).nKvHead, 2); // num_key_value_heads defaults to the head count
  assert.equal(llamaConfigFromHf(base).tieWordEmbeddings, false); // transformers' default
  assert.throws(() => llamaConfigFromHf({ ...base, architectures: ["LlamaForSequenceClassification"], num_labels: 3 }), /num_labels 3 is not supported/);
});

const PYTHON = "/usr/bin/python3";
const torchAvailable = existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;

test(
  "cross-framework parity: PyTorch (bench/llama_parity.py, transcribed from transformers) agrees to 1e-4 on Llama and Qwen2, tied and untied, with GQA and left padding",
  { skip: torchAvailable ? false : `skipped: ${PYTHON} -c "import torch" fails (install python3-torch, e.g. apt-get install python3-torch, to run it)` },
  (t) => {
    const script = fileURLToPath(new URL("../../bench/llama_parity.py", import.meta.url));
    const cases = [...CONFIGS, ["llama reward head", { ...llama, scalarHead: "reward" }] as [string, LlamaConfig]];
    const args: string[] = [];
    for (const [, config] of cases) {
      const dir = tmp();
      const model = randomLlama(config, 11);
      exportHfLlama(dir, model, { ids });
      const { logits, scores } = forwardOf(model);
      writeFileSync(join(dir, "expected.json"), JSON.stringify({ input_ids: inputIds, attention_mask: attentionMask, logits: Array.from(logits), ...(scores ? { scores: Array.from(scores) } : {}) }));
      disposeLlama(model);
      args.push(dir, join(dir, "expected.json"));
    }
    const r = spawnSync(PYTHON, [script, ...args, "--tol", "1e-4"], { encoding: "utf8" });
    const results = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { max_abs_diff: number; shape: number[]; scores_max_abs_diff?: number });
    assert.equal(results.length, cases.length, `llama_parity.py failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
    cases.forEach(([label], i) => {
      const result = results[i] as (typeof results)[number];
      assert.deepEqual(result.shape, [2, 10, 41]);
      assert.ok(result.max_abs_diff < 1e-4, `${label}: max abs diff ${result.max_abs_diff}`);
      if (label.includes("reward")) assert.ok((result.scores_max_abs_diff ?? Infinity) < 1e-4, `${label}: scores ${result.scores_max_abs_diff}`);
      t.diagnostic(`${label}: max |Δlogit| ${result.max_abs_diff.toExponential(2)}${result.scores_max_abs_diff !== undefined ? `, max |Δscore| ${result.scores_max_abs_diff.toExponential(2)}` : ""}`);
    });
    assert.equal(r.status, 0);
  },
);
