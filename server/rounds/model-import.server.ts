/**
 * Registering a Hugging Face model folder that sits on the server's disk (a Llama, SmolLM2, Qwen2 or
 * GPT-2 checkpoint, or a PEFT LoRA adapter over a registered base) as a base model for rounds.
 *
 * The server does not load TensorFlow.js: the trainer CLI's `import-hf` converts the folder into a
 * checkpoint (and refuses an unsupported model_type, missing shards, a tokenizer that does not cover
 * the chat template, …, with the file and tensor named). Only folders under TANDEM_HF_IMPORT_DIR
 * can be read, so a researcher cannot make the server read arbitrary paths (decision trainer-012).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import type { Actor } from "../auth/actor.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Config } from "../config.server.ts";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import { checkpointManifestSchema } from "../../trainer/contract/checkpoint.ts";
import { linkAdapterBase } from "./jobs.server.ts";
import { modelDir, removeDir } from "./model-files.server.ts";

const CLI = path.resolve(import.meta.dirname, "../../trainer/cli.ts");
const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");

export const hfImportSchema = z.strictObject({
  /** A folder under TANDEM_HF_IMPORT_DIR (absolute, or relative to it). */
  path: z.string().trim().min(1, "Name the model folder.").max(1000),
  /** Shown in the registry; default: the folder's name. */
  name: z.string().trim().min(1).max(120).optional(),
  /** The project the model belongs to (optional: a base model may serve several). */
  projectId: id.optional(),
  /** For a PEFT adapter folder: the registered model it adapts. */
  baseModelId: id.optional(),
});
export type HfImportInput = z.input<typeof hfImportSchema>;

/** Where models may be imported from: TANDEM_HF_IMPORT_DIR, else <TANDEM_DATA_DIR>/hf-models. */
export function hfImportRoot(config: Pick<Config, "TANDEM_DATA_DIR" | "TANDEM_HF_IMPORT_DIR">): string {
  return path.resolve(config.TANDEM_HF_IMPORT_DIR ?? path.join(config.TANDEM_DATA_DIR, "hf-models"));
}

const invalid = (field: string, message: string) => new AppError("validation_failed", "The model was not imported.", [{ path: field, message }]);

/** The folder, resolved through symlinks, refused unless it lies inside the import root. */
async function folderInside(root: string, given: string): Promise<string> {
  const realRoot = await fs.realpath(root).catch(() => null);
  if (!realRoot) throw invalid("path", `the import folder ${root} does not exist on the server (set TANDEM_HF_IMPORT_DIR)`);
  const real = await fs.realpath(path.resolve(realRoot, given)).catch(() => null);
  if (!real) throw invalid("path", `no folder ${given} under ${realRoot}`);
  const relative = path.relative(realRoot, real);
  if (relative.startsWith("..") || path.isAbsolute(relative)) throw invalid("path", `must be a folder under ${realRoot} (TANDEM_HF_IMPORT_DIR)`);
  if (!(await fs.stat(real)).isDirectory()) throw invalid("path", `${given} is not a folder`);
  return real;
}

/** Runs `trainer/cli.ts import-hf` and returns its "done" line, or throws with its "failed" message. */
function runImport(args: string[], dataDir: string): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [...process.execArgv, CLI, "import-hf", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let done: Record<string, unknown> | null = null;
  let failure: string | null = null;
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event["type"] === "done") done = event;
      if (event["type"] === "failed") failure = String(event["message"] ?? "the import failed");
    } catch {
      // not one of the CLI's JSON lines
    }
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  return new Promise((resolve, reject) => {
    child.on("error", (error) => reject(new AppError("internal", `could not run the trainer CLI: ${error.message}`)));
    child.on("close", (code) => {
      if (code === 0 && done) return resolve(done);
      // The folder's own problem (unsupported model_type, missing shard, …) goes back to the researcher; server paths do not.
      const message = (failure ?? (stderr.trim().split("\n").at(-1) || `exit code ${code}`)).replaceAll(dataDir, "<data>");
      reject(failure ? invalid("path", message) : new AppError("internal", `The import failed: ${message}`));
    });
  });
}

/** Converts and registers the folder; returns the new model's registry entry. */
export async function importHfModel(db: Db, config: Pick<Config, "TANDEM_DATA_DIR" | "TANDEM_HF_IMPORT_DIR">, who: { actor?: Actor | null; actorUserId?: string }, input: unknown) {
  const parsed = hfImportSchema.safeParse(input);
  if (!parsed.success) throw AppError.fromZod(parsed.error, "The model was not imported.");
  const body = parsed.data;
  const folder = await folderInside(hfImportRoot(config), body.path);
  const adapter = await fs.stat(path.join(folder, "adapter_config.json")).then(() => true, () => false);
  if (!adapter && !(await fs.stat(path.join(folder, "config.json")).then(() => true, () => false))) throw invalid("path", `${body.path} holds no config.json (nor adapter_config.json): not a Hugging Face model folder`);
  if (adapter && !body.baseModelId) throw invalid("baseModelId", "a LoRA adapter folder needs the registered model it adapts");
  if (body.projectId && !(await db.selectFrom("projects").select("id").where("id", "=", body.projectId).executeTakeFirst())) throw invalid("projectId", "no such project");
  let base: { storage_key: string; external_uri: string | null } | undefined;
  if (body.baseModelId) {
    base = await db.selectFrom("models").select(["storage_key", "external_uri"]).where("id", "=", body.baseModelId).executeTakeFirst();
    if (!base || base.external_uri) throw invalid("baseModelId", "no such model in Tandem's registry");
  }

  // 1. convert into a staging folder, 2. register and move it into place in one transaction
  const storageKey = `import-${Date.now()}-${randomBytes(4).toString("hex")}`;
  const staging = path.join(config.TANDEM_DATA_DIR, "staging", storageKey);
  await fs.mkdir(path.dirname(staging), { recursive: true });
  try {
    const done = await runImport(["--hf", folder, "--out", staging, ...(base ? ["--base", modelDir(config.TANDEM_DATA_DIR, base.storage_key)] : [])], config.TANDEM_DATA_DIR);
    const manifest = checkpointManifestSchema.parse(JSON.parse(await fs.readFile(path.join(staging, "manifest.json"), "utf8")));
    const name = body.name ?? path.basename(folder);
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto("models")
        .values({
          project_id: body.projectId ?? null, round_id: null, parent_id: body.baseModelId ?? null, name, kind: "base",
          storage_key: storageKey, config: JSON.stringify(manifest), metrics: JSON.stringify({}),
        })
        .returning(["id", "name", "kind", "parent_id", "created_at"])
        .executeTakeFirstOrThrow();
      const summary = {
        architecture: "architecture" in manifest.modelConfig ? manifest.modelConfig.modelType : "gpt2",
        params: done["params"] ?? null,
        chatTemplate: done["chatTemplate"] ?? null,
        ...(manifest.lora ? { adapter: { baseModelId: body.baseModelId, ...manifest.lora.config } } : {}),
      };
      await recordAudit(trx, { ...who, action: "model.import", target: `model:${row.id}`, details: { path: path.relative(hfImportRoot(config), folder), ...summary } });
      // last: the folder moves into place only when everything else is written (and moves back if linking fails)
      const to = modelDir(config.TANDEM_DATA_DIR, storageKey);
      await fs.mkdir(path.dirname(to), { recursive: true });
      await fs.rename(staging, to);
      try {
        if (base && body.baseModelId) await linkAdapterBase(trx, config.TANDEM_DATA_DIR, to, body.baseModelId);
      } catch (error) {
        await fs.rename(to, staging);
        throw error;
      }
      return { ...row, ...summary };
    });
  } finally {
    await removeDir(staging);
  }
}
