// PEFT LoRA folders in and out: adapter_model.safetensors (tensor names as PEFT's
// get_peft_model_state_dict writes them, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
// (r, in) and "….lora_B.weight" (out, r); a reward/value head as "base_model.model.score.weight")
// and adapter_config.json (LoraConfig.to_dict(): peft_type LORA, r, lora_alpha, lora_dropout,
// target_modules, bias "none", task_type CAUSAL_LM or SEQ_CLS with modules_to_save ["score"]).
// Import refuses what Tandem does not compute (DoRA, rsLoRA, per-layer rank patterns, bias training)
// and an adapter whose tensors do not fit the base's shapes, naming the tensor.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { LORA_TARGETS, loraConfigSchema, loraTargetsOf, type LoraConfig, type LoraTarget } from "../contract/lora-config.ts";
import { disposeModel, isLlama } from "../model/lm.ts";
import { type LlamaModel } from "../model/llama.ts";
import { attachLora, mergeLora, PEFT_PREFIX, peftTensors } from "../model/lora.ts";
import { readManifest, saveCheckpoint } from "./checkpoint.ts";
import { HfFormatError, writeHfTokenizerFiles, type HfTokenizerFiles } from "./hf-folder.ts";
import { loadModel } from "./load-model.ts";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "./safetensors.ts";

export function isPeftAdapterFolder(dir: string): boolean {
  return existsSync(join(dir, "adapter_config.json"));
}

/** adapter_config.json as PEFT's LoraConfig.to_dict() writes it. */
export function adapterConfigJson(model: LlamaModel, baseModel: string): Record<string, unknown> {
  const lora = model.lora;
  if (!lora) throw new Error("the model has no LoRA adapters");
  const scalar = model.config.scalarHead !== "none";
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: lora.config.alpha,
    lora_dropout: lora.config.dropout,
    megatron_config: null,
    megatron_core: "megatron.core",
    modules_to_save: scalar ? ["score"] : null,
    peft_type: "LORA",
    r: lora.config.r,
    rank_pattern: {},
    revision: null,
    target_modules: loraTargetsOf(lora.config).sort(),
    task_type: scalar ? "SEQ_CLS" : "CAUSAL_LM",
    use_dora: false,
    use_rslora: false,
  };
}

/** Writes a PEFT adapter folder (and the tokenizer files given, as TRL saves them beside it). */
export function exportPeftAdapter(dir: string, model: LlamaModel, options: { baseModel: string; tokenizer?: Partial<HfTokenizerFiles> }): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "adapter_model.safetensors"), encodeSafetensors(peftTensors(model), { format: "pt" }));
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(adapterConfigJson(model, options.baseModel), null, 2));
  writeHfTokenizerFiles(dir, options.tokenizer ?? {});
}

/** LoraConfig from adapter_config.json, refusing settings Tandem would compute differently. */
export function loraConfigFromPeft(cfg: Record<string, unknown>, where: string): LoraConfig {
  const refuse = (why: string): never => {
    throw new HfFormatError(`${where}: ${why}`);
  };
  if (cfg["peft_type"] !== "LORA") refuse(`peft_type ${JSON.stringify(cfg["peft_type"])} is not supported (LORA only)`);
  if (cfg["use_dora"] === true) refuse("use_dora true is not supported (plain LoRA only)");
  if (cfg["use_rslora"] === true) refuse("use_rslora true is not supported (the scale is lora_alpha / r)");
  if ((cfg["bias"] ?? "none") !== "none") refuse(`bias ${JSON.stringify(cfg["bias"])} is not supported ("none")`);
  if (cfg["fan_in_fan_out"] === true) refuse("fan_in_fan_out true is not supported (Llama's projections are nn.Linear)");
  for (const key of ["rank_pattern", "alpha_pattern"]) {
    const v = cfg[key];
    if (v && typeof v === "object" && Object.keys(v).length > 0) refuse(`${key} is not supported (one rank and alpha for every layer)`);
  }
  if (cfg["layers_to_transform"] !== undefined && cfg["layers_to_transform"] !== null) refuse("layers_to_transform is not supported (adapters on every layer)");
  const targets = cfg["target_modules"];
  let targetModules: LoraConfig["targetModules"];
  if (targets === "all-linear") targetModules = "all-linear";
  else if (Array.isArray(targets)) {
    const unknown = targets.filter((t) => !(LORA_TARGETS as readonly unknown[]).includes(t));
    if (unknown.length > 0) refuse(`target_modules ${JSON.stringify(unknown)} are not supported (${LORA_TARGETS.join(", ")})`);
    targetModules = targets as LoraTarget[];
  } else refuse(`target_modules ${JSON.stringify(targets)} is not supported (a list of module names, or "all-linear")`);
  const parsed = loraConfigSchema.safeParse({ r: cfg["r"], alpha: cfg["lora_alpha"], dropout: cfg["lora_dropout"] ?? 0, targetModules: targetModules! });
  if (!parsed.success) refuse(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return parsed.data!;
}

/**
 * Copies PEFT tensors into the model's (fresh) adapters and head. Every adapter the config implies
 * must be there with its base's shapes; a tensor for a module the model has no adapter on is refused.
 */
export function assignPeftTensors(model: LlamaModel, tensors: Map<string, NamedArray>, where: string): void {
  const lora = model.lora;
  if (!lora) throw new Error("attach adapters before loading them");
  const wanted = new Map<string, { v: tf.Variable; shape: number[] }>();
  for (const [name, { a, b }] of lora.adapters) {
    wanted.set(`${PEFT_PREFIX}${name}.lora_A.weight`, { v: a, shape: [...a.shape].reverse() });
    wanted.set(`${PEFT_PREFIX}${name}.lora_B.weight`, { v: b, shape: [...b.shape].reverse() });
  }
  const head = model.params.get("score.weight");
  if (head) wanted.set(`${PEFT_PREFIX}score.weight`, { v: head, shape: [1, head.shape[0] as number] });
  const normalized = new Map([...tensors].map(([k, t]) => [k.replace(/\.lora_([AB])\.default\.weight$/, ".lora_$1.weight"), t]));
  const unexpected = [...normalized.keys()].filter((k) => !wanted.has(k));
  if (unexpected.length > 0) throw new HfFormatError(`${where}: tensor(s) for modules this model has no adapter on: ${unexpected.slice(0, 3).join(", ")}${unexpected.length > 3 ? ", …" : ""}`);
  for (const [name, { shape }] of wanted) {
    const t = normalized.get(name);
    if (!t) {
      if (name.endsWith("score.weight")) continue; // a head the adapter does not train keeps the base's
      throw new HfFormatError(`${where}: missing tensor ${name}`);
    }
    if (t.shape.join(",") !== shape.join(",")) throw new HfFormatError(`${where}: ${name} has shape [${t.shape.join(", ")}] but the base model implies [${shape.join(", ")}] (an adapter for another model?)`);
  }
  for (const [name, { v }] of wanted) {
    const t = normalized.get(name);
    if (t) tf.tidy(() => v.assign(tf.transpose(tf.tensor(t.data, t.shape, "float32"))));
  }
}

/**
 * A PEFT folder → a Tandem adapter checkpoint in `out` over the base checkpoint `baseDir`
 * (tokenizer.json and HF extras copied from the base).
 */
export function importPeftAdapter(dir: string, out: string, baseDir: string): { adapters: number; lora: LoraConfig } {
  const where = join(dir, "adapter_config.json");
  const cfg = JSON.parse(readFileSync(where, "utf8")) as Record<string, unknown>;
  const lora = loraConfigFromPeft(cfg, where);
  const weightsPath = join(dir, "adapter_model.safetensors");
  if (!existsSync(weightsPath)) throw new HfFormatError(`${dir}: no adapter_model.safetensors (adapter_model.bin is not supported)`);
  const base = readManifest(baseDir);
  const scalarHead = cfg["task_type"] === "SEQ_CLS" ? (base.modelConfig.scalarHead === "none" ? "reward" : base.modelConfig.scalarHead) : base.modelConfig.scalarHead;
  const model = loadModel(baseDir, { scalarHead });
  try {
    if (!isLlama(model)) throw new HfFormatError(`${baseDir} is a GPT-2 model; LoRA adapters are for Llama-family models`);
    if (model.lora) mergeLora(model);
    attachLora(model, lora);
    if (model.lora) model.lora.base = resolve(baseDir);
    let tensors: Map<string, NamedArray>;
    try {
      tensors = decodeSafetensors(readFileSync(weightsPath)).tensors;
    } catch (error) {
      throw new HfFormatError(`${weightsPath}: ${error instanceof Error ? error.message : String(error)}`);
    }
    assignPeftTensors(model, tensors, weightsPath);
    mkdirSync(out, { recursive: true });
    saveCheckpoint(out, model, null, {
      step: 0, rngState: 0, trainConfig: { importedFrom: resolve(dir) }, tokenizerHash: base.tokenizerHash, ...(base.hf ? { hf: base.hf } : {}),
    });
    if (existsSync(join(baseDir, "tokenizer.json"))) copyFileSync(join(baseDir, "tokenizer.json"), join(out, "tokenizer.json"));
    return { adapters: model.lora?.adapters.size ?? 0, lora };
  } finally {
    disposeModel(model);
  }
}
