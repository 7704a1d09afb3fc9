// A model from a checkpoint folder, whatever it holds: full weights, or LoRA adapters over a base.
//
// An adapter checkpoint (manifest.lora) names its base: the checkpoint in `<dir>/base` when there is
// one (the trainer service fetches it there), else `manifest.lora.base` (the path the trainer read
// it from), else the `base` given by the caller. A base may itself be an adapter checkpoint (LoRA
// DPO after LoRA SFT): its adapters are merged into its weights first, so the chain resolves to
// one set of weights with the last adapters on top, switchable (withAdaptersOff) and mergeable.
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { type ModelConfig } from "../model/lm.ts";
import { initModel, isLlama, type LanguageModel } from "../model/lm.ts";
import { attachLora, mergeLora } from "../model/lora.ts";
import { CheckpointMismatchError, loadCheckpointInto, readManifest } from "./checkpoint.ts";

export interface LoadModelOptions {
  /** The head the model should have (a policy's checkpoint may start a reward or value model). */
  scalarHead?: ModelConfig["scalarHead"];
  /** Refuse a checkpoint trained with another tokenizer. */
  tokenizerHash?: string | null;
  /** Where the base of an adapter checkpoint is, when neither <dir>/base nor manifest.lora.base has it. */
  base?: string;
}

/** The folder holding an adapter checkpoint's base weights. */
export function baseDirOf(dir: string, recorded: string, override?: string): string {
  const candidates = [join(dir, "base"), isAbsolute(recorded) ? recorded : resolve(dir, recorded), ...(override ? [override] : [])];
  const found = candidates.find((c) => existsSync(join(c, "manifest.json")));
  if (!found) throw new CheckpointMismatchError(`adapter checkpoint ${dir}: its base is not at ${candidates.join(" or ")}`);
  return found;
}

/** Loads `dir` (and its base chain) into a fresh model with the wanted head; adapters stay attached. */
export function loadModel(dir: string, options: LoadModelOptions = {}): LanguageModel {
  const manifest = readManifest(dir);
  const scalarHead = options.scalarHead ?? manifest.modelConfig.scalarHead;
  const expect = { ...(options.tokenizerHash !== undefined ? { tokenizerHash: options.tokenizerHash } : {}), newHead: true };
  if (!manifest.lora) {
    const model = initModel({ ...manifest.modelConfig, scalarHead }, 0);
    loadCheckpointInto(dir, model, null, expect);
    return model;
  }
  // 1. the base, with earlier adapters merged into it
  const baseDir = baseDirOf(dir, manifest.lora.base, options.base);
  const model = loadModel(baseDir, { ...options, scalarHead });
  if (!isLlama(model)) throw new CheckpointMismatchError(`adapter checkpoint ${dir}: its base ${baseDir} is not a Llama-family model`);
  if (model.lora) mergeLora(model);
  // 2. this checkpoint's adapters on top (their shapes must fit the base: loadCheckpointInto checks)
  attachLora(model, manifest.lora.config);
  if (model.lora) model.lora.base = baseDir;
  try {
    loadCheckpointInto(dir, model, null, expect);
  } catch (error) {
    throw new CheckpointMismatchError(`adapter checkpoint ${dir} does not fit its base ${baseDir}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return model;
}
