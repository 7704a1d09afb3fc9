/**
 * Loop efficacy: does a round move the policy toward what people want, and by how much? (issue #11)
 *
 * Everything goes through the public HTTP API of a running Tandem (started here on a fresh
 * database, with the real trainer service), driven by simulated people whose utility is known:
 *
 *   task        "Is 417 even?" — the reference answer ("yes"/"no") is in each prompt's metadata,
 *               so the project's exact checker scores correctness;
 *   utility     u = 1 (right) + 0.5 (written as a sentence: "Yes." rather than "yes"), max 1.5;
 *               the checker sees the first part only, the people see both;
 *   demonstrator  right 60 % of the time, a sentence half the time (round 0 has headroom in both);
 *   labelers    three, each ranks the K sampled answers by τ·u + Gumbel noise (Plackett–Luce, so
 *               P(a over b) = σ(τ·(u_a − u_b))); identical answers tie.
 *
 * Round 0 trains a tiny policy from scratch on the demonstrations and samples K answers for the
 * training prompts; the labelers rank them; then each algorithm runs one round from round 0's
 * policy on those labels: DPO (one round per --dpo-lrs × --dpo-betas, the defaults sweep), reward
 * model → PPO, reward model + checker → GRPO, and KTO. Every round is scored by the server on the
 * held-out prompts (sampled at temperature 1 with fixed seeds, the same for the new and the
 * previous policy), and this bench computes the utility of those answers: before, after, the
 * paired difference with a bootstrap 95 % interval, the share of headroom closed, KL per answer
 * and the reward model's held-out accuracy next to what the labelers' own noise allows.
 *
 *   npm run bench:loop [-- --eval 96 --prompts 96 --tau 4 --seed 1 --dpo-lrs 1e-4,3e-5 --dpo-betas 0.1
 *                        --grpo-lrs 1e-4,1e-3 --only dpo,ppo,grpo,kto]
 *
 * Needs `npm run build` (the server's pages). Prints a table and writes bench/results/loop-<time>.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { checkAnswer, checkerSpecSchema } from "../trainer/contract/checker.ts";
import { createRng } from "../trainer/random/rng.ts";
import { startTestServer, type HttpClient } from "../tests/support/test-server.ts";
import { runTrainerService } from "../tests/support/trainer-service.ts";
import { takeTask } from "../tests/support/take-task.ts";

const { values } = parseArgs({
  options: {
    eval: { type: "string", default: "96" },
    prompts: { type: "string", default: "96" },
    demos: { type: "string", default: "96" },
    tau: { type: "string", default: "4" },
    seed: { type: "string", default: "1" },
    "sft-steps": { type: "string", default: "150" },
    "dpo-lrs": { type: "string", default: "1e-4,3e-5,1e-5" },
    "dpo-betas": { type: "string", default: "0.1" },
    only: { type: "string", default: "dpo,ppo,grpo,kto" },
    // GRPO on the checker alone, at these learning rates (the first is the default)
    "grpo-lrs": { type: "string", default: "1e-4,1e-3" },
  },
});
const EVAL = Number(values.eval);
const POOL = Number(values.prompts);
const DEMOS = Number(values.demos);
const TAU = Number(values.tau);
const SEED = Number(values.seed);
const ONLY = new Set(values.only!.split(","));
const K = 4;
const MAX_UTILITY = 1.5;
const checker = checkerSpecSchema.parse({ kind: "exact" });

// ---- the task and the people -------------------------------------------------------------------
const rng = createRng(SEED);
const numbers = new Set<number>();
while (numbers.size < DEMOS + POOL + EVAL) numbers.add(10 + Math.floor(rng.next() * 990));
const [demoNumbers, poolNumbers, evalNumbers] = [[...numbers].slice(0, DEMOS), [...numbers].slice(DEMOS, DEMOS + POOL), [...numbers].slice(DEMOS + POOL)];
const promptOf = (n: number) => `Is ${n} even?`;
const answerOf = (n: number) => (n % 2 === 0 ? "yes" : "no");
const numberIn = (prompt: string) => Number(/\d+/.exec(prompt)![0]);
const styled = (text: string) => /^[A-Z][a-z]*\.$/.test(text.trim());
const utility = (prompt: string, text: string) => (checkAnswer(checker, text, { answer: answerOf(numberIn(prompt)) }).score ?? 0) + (styled(text) ? 0.5 : 0);
const demonstration = (n: number) => {
  const word = rng.next() < 0.6 ? answerOf(n) : answerOf(n + 1);
  return rng.next() < 0.5 ? `${word[0]!.toUpperCase()}${word.slice(1)}.` : word;
};
const gumbel = () => -Math.log(-Math.log(Math.max(rng.next(), 1e-12)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// ---- statistics ----------------------------------------------------------------------------------
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/** 95 % percentile bootstrap interval of the mean of paired differences (prompts resampled). */
function bootstrap(diffs: number[], draws = 2000): [number, number] {
  const r = createRng(SEED + 99);
  const means = Array.from({ length: draws }, () => mean(diffs.map(() => diffs[Math.floor(r.next() * diffs.length)]!))).sort((a, b) => a - b);
  return [means[Math.floor(0.025 * draws)]!, means[Math.floor(0.975 * draws)]!];
}

// ---- the run -------------------------------------------------------------------------------------
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-loop-bench-"));
const server = await startTestServer({ TANDEM_DATA_DIR: dataDir, TANDEM_JOB_LEASE_SECONDS: "300" });
const trainerToken = await server.newToken("trainer");
const researcher = (await server.newUser("researcher")).client;
const labelers = await Promise.all([0, 1, 2].map(async () => (await server.newUser("labeler")).client));
const started = Date.now();

async function json<T>(response: Response): Promise<T> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status}: ${text}`);
  return JSON.parse(text) as T;
}
const project = await json<{ id: string }>(await researcher.json("POST", "/api/v1/projects", {
  name: "Loop bench: is it even?",
  settings: { k: K, overlap: { rank: 3, demonstrate: 1 }, goldRate: 0, checker: { kind: "exact" } },
}));
const records = [
  ...demoNumbers.map((n) => ({ prompt: promptOf(n), metadata: { answer: answerOf(n) } })),
  ...poolNumbers.map((n) => ({ prompt: promptOf(n), metadata: { answer: answerOf(n) } })),
  ...evalNumbers.map((n) => ({ prompt: promptOf(n), metadata: { answer: answerOf(n) }, split: "eval" })),
];
await json(await researcher.json("POST", `/api/v1/projects/${project.id}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true }));

/** Every open task, by every labeler: demonstrations by the (careless) demonstrator, rankings by Plackett–Luce. */
const rankings: Array<{ prompt: string; tiers: string[][] }> = [];
async function labelEverything(client: HttpClient, demonstrate: boolean): Promise<number> {
  let done = 0;
  for (let task = await takeTask(client, project.id); task; task = await takeTask(client, project.id)) {
    const prompt = task.messages.at(-1)!.content;
    let payload: Record<string, unknown>;
    if (task.taskType === "rank") {
      // identical answers are one tier (a tie) with one noisy score: one Gumbel draw per distinct
      // text, so P(a ≻ b) = σ(τ·Δu) however often the policy sampled either
      const byText = new Map<string, { ids: string[]; s: number }>();
      for (const c of task.completions) {
        const tier = byText.get(c.text) ?? { ids: [], s: TAU * utility(prompt, c.text) + gumbel() };
        tier.ids.push(c.id);
        byText.set(c.text, tier);
      }
      const tiers = [...byText.entries()].sort((a, b) => b[1].s - a[1].s);
      rankings.push({ prompt, tiers: tiers.map(([text, t]) => t.ids.map(() => text)) });
      payload = { ranking: { tiers: tiers.map(([, t]) => t.ids) } };
    } else if (demonstrate && task.taskType === "demonstrate") {
      payload = { text: demonstration(numberIn(prompt)) };
    } else {
      payload = { reason: "not this labeler's task" };
      const skipped = await client.json("POST", `/api/v1/assignments/${task.assignmentId}/skip`, payload);
      if (!skipped.ok) throw new Error(`skip: ${skipped.status} ${await skipped.text()}`);
      continue;
    }
    await json(await client.json("POST", `/api/v1/assignments/${task.assignmentId}/submit`, { idempotencyKey: `loop-bench-${task.assignmentId}`, payload }));
    done++;
  }
  return done;
}

type Round = { id: string; state: string; error: string | null; models: Array<{ id: string; kind: string }>; report: { heldOut: HeldOut | null } | null };
type HeldOut = {
  samples: number; kl: number | null; klStderr: number | null; rmAccuracy: number | null; rmPairs: number | null;
  checker: { new: number | null; previous: number | null } | null;
  examples: Array<{ prompt: string; new: { answer: string }; previous: { answer: string } | null }>;
};
const launch = async (body: Record<string, unknown>) => (await json<{ id: string }>(await researcher.json("POST", `/api/v1/projects/${project.id}/rounds`, body))).id;
const detail = (id: string) => researcher.get(`/api/v1/rounds/${id}`).then((r) => json<Round>(r));
async function train(): Promise<void> {
  const { code, output } = await runTrainerService(server.url, trainerToken, { backend: "wasm", timeoutMs: 6 * 3_600_000 });
  if (code !== 0) throw new Error(`trainer service exited with ${code}:\n${output.slice(-4000)}`);
}
const evaluation = { temperature: 1, seed: 11, maxNewTokens: 6, examples: Math.min(EVAL, 500) };
const base = { init: { vocabSize: 320, blockSize: 48, nLayer: 2, nHead: 2, nEmbd: 48 }, seed: SEED };

// 1. demonstrations, then round 0: SFT from scratch, then K samples for every pool prompt
const demonstrations = await labelEverything(labelers[0]!, true);
const round0 = await launch({
  name: "Round 0: SFT", path: "sft", base, evaluation,
  sft: { steps: Number(values["sft-steps"]), batchSize: 16, optim: { lr: 5e-3, warmupSteps: 10, minLr: 5e-4 } },
  next: { prompts: POOL, maxNewTokens: 6, temperature: 1, seed: SEED },
});
await train();
const r0 = await detail(round0);
if (r0.state !== "done") throw new Error(`round 0: ${r0.state} ${r0.error}`);
const policy = r0.models.find((m) => m.kind === "sft")!.id;

// 2. three labelers rank every sampled answer set
for (const labeler of labelers) await labelEverything(labeler, false);

// 3. one round per algorithm from round 0's policy
const rounds: Array<{ name: string; id: string }> = [];
const from = { base: { modelId: policy }, evaluation, next: { prompts: 0 } };
if (ONLY.has("dpo")) {
  for (const lr of values["dpo-lrs"]!.split(",").map(Number)) {
    for (const beta of values["dpo-betas"]!.split(",").map(Number)) {
      rounds.push({ name: `DPO lr ${lr} β ${beta}`, id: await launch({ name: `DPO lr ${lr} β ${beta}`, path: "dpo", ...from, dpo: { beta, optim: { lr, minLr: lr / 10 } } }) });
    }
  }
}
if (ONLY.has("ppo")) rounds.push({ name: "RM → PPO (defaults)", id: await launch({ name: "RM → PPO", path: "reward-ppo", ...from, evaluation: { ...evaluation, rewardSplit: 0.2 }, ppo: { rollouts: 20, responseLength: 6 } }) });
if (ONLY.has("grpo")) {
  rounds.push({
    name: "RM + checker → GRPO", id: await launch({
      name: "RM + checker → GRPO", path: "reward-grpo", ...from, evaluation: { ...evaluation, rewardSplit: 0.2 },
      rewards: { checker: { weight: 1 }, rewardModel: { weight: 1 } }, grpo: { rollouts: 20, promptsPerRollout: 8, numGenerations: 8, maxCompletionLength: 6 },
    }),
  });
}
if (ONLY.has("grpo")) {
  for (const lr of values["grpo-lrs"]!.split(",").map(Number)) {
    rounds.push({
      name: `checker → GRPO lr ${lr}`, id: await launch({
        name: `checker → GRPO lr ${lr}`, path: "grpo", ...from, rewards: { checker: { weight: 1 } },
        grpo: { rollouts: 20, promptsPerRollout: 8, numGenerations: 8, maxCompletionLength: 6, optim: { lr, minLr: lr / 10 } },
      }),
    });
  }
}
if (ONLY.has("kto")) rounds.push({ name: "KTO (defaults)", id: await launch({ name: "KTO", path: "kto", ...from }) });
await train();

// 4. figures
const pairStats = () => {
  // labeler vs labeler on the same answer pairs; the Bayes ceiling of any reward model: mean σ(τ·|Δu|)
  const byPrompt = new Map<string, Array<Map<string, number>>>();
  for (const r of rankings) {
    const rank = new Map<string, number>();
    r.tiers.forEach((tier, i) => tier.forEach((text) => rank.set(text, i)));
    byPrompt.set(r.prompt, [...(byPrompt.get(r.prompt) ?? []), rank]);
  }
  let agree = 0, pairs = 0, ceiling = 0, strict = 0;
  for (const [prompt, ranks] of byPrompt) {
    const texts = [...new Set(ranks.flatMap((r) => [...r.keys()]))];
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const [a, b] = [texts[i]!, texts[j]!];
        ceiling += sigmoid(TAU * Math.abs(utility(prompt, a) - utility(prompt, b)));
        strict++;
        for (let x = 0; x < ranks.length; x++) {
          for (let y = x + 1; y < ranks.length; y++) {
            const dx = Math.sign(ranks[x]!.get(a)! - ranks[x]!.get(b)!), dy = Math.sign(ranks[y]!.get(a)! - ranks[y]!.get(b)!);
            if (dx !== 0 && dy !== 0) { pairs++; if (dx === dy) agree++; }
          }
        }
      }
    }
  }
  return { labelerAgreement: agree / Math.max(1, pairs), rmCeiling: ceiling / Math.max(1, strict) };
};
const { labelerAgreement, rmCeiling } = pairStats();
type Result =
  | { name: string; state: string; error: string | null }
  | {
      name: string; state: string; prompts: number; utilityBefore: number; utilityAfter: number; diff: number; ci95: [number, number];
      headroomClosed: number; checkerBefore: number | null; checkerAfter: number | null; styledBefore: number; styledAfter: number;
      kl: number | null; klStderr: number | null; rmAccuracy: number | null; rmPairs: number | null;
    };
const results: Result[] = [];
for (const r of rounds) {
  const round = await detail(r.id);
  const held = round.report?.heldOut;
  if (round.state !== "done" || !held) {
    results.push({ name: r.name, state: round.state, error: round.error });
    continue;
  }
  const rows = held.examples.filter((e) => e.previous);
  const before = rows.map((e) => utility(e.prompt, e.previous!.answer));
  const after = rows.map((e) => utility(e.prompt, e.new.answer));
  const diffs = after.map((u, i) => u - before[i]!);
  const [lo, hi] = bootstrap(diffs);
  const uBefore = mean(before), uAfter = mean(after);
  results.push({
    name: r.name, state: round.state, prompts: rows.length,
    utilityBefore: uBefore, utilityAfter: uAfter, diff: uAfter - uBefore, ci95: [lo, hi],
    headroomClosed: uBefore < MAX_UTILITY ? (uAfter - uBefore) / (MAX_UTILITY - uBefore) : 0,
    checkerBefore: held.checker?.previous ?? null, checkerAfter: held.checker?.new ?? null,
    styledBefore: mean(rows.map((e) => Number(styled(e.previous!.answer)))), styledAfter: mean(rows.map((e) => Number(styled(e.new.answer)))),
    kl: held.kl, klStderr: held.klStderr, rmAccuracy: held.rmAccuracy, rmPairs: held.rmPairs,
  });
}
const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "—" : x.toFixed(d));
console.log(`\nLoop bench: ${demonstrations} demonstrations, ${rankings.length} rankings (3 labelers, K ${K}, τ ${TAU}), ${EVAL} held-out prompts, seed ${SEED}, ${((Date.now() - started) / 60000).toFixed(1)} min`);
console.log(`labeler–labeler agreement ${f(labelerAgreement, 3)}; a reward model's ceiling (mean σ(τ|Δu|) over ranked pairs) ${f(rmCeiling, 3)}; round 0's held-out checker ${f(r0.report?.heldOut?.checker?.new)}`);
console.log("| round | utility before → after | Δ [95 % CI] | headroom closed | checker before → after | sentences before → after | KL (nats) | RM held-out acc. |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of results) {
  if (!("diff" in r)) {
    console.log(`| ${r.name} | ${r.state}: ${r.error} | | | | | | |`);
    continue;
  }
  console.log(`| ${r.name} | ${f(r.utilityBefore)} → ${f(r.utilityAfter)} | ${f(r.diff, 3)} [${f(r.ci95[0], 3)}, ${f(r.ci95[1], 3)}] | ${f(100 * r.headroomClosed, 0)} % | ${f(r.checkerBefore)} → ${f(r.checkerAfter)} | ${f(r.styledBefore)} → ${f(r.styledAfter)} | ${f(r.kl)} ± ${f(r.klStderr)} | ${f(r.rmAccuracy)} (${r.rmPairs ?? "—"} pairs) |`);
}
fs.mkdirSync("bench/results", { recursive: true });
const file = `bench/results/loop-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
fs.writeFileSync(file, JSON.stringify({ args: values, demonstrations, rankings: rankings.length, labelerAgreement, rmCeiling, round0: r0.report?.heldOut?.checker, results }, null, 2));
console.log(`\nwritten: ${file}`);
await server.stop();
fs.rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
