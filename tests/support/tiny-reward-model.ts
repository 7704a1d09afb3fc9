/**
 * A registered reward model small enough to train in a test: the real trainer trains a byte-level
 * BPE tokenizer and a one-layer GPT reward model on preferences where an answer saying "good"
 * beats one saying "bad", and the checkpoint is registered the way a finished round registers one.
 * So it scores "good" answers above "bad" ones, and mixed answers in between (small margins).
 */
import fs from "node:fs";
import path from "node:path";
import { runJob } from "../../trainer/cli/run-job.ts";
import { createMemoryLogger } from "../../trainer/cli/logger.ts";
import { jobSpecSchema } from "../../trainer/contract/job.ts";
import type { Db } from "../../server/db/database.server.ts";
import { modelDir } from "../../server/rounds/model-files.server.ts";

export const GOOD = "good good good answer";
export const BAD = "bad bad bad answer";

/**
 * Trains it into a folder of its own (register copies of it with registerRewardModel). Another
 * seed or fewer steps give another model of the same data (a weaker "earlier round"), for tests
 * that need two reward models that disagree.
 */
export async function trainTinyRewardModel(dataDir: string, options: { seed?: number; steps?: number } = {}): Promise<{ dir: string }> {
  const work = fs.mkdtempSync(path.join(dataDir, "tiny-rm-"));
  const words = "good bad answer question about the sky sea tree one two three fine so".split(" ");
  const sentence = (i: number, n: number) => Array.from({ length: n }, (_, j) => words[(i * 5 + j * 3) % words.length]).join(" ");
  fs.writeFileSync(path.join(work, "corpus.txt"), [...Array.from({ length: 40 }, (_, i) => sentence(i, 8)), GOOD, BAD].join("\n"));
  const prompts = Array.from({ length: 8 }, (_, i) => `question ${sentence(i, 3)}`);
  fs.writeFileSync(path.join(work, "prefs.jsonl"), prompts.map((prompt) => JSON.stringify({ prompt, chosen: GOOD, rejected: BAD })).join("\n") + "\n");
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path.join(work, "corpus.txt")], vocabSize: 300, out: path.join(work, "tok"), backend: "wasm" }), log);
  const dir = path.join(work, "rm");
  await runJob(
    jobSpecSchema.parse({
      schemaVersion: 1, kind: "reward", data: path.join(work, "prefs.jsonl"), tokenizer: path.join(work, "tok", "tokenizer.json"),
      model: { init: { vocabSize: 300, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: options.seed ?? 3 },
      train: { steps: options.steps ?? 30, batchSize: 4, optim: { lr: 1e-2, warmupSteps: 0 } }, out: dir, backend: "wasm",
    }),
    log,
  );
  if (!fs.existsSync(path.join(dir, "tokenizer.json"))) fs.copyFileSync(path.join(work, "tok", "tokenizer.json"), path.join(dir, "tokenizer.json"));
  return { dir };
}

let copies = 0;

/**
 * Registers a copy of the trained reward model (storage keys are unique per model row) in a project;
 * with roundId, as that round's reward model.
 */
export async function registerRewardModel(db: Db, dataDir: string, sourceDir: string, projectId: string, roundId: string | null = null): Promise<string> {
  const storageKey = `tiny-rm-copy-${process.pid}-${Date.now()}-${++copies}`;
  fs.cpSync(sourceDir, modelDir(dataDir, storageKey), { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(sourceDir, "manifest.json"), "utf8")) as Record<string, unknown>;
  const row = await db
    .insertInto("models")
    .values({ project_id: projectId, round_id: roundId, parent_id: null, name: "tiny test reward model", kind: "reward", storage_key: storageKey, config: JSON.stringify(manifest) })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}
