// `export-hf` and `import-hf`: between a Tandem checkpoint directory and a Hugging Face GPT-2 folder.
//   export-hf --checkpoint <ckpt dir> --out <hf dir>   model.safetensors + config.json + tokenizer.json
//   import-hf --hf <hf dir> --out <ckpt dir>           a checkpoint (no optimizer state) usable as `model.checkpoint`
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initBackend } from "../backend/select-backend.ts";
import { loadCheckpointInto, readManifest, saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { exportHfGpt2, importHfGpt2, tokenizerHashOf } from "../checkpoint/hf-gpt2.ts";
import { countParams, disposeGpt, initGpt } from "../model/gpt.ts";
import { SPECIAL_TOKENS } from "../tokenizer/bpe-tokenizer.ts";
import { type JobLogger } from "./logger.ts";

/** Ids of `<|endoftext|>` and `<|pad|>` in a tokenizer.json's added tokens (or vocab). */
function specialIds(tokenizerJson: string | null, vocabSize: number): { bos: number; eos: number; pad: number | null } {
  if (tokenizerJson === null) return { bos: vocabSize - 1, eos: vocabSize - 1, pad: null };
  const json = JSON.parse(tokenizerJson) as { added_tokens?: { id: number; content: string }[]; model?: { vocab?: Record<string, number> } };
  const idOf = (content: string): number | undefined =>
    json.added_tokens?.find((t) => t.content === content)?.id ?? json.model?.vocab?.[content];
  const eos = idOf(SPECIAL_TOKENS.eos) ?? vocabSize - 1;
  return { bos: eos, eos, pad: idOf(SPECIAL_TOKENS.pad) ?? null };
}

export async function exportHfCommand(checkpoint: string, out: string, log: JobLogger): Promise<void> {
  await initBackend();
  const manifest = readManifest(checkpoint);
  const model = initGpt(manifest.modelConfig, 0);
  try {
    loadCheckpointInto(checkpoint, model, null);
    const tokPath = join(checkpoint, "tokenizer.json");
    const tokenizerJson = existsSync(tokPath) ? readFileSync(tokPath, "utf8") : null;
    if (tokenizerJson !== null && manifest.tokenizerHash !== null && tokenizerHashOf(tokenizerJson) !== manifest.tokenizerHash)
      throw new Error(`${tokPath} is not the tokenizer this checkpoint was trained with`);
    exportHfGpt2(out, model, { ids: specialIds(tokenizerJson, model.config.vocabSize), ...(tokenizerJson !== null ? { tokenizerJson } : {}) });
    log.event("done", { kind: "export-hf", out, params: countParams(model.config), tokenizer: tokenizerJson !== null });
  } finally {
    disposeGpt(model);
  }
}

export async function importHfCommand(hfDir: string, out: string, log: JobLogger): Promise<void> {
  await initBackend();
  const { model, tokenizerJson } = importHfGpt2(hfDir);
  try {
    mkdirSync(out, { recursive: true });
    saveCheckpoint(out, model, null, {
      step: 0, rngState: 0, trainConfig: { importedFrom: hfDir }, tokenizerHash: tokenizerJson === null ? null : tokenizerHashOf(tokenizerJson),
    });
    if (tokenizerJson !== null) writeFileSync(join(out, "tokenizer.json"), tokenizerJson);
    log.event("done", { kind: "import-hf", out, config: model.config, params: countParams(model.config), tokenizer: tokenizerJson !== null });
  } finally {
    disposeGpt(model);
  }
}
