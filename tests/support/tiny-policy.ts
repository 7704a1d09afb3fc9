/**
 * A registered policy small enough to make in a test: the real trainer trains a byte-level BPE
 * tokenizer and one SFT step of a one-layer GPT, and the checkpoint is registered in the model
 * registry the way a finished round registers one, so Tandem's /v1 endpoint can serve it.
 */
import fs from "node:fs";
import path from "node:path";
import { runJob } from "../../trainer/cli/run-job.ts";
import { createMemoryLogger } from "../../trainer/cli/logger.ts";
import { jobSpecSchema } from "../../trainer/contract/job.ts";
import type { Db } from "../../server/db/database.server.ts";
import { modelDir } from "../../server/rounds/model-files.server.ts";

/** `blockSize`: the context; a long one makes answers that take seconds to sample (streaming, cancelling). */
export async function registerTinyPolicy(db: Db, dataDir: string, projectId: string, options: { blockSize?: number } = {}): Promise<string> {
  const work = fs.mkdtempSync(path.join(dataDir, "tiny-"));
  const words = "the answer is two three four five six seven eight nine ten plus minus times what".split(" ");
  const sentence = (i: number, n: number) => Array.from({ length: n }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" ");
  fs.writeFileSync(path.join(work, "corpus.txt"), Array.from({ length: 40 }, (_, i) => sentence(i, 9)).join("\n"));
  fs.writeFileSync(
    path.join(work, "sft.jsonl"),
    Array.from({ length: 4 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: sentence(i, 4) }, { role: "assistant", content: sentence(i + 1, 5) }] })).join("\n") + "\n",
  );
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path.join(work, "corpus.txt")], vocabSize: 300, out: path.join(work, "tok"), backend: "wasm" }), log);
  const storageKey = `tiny-${process.pid}-${Date.now()}`;
  const out = modelDir(dataDir, storageKey);
  await runJob(
    jobSpecSchema.parse({
      schemaVersion: 1, kind: "sft", data: path.join(work, "sft.jsonl"), tokenizer: path.join(work, "tok", "tokenizer.json"),
      model: { init: { vocabSize: 300, blockSize: options.blockSize ?? 96, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: 5 },
      train: { steps: 1, batchSize: 2, optim: { lr: 1e-3, warmupSteps: 0 } }, out, backend: "wasm",
    }),
    log,
  );
  if (!fs.existsSync(path.join(out, "tokenizer.json"))) fs.copyFileSync(path.join(work, "tok", "tokenizer.json"), path.join(out, "tokenizer.json"));
  const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as Record<string, unknown>;
  const row = await db
    .insertInto("models")
    .values({ project_id: projectId, round_id: null, parent_id: null, name: "tiny test policy", kind: "policy", storage_key: storageKey, config: JSON.stringify(manifest) })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}
