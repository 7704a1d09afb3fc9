/**
 * The demo's recipe, measured on the trainer CLI alone (no server): SFT a nano policy on generated
 * mental-math demonstrations (some call the calculator, some answer from memory), score it on a
 * held-out set, run GRPO with the numeric checker and the calculator, score it again.
 *   npx tsx bench/loop-recipe.ts [--demos 48] [--calc-share 0.5] [--sft-steps 200] [--rollouts 30] [--out DIR]
 *   [--skip-sft --grpo-name grpo-lr3e-4 --lr 3e-4]   (another GRPO setting from the same SFT policy)
 *   [--rl-prompts unseen|seen]   GRPO's prompts: 200 the SFT never saw (default), or the demonstrations' own
 *   [--tool-result-weight W]     add the tool_result reward (the answer states the calculator's result) at weight W
 * Prints one JSON line per stage and the held-out checker scores with the CPU seconds each took.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jobSpecSchema, type JobSpecInput } from "../trainer/contract/job.ts";
import { createMemoryLogger } from "../trainer/cli/logger.ts";
import { runJob } from "../trainer/cli/run-job.ts";
import { textOf } from "../trainer/service/run-remote-job.ts";
import { arithmeticItems, type ArithmeticItem } from "../server/demo/arithmetic.ts";
import { createRng } from "../trainer/random/rng.ts";

const { values } = parseArgs({
  options: {
    demos: { type: "string", default: "48" },
    "calc-share": { type: "string", default: "0.5" },
    "sft-steps": { type: "string", default: "200" },
    rollouts: { type: "string", default: "30" },
    "eval-size": { type: "string", default: "48" },
    lr: { type: "string", default: "1e-4" },
    beta: { type: "string", default: "0.04" },
    gens: { type: "string", default: "8" },
    prompts: { type: "string", default: "8" },
    // GRPO's optimizer steps per rollout: samples per step (0 = the whole rollout) and passes over it
    "mini-batch": { type: "string", default: "0" },
    iterations: { type: "string", default: "1" },
    out: { type: "string", default: "/tmp/exp/recipe" },
    preset: { type: "string", default: "nano" },
    // reuse the SFT policy (and tokenizer) an earlier run left in --out; GRPO writes to --grpo-name
    "skip-sft": { type: "boolean", default: false },
    "grpo-name": { type: "string", default: "grpo" },
    // does GRPO learn from prompts the SFT policy memorised? (the bench's round 0 had a demonstration for every prompt)
    "rl-prompts": { type: "string", default: "unseen" },
    // the loop bench's careless demonstrator instead of the demo's: the calculator at random with this
    // probability, and the house sentence half the time ("503" otherwise); 0 = the demo's demonstrator
    "careless-calc": { type: "string", default: "0" },
    // weight of the tool_result reward (credit for stating the calculator's result) beside the checker; 0 = none
    "tool-result-weight": { type: "string", default: "0" },
  },
});
const out = values.out!;
mkdirSync(out, { recursive: true });
const nDemos = Number(values.demos);
const items = arithmeticItems(nDemos + 200 + Number(values["eval-size"]), 2026);
const demos = items.slice(0, nDemos);
const pool = items.slice(nDemos, nDemos + 200);
const evalSet = items.slice(nDemos + 200);
// the call copies the question's own expression ("37 × 4"): the calculator reads × and −
const asked = (item: ArithmeticItem) => item.question.replace(/^What is /, "").replace(/\?$/, "");
const calc = (item: ArithmeticItem) => [
  { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: asked(item) } } }] },
  { role: "tool", name: "calculator", content: String(item.answer) },
  { role: "assistant", content: `The answer is ${item.answer}.` },
];
const share = Number(values["calc-share"]);
const careless = Number(values["careless-calc"]);
const rng = createRng(1);
const carelessAnswer = (item: ArithmeticItem) => {
  const useTool = rng.next() < careless;
  const said = rng.next() < 0.5 ? `The answer is ${item.answer}.` : String(item.answer);
  return useTool ? [...calc(item).slice(0, 2), { role: "assistant", content: said }] : [{ role: "assistant", content: said }];
};
const demoAnswer = (item: ArithmeticItem, i: number) =>
  careless > 0 ? carelessAnswer(item) : i < Math.round(share * demos.length) ? calc(item) : [{ role: "assistant", content: `The answer is ${item.answer}.` }];
const sft = demos.map((item, i) => ({ messages: [{ role: "user", content: item.question }, ...demoAnswer(item, i)] }));
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
writeFileSync(join(out, "sft.jsonl"), jsonl(sft));
if (values["rl-prompts"] !== "unseen" && values["rl-prompts"] !== "seen") throw new Error("--rl-prompts: unseen or seen");
const rlPrompts = values["rl-prompts"] === "seen" ? demos : pool;
writeFileSync(join(out, "prompts.jsonl"), jsonl(rlPrompts.map((i) => ({ prompt: [{ role: "user", content: i.question }], metadata: { answer: i.answer } }))));
writeFileSync(join(out, "eval.jsonl"), jsonl(evalSet.map((i) => ({ prompt: [{ role: "user", content: i.question }], metadata: { answer: i.answer } }))));
writeFileSync(join(out, "corpus.txt"), textOf(readFileSync(join(out, "sft.jsonl"), "utf8")) + "\n" + pool.map((i) => i.question).join("\n"));

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
async function run(spec: Record<string, unknown>) {
  const log = createMemoryLogger();
  const t = cpu();
  await runJob(jobSpecSchema.parse({ schemaVersion: 1, backend: "wasm", ...spec } as JobSpecInput), log);
  return { events: log.events, cpu: cpu() - t };
}
const heldout = async (name: string, model: string, previous?: string) => {
  const r = await run({ kind: "heldout", out: join(out, name), prompts: join(out, "eval.jsonl"), model: { checkpoint: model }, ...(previous ? { previous: { checkpoint: previous }, reference: { checkpoint: previous } } : {}), checker: { kind: "numeric" }, tools: ["calculator"], decoding: { maxNewTokens: 48 } });
  const report = JSON.parse(readFileSync(join(out, name, "heldout.json"), "utf8"));
  console.log(JSON.stringify({ stage: name, cpu: r.cpu.toFixed(1), checker: report.new.checker?.accuracy, previous: report.previous?.checker?.accuracy ?? null, kl: report.kl?.mean ?? null, length: report.new.meanLength, health: report.new.health, sample: report.samples.slice(0, 3).map((s: { new: { answer: string } }) => s.new.answer) }));
};

if (!values["skip-sft"]) {
  const tok = await run({ kind: "train-tokenizer", corpus: [join(out, "corpus.txt")], vocabSize: 512, out: join(out, "tok") });
  const vocab = tok.events.find((e) => e.type === "done")?.["vocabSize"];
  const steps = Number(values["sft-steps"]);
  const s = await run({ kind: "sft", data: join(out, "sft.jsonl"), tokenizer: join(out, "tok/tokenizer.json"), model: { init: { preset: values.preset, vocabSize: vocab }, seed: 0 }, out: join(out, "sft"), train: { steps, batchSize: 8, optim: { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: steps } } });
  console.log(JSON.stringify({ stage: "sft", cpu: s.cpu.toFixed(1), vocab }));
  await heldout("heldout-sft", join(out, "sft"));
}
const g = await run({
  kind: "grpo", prompts: join(out, "prompts.jsonl"), tokenizer: join(out, "sft/tokenizer.json"), model: { checkpoint: join(out, "sft") }, out: join(out, values["grpo-name"]!),
  reward: Number(values["tool-result-weight"]) > 0
    ? { checker: { kind: "numeric" }, toolResult: {}, weights: { toolResult: Number(values["tool-result-weight"]) } }
    : { checker: { kind: "numeric" } },
  tools: ["calculator"],
  train: { rollouts: Number(values.rollouts), promptsPerRollout: Number(values.prompts), numGenerations: Number(values.gens), maxCompletionLength: 48, beta: Number(values.beta), optim: { lr: Number(values.lr) },
    numIterations: Number(values.iterations), ...(Number(values["mini-batch"]) > 0 ? { miniBatchSize: Number(values["mini-batch"]) } : {}) },
});
const metrics = g.events.filter((e) => e.type === "metrics");
console.log(JSON.stringify({ stage: "grpo", cpu: g.cpu.toFixed(1), reward: metrics.map((m) => Number(m["reward"]).toFixed(2)).join(" "), kl: metrics.at(-1)?.["kl_guard/kl"], early: g.events.some((e) => e.type === "early_stop") }));
await heldout(`heldout-${values["grpo-name"]}`, join(out, values["grpo-name"]!), join(out, "sft"));
