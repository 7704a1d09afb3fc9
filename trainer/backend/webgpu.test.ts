// The webgpu backend (webgpu.ts, decision trainer-033) against wasm. Where no WebGPU adapter exists the
// device tests are skipped with the reason, unless TANDEM_REQUIRE_WEBGPU=1 (npm test sets it after
// tests/support/ensure-lavapipe.ts prepared Mesa's software Vulkan device), when they fail instead.
// The fallbacks at the end need no device.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { jobSpecSchema, type JobSpecInput } from "../contract/job.ts";
import { decodeSafetensors } from "../checkpoint/safetensors.ts";
import { createMemoryLogger } from "../cli/logger.ts";
import { readsAsynchronously, runJob } from "../cli/run-job.ts";
import { initBackend, type BackendInfo } from "./select-backend.ts";
import { importHfCommand } from "../cli/hf.ts";
import { writeFixtureHfModel } from "../testing/hf-fixtures.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { compareReadouts, PARITY_BOUNDS, parityBatch, parityFailures, sftStepReadout, type StepReadout } from "../testing/backend-parity.ts";

let gpu: BackendInfo;
let noDevice: string | false = false;
before(async () => {
  gpu = await initBackend({ prefer: "webgpu", readsSynchronously: false });
  if (gpu.backend !== "webgpu") {
    const reason = gpu.skipped.find((s) => /webgpu/.test(s.package))?.reason ?? "unknown";
    if (process.env["TANDEM_REQUIRE_WEBGPU"] === "1") throw new Error(`TANDEM_REQUIRE_WEBGPU=1 but webgpu is unavailable: ${reason}`);
    noDevice = `no usable WebGPU device here (${reason})`;
  }
});

test("webgpu starts on the adapter Dawn offers, after its self-check, and names it", { skip: false }, (t) => {
  if (noDevice) return t.skip(noDevice);
  assert.equal(tf.getBackend(), "webgpu");
  assert.equal(gpu.package, "@tensorflow/tfjs-backend-webgpu");
  assert.deepEqual(gpu.skipped, []);
  assert.ok(gpu.adapter && `${gpu.adapter.vendor}${gpu.adapter.description}`.length > 0, JSON.stringify(gpu.adapter));
});

test("one SFT step of a GPT on webgpu equals wasm's: logits, loss, every gradient, the weights after AdamW", async (t) => {
  if (noDevice) return t.skip(noDevice);
  const config = resolveGptConfig({ vocabSize: 61, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 });
  const batch = parityBatch(61, 3, 24);
  const onGpu: StepReadout = await sftStepReadout(config, 5, batch);
  await initBackend({ prefer: "wasm" });
  const onWasm = await sftStepReadout(config, 5, batch);
  const report = compareReadouts(onWasm, onGpu);
  assert.ok(Number.isFinite(onGpu.loss) && onGpu.loss > 3, `a fresh model's loss is about ln(61) = 4.1, got ${onGpu.loss}`);
  // float32 with sums in another order: ~1e-7 measured on lavapipe (docs/benchmarks.md)
  assert.deepEqual(PARITY_BOUNDS, { logits: 1e-5, loss: 1e-5, grads: 1e-4, update: 1e-2 });
  assert.ok(report.logits < PARITY_BOUNDS.logits, `logits ${report.logits}`);
  assert.ok(report.loss < PARITY_BOUNDS.loss, `loss ${report.loss}`);
  assert.ok(report.grads < PARITY_BOUNDS.grads, `gradients ${report.grads}`);
  assert.ok(report.update < PARITY_BOUNDS.update, `weights after AdamW, in learning rates: ${report.update}`);
  assert.deepEqual(parityFailures(report), []);
  // the comparison itself can fail: a step with other data is far from this one
  const other = await sftStepReadout(config, 5, parityBatch(61, 3, 23));
  assert.ok(compareReadouts(onWasm, other).loss > 1e-5);
  assert.ok(parityFailures(compareReadouts(onWasm, other)).includes("loss"));
});

test("an SFT job trains on webgpu as on wasm (the same losses, checkpoints and final weights), and so do the jobs after it", async (t) => {
  if (noDevice) return t.skip(noDevice);
  const dir = mkdtempSync(join(tmpdir(), "tandem-webgpu-job-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const words = "the calculator returns an exact result and the answer copies it".split(" ");
  const sentence = (seed: number, n: number): string => Array.from({ length: n }, (_, i) => words[(seed * 7 + i * 3) % words.length]).join(" ");
  writeFileSync(join(dir, "corpus.txt"), Array.from({ length: 60 }, (_, i) => sentence(i, 10)).join("\n"));
  writeFileSync(join(dir, "sft.jsonl"), Array.from({ length: 6 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: sentence(i, 4) }, { role: "assistant", content: sentence(i + 1, 6) }] })).join("\n") + "\n");
  const run = async (spec: JobSpecInput) => {
    const log = createMemoryLogger();
    await runJob(jobSpecSchema.parse(spec), log);
    return log.events;
  };
  await run({ schemaVersion: 1, kind: "train-tokenizer", corpus: [join(dir, "corpus.txt")], vocabSize: 300, out: join(dir, "tok") });
  const sft = (backend: "webgpu" | "wasm") => run({
    schemaVersion: 1, kind: "sft", data: join(dir, "sft.jsonl"), tokenizer: join(dir, "tok/tokenizer.json"), backend, out: join(dir, backend),
    model: { init: { vocabSize: 300, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16 }, seed: 3 },
    train: { steps: 4, batchSize: 3, checkpointEvery: 2, optim: { lr: 1e-3, warmupSteps: 1 } },
  });
  const onGpu = await sft("webgpu");
  const onWasm = await sft("wasm");
  assert.equal(onGpu.find((e) => e.type === "backend")?.["backend"], "webgpu");
  assert.equal(onWasm.find((e) => e.type === "backend")?.["backend"], "wasm");
  const losses = (events: typeof onGpu) => events.filter((e) => e.type === "metrics").map((e) => Number(e["loss"]));
  assert.equal(losses(onGpu).length, 4);
  losses(onWasm).forEach((l, i) => assert.ok(Math.abs(l - losses(onGpu)[i]!) < 1e-4 * l, `step ${i + 1}: wasm ${l}, webgpu ${losses(onGpu)[i]}`));
  assert.ok(losses(onGpu)[3]! < losses(onGpu)[0]!, "the loss falls");
  for (const file of ["model.safetensors", "checkpoints/step-2/model.safetensors", "checkpoints/step-2/optimizer.safetensors"]) {
    assertSameCheckpointFile(join(dir, "wasm", file), join(dir, "webgpu", file), 4, 1e-3);
  }
  // sampling awaits its reads of the logits (trainer-034): a sample job on webgpu writes wasm's answers, with tools and without
  writeFileSync(join(dir, "prompts.jsonl"), Array.from({ length: 3 }, (_, i) => JSON.stringify({ prompt: sentence(i, 4) })).join("\n") + "\n");
  const sample = async (backend: "webgpu" | "wasm", tools: Array<"calculator">) => {
    const out = join(dir, `sample-${backend}-${tools.length}`);
    const events = await run({
      schemaVersion: 1, kind: "sample", prompts: join(dir, "prompts.jsonl"), tokenizer: join(dir, "tok/tokenizer.json"), backend, out,
      model: { checkpoint: join(dir, "wasm") }, sampling: { maxNewTokens: 12, temperature: 1, seed: 5, n: 2, batchSize: 4, tools },
    });
    const lines = readFileSync(join(out, "samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { messages: unknown; tokens: number });
    return { backend: events.find((e) => e.type === "backend")?.["backend"], lines: lines.map((l) => [l.messages, l.tokens]) };
  };
  for (const tools of [[], ["calculator"]] as Array<Array<"calculator">>) {
    const [a, b] = [await sample("webgpu", tools), await sample("wasm", tools)];
    assert.deepEqual([a.backend, b.backend], ["webgpu", "wasm"], `tools ${tools.join()}`);
    assert.equal(a.lines.length, 6);
    assert.deepEqual(a.lines, b.lines, `tools ${tools.join()}: the same answers`);
  }
  // DPO awaits its reads too (trainer-034): the reference pass, the steps and the KL check's sampling give wasm's numbers
  writeFileSync(join(dir, "prefs.jsonl"), Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: sentence(i, 4), chosen: sentence(i + 1, 6), rejected: sentence(i + 5, 3) })).join("\n") + "\n");
  const dpo = (backend: "webgpu" | "wasm") => run({
    schemaVersion: 1, kind: "dpo", data: join(dir, "prefs.jsonl"), tokenizer: join(dir, "tok/tokenizer.json"), backend, out: join(dir, `dpo-${backend}`),
    // plain DPO: DPOP's hinge max(0, ref − logπ) sits at its kink on step 1 (the policy is the reference), so float noise
    // in a sequence's log-prob (1e-7, which depends on its batch on webgpu and on native BLAS) turns its gradient on or off
    model: { checkpoint: join(dir, "wasm") }, train: { steps: 4, batchSize: 3, dpopLambda: 0, klCheck: { every: 2, samples: 4, maxNewTokens: 8 }, optim: { lr: 1e-3, warmupSteps: 1 } },
  });
  const [dpoGpu, dpoWasm] = [await dpo("webgpu"), await dpo("wasm")];
  assert.deepEqual([dpoGpu, dpoWasm].map((events) => events.find((e) => e.type === "backend")?.["backend"]), ["webgpu", "wasm"]);
  const dpoLines = (events: typeof onGpu) => events.filter((e) => e.type === "metrics").map((e) => [Number(e["loss"]), Number(e["kl_guard/kl"] ?? NaN)] as const);
  assert.equal(dpoLines(dpoGpu).length, 4);
  assert.ok(dpoLines(dpoGpu).filter(([, kl]) => Number.isFinite(kl)).length === 2, "the KL check ran at steps 2 and 4");
  dpoLines(dpoWasm).forEach(([loss, kl], i) => {
    const [gLoss, gKl] = dpoLines(dpoGpu)[i]!;
    assert.ok(Math.abs(loss - gLoss) < 1e-4 * loss, `dpo step ${i + 1}: wasm ${loss}, webgpu ${gLoss}`);
    if (Number.isFinite(kl)) assert.ok(Math.abs(kl - gKl) < 1e-3 * Math.max(1, Math.abs(kl)), `dpo step ${i + 1}'s KL check: wasm ${kl}, webgpu ${gKl}`);
  });
  // and KTO's (trainer-034): its reference point, its steps and its KL checks
  writeFileSync(join(dir, "unpaired.jsonl"), Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: sentence(i, 4), completion: sentence(i + (i % 2 ? 1 : 5), 5), label: i % 2 === 1 })).join("\n") + "\n");
  const kto = (backend: "webgpu" | "wasm") => run({
    schemaVersion: 1, kind: "kto", data: join(dir, "unpaired.jsonl"), tokenizer: join(dir, "tok/tokenizer.json"), backend, out: join(dir, `kto-${backend}`),
    model: { checkpoint: join(dir, "wasm") }, train: { steps: 4, batchSize: 3, klCheck: { every: 2, samples: 4, maxNewTokens: 8 }, optim: { lr: 1e-3, warmupSteps: 1 } },
  });
  const [ktoGpu, ktoWasm] = [await kto("webgpu"), await kto("wasm")];
  assert.deepEqual([ktoGpu, ktoWasm].map((events) => events.find((e) => e.type === "backend")?.["backend"]), ["webgpu", "wasm"]);
  const ktoLines = (events: typeof onGpu) => events.filter((e) => e.type === "metrics").map((e) => [Number(e["loss"]), Number(e["kl_guard/kl"] ?? NaN)] as const);
  assert.equal(ktoLines(ktoGpu).length, 4);
  ktoLines(ktoWasm).forEach(([loss, kl], i) => {
    const [gLoss, gKl] = ktoLines(ktoGpu)[i]!;
    assert.ok(Math.abs(loss - gLoss) < 1e-4 * loss, `kto step ${i + 1}: wasm ${loss}, webgpu ${gLoss}`);
    if (Number.isFinite(kl)) assert.ok(Math.abs(kl - gKl) < 1e-3 * Math.max(1, Math.abs(kl)), `kto step ${i + 1}'s KL check: wasm ${kl}, webgpu ${gKl}`);
  });
  // a reward model's step reads the device awaited too: a reward job on webgpu gives wasm's losses and accuracies
  writeFileSync(join(dir, "rankings.jsonl"), Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: sentence(i, 4), completions: [sentence(i + 1, 6), sentence(i + 2, 3), sentence(i + 3, 5)], ranks: [0, 1, 2] })).join("\n") + "\n");
  const reward = (backend: "webgpu" | "wasm") => run({
    schemaVersion: 1, kind: "reward", data: join(dir, "rankings.jsonl"), tokenizer: join(dir, "tok/tokenizer.json"), backend, out: join(dir, `reward-${backend}`),
    model: { init: { vocabSize: 300, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16 }, seed: 3 },
    train: { steps: 3, batchSize: 3, optim: { lr: 1e-3, warmupSteps: 1 } },
  });
  const [rmGpu, rmWasm] = [await reward("webgpu"), await reward("wasm")];
  assert.deepEqual([rmGpu, rmWasm].map((events) => events.find((e) => e.type === "backend")?.["backend"]), ["webgpu", "wasm"]);
  const rm = (events: typeof onGpu) => events.filter((e) => e.type === "metrics").map((e) => [Number(e["loss"]), Number(e["accuracy"])] as const);
  assert.equal(rm(rmGpu).length, 3);
  rm(rmWasm).forEach(([loss, accuracy], i) => {
    assert.ok(Math.abs(loss - rm(rmGpu)[i]![0]) < 1e-4 * loss, `reward step ${i + 1}: wasm ${loss}, webgpu ${rm(rmGpu)[i]![0]}`);
    assert.equal(rm(rmGpu)[i]![1], accuracy);
  });
  // the RL trainers await every read too (trainer-035): GRPO, RLOO and PPO jobs with the calculator, the checker and the
  // reward model give wasm's rollouts, losses and KL, and write wasm's checkpoints
  writeFileSync(join(dir, "rl-prompts.jsonl"), Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: sentence(i, 4), metadata: { answer: i + 2 } })).join("\n") + "\n");
  const rlJob = (kind: "grpo" | "rloo" | "ppo", backend: "webgpu" | "wasm") => {
    const common = {
      schemaVersion: 1, kind, prompts: join(dir, "rl-prompts.jsonl"), tokenizer: join(dir, "tok/tokenizer.json"), backend, out: join(dir, `${kind}-${backend}`),
      model: { checkpoint: join(dir, "wasm") }, rewardModel: { checkpoint: join(dir, "reward-wasm") }, tools: ["calculator"],
      reward: { checker: { kind: "numeric" }, weights: { rewardModel: 0.5 } },
    };
    const optim = { lr: 1e-2, warmupSteps: 1 };
    return run({
      ...common,
      train: kind === "ppo"
        ? { rollouts: 2, rolloutBatchSize: 2, miniBatchSize: 2, ppoEpochs: 2, responseLength: 8, checkpointEvery: 1, keepCheckpoints: 0, optim }
        : { rollouts: 2, promptsPerRollout: 2, numGenerations: 2, numIterations: 2, maxCompletionLength: 8, checkpointEvery: 1, keepCheckpoints: 0, optim },
    } as JobSpecInput);
  };
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a));
  for (const kind of ["grpo", "rloo", "ppo"] as const) {
    const [onGpuRl, onWasmRl] = [await rlJob(kind, "webgpu"), await rlJob(kind, "wasm")];
    assert.deepEqual([onGpuRl, onWasmRl].map((events) => events.find((e) => e.type === "backend")?.["backend"]), ["webgpu", "wasm"], kind);
    const names = kind === "ppo" ? ["objective/scores", "objective/kl", "loss/policy_avg", "loss/value_avg", "policy/approxkl_avg", "tools/call_frac"] : ["reward", "kl_guard/kl", "kl", "entropy", "loss", "gradNorm", "tools/call_frac"];
    const lines = (events: typeof onGpu) => events.filter((e) => e.type === "metrics").map((e) => names.map((n) => Number(e[n])));
    assert.equal(lines(onGpuRl).length, 2, `${kind}: two rollouts`);
    lines(onWasmRl).forEach((row, r) => row.forEach((x, j) => {
      assert.ok(Number.isFinite(x), `${kind} rollout ${r + 1} ${names[j]}: ${x}`);
      assert.ok(close(x, lines(onGpuRl)[r]![j]!), `${kind} rollout ${r + 1} ${names[j]}: wasm ${x}, webgpu ${lines(onGpuRl)[r]![j]}`);
    }));
    const files = ["model.safetensors", "optimizer.safetensors", "checkpoints/rollout-1/model.safetensors", ...(kind === "ppo" ? ["value/model.safetensors"] : [])];
    for (const file of files) assertSameCheckpointFile(join(dir, `${kind}-wasm`, file), join(dir, `${kind}-webgpu`, file), 4, 1e-2);
  }
  // and the round's held-out evaluation (trainer-035): the same answers, checker tally, reward-model score and KL
  const heldout = async (backend: "webgpu" | "wasm") => {
    const out = join(dir, `heldout-${backend}`);
    const events = await run({
      schemaVersion: 1, kind: "heldout", prompts: join(dir, "rl-prompts.jsonl"), backend, out,
      model: { checkpoint: join(dir, "grpo-wasm") }, previous: { checkpoint: join(dir, "wasm") }, reference: { checkpoint: join(dir, "wasm") },
      rewardModel: { checkpoint: join(dir, "reward-wasm") }, checker: { kind: "numeric" }, tools: ["calculator"],
      decoding: { maxNewTokens: 8, temperature: 1, seed: 2 }, kl: { samplesPerPrompt: 2, maxNewTokens: 8 }, batchSize: 3,
    });
    const report = JSON.parse(readFileSync(join(out, "heldout.json"), "utf8")) as { new: { checker: unknown; reward: { mean: number; n: number } }; kl: { mean: number; samples: number }; samples: unknown[] };
    return { backend: events.find((e) => e.type === "backend")?.["backend"], report };
  };
  const [hoGpu, hoWasm] = [await heldout("webgpu"), await heldout("wasm")];
  assert.deepEqual([hoGpu.backend, hoWasm.backend], ["webgpu", "wasm"]);
  assert.deepEqual(hoGpu.report.samples, hoWasm.report.samples, "the same answers");
  assert.deepEqual(hoGpu.report.new.checker, hoWasm.report.new.checker);
  assert.equal(hoWasm.report.new.reward.n, 4);
  assert.ok(close(hoWasm.report.new.reward.mean, hoGpu.report.new.reward.mean), `reward model: wasm ${hoWasm.report.new.reward.mean}, webgpu ${hoGpu.report.new.reward.mean}`);
  assert.equal(hoWasm.report.kl.samples, 8);
  assert.ok(Math.abs(hoWasm.report.kl.mean) > 1e-3 && close(hoWasm.report.kl.mean, hoGpu.report.kl.mean), `KL: wasm ${hoWasm.report.kl.mean}, webgpu ${hoGpu.report.kl.mean}`);
  // the eval job in its three modes (an SFT loss, a reward model's accuracy, DPO's implicit rewards and sampled KL)
  const evalJob = async (mode: string, backend: "webgpu" | "wasm", spec: object) => {
    const out = join(dir, `eval-${mode}-${backend}`);
    const events = await run({ schemaVersion: 1, kind: "eval", backend, out, ...spec } as JobSpecInput);
    const file = JSON.parse(readFileSync(join(out, "eval.json"), "utf8")) as { metrics: Record<string, number> };
    return { backend: events.find((e) => e.type === "backend")?.["backend"], metrics: file.metrics };
  };
  const evalModes: Array<[string, object, string[]]> = [
    ["sft", { data: join(dir, "sft.jsonl"), model: { checkpoint: join(dir, "wasm") } }, ["eval_loss", "eval_tokens"]],
    ["reward", { data: join(dir, "rankings.jsonl"), model: { checkpoint: join(dir, "reward-wasm") } }, ["eval_loss", "eval_accuracy", "eval_pairs"]],
    ["dpo", { data: join(dir, "prefs.jsonl"), model: { checkpoint: join(dir, "dpo-wasm") }, reference: { checkpoint: join(dir, "wasm") }, kl: { samplesPerPrompt: 2, maxNewTokens: 8 } }, ["eval_loss", "eval_rewards/margins", "eval_kl", "eval_kl_samples"]],
  ];
  for (const [mode, spec, names] of evalModes) {
    const [a, b] = [await evalJob(mode, "webgpu", spec), await evalJob(mode, "wasm", spec)];
    assert.deepEqual([a.backend, b.backend], ["webgpu", "wasm"], `eval ${mode}`);
    for (const n of names) assert.ok(Number.isFinite(b.metrics[n]) && close(b.metrics[n]!, a.metrics[n]!), `eval ${mode} ${n}: wasm ${b.metrics[n]}, webgpu ${a.metrics[n]}`);
  }
  // the corpus jobs: a pretrain with a held-out set (its loss before and after), and a data-mix search over two sources
  writeFileSync(join(dir, "docs-a.jsonl"), Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: sentence(i, 12) })).join("\n") + "\n");
  writeFileSync(join(dir, "docs-b.jsonl"), Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: sentence(i + 20, 9) })).join("\n") + "\n");
  const corpusJob = async (kind: "pretrain" | "mix-search", backend: "webgpu" | "wasm") => {
    const out = join(dir, `${kind}-${backend}`);
    const common = { schemaVersion: 1, kind, backend, out, tokenizer: join(dir, "tok/tokenizer.json"), model: { init: { vocabSize: 300, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 }, seed: 3 }, train: { steps: 3, batchSize: 2, seed: 1, optim: { lr: 1e-2, warmupSteps: 1 } } };
    const events = await run((kind === "pretrain"
      ? { ...common, mix: [{ name: "a", files: [join(dir, "docs-a.jsonl")], weight: 1 }], eval: [{ name: "b", files: [join(dir, "docs-b.jsonl")] }] }
      : { ...common, sources: [{ name: "a", files: [join(dir, "docs-a.jsonl")] }, { name: "b", files: [join(dir, "docs-b.jsonl")] }], target: { name: "b", files: [join(dir, "docs-b.jsonl")] }, candidates: [[1, 0], [0, 1]] }) as JobSpecInput);
    const result = readFileSync(join(out, kind === "pretrain" ? "lm-eval.json" : "mix-search.json"), "utf8");
    const numbers = (result.match(/-?\d+\.\d+(e-?\d+)?/g) ?? []).map(Number);
    return { backend: events.find((e) => e.type === "backend")?.["backend"], numbers };
  };
  for (const kind of ["pretrain", "mix-search"] as const) {
    const [a, b] = [await corpusJob(kind, "webgpu"), await corpusJob(kind, "wasm")];
    assert.deepEqual([a.backend, b.backend], ["webgpu", "wasm"], kind);
    assert.ok(b.numbers.length >= 2 && b.numbers.length === a.numbers.length, `${kind}: ${b.numbers.length} numbers`);
    b.numbers.forEach((x, i) => assert.ok(close(x, a.numbers[i]!), `${kind} number ${i + 1}: wasm ${x}, webgpu ${a.numbers[i]}`));
  }
});

test("a Llama-family model trains, samples and scores on webgpu as on wasm, in full and with LoRA adapters (chained, as rounds chain them)", async (t) => {
  if (noDevice) return t.skip(noDevice);
  const dir = mkdtempSync(join(tmpdir(), "tandem-webgpu-llama-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  await initBackend({ prefer: "wasm" }); // the fixture is written and imported on wasm; each job below picks its own backend
  writeFixtureHfModel(join(dir, "hf"), { seed: 3 });
  await importHfCommand(join(dir, "hf"), join(dir, "base"), createMemoryLogger());
  const words = "the cat is in an answer here there helps".split(" ");
  const sentence = (seed: number, n: number): string => Array.from({ length: n }, (_, i) => words[(seed * 5 + i * 3) % words.length]).join(" ");
  const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  writeFileSync(join(dir, "sft.jsonl"), jsonl(Array.from({ length: 6 }, (_, i) => ({ messages: [{ role: "user", content: sentence(i, 3) }, { role: "assistant", content: sentence(i + 1, 4) }] }))));
  writeFileSync(join(dir, "prefs.jsonl"), jsonl(Array.from({ length: 4 }, (_, i) => ({ prompt: sentence(i, 3), chosen: sentence(i + 1, 4), rejected: sentence(i + 4, 2) }))));
  writeFileSync(join(dir, "prompts.jsonl"), jsonl([{ prompt: "the cat" }, { prompt: "why is it here" }]));
  const tokenizer = join(dir, "base/tokenizer.json");
  const lora = { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"] };
  const train = { steps: 4, batchSize: 2, checkpointEvery: 2, optim: { lr: 1e-2, warmupSteps: 1 } };
  const run = async (spec: object) => {
    const log = createMemoryLogger();
    await runJob(jobSpecSchema.parse({ schemaVersion: 1, tokenizer, ...spec }), log);
    return { backend: log.events.find((e) => e.type === "backend")?.["backend"], losses: log.events.filter((e) => e.type === "metrics").map((e) => Number(e["loss"])), events: log.events };
  };
  const both = async (name: string, spec: (backend: "webgpu" | "wasm") => object) => {
    const [gpu, wasm] = [await run({ ...spec("webgpu"), backend: "webgpu", out: join(dir, `${name}-webgpu`) }), await run({ ...spec("wasm"), backend: "wasm", out: join(dir, `${name}-wasm`) })];
    assert.deepEqual([gpu.backend, wasm.backend], ["webgpu", "wasm"], name);
    return { gpu, wasm, file: (backend: "webgpu" | "wasm", f: string) => join(dir, `${name}-${backend}`, f) };
  };
  const sameLosses = (name: string, r: { gpu: { losses: number[] }; wasm: { losses: number[] } }) => {
    assert.equal(r.gpu.losses.length, 4, name);
    r.wasm.losses.forEach((l, i) => assert.ok(Number.isFinite(l) && Math.abs(l - r.gpu.losses[i]!) < 1e-4 * Math.max(1, l), `${name} step ${i + 1}: wasm ${l}, webgpu ${r.gpu.losses[i]}`));
  };
  // SFT in full: the HF layout's (out, in) weights are transposed on the CPU after the read-back (readTransposedSync)
  const full = await both("sft-full", () => ({ kind: "sft", data: join(dir, "sft.jsonl"), model: { checkpoint: join(dir, "base") }, train }));
  sameLosses("sft in full", full);
  for (const f of ["model.safetensors", "optimizer.safetensors", "checkpoints/step-2/model.safetensors"]) assertSameCheckpointFile(full.file("wasm", f), full.file("webgpu", f), 4, 1e-2);
  // SFT with LoRA, then DPO with LoRA on that adapter (merged into the base, a fresh adapter trains)
  const sftLora = await both("sft-lora", () => ({ kind: "sft", data: join(dir, "sft.jsonl"), model: { checkpoint: join(dir, "base") }, lora, train }));
  sameLosses("sft with LoRA", sftLora);
  for (const f of ["model.safetensors", "optimizer.safetensors"]) assertSameCheckpointFile(sftLora.file("wasm", f), sftLora.file("webgpu", f), 4, 1e-2);
  assert.equal(decodeSafetensors(readFileSync(sftLora.file("webgpu", "model.safetensors"))).tensors.size, 2 * 2 * 2, "the adapters only");
  const dpo = await both("dpo-lora", () => ({ kind: "dpo", data: join(dir, "prefs.jsonl"), model: { checkpoint: join(dir, "sft-lora-wasm") }, lora, train: { ...train, dpopLambda: 0 } }));
  sameLosses("dpo with LoRA", dpo);
  assert.ok(Math.abs(dpo.gpu.losses[0]! - Math.LN2) < 1e-4, "DPO starts at ln 2 against the SFT policy (its adapters off)");
  // sampling from the adapter checkpoint, and a reward model with LoRA
  const sample = await both("sample", () => ({ kind: "sample", prompts: join(dir, "prompts.jsonl"), model: { checkpoint: join(dir, "dpo-lora-wasm") }, sampling: { maxNewTokens: 10, n: 2, temperature: 1, seed: 3 } }));
  assert.equal(readFileSync(sample.file("webgpu", "samples.jsonl"), "utf8"), readFileSync(sample.file("wasm", "samples.jsonl"), "utf8"), "the same answers");
  const rm = await both("reward-lora", () => ({ kind: "reward", data: join(dir, "prefs.jsonl"), model: { checkpoint: join(dir, "sft-lora-wasm") }, lora, train }));
  sameLosses("reward model with LoRA", rm);
});

/**
 * Two backends' checkpoint files hold the same tensors, to float32 rounding. AdamW moves a weight by about ±lr whatever
 * the size of its gradient, so a gradient near 0 whose sign the two backends round differently moves it by up to 2·lr a
 * step; such weights are rare (none on lavapipe), hence the bounds: every value within `steps` of them, and at most one
 * in a thousand off by more than 1e-5.
 */
function assertSameCheckpointFile(wasmFile: string, gpuFile: string, steps: number, lr: number): void {
  const [a, b] = [wasmFile, gpuFile].map((f) => decodeSafetensors(readFileSync(f)).tensors);
  let off = 0, total = 0;
  for (const [name, x] of a!) {
    const y = b!.get(name)?.data;
    assert.equal(y?.length, x.data.length, `${gpuFile} ${name}`);
    x.data.forEach((v, i) => {
      const d = Math.abs(v - y![i]!);
      assert.ok(d <= steps * 2 * lr, `${gpuFile} ${name}[${i}]: |Δ| ${d}, more than ${steps} steps of 2·lr`);
      if (d > 1e-5) off++;
    });
    total += x.data.length;
  }
  assert.ok(total > 0 && off <= total * 1e-3, `${gpuFile}: ${off} of ${total} values differ by more than 1e-5`);
}

test("which jobs may run on webgpu: every job that loads a model, with LoRA or without, unless a checkpoint cannot be read", () => {
  const base = { schemaVersion: 1, out: "/tmp/x", tokenizer: "/tmp/t.json", data: "/tmp/d.jsonl", train: { steps: 1, batchSize: 1 } };
  const spec = (extra: object) => jobSpecSchema.parse({ ...base, ...extra });
  assert.equal(readsAsynchronously(spec({ kind: "sft", model: { init: { preset: "nano" } } })), true);
  assert.equal(readsAsynchronously(spec({ kind: "sft", model: { init: { preset: "llama-tiny" } } })), true, "a Llama-family model");
  assert.equal(readsAsynchronously(spec({ kind: "sft", model: { checkpoint: "/no/such/checkpoint" } })), false);
  assert.equal(readsAsynchronously(spec({ kind: "reward", model: { init: { preset: "nano" } } })), true);
  assert.equal(readsAsynchronously(spec({ kind: "dpo", model: { checkpoint: "/no/such/checkpoint" } })), false);
  const sampleSpec = (checkpoint: string) => jobSpecSchema.parse({ schemaVersion: 1, kind: "sample", out: "/tmp/x", tokenizer: "/tmp/t.json", prompts: "/tmp/p.jsonl", model: { checkpoint } });
  assert.equal(readsAsynchronously(sampleSpec("/no/such/checkpoint")), false, "an unreadable checkpoint: buildModel says why, on wasm");
  const dir = mkdtempSync(join(tmpdir(), "tandem-webgpu-kinds-"));
  try {
    const manifest = {
      schemaVersion: 1, step: 0, optimizerStep: 0, rngState: 0, trainConfig: {}, tokenizerHash: null, files: { model: "model.safetensors", optimizer: null },
      modelConfig: resolveGptConfig({ vocabSize: 30, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 8 }),
    };
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
    assert.equal(readsAsynchronously(sampleSpec(dir)), true, "sampling from a GPT-2 model in full");
    assert.equal(readsAsynchronously(spec({ kind: "dpo", model: { checkpoint: dir }, train: { steps: 1, batchSize: 2 } })), true, "DPO of a GPT-2 model in full");
    assert.equal(readsAsynchronously(spec({ kind: "kto", model: { checkpoint: dir }, train: { steps: 1, batchSize: 2 } })), true, "KTO of a GPT-2 model in full");
    assert.equal(readsAsynchronously(spec({ kind: "dpo", model: { checkpoint: dir }, train: { steps: 1, batchSize: 2 }, lora: {} })), true, "with LoRA adapters");
    const rl = (kind: "grpo" | "rloo" | "ppo", rewardModel: string | null, extra: object = {}) => jobSpecSchema.parse({
      schemaVersion: 1, kind, out: "/tmp/x", tokenizer: "/tmp/t.json", prompts: "/tmp/p.jsonl", model: { checkpoint: dir },
      ...(rewardModel ? { rewardModel: { checkpoint: rewardModel } } : {}), reward: { checker: { kind: "numeric" } }, train: { rollouts: 1 }, ...extra,
    });
    assert.equal(readsAsynchronously(rl("grpo", null)), true, "GRPO of a GPT-2 model in full");
    assert.equal(readsAsynchronously(rl("rloo", dir)), true, "RLOO with a reward model");
    assert.equal(readsAsynchronously(rl("ppo", dir)), true, "PPO: the policy and the reward model in full");
    assert.equal(readsAsynchronously(rl("ppo", "/no/such/checkpoint")), false, "the reward model is a model the job loads too");
    assert.equal(readsAsynchronously(rl("grpo", "/no/such/checkpoint")), false);
    assert.equal(readsAsynchronously(rl("ppo", dir, { lora: {} })), true, "PPO with LoRA adapters");
    const heldout = (extra: object) => jobSpecSchema.parse({ schemaVersion: 1, kind: "heldout", out: "/tmp/x", prompts: "/tmp/p.jsonl", model: { checkpoint: dir }, ...extra });
    assert.equal(readsAsynchronously(heldout({ previous: { checkpoint: dir }, reference: { checkpoint: dir }, rewardModel: { checkpoint: dir } })), true, "held-out evaluation");
    for (const key of ["previous", "reference", "origin", "rewardModel"])
      assert.equal(readsAsynchronously(heldout({ [key]: { checkpoint: "/no/such/checkpoint" } })), false, `held-out evaluation: ${key} is loaded too`);
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...manifest, lora: { config: {}, base: "base" } }));
    assert.equal(readsAsynchronously(sampleSpec(dir)), true, "an adapter checkpoint");
    assert.equal(readsAsynchronously(jobSpecSchema.parse({ schemaVersion: 1, kind: "eval", out: "/tmp/x", data: "/tmp/d.jsonl", model: { checkpoint: dir } })), true, "the eval job");
    assert.equal(readsAsynchronously(jobSpecSchema.parse({ schemaVersion: 1, kind: "eval", out: "/tmp/x", data: "/tmp/d.jsonl", model: { checkpoint: dir }, reference: { checkpoint: "/no/such/checkpoint" } })), false, "the eval job's reference is loaded too");
    assert.equal(readsAsynchronously(jobSpecSchema.parse({ schemaVersion: 1, kind: "train-tokenizer", out: "/tmp/x", corpus: ["/tmp/c.txt"], vocabSize: 300 })), false, "no model, no device");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a caller that reads synchronously (every trainer step) is given wasm, with the reason", async () => {
  const info = await initBackend({ prefer: "webgpu" });
  assert.equal(info.backend, "wasm");
  assert.equal(info.requested, "webgpu");
  assert.match(info.skipped[0]?.reason ?? "", /synchronously/);
});

test("without the webgpu package, webgpu falls back to wasm with the reason", async () => {
  const info = await initBackend({
    prefer: "webgpu", readsSynchronously: false,
    importModule: async (s) => { throw new Error(`Cannot find package '${s}'`); },
  });
  assert.equal(info.backend, "wasm");
  assert.deepEqual(info.skipped.map((s) => s.package)[0], "@tensorflow/tfjs-backend-webgpu");
  assert.match(info.skipped[0]?.reason ?? "", /the webgpu package did not load: Cannot find package 'webgpu'/);
});

test("TANDEM_BACKEND picks the preference when the caller names none", async () => {
  process.env["TANDEM_BACKEND"] = "cpu";
  try {
    assert.equal((await initBackend()).backend, "cpu");
    process.env["TANDEM_BACKEND"] = "no-such-backend"; // ignored: "auto"
    assert.equal((await initBackend()).requested, "auto");
  } finally {
    delete process.env["TANDEM_BACKEND"];
  }
});
