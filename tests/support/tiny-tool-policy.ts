/**
 * A registered policy that calls the calculator: the real trainer fits a tokenizer and trains a
 * small GPT on tool transcripts (trainer/testing/tool-policy.ts) until greedy decoding reproduces
 * them, and the checkpoint is registered the way a finished round registers one, so the playground
 * and /v1/chat/completions serve it.
 */
import fs from "node:fs";
import path from "node:path";
import type { Db } from "../../server/db/database.server.ts";
import { modelDir } from "../../server/rounds/model-files.server.ts";
import { trainToolPolicy } from "../../trainer/testing/tool-policy.ts";

/** Trains the policy once into `dataDir` and registers it in each project given; returns the model ids in that order. */
export async function registerTinyToolPolicy(db: Db, dataDir: string, projectIds: string[]): Promise<string[]> {
  const trained = await trainToolPolicy(fs.mkdtempSync(path.join(dataDir, "tool-policy-")));
  const ids: string[] = [];
  for (const projectId of projectIds) {
    const storageKey = `tool-policy-${process.pid}-${Date.now()}-${ids.length}`;
    const out = modelDir(dataDir, storageKey);
    fs.mkdirSync(out, { recursive: true });
    for (const name of ["model.safetensors", "manifest.json", "tokenizer.json"]) fs.copyFileSync(path.join(trained, name), path.join(out, name));
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as Record<string, unknown>;
    const row = await db
      .insertInto("models")
      .values({ project_id: projectId, round_id: null, parent_id: null, name: "tiny tool policy", kind: "policy", storage_key: storageKey, config: JSON.stringify(manifest) })
      .returning("id")
      .executeTakeFirstOrThrow();
    ids.push(row.id);
  }
  return ids;
}
