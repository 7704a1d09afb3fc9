// Resuming a job from a periodic checkpoint gives the same next-step metrics as never stopping,
// through runJob, for every job kind that resumes (pretrain — also on a weighted mix with held-out sets —, SFT,
// reward, DPO, PPO).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import { readManifest } from "../checkpoint/checkpoint.ts";
import { type JobLogger } from "./logger.ts";
import { runJob } from "./run-job.ts";
import { runTrainLoop } from "./train-loop.ts";
import { createMemoryLogger } from "./logger.ts";
import { createRng } from "../random/rng.ts";

let dir = "";
const path = (name: string): string => join(dir, name);
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const tiny = { vocabSize: 320, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 };

type Event = { type: string; [k: string]: unknown };

/** Keeps events; on each "checkpoint" line, checks that the folder it names is already complete. */
function checkingLogger(): JobLogger & { events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    event(type, fields = {}) {
      if (type === "checkpoint") {
        const d = String(fields["dir"]);
        for (const f of ["manifest.json", "model.safetensors", "optimizer.safetensors", "tokenizer.json"]) assert.ok(existsSync(join(d, f)), `${d}/${f} before the event`);
        assert.equal(readManifest(d).step, fields["step"]);
      }
      events.push({ type, ...fields });
    },
  };
}

async function run(spec: JobSpecInput): Promise<Event[]> {
  const log = checkingLogger();
  await runJob(jobSpecSchema.parse(spec), log);
  return log.events;
}

/** Metrics lines without wall-clock fields. */
const metricsOf = (events: Event[]): Event[] => events.filter((e) => e.type === "metrics");

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tandem-resume-test-"));
  const rng = createRng(5);
  const words = "the labeler ranks four answers and writes a helpful honest reply about the reward model".split(" ");
  const sentence = (n: number): string => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(" ");
  writeFileSync(path("corpus.txt"), Array.from({ length: 60 }, () => sentence(10)).join("\n"));
  // 5 records with batch size 2: an epoch is 2 batches, so step 2 → 3 crosses an epoch boundary
  writeFileSync(path("sft.jsonl"), jsonl(Array.from({ length: 5 }, () => ({ messages: [{ role: "user", content: sentence(3) }, { role: "assistant", content: sentence(5) }] }))));
  writeFileSync(path("prefs.jsonl"), jsonl(Array.from({ length: 5 }, () => ({ prompt: sentence(3), chosen: sentence(4), rejected: sentence(3) }))));
  writeFileSync(path("prompts.jsonl"), jsonl(Array.from({ length: 3 }, () => ({ prompt: sentence(3) }))));
  // a second source and a held-out set of {"text"} documents, as a corpus round's parts arrive
  writeFileSync(path("docs.jsonl"), jsonl(Array.from({ length: 20 }, () => ({ text: sentence(12) }))));
  writeFileSync(path("held.jsonl"), jsonl(Array.from({ length: 4 }, () => ({ text: sentence(12) }))));
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [path("corpus.txt")], vocabSize: 320, out: path("tok") });
  await run({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer: path("tok/tokenizer.json"), model: { init: tiny, seed: 1 }, train: { steps: 2, batchSize: 2 }, out: path("base"), backend: "wasm" });
});
after(() => rmSync(dir, { recursive: true, force: true }));

// 5 steps with periodic checkpoints at steps 2 and 4; the interrupted run resumes from step-2
const train = { steps: 5, batchSize: 2, checkpointEvery: 2, keepCheckpoints: 0, optim: { lr: 3e-3, warmupSteps: 1 } };

type ResumableSpec = Extract<JobSpecInput, { kind: "pretrain" | "sft" | "reward" | "dpo" }>;
const jobs: { name: string; spec: (out: string) => ResumableSpec }[] = [
  { name: "pretrain", spec: (out) => ({ schemaVersion: 1, kind: "pretrain", corpus: [path("corpus.txt")], tokenizer: path("tok/tokenizer.json"), model: { init: tiny, seed: 2 }, windowLength: 32, train, out, backend: "wasm" }) },
  { name: "sft", spec: (out) => ({ schemaVersion: 1, kind: "sft", data: path("sft.jsonl"), tokenizer: path("tok/tokenizer.json"), model: { checkpoint: path("base") }, train, out, backend: "wasm" }) },
  { name: "reward", spec: (out) => ({ schemaVersion: 1, kind: "reward", data: path("prefs.jsonl"), tokenizer: path("tok/tokenizer.json"), model: { checkpoint: path("base") }, train, out, backend: "wasm" }) },
  { name: "dpo", spec: (out) => ({ schemaVersion: 1, kind: "dpo", data: path("prefs.jsonl"), tokenizer: path("tok/tokenizer.json"), model: { checkpoint: path("base") }, train, out, backend: "wasm" }) },
];

for (const job of jobs) {
  test(`${job.name}: resuming from a periodic checkpoint repeats the uninterrupted run's metrics exactly`, async () => {
    const whole = await run(job.spec(path(`${job.name}-whole`)));
    const wholeMetrics = metricsOf(whole);
    assert.deepEqual(wholeMetrics.map((m) => m["step"]), [1, 2, 3, 4, 5]);
    // periodic checkpoints at 2 and 4 under checkpoints/, then the final one in <out>
    const checkpoints = whole.filter((e) => e.type === "checkpoint");
    assert.deepEqual(checkpoints.map((e) => [e["step"], e["dir"]]), [
      [2, path(`${job.name}-whole/checkpoints/step-2`)],
      [4, path(`${job.name}-whole/checkpoints/step-4`)],
      [5, path(`${job.name}-whole`)],
    ]);
    assert.equal(readManifest(path(`${job.name}-whole`)).kind, job.name);

    // an interrupted run: resume from step 2 into another folder; the next steps must be identical
    const resumed = await run({ ...job.spec(path(`${job.name}-resumed`)), resume: path(`${job.name}-whole/checkpoints/step-2`) });
    const start = resumed.find((e) => e.type === "start");
    assert.equal(start?.["resumedAtStep"], 2);
    assert.deepEqual(metricsOf(resumed), wholeMetrics.slice(2));
    assert.equal(readManifest(path(`${job.name}-resumed`)).step, 5);
  });
}

test("pretrain on a weighted mix with held-out sets (a corpus round's step) resumes to the same steps and the same held-out loss", async () => {
  const spec = (out: string): JobSpecInput => ({
    schemaVersion: 1, kind: "pretrain", tokenizer: path("tok/tokenizer.json"), model: { init: tiny, seed: 2 }, windowLength: 32, train, out, backend: "wasm",
    mix: [{ name: "plain", files: [path("corpus.txt")], weight: 1 }, { name: "docs", files: [path("docs.jsonl")], weight: 3 }],
    eval: [{ name: "held", files: [path("held.jsonl")] }],
  });
  const whole = await run(spec(path("mix-whole")));
  const resumed = await run({ ...spec(path("mix-resumed")), resume: path("mix-whole/checkpoints/step-2") } as JobSpecInput);
  assert.equal(resumed.find((e) => e.type === "start")?.["resumedAtStep"], 2);
  // steps 3–5, then the held-out line: its "before" is the fresh model of the same seed, its "after" the same weights
  const wholeMetrics = metricsOf(whole);
  assert.deepEqual(wholeMetrics.map((m) => m["step"]), [1, 2, 3, 4, 5, undefined]);
  assert.ok(Number.isFinite(wholeMetrics.at(-1)?.["eval/held/loss_before"]));
  assert.deepEqual(metricsOf(resumed), wholeMetrics.slice(2));
  assert.equal(readManifest(path("mix-resumed")).step, 5);
  assert.deepEqual(JSON.parse(readFileSync(path("mix-resumed/lm-eval.json"), "utf8")), JSON.parse(readFileSync(path("mix-whole/lm-eval.json"), "utf8")));
});

test("ppo: resuming at a periodic checkpoint repeats rollouts 3–4 exactly (adaptive β, value model, shuffles)", async () => {
  await run({ schemaVersion: 1, kind: "reward", data: path("prefs.jsonl"), tokenizer: path("tok/tokenizer.json"), model: { checkpoint: path("base") }, train: { steps: 2, batchSize: 2 }, out: path("rm"), backend: "wasm" });
  const spec = (out: string): JobSpecInput => ({
    schemaVersion: 1, kind: "ppo", prompts: path("prompts.jsonl"), tokenizer: path("tok/tokenizer.json"), model: { checkpoint: path("base") }, rewardModel: { checkpoint: path("rm") },
    train: { rollouts: 4, rolloutBatchSize: 2, miniBatchSize: 1, ppoEpochs: 2, responseLength: 4, temperature: 1, klTarget: 0.01, klControl: "adaptive", klHorizon: 4, checkpointEvery: 2, keepCheckpoints: 0, optim: { lr: 1e-2 } },
    out, backend: "wasm",
  });
  const whole = await run(spec(path("ppo-whole")));
  const wholeMetrics = metricsOf(whole);
  assert.deepEqual(wholeMetrics.map((m) => m["rollout"]), [1, 2, 3, 4]);
  assert.notEqual(wholeMetrics[2]?.["kl_coef"], wholeMetrics[0]?.["kl_coef"], "β adapted, so restoring it matters");
  assert.deepEqual(whole.filter((e) => e.type === "checkpoint").map((e) => e["dir"]), [path("ppo-whole/checkpoints/rollout-2"), path("ppo-whole")]);
  const resumed = await run({ ...spec(path("ppo-resumed")), resume: path("ppo-whole/checkpoints/rollout-2") } as JobSpecInput);
  assert.equal(resumed.find((e) => e.type === "start")?.["resumedAtRollout"], 2);
  assert.deepEqual(metricsOf(resumed), wholeMetrics.slice(2));
  assert.equal(readManifest(path("ppo-resumed/value")).modelConfig.scalarHead, "value");
});

test("a checkpoint of another job, other data or other train settings is refused, naming what differs", async () => {
  const sftDir = path("sft-whole/checkpoints/step-2");
  assert.ok(existsSync(sftDir), "the sft test above ran first");
  const sft = jobs[1]?.spec(path("refused")) as Extract<JobSpecInput, { kind: "sft" }>;
  await assert.rejects(run({ ...sft, resume: sftDir, train: { ...train, optim: { lr: 1e-3, warmupSteps: 1 } } }), /train\.optim\.lr is 0\.003 in .* but 0\.001 in this job/);
  await assert.rejects(run({ ...sft, resume: sftDir, train: { ...train, batchSize: 3 } }), /train\.batchSize is 2/);
  await assert.rejects(run({ ...(jobs[3]?.spec(path("refused")) as ResumableSpec), resume: sftDir }), /written by a 'sft' job, not 'dpo'/);
  writeFileSync(path("sft-other.jsonl"), jsonl([{ messages: [{ role: "user", content: "the model" }, { role: "assistant", content: "ranks answers" }] }]));
  await assert.rejects(run({ ...sft, data: path("sft-other.jsonl"), resume: sftDir }), /trained on other data/);
  await assert.rejects(run({ ...sft, resume: path("nowhere") }), /not a checkpoint/);
  // more steps with the default totalSteps would stretch the schedule mid-run: refused
  await assert.rejects(run({ ...sft, resume: sftDir, train: { ...train, steps: 6 } }), /train\.optim\.totalSteps is 5 in .* but 6 in this job/);
  // more steps are allowed: the run continues to the new `steps` (the schedule is pinned by totalSteps)
  const longer = await run({ ...sft, resume: sftDir, train: { ...train, steps: 6, optim: { lr: 3e-3, warmupSteps: 1, totalSteps: 5 } } });
  assert.deepEqual(metricsOf(longer).map((m) => m["step"]), [3, 4, 5, 6]);
});

test("keepCheckpoints prunes older periodic checkpoints", async () => {
  const sft = jobs[1]?.spec(path("pruned")) as Extract<JobSpecInput, { kind: "sft" }>;
  await run({ ...sft, train: { ...train, steps: 7, checkpointEvery: 1, keepCheckpoints: 2 } });
  assert.deepEqual(readdirSync(path("pruned/checkpoints")).sort(), ["step-5", "step-6"]);
});

test("a step that fails (a NaN loss) names the last checkpoint to restart from", async () => {
  const fake = {
    model: null as never, optimizer: null as never, step: 0,
    trainStep(): Record<string, number> {
      if (this.step === 3) throw new Error("non-finite loss NaN at step 4");
      this.step += 1;
      return { step: this.step, loss: 1 };
    },
  };
  const loop = (out: string, every: number): Promise<unknown> =>
    runTrainLoop({
      trainer: fake, items: [1, 2, 3], config: { steps: 6, batchSize: 1, seed: 0, checkpointEvery: every, keepCheckpoints: 0 },
      out, log: createMemoryLogger(), save: (d) => mkdirSync(d, { recursive: true }), resume: null, label: "test",
    });
  await assert.rejects(loop(path("nan"), 2), /non-finite loss NaN at step 4 \(last checkpoint: .*nan\/checkpoints\/step-2\)/);
  fake.step = 0;
  await assert.rejects(loop(path("nan-none"), 0), /last checkpoint: none; set train\.checkpointEvery/);
});
