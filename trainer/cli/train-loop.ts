// The run loop shared by the pretrain, SFT, reward, DPO and KTO jobs, and what resuming one needs
// (the rollout loops of PPO, GRPO and RLOO use the resume, replay and periodic-checkpoint parts).
//
// Reads top to bottom: 1. check that a checkpoint belongs to this job → 2. load it (weights,
// AdamW moments and t, step) → 3. replay the data order up to its step → 4. step, ask the guard
// (DPO/KTO: the sampled KL check), log, checkpoint every `checkpointEvery` steps → 5. the final
// checkpoint in <out> (after an early stop: the kept weights, and an "early_stop" line).
//
// Periodic checkpoints go to <out>/checkpoints/step-<N>, written into a temporary folder and
// renamed, so a "checkpoint" event only ever names a complete folder (the trainer service uploads
// it from the event). The final one goes to <out> itself, where `model.checkpoint` expects it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { CheckpointMismatchError, loadCheckpointInto, readManifest } from "../checkpoint/checkpoint.ts";
import { type LanguageModel } from "../model/lm.ts";
import { trainableParams } from "../model/lora.ts";
import { type AdamWState } from "../optim/adamw.ts";
import { createRng, type Rng } from "../random/rng.ts";
import * as tf from "@tensorflow/tfjs-core";
import { shuffledBatches } from "../data/batches.ts";
import { createProgress, type ProgressStream } from "./progress.ts";
import { type JobLogger } from "./logger.ts";
import { EARLY_STOP_EVENT } from "../contract/kl-guard.ts";
import { type EarlyStop, type LoopGuard } from "../rollouts/kl-guard.ts";

/** What the loop needs of a trainer (SftTrainer, RewardTrainer and DpoTrainer all fit). */
export interface SteppingTrainer<B> {
  model: LanguageModel;
  optimizer: AdamWState;
  step: number;
  trainStep(batch: B): Record<string, number>;
  /** The same step with its reads of the device awaited (SFT; decision trainer-033); the loop prefers it. */
  trainStepAsync?(batch: B): Promise<Record<string, number>>;
}

export interface LoopConfig {
  steps: number;
  batchSize: number;
  seed: number;
  checkpointEvery: number;
  keepCheckpoints: number;
}

/**
 * Train settings that may differ between a run and its resumption: they do not change any step.
 * (A job adds its own: DPO's and KTO's KL check only measures between steps.)
 */
const MAY_CHANGE_ON_RESUME = new Set(["steps", "rollouts", "checkpointEvery", "keepCheckpoints"]);

/** sha256 over the tokenized examples: the same file under another tokenizer or template differs. */
export function hashExamples(items: unknown[]): string {
  const hash = createHash("sha256");
  for (const item of items) hash.update(JSON.stringify(item)).update("\n");
  return hash.digest("hex");
}

/** First path where two JSON values differ, e.g. "optim.lr", or null. */
export function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (isDeepStrictEqual(a, b)) return null;
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    for (const key of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
      const d = firstDifference(ra[key], rb[key], path ? `${path}.${key}` : key);
      if (d) return d;
    }
  }
  return path || "(root)";
}

export interface ResumePoint {
  dir: string;
  step: number;
  rngState: number;
  /** The manifest's resumeState (PPO's counters), {} when it has none. */
  extra: Record<string, number>;
}

// 1.–2. A checkpoint resumes this job only if it was written by the same kind of job, over the same
// tokenized examples, with the same train settings (bar steps and checkpoint cadence); otherwise
// the "same losses as an uninterrupted run" promise would silently not hold. Loads the weights and
// AdamW state into `target`; the caller restores its step counter from the returned point.
export function resumeInto(
  dir: string,
  target: { model: LanguageModel; optimizer: AdamWState },
  expect: { kind: string; dataHash: string; tokenizerHash: string; train: Record<string, unknown>; mayChange?: string[] },
): ResumePoint {
  if (!existsSync(join(dir, "manifest.json"))) throw new CheckpointMismatchError(`resume: ${dir} is not a checkpoint (no manifest.json)`);
  const manifest = readManifest(dir);
  if (manifest.kind !== undefined && manifest.kind !== expect.kind)
    throw new CheckpointMismatchError(`resume: ${dir} was written by a '${manifest.kind}' job, not '${expect.kind}'`);
  if (manifest.dataHash !== undefined && manifest.dataHash !== expect.dataHash)
    throw new CheckpointMismatchError(`resume: ${dir} was trained on other data (the tokenized examples differ)`);
  const mayChange = new Set([...MAY_CHANGE_ON_RESUME, ...(expect.mayChange ?? [])]);
  const strip = (c: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(c).filter(([k]) => !mayChange.has(k)));
  const diff = firstDifference(strip(manifest.trainConfig), strip(expect.train));
  if (diff) {
    const at = (c: unknown): string => JSON.stringify(diff.split(".").reduce<unknown>((x, k) => (x as Record<string, unknown> | undefined)?.[k], c));
    throw new CheckpointMismatchError(`resume: train.${diff} is ${at(manifest.trainConfig)} in ${dir} but ${at(expect.train)} in this job`);
  }
  loadCheckpointInto(dir, target.model, target.optimizer, { tokenizerHash: expect.tokenizerHash });
  return { dir, step: manifest.step, rngState: manifest.rngState, extra: manifest.resumeState ?? {} };
}

// 3. The data order is a function of the seed and the step: replaying `step` batches from a fresh
// RNG reproduces the generator's position inside its epoch, which the RNG state alone does not
// (it is drawn once per epoch). The replayed state must equal the saved one.
export function batchesFrom<T>(
  items: T[], batchSize: number, seed: number, resume: { dir: string; batchesDrawn: number; rngState: number } | null,
): { batches: Generator<T[]>; rng: Rng } {
  const rng = createRng(seed);
  const batches = shuffledBatches(items, batchSize, rng);
  if (resume) {
    for (let s = 0; s < resume.batchesDrawn; s++) batches.next();
    if (rng.state() !== resume.rngState)
      throw new CheckpointMismatchError(`resume: the data order does not replay to the RNG state saved in ${resume.dir} (seed, batch size or data changed?)`);
  }
  return { batches, rng };
}

/** Numbers of the periodic checkpoints `<prefix>-N` in <out>/checkpoints. */
function periodicSteps(root: string, prefix: string): number[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => new RegExp(`^${prefix}-(\\d+)$`).exec(name)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number);
}

/** Writes a complete checkpoint (weights, optimizer, manifest, tokenizer.json) into `dir`. */
export type SaveCheckpoint = (dir: string, step: number, rngState: number) => void;

/** `prefix` names what `step` counts: "step" (optimizer steps) or "rollout" (PPO). */
export function writePeriodicCheckpoint(out: string, step: number, rngState: number, keep: number, save: SaveCheckpoint, prefix = "step"): string {
  const root = join(out, "checkpoints");
  mkdirSync(root, { recursive: true });
  const dir = join(root, `${prefix}-${step}`);
  const tmp = join(root, `.${prefix}-${step}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  save(tmp, step, rngState);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  // keep the newest `keep` at or below this step; later ones (from an earlier, longer run) are left
  if (keep > 0) {
    const older = periodicSteps(root, prefix).filter((s) => s <= step).sort((a, b) => b - a);
    for (const s of older.slice(keep)) rmSync(join(root, `${prefix}-${s}`), { recursive: true, force: true });
  }
  return dir;
}

/**
 * Saving reads weights and moments synchronously. webgpu cannot, except values it has already read back
 * (it keeps them on the CPU until the tensor changes), so on webgpu they are read back here first: what a save
 * writes, every weight or a LoRA model's adapters and head (trainableParams), and the moments. Call it right before
 * a save, with every model the save writes (PPO: the policy and the value model).
 */
export async function readBackForSave(models: LanguageModel[], optimizer: AdamWState | null): Promise<void> {
  if (tf.getBackend() !== "webgpu") return;
  const tensors = [...models.flatMap((m) => [...trainableParams(m).values()]), ...(optimizer ? [...optimizer.m.values(), ...optimizer.v.values()] : [])];
  await Promise.all(tensors.map((t) => t.data()));
}

// 4.–5. One optimizer step per batch until `steps`; each metrics line as it comes.
export async function runTrainLoop<T>(o: {
  trainer: SteppingTrainer<T[]>;
  items: T[];
  config: LoopConfig;
  out: string;
  log: JobLogger;
  save: SaveCheckpoint;
  resume: ResumePoint | null;
  label: string;
  progressStream?: ProgressStream;
  /** Runs after each step (its metrics join the step's line); may stop training early. */
  guard?: LoopGuard;
}): Promise<{ rngState: number; earlyStop: EarlyStop | null }> {
  const { trainer, config, log } = o;
  const { batches, rng } = batchesFrom(o.items, config.batchSize, config.seed, o.resume && { ...o.resume, batchesDrawn: o.resume.step });
  if (o.resume) trainer.step = o.resume.step;
  let lastCheckpoint: string | null = o.resume?.dir ?? null;
  const bar = createProgress(o.label, config.steps, o.progressStream ? { stream: o.progressStream } : {});
  // a resume point already over the KL target trains no further
  let earlyStop: EarlyStop | null = (await o.guard?.begin(trainer.step)) ?? null;
  while (!earlyStop && trainer.step < config.steps) {
    let metrics: Record<string, number>;
    try {
      const batch = batches.next().value as T[];
      metrics = trainer.trainStepAsync ? await trainer.trainStepAsync(batch) : trainer.trainStep(batch);
    } catch (error) {
      // name the last good checkpoint, so a NaN loss says where to restart from
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message} (last checkpoint: ${lastCheckpoint ?? "none; set train.checkpointEvery"})`, { cause: error });
    }
    if (o.guard) {
      const checked = await o.guard.afterStep(trainer.step, trainer.step === config.steps);
      metrics = { ...metrics, ...checked.metrics };
      earlyStop = checked.stop;
    }
    // the bar first: the metrics line redraws it when stdout and stderr share a terminal
    bar.update(trainer.step, Number.isFinite(metrics["loss"]) ? `loss ${metrics["loss"]?.toFixed(4)}` : undefined);
    log.event("metrics", { ...metrics });
    if (earlyStop) {
      trainer.step = earlyStop.keptStep; // the guard put those weights back
      break;
    }
    // the last step's checkpoint is the final one in <out>, written below
    if (config.checkpointEvery > 0 && trainer.step % config.checkpointEvery === 0 && trainer.step < config.steps) {
      await readBackForSave([trainer.model], trainer.optimizer);
      lastCheckpoint = writePeriodicCheckpoint(o.out, trainer.step, rng.state(), config.keepCheckpoints, o.save);
      log.event("checkpoint", { step: trainer.step, dir: lastCheckpoint });
    }
  }
  bar.finish();
  await readBackForSave([trainer.model], trainer.optimizer);
  o.save(o.out, trainer.step, rng.state());
  log.event("checkpoint", { step: trainer.step, dir: o.out, final: true });
  if (earlyStop) log.event(EARLY_STOP_EVENT, { ...earlyStop, dir: o.out });
  return { rngState: rng.state(), earlyStop };
}
