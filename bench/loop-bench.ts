/**
 * Loop efficacy: does a round move the policy toward what people want, and by how much? (issue #11)
 *
 * Everything goes through the public HTTP API of a running Tandem (started here on a fresh
 * database, with the real trainer service), driven by simulated people whose utility is known.
 * Two tasks (--task):
 *
 *   arithmetic (default)  "What is 417 + 86?" — the project has the calculator; the reference
 *               answer is in each prompt's metadata (numeric checker). Substance is *using the tool*:
 *               a small model cannot add three-digit numbers in its head, but it can learn to copy
 *               the expression into a calculator call;
 *   parity      "Is 417 even?" — exact checker on "yes"/"no"; no tool, and (measured) too hard for
 *               the bench's tiny model to learn from ~300 rankings (kept to compare).
 *
 *   utility     u = 1 (right, by the project's checker) + 0.5 (the house style: a sentence, "The
 *               answer is 503." / "Yes." rather than "503" / "yes"), max 1.5; the checker sees the
 *               first part only, the people see both;
 *   demonstrator  careless: arithmetic — calls the calculator 40 % of the time (--tool-share) and otherwise answers
 *               from memory; parity — right 60 % of the time; a sentence half the time (round 0 has
 *               headroom in both);
 *   labelers    three, each ranks the K sampled answers by τ·u + Gumbel noise (Plackett–Luce, so
 *               P(a over b) = σ(τ·(u_a − u_b))); identical answers tie (with --labeler-ties 1, answers of
 *               equal utility too; with --labeler-wrong-last 1, every wrong answer in one bottom tier).
 *
 * Round 0 trains a small policy from scratch on the demonstrations and samples K answers for the
 * training prompts; the labelers rank them; then each algorithm runs one round from round 0's
 * policy on those labels: DPO (one round per --dpo-lrs × --dpo-betas), reward model → PPO (per
 * --ppo-lrs), reward model + checker → GRPO, GRPO on the checker alone (per --grpo-lrs), and KTO (per
 * --kto-lrs) — the defaults sweep; and a chain: GRPO on the checker, then DPO on round 0's rankings with
 * GRPO's policy as its base (does the checker's score survive a round for style? once per --dpo-dpop λ); with
 * --only chain-fresh, the same chain the loop's way (the GRPO policy samples, the labelers rank, DPO trains on
 * those rankings alone); and, asked for
 * with --only dpo-loop, the loop itself: --dpo-rounds DPO rounds in a row, each on the rankings of what the
 * previous policy sampled. Every round is scored by the server on the held-out prompts
 * (greedy for arithmetic, sampled at temperature 1 for parity, with the same seeds for the new and the
 * previous policy), and this
 * bench computes the utility of those answers: before, after, the paired difference with a
 * bootstrap 95 % interval, the share of utility headroom and of correctness headroom closed, KL per
 * answer and the reward model's held-out accuracy next to what the labelers' own noise allows.
 *
 *   npm run bench:loop [-- --task arithmetic --eval 96 --prompts 96 --tau 4 --seed 1
 *                        --dpo-lrs 1e-4,3e-4 --dpo-betas 0.1 --dpo-steps 100,300 --dpo-batch 8,32 --dpo-rpo 0,1 --dpo-dpop auto,0,1,50 --dpo-consensus 0,1 --dpo-pairs all,best_vs_rest --dpo-right-chosen 0,1 --dpo-smoothing 0,0.2 --dpo-loss sigmoid,ipo --dpo-ranked-best 0,1 --dpo-sft-steps 60 --dpo-sft-lr 3e-4 --dpo-sft-demos 0,1 --dpo-seeds 0,1,2 --ppo-lrs 1e-4 --grpo-lrs 1e-4,1e-3
 *                        --grpo-mini-batches 0,16 --grpo-iterations 1,2 --grpo-tool-result 0,0.5 --grpo-digits 0,0.5 --grpo-temperatures 1,0.7 --sample-temperature 1
 *                        --kto-lrs 3e-5 --rm-steps 30,100,300 --rm-lrs 1e-4,3e-5 --ppo-checker auto,0,0.5 --ppo-tool-result 0,0.5 --ppo-kl-target auto,off,3 --rollouts 20 --tool-share 0.4 --policy 6x192 --dpo-rounds 3 --rl-fresh 0
 *                        --only dpo,ppo,rm-grpo,grpo,kto,chain,chain-fresh,dpo-loop]
 *
 * Needs `npm run build` (the server's pages). Prints a table and writes bench/results/loop-<time>.json
 * (with every held-out answer and its utility, per prompt).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { checkAnswer, checkerSpecSchema } from "../trainer/contract/checker.ts";
import { arithmeticItems, askedExpression, calculatorTranscript } from "../server/demo/arithmetic.ts";
import { createRng } from "../trainer/random/rng.ts";
import { hashFraction } from "../server/labeling/data-mix.ts";
import { startTestServer, type HttpClient } from "../tests/support/test-server.ts";
import { runTrainerService } from "../tests/support/trainer-service.ts";
import { takeTask } from "../tests/support/take-task.ts";

const { values } = parseArgs({
  options: {
    task: { type: "string", default: "arithmetic" },
    eval: { type: "string", default: "96" },
    prompts: { type: "string", default: "96" },
    // default per task: arithmetic 300 (copying an expression into a call takes examples), parity 96
    demos: { type: "string" },
    tau: { type: "string", default: "4" },
    // 1 = the labelers tie answers of equal utility (as the ranking UI allows) instead of ordering them by noise
    "labeler-ties": { type: "string", default: "0" },
    // 1 = a guideline "wrong answers last": every wrong answer goes into one bottom tier, tied, whatever its style
    "labeler-wrong-last": { type: "string", default: "0" },
    seed: { type: "string", default: "1" },
    // default per task: arithmetic 800 (the demo's), parity 150
    "sft-steps": { type: "string" },
    // arithmetic: how often the careless demonstrator calls the calculator (round 0's competence)
    "tool-share": { type: "string", default: "0.4" },
    // arithmetic: the policy's size, "<layers>x<width>" (heads of 32) or "nano" (the demo's: 4 layers, 128 wide).
    // 6x192 by default since the thirteenth run: nano's capacity, not the algorithms, capped what a round could
    // teach (decision 0060); --policy nano repeats the earlier runs
    policy: { type: "string", default: "6x192" },
    "dpo-lrs": { type: "string", default: "1e-4,3e-4" },
    "dpo-betas": { type: "string", default: "0.1" },
    // DPO's optimizer steps (the trainer's default is 100 steps of 8 pairs), swept with the lrs and βs
    "dpo-steps": { type: "string", default: "100" },
    // DPO's pairs per optimizer step (the trainer's default 8), swept with the steps
    "dpo-batch": { type: "string", default: "8" },
    // RPO's α (the chosen answers' NLL beside DPO's loss; 0 = plain DPO), swept with the lrs and βs
    "dpo-rpo": { type: "string", default: "0" },
    // DPOP's λ (a chosen answer that falls below the reference counts against the margin; 0 = plain DPO; "auto" = the
    // round's default: 0.3, or 10 after an RL step, decisions 0064 and 0068), swept the same way; the chain's DPO and the dpo-loop take it too
    "dpo-dpop": { type: "string", default: "auto" },
    // 1 = DPO on one pair set per item from the consensus of its labelers' rankings (data.consensus), 0 = every labeler's pairs
    "dpo-consensus": { type: "string", default: "0" },
    // which pairs each ranking yields (data.pairs: all, adjacent, best_vs_rest), swept with the settings above
    "dpo-pairs": { type: "string", default: "all" },
    // data.rightChosenOnly (decision 0063): 1 leaves out the pairs whose chosen answer the checker marks wrong; swept
    // with the settings above, and in chain-fresh's DPO rounds
    "dpo-right-chosen": { type: "string", default: "0" },
    // cDPO's label smoothing (the assumed share of flipped labels; 0 = plain DPO) and DPO's loss (sigmoid, ipo, hinge),
    // swept with the settings above
    "dpo-smoothing": { type: "string", default: "0" },
    "dpo-loss": { type: "string", default: "sigmoid" },
    // the rankings' favourites as SFT examples before DPO (data.mix.rankedBest, decision 0069): at these weights, 0 = plain
    // DPO; above 0 the round is sft-dpo, whose SFT takes --dpo-sft-steps steps of 8 at --dpo-sft-lr, and the
    // demonstrations at --dpo-sft-demos (0 = the favourites alone); swept with the settings above
    "dpo-ranked-best": { type: "string", default: "0" },
    // the DPO step's seed (the order of its pairs; the trainer's default 0), swept with the settings above: how far
    // one round's result moves with the data order alone
    "dpo-seeds": { type: "string", default: "0" },
    "dpo-sft-steps": { type: "string", default: "60" },
    "dpo-sft-lr": { type: "string", default: "3e-4" },
    "dpo-sft-demos": { type: "string", default: "1" },
    // dpo-loop: this many DPO rounds in a row, each on the rankings of the answers the previous policy sampled
    "dpo-rounds": { type: "string", default: "3" },
    "ppo-lrs": { type: "string", default: "1e-4" },
    // PPO's reward (decision 0065): "auto" leaves the round's rewards blank (the reward model plus the project's
    // checker), 0 the reward model alone, a number the checker at that weight beside it; swept with --ppo-lrs
    "ppo-checker": { type: "string", default: "auto" },
    // PPO: credit for stating the last tool result (rewards.toolResult) at these weights beside the above; 0 = none
    "ppo-tool-result": { type: "string", default: "0" },
    // PPO's KL target (decision 0066): "auto" leaves it to the round (an early stop at 6 nats), "off" no guard (a fixed β,
    // PPO before decision 0066), a number an early stop there; swept with the settings above
    "ppo-kl-target": { type: "string", default: "auto" },
    // PPO's critic warm-up: rollouts whose updates train the value model only; "auto" leaves it to the round (off,
    // trainer-036), 0 none; swept with the settings above
    "ppo-critic-warmup": { type: "string", default: "auto" },
    // GRPO on the checker alone, at these learning rates (the first is the default)
    "grpo-lrs": { type: "string", default: "1e-4,1e-3" },
    // GRPO's samples per optimizer step (0 = the whole rollout, the default) and passes over each rollout (μ)
    "grpo-mini-batches": { type: "string", default: "0" },
    "grpo-iterations": { type: "string", default: "1" },
    // the tool_result reward's weight beside the checker (credit for stating the calculator's result; 0 = none)
    "grpo-tool-result": { type: "string", default: "0" },
    // the digits reward's weight beside the checker (partial credit per digit of the stated number; 0 = none)
    "grpo-digits": { type: "string", default: "0" },
    // GRPO's sampling temperature (TRL's default 1; the log-probs are taken at the same temperature)
    "grpo-temperatures": { type: "string", default: "1" },
    // GRPO with DAPO's dynamic sampling (1: more prompt batches per rollout until every group trained on holds mixed
    // rewards, at most --grpo-max-batches; 0: every group trains), swept with the settings above
    "grpo-dynamic": { type: "string", default: "0" },
    "grpo-max-batches": { type: "string", default: "3" },
    // GRPO's upper clip ε (DAPO's clip-higher: 0.28; 0 = the lower ε, 0.2) and samples per prompt (G), swept as above
    "grpo-eps-high": { type: "string", default: "0" },
    "grpo-gens": { type: "string", default: "8" },
    "kto-lrs": { type: "string", default: "3e-5" },
    // the temperature round 0 samples the labelers' K answers at (the round's next.temperature; 1 = the default)
    "sample-temperature": { type: "string", default: "1" },
    // the reward model's steps and learning rates before PPO / GRPO (the trainer's defaults: 100 steps, lr 1e-4); the ppo
    // rows sweep both, rm-grpo takes the first of each
    "rm-steps": { type: "string", default: "100" },
    "rm-lrs": { type: "string", default: "1e-4" },
    // arithmetic: GRPO on this many fresh prompts instead of the project's own (every one of which round 0 was
    // demonstrated or sampled on): a second project holds them and the same eval set, and its GRPO rounds start
    // from round 0's policy (0 = GRPO in the project itself)
    "rl-fresh": { type: "string", default: "0" },
    // PPO and GRPO rollouts per round (the trainer's default is 50; the demo's GRPO runs 40)
    rollouts: { type: "string", default: "20" },
    // PPO's rollouts, swept with its other settings; blank = --rollouts
    "ppo-rollouts": { type: "string", default: "" },
    // rm-grpo: reward model + checker → GRPO; grpo: GRPO on the checker alone (per --grpo-lrs);
    // dpo-loop (not by default): --dpo-rounds DPO rounds in a row, each on freshly sampled and ranked answers
    only: { type: "string", default: "dpo,ppo,rm-grpo,grpo,kto,chain" },
  },
});
if (values.task !== "arithmetic" && values.task !== "parity") throw new Error(`--task: arithmetic or parity, not ${values.task}`);
const ARITHMETIC = values.task === "arithmetic";
const EVAL = Number(values.eval);
const POOL = Number(values.prompts);
const DEMOS = Number(values.demos ?? (ARITHMETIC ? 300 : 96));
const SFT_STEPS = Number(values["sft-steps"] ?? (ARITHMETIC ? 800 : 150));
const TAU = Number(values.tau);
const TIES = values["labeler-ties"] === "1";
const WRONG_LAST = values["labeler-wrong-last"] === "1";
const TOOL_SHARE = Number(values["tool-share"]);
const SEED = Number(values.seed);
const ONLY = new Set(values.only!.split(","));
const lrs = (name: string) => values[name as keyof typeof values]!.toString().split(",").map(Number);
/** --dpo-dpop's values: a number, or undefined for "auto" (the round chooses, decision 0064; JSON leaves it out). */
const dpops = () => values["dpo-dpop"]!.split(",").map((v) => (v === "auto" ? undefined : Number(v)));
const K = 4;
const MAX_UTILITY = 1.5;

// ---- the task and the people -------------------------------------------------------------------
const rng = createRng(SEED);
type Item = { prompt: string; reference: string | number; expression?: string };
type Demonstration = { text: string; toolTurns?: unknown[] };
type Task = {
  items: Item[];
  settings: Record<string, unknown>;
  checker: ReturnType<typeof checkerSpecSchema.parse>;
  styled: (text: string) => boolean;
  demonstration: (item: Item) => Demonstration;
  base: Record<string, unknown>;
  sft: Record<string, unknown>;
  answerTokens: number;
  /** Decoding of the held-out evaluation (the same seeds for the new and the previous policy). */
  evalTemperature: number;
};
/** The demonstrator writes the house style half the time. */
const inStyle = () => rng.next() < 0.5;

/** "nano", or "<layers>x<width>" with heads of 32 dimensions and nano's block size. */
function policyInit(policy: string): Record<string, unknown> {
  if (policy === "nano") return { preset: "nano" };
  const match = /^(\d+)x(\d+)$/.exec(policy);
  if (!match || Number(match[2]) % 32 !== 0) throw new Error(`--policy: "nano" or <layers>x<width> with the width a multiple of 32, not ${policy}`);
  return { vocabSize: 512, blockSize: 128, nLayer: Number(match[1]), nHead: Number(match[2]) / 32, nEmbd: Number(match[2]) };
}

function arithmeticTask(): Task {
  const all = arithmeticItems(DEMOS + POOL + EVAL, 7000 + SEED);
  return {
    items: all.map((item) => ({ prompt: item.question, reference: item.answer, expression: askedExpression(item) })),
    settings: { tools: ["calculator"], checker: { kind: "numeric", field: "answer" } },
    checker: checkerSpecSchema.parse({ kind: "numeric", field: "answer" }),
    styled: (text) => /^The answer is -?\d+\.$/.test(text.trim()),
    demonstration: (item) => {
      const useTool = rng.next() < TOOL_SHARE;
      const said = inStyle() ? `The answer is ${item.reference}.` : String(item.reference);
      if (!useTool) return { text: said };
      const [call, result] = calculatorTranscript(item.expression!, Number(item.reference));
      return { text: said, toolTurns: [call, result] };
    },
    // a policy from scratch (6x192 unless --policy says otherwise; the demo's is nano), the demo's 800 steps
    base: { init: policyInit(String(values.policy)), vocabSize: 512, seed: SEED },
    sft: { steps: SFT_STEPS, batchSize: 8, optim: { lr: 1e-3, minLr: 1e-4, warmupSteps: 10 } },
    answerTokens: 48,
    // greedy: at temperature 1 a sampled digit slips in copying a three-digit result (round 0 scored
    // 0 of 96 that way while its tool calls were right); the paired comparison needs no sampling
    evalTemperature: 0,
  };
}

function parityTask(): Task {
  const numbers = new Set<number>();
  while (numbers.size < DEMOS + POOL + EVAL) numbers.add(10 + Math.floor(rng.next() * 990));
  const answerOf = (n: number) => (n % 2 === 0 ? "yes" : "no");
  return {
    items: [...numbers].map((n) => ({ prompt: `Is ${n} even?`, reference: answerOf(n) })),
    settings: { checker: { kind: "exact", field: "answer" } },
    checker: checkerSpecSchema.parse({ kind: "exact", field: "answer" }),
    styled: (text) => /^[A-Z][a-z]*\.$/.test(text.trim()),
    demonstration: (item) => {
      const n = Number(/\d+/.exec(item.prompt)![0]);
      const word = rng.next() < 0.6 ? answerOf(n) : answerOf(n + 1);
      return { text: inStyle() ? `${word[0]!.toUpperCase()}${word.slice(1)}.` : word };
    },
    base: { init: { vocabSize: 320, blockSize: 48, nLayer: 2, nHead: 2, nEmbd: 48 }, seed: SEED },
    sft: { steps: SFT_STEPS, batchSize: 16, optim: { lr: 5e-3, warmupSteps: 10, minLr: 5e-4 } },
    answerTokens: 6,
    evalTemperature: 1,
  };
}

const task = ARITHMETIC ? arithmeticTask() : parityTask();
const [demoItems, poolItems, evalItems] = [task.items.slice(0, DEMOS), task.items.slice(DEMOS, DEMOS + POOL), task.items.slice(DEMOS + POOL)];
// items after the task's own in the same seeded sequence (arithmeticItems keeps its prefix for a longer count)
const RL_FRESH = ARITHMETIC ? Number(values["rl-fresh"]) : 0;
const freshItems: Item[] = arithmeticItems(DEMOS + POOL + EVAL + RL_FRESH, 7000 + SEED)
  .slice(DEMOS + POOL + EVAL)
  .map((item) => ({ prompt: item.question, reference: item.answer, expression: askedExpression(item) }));
const itemOf = new Map([...task.items, ...freshItems].map((item) => [item.prompt, item]));
const correct = (prompt: string, text: string) => checkAnswer(task.checker, text, { answer: itemOf.get(prompt)!.reference }).score ?? 0;
const utility = (prompt: string, text: string) => correct(prompt, text) + (task.styled(text) ? 0.5 : 0);
/**
 * A labeler's Gumbel noise on one answer, a function of the seed, the labeler, the prompt and the answer's key: the
 * same labeler gives the same answer the same score in every run, whatever order the server hands out the tasks
 * (drawn from one stream in arrival order, the same seed ranked differently from run to run; twenty-fifth run).
 */
const gumbel = (labeler: number, prompt: string, key: string) => -Math.log(-Math.log(Math.max(hashFraction(`${SEED}\u0000${labeler}\u0000${prompt}\u0000${key}`), 1e-12)));
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
  name: `Loop bench: ${values.task}`,
  // open: the simulated labelers take tasks without being added as members (decision 0031)
  access: "open",
  settings: { k: K, overlap: { rank: 3, demonstrate: 1 }, goldRate: 0, ...task.settings },
}));
const record = (item: Item, split?: "eval") => ({ prompt: item.prompt, metadata: { answer: item.reference }, ...(split ? { split } : {}) });
const records = [...demoItems.map((i) => record(i)), ...poolItems.map((i) => record(i)), ...evalItems.map((i) => record(i, "eval"))];
await json(await researcher.json("POST", `/api/v1/projects/${project.id}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true }));

/** Every open task, by every labeler: demonstrations by the (careless) demonstrator, rankings by Plackett–Luce. */
const rankings: Array<{ prompt: string; tiers: string[][]; calls: boolean[][] }> = [];
async function labelEverything(client: HttpClient, demonstrate: boolean): Promise<number> {
  const labeler = labelers.indexOf(client);
  let done = 0;
  for (let shown = await takeTask(client, project.id); shown; shown = await takeTask(client, project.id)) {
    const prompt = shown.messages.at(-1)!.content;
    let payload: Record<string, unknown>;
    if (shown.taskType === "rank") {
      // identical answers are one tier (a tie) with one noisy score: one Gumbel draw per distinct
      // text, so P(a ≻ b) = σ(τ·Δu) however often the policy sampled either. With --labeler-ties,
      // answers of equal utility are one tier too (two wrong answers in the same style: "both bad")
      const byKey = new Map<string, { ids: string[]; texts: string[]; calls: boolean[]; s: number }>();
      for (const c of shown.completions) {
        const u = utility(prompt, c.text);
        const called = (c.messages ?? []).some((m) => m.role === "tool");
        const wrongLast = WRONG_LAST && correct(prompt, c.text) === 0;
        const key = wrongLast ? "wrong" : TIES ? String(u) : c.text;
        const tier = byKey.get(key) ?? { ids: [], texts: [], calls: [], s: wrongLast ? -Infinity : TAU * u + gumbel(labeler, prompt, key) };
        tier.ids.push(c.id);
        tier.texts.push(c.text);
        tier.calls.push(called);
        byKey.set(key, tier);
      }
      const tiers = [...byKey.values()].sort((a, b) => b.s - a.s);
      rankings.push({ prompt, tiers: tiers.map((t) => t.texts), calls: tiers.map((t) => t.calls) });
      // ids in a tier sorted, not in the order shown (shuffled per assignment): the same ranking gives the same pairs in
      // the same order, so the DPO step's seeded shuffle sees the same data in every run
      payload = { ranking: { tiers: tiers.map((t) => [...t.ids].sort((a, b) => Number(a) - Number(b))) } };
    } else if (demonstrate && shown.taskType === "demonstrate") {
      payload = task.demonstration(itemOf.get(prompt)!);
    } else {
      payload = { reason: "not this labeler's task" };
      const skipped = await client.json("POST", `/api/v1/assignments/${shown.assignmentId}/skip`, payload);
      if (!skipped.ok) throw new Error(`skip: ${skipped.status} ${await skipped.text()}`);
      continue;
    }
    await json(await client.json("POST", `/api/v1/assignments/${shown.assignmentId}/submit`, { idempotencyKey: `loop-bench-${shown.assignmentId}`, payload }));
    done++;
  }
  return done;
}

type Round = {
  id: string; project_id: string; state: string; error: string | null; models: Array<{ id: string; kind: string }>;
  report: { heldOut: HeldOut | null; warnings?: Array<{ code: string }> } | null;
  data_snapshot: {
    until: string; consensus: boolean; minAgreement: number | null; pairs?: string; mix?: unknown; gold?: unknown; chosenChecker?: unknown;
    since: string | null; labeler: string | null; sources?: { projects: string[]; rounds: unknown[] | null }; promptSplit?: { seed: string; share: number } | null;
  };
};
type HeldAnswer = { answer: string; toolCalls?: number; tools?: Array<{ name: string; arguments: Record<string, unknown>; result: string | null }> };
type HeldOut = {
  samples: number; kl: number | null; klStderr: number | null; rmAccuracy: number | null; rmPairs: number | null; rmLabelerAgreement?: { rate: number; compared: number } | null;
  /** KL to the SFT policy the chain of rounds started from (decision 0058); absent or null for a round straight off it. */
  klFromOrigin?: number | null;
  checker: { new: number | null; previous: number | null } | null;
  examples: Array<{ prompt: string; new: HeldAnswer; previous: HeldAnswer | null }>;
};
const launch = async (body: Record<string, unknown>, projectId = project.id) => (await json<{ id: string }>(await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, body))).id;
const detail = (id: string) => researcher.get(`/api/v1/rounds/${id}`).then((r) => json<Round>(r));
async function train(): Promise<void> {
  const { code, output } = await runTrainerService(server.url, trainerToken, { backend: "wasm", timeoutMs: 6 * 3_600_000 });
  if (code !== 0) throw new Error(`trainer service exited with ${code}:\n${output.slice(-4000)}`);
}
const T = task.answerTokens;
const evaluation = { temperature: task.evalTemperature, seed: 11, maxNewTokens: T, examples: Math.min(EVAL, 500) };
const ROLLOUTS = Number(values.rollouts);

// 1. demonstrations, then round 0: SFT from scratch, then K samples for every pool prompt
const demonstrations = await labelEverything(labelers[0]!, true);
const round0 = await launch({
  name: "Round 0: SFT", path: "sft", base: task.base, evaluation, sft: task.sft,
  next: { prompts: POOL, maxNewTokens: T, temperature: Number(values["sample-temperature"]), seed: SEED },
});
await train();
const r0 = await detail(round0);
if (r0.state !== "done") throw new Error(`round 0: ${r0.state} ${r0.error}`);
const policy = r0.models.find((m) => m.kind === "sft")!.id;

// 2. three labelers rank every sampled answer set
for (const labeler of labelers) await labelEverything(labeler, false);
const round0Rankings = rankings.length;

// 3. one round per algorithm (and learning rate) from round 0's policy
const rounds: Array<{ name: string; id: string }> = [];
const from = { base: { modelId: policy }, evaluation, next: { prompts: 0 } };
const add = async (name: string, body: Record<string, unknown>) => rounds.push({ name, id: await launch({ name, ...from, ...body }) });
const optim = (lr: number) => ({ lr, minLr: lr / 10 });
const rewardModelWith = (steps: number, lr: number) => ({ reward: { steps, optim: { lr } }, evaluation: { ...evaluation, rewardSplit: 0.2 } });
const rewardModel = rewardModelWith(lrs("rm-steps")[0]!, lrs("rm-lrs")[0]!);
const grpo = { rollouts: ROLLOUTS, promptsPerRollout: 8, numGenerations: 8, maxCompletionLength: T };
if (ONLY.has("dpo")) {
  for (const lr of lrs("dpo-lrs")) {
    for (const beta of lrs("dpo-betas")) {
      for (const rpoAlpha of lrs("dpo-rpo")) for (const dpopLambda of dpops()) for (const consensus of lrs("dpo-consensus")) for (const steps of lrs("dpo-steps")) for (const batchSize of lrs("dpo-batch")) for (const pairs of values["dpo-pairs"]!.split(",")) for (const rightChosen of lrs("dpo-right-chosen")) for (const labelSmoothing of lrs("dpo-smoothing")) for (const lossType of values["dpo-loss"]!.split(",")) for (const rankedBest of lrs("dpo-ranked-best")) for (const sftSteps of rankedBest ? lrs("dpo-sft-steps") : [0]) for (const sftLr of rankedBest ? lrs("dpo-sft-lr") : [0]) for (const sftDemos of rankedBest ? lrs("dpo-sft-demos") : [1]) for (const seed of lrs("dpo-seeds")) {
        const name = `DPO lr ${lr} β ${beta}${rpoAlpha ? ` RPO α ${rpoAlpha}` : ""} DPOP λ ${dpopLambda ?? "auto"}${steps !== 100 ? ` ${steps} steps` : ""}${batchSize !== 8 ? ` batch ${batchSize}` : ""}${consensus ? " consensus pairs" : ""}${pairs !== "all" ? ` pairs ${pairs}` : ""}${rightChosen ? " right chosen only" : ""}`
          + `${labelSmoothing ? ` label smoothing ${labelSmoothing}` : ""}${lossType !== "sigmoid" ? ` ${lossType} loss` : ""}`
          + `${seed ? ` seed ${seed}` : ""}${rankedBest ? `, after SFT on the favourites ×${rankedBest}${sftDemos !== 1 ? ` and demonstrations ×${sftDemos}` : ""} (${sftSteps} steps, lr ${sftLr})` : ""}`;
        const mix = rankedBest ? { mix: { rankedBest, ...(sftDemos !== 1 ? { demonstrations: sftDemos } : {}) } } : {};
        const data = { ...(consensus ? { consensus: true } : {}), ...(pairs !== "all" ? { pairs } : {}), ...(rightChosen ? { rightChosenOnly: true } : {}), ...mix };
        const sft = rankedBest ? { path: "sft-dpo", sft: { steps: sftSteps, batchSize: 8, optim: { lr: sftLr, minLr: sftLr / 10, warmupSteps: 5 } } } : { path: "dpo" };
        await add(name, { ...sft, dpo: { beta, rpoAlpha, dpopLambda, steps, batchSize, labelSmoothing, lossType, seed, optim: optim(lr) }, ...(Object.keys(data).length > 0 ? { data } : {}) });
      }
    }
  }
}
if (ONLY.has("ppo")) {
  for (const lr of lrs("ppo-lrs")) for (const rmSteps of lrs("rm-steps")) for (const rmLr of lrs("rm-lrs")) for (const checker of values["ppo-checker"]!.split(",")) for (const toolResult of lrs("ppo-tool-result")) for (const klTarget of values["ppo-kl-target"]!.split(",")) for (const warmup of values["ppo-critic-warmup"]!.split(",")) for (const rollouts of values["ppo-rollouts"] ? lrs("ppo-rollouts") : [ROLLOUTS]) {
    const rm = rmSteps !== 100 || rmLr !== 1e-4 ? ` (RM ${rmSteps} steps, lr ${rmLr})` : "";
    // blank rewards are the round's default (reward model + checker); a tool-result term makes them explicit
    const weight = checker === "auto" ? (toolResult > 0 ? 1 : null) : Number(checker);
    const sources = { rewardModel: { weight: 1 }, ...(weight ? { checker: { weight } } : {}), ...(toolResult > 0 ? { toolResult: { weight: toolResult } } : {}) };
    const rewards = weight === null ? {} : { rewards: sources };
    const reward = `${weight === null ? "" : weight === 0 ? " reward model alone" : ` checker weight ${weight}`}${toolResult > 0 ? ` tool result ${toolResult}` : ""}`;
    const guard = klTarget === "auto" ? {} : { klTarget: klTarget === "off" ? null : Number(klTarget) };
    const kl = klTarget === "auto" ? "" : klTarget === "off" ? " no KL guard" : ` KL target ${klTarget}`;
    await add(`RM → PPO lr ${lr}${rm}${reward}${kl}${warmup === "auto" ? "" : ` critic warm-up ${warmup}`}${rollouts !== ROLLOUTS ? ` ${rollouts} rollouts` : ""}`, { path: "reward-ppo", ...rewardModelWith(rmSteps, rmLr), ...rewards, ppo: { rollouts, responseLength: T, ...guard, ...(warmup === "auto" ? {} : { criticWarmupRollouts: Number(warmup) }), optim: optim(lr) } });
  }
}
if (ONLY.has("rm-grpo")) await add("RM + checker → GRPO", { path: "reward-grpo", ...rewardModel, rewards: { checker: { weight: 1 }, rewardModel: { weight: 1 } }, grpo });
// --rl-fresh: a second project with the fresh prompts and the same eval set, for GRPO's rollouts
let rlProject = project.id;
if (RL_FRESH > 0 && ONLY.has("grpo")) {
  rlProject = (await json<{ id: string }>(await researcher.json("POST", "/api/v1/projects", {
    name: "Loop bench: fresh RL prompts", access: "open", settings: { k: K, goldRate: 0, ...task.settings },
  }))).id;
  const rlRecords = [...freshItems.map((i) => record(i)), ...evalItems.map((i) => record(i, "eval"))];
  await json(await researcher.json("POST", `/api/v1/projects/${rlProject}/imports`, { content: rlRecords.map((r) => JSON.stringify(r)).join("\n"), commit: true }));
}
/** One GRPO setting of the sweep: its label and its `grpo` train settings. */
function grpoSetting(lr: number, miniBatch: number, mu: number, temperature: number, dynamic: number, epsHigh: number, gens: number) {
  const maxBatches = Number(values["grpo-max-batches"]);
  const steps = `${miniBatch ? ` mini-batch ${miniBatch}` : ""}${mu > 1 ? ` μ ${mu}` : ""}${temperature !== 1 ? ` T ${temperature}` : ""}${dynamic ? ` dynamic sampling ≤ ${maxBatches}` : ""}`
    + `${epsHigh ? ` ε high ${epsHigh}` : ""}${gens !== 8 ? ` G ${gens}` : ""}`;
  const train = {
    ...grpo, optim: optim(lr), ...(miniBatch ? { miniBatchSize: miniBatch } : {}), numIterations: mu, temperature, numGenerations: gens,
    ...(dynamic ? { dynamicSampling: true, maxSamplingBatches: maxBatches } : {}), ...(epsHigh ? { epsilonHigh: epsHigh } : {}),
  };
  return { steps, train };
}
if (ONLY.has("grpo")) {
  // one round per setting: lr × samples per step × passes × tool-result weight × sampling temperature
  for (const lr of lrs("grpo-lrs")) for (const miniBatch of lrs("grpo-mini-batches")) for (const mu of lrs("grpo-iterations")) {
    for (const toolResult of lrs("grpo-tool-result")) for (const temperature of lrs("grpo-temperatures")) for (const dynamic of lrs("grpo-dynamic")) {
      for (const epsHigh of lrs("grpo-eps-high")) for (const gens of lrs("grpo-gens")) for (const digits of lrs("grpo-digits")) {
      const { steps, train } = grpoSetting(lr, miniBatch, mu, temperature, dynamic, epsHigh, gens);
      const rewards = { checker: { weight: 1 }, ...(toolResult ? { toolResult: { weight: toolResult } } : {}), ...(digits ? { digits: { weight: digits } } : {}) };
      const name = `checker${toolResult ? ` + tool result ${toolResult}` : ""}${digits ? ` + digits ${digits}` : ""} → GRPO lr ${lr}${steps}${RL_FRESH > 0 ? ` on ${RL_FRESH} fresh prompts` : ""}`;
      rounds.push({ name, id: await launch({ name, ...from, path: "grpo", rewards, grpo: train }, rlProject) });
      }
    }
  }
}
if (ONLY.has("kto")) {
  for (const lr of lrs("kto-lrs")) await add(`KTO lr ${lr}`, { path: "kto", kto: { optim: optim(lr) } });
}
if (ONLY.has("chain")) {
  // the demo's story (issue 11, item 6): a verifiable-reward round teaches substance with no human
  // labels, then a DPO round on the people's rankings moves what the checker cannot see (the style)
  // and should keep the checker's score. "Before" of the second row is the GRPO policy.
  // its first link is the first GRPO row above when one ran (the same round; no need to train it twice)
  // (not one on fresh prompts: that round is in another project)
  let first = RL_FRESH > 0 ? undefined : rounds.find((r) => r.name.startsWith("checker → GRPO"));
  if (!first) {
    await add("chain: checker → GRPO", { path: "grpo", rewards: { checker: { weight: 1 } }, grpo });
    first = rounds.at(-1)!;
  }
  // then DPO at its defaults, once per DPOP λ asked for (--dpo-dpop)
  for (const dpopLambda of dpops()) {
    const name = `chain: … then DPO on the rankings (DPOP λ ${dpopLambda ?? "auto"})`;
    const body = { name, base: { afterRound: first.id }, evaluation, next: { prompts: 0 }, path: "dpo", dpo: { dpopLambda } };
    rounds.push({ name, id: await launch(body) });
  }
}
await train();

if (ONLY.has("chain-fresh")) {
  // the loop's way of the demo's story (issue 11, item 6): GRPO on the checker alone (no tool-result or digits
  // terms) at the first of each other --grpo-* list, whose policy samples the pool; the labelers rank those
  // answers, and DPO at its defaults trains on them alone (data.rounds), once per --dpo-dpop λ. Its "before" is
  // the GRPO policy, and its rankings are of that policy's own answers, unlike the chain's above (round 0's).
  const first = (key: string) => lrs(key)[0]!;
  const { steps, train: setting } = grpoSetting(first("grpo-lrs"), first("grpo-mini-batches"), first("grpo-iterations"), first("grpo-temperatures"), first("grpo-dynamic"), first("grpo-eps-high"), first("grpo-gens"));
  const name = `chain-fresh: checker → GRPO${steps}, then its samples ranked`;
  const grpoRound = await launch({
    name, base: { modelId: policy }, evaluation, path: "grpo", rewards: { checker: { weight: 1 } }, grpo: setting,
    next: { prompts: POOL, maxNewTokens: T, temperature: Number(values["sample-temperature"]), seed: SEED + 100 },
  });
  rounds.push({ name, id: grpoRound });
  await train();
  for (const labeler of labelers) await labelEverything(labeler, false);
  for (const dpopLambda of dpops()) for (const rightChosen of lrs("dpo-right-chosen")) {
    const dpoName = `chain-fresh: … then DPO on the GRPO policy's ranked answers (DPOP λ ${dpopLambda ?? "auto"}${rightChosen ? ", right chosen only" : ""})`;
    const data = { rounds: [grpoRound], ...(rightChosen ? { rightChosenOnly: true } : {}) };
    rounds.push({ name: dpoName, id: await launch({ name: dpoName, base: { afterRound: grpoRound }, evaluation, next: { prompts: 0 }, path: "dpo", data, dpo: { dpopLambda } }) });
  }
  await train();
}

if (ONLY.has("dpo-loop")) {
  // the loop as a project runs it (label → train → sample → label): each DPO round starts from the
  // previous round's policy, trains only on the rankings of the answers that policy sampled
  // (data.rounds), and samples the next unsampled prompts for the labelers to rank
  // at the first of --dpo-lrs, --dpo-betas and --dpo-dpop
  const loopDpo = { optim: optim(lrs("dpo-lrs")[0]!), beta: lrs("dpo-betas")[0]!, dpopLambda: dpops()[0] };
  let previous = round0;
  for (let i = 1; i <= Number(values["dpo-rounds"]); i++) {
    const name = `DPO loop (DPOP λ ${loopDpo.dpopLambda ?? "auto"}), round ${i} (on round ${i - 1}'s samples)`;
    const id = await launch({
      name, base: { afterRound: previous }, evaluation, path: "dpo", data: { rounds: [previous] }, dpo: loopDpo,
      next: { prompts: POOL, maxNewTokens: T, temperature: Number(values["sample-temperature"]), seed: SEED + i },
    });
    rounds.push({ name, id });
    await train();
    for (const labeler of labelers) await labelEverything(labeler, false);
    previous = id;
  }
}

// 4. figures
/** Every ranking so far, per prompt: each answer text's tier (0 = best). */
const ranksByPrompt = (): Map<string, Array<Map<string, number>>> => {
  const byPrompt = new Map<string, Array<Map<string, number>>>();
  for (const r of rankings) {
    const rank = new Map<string, number>();
    r.tiers.forEach((tier, i) => tier.forEach((text) => rank.set(text, i)));
    byPrompt.set(r.prompt, [...(byPrompt.get(r.prompt) ?? []), rank]);
  }
  return byPrompt;
};
const pairStats = () => {
  // labeler vs labeler on the same answer pairs; the Bayes ceiling of any reward model: mean σ(τ·|Δu|)
  const byPrompt = ranksByPrompt();
  let agree = 0, pairs = 0, ceiling = 0, strict = 0;
  for (const [prompt, ranks] of byPrompt) {
    const texts = [...new Set(ranks.flatMap((r) => [...r.keys()]))];
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const [a, b] = [texts[i]!, texts[j]!];
        if (TIES && utility(prompt, a) === utility(prompt, b)) continue; // tied by every labeler: no pair to predict
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
/**
 * What one round of preference learning could reach from round 0's samples: the utility of the K answers as sampled
 * (the policy as it is, at the sampling temperature) against that of each labeler's favourite among them (best-of-K by
 * the people). A round that learned to answer as the labelers' top choice would close `share` of the headroom from
 * the samples' mean; DPO moves probability among what the policy samples, so this is its yardstick, not a bound.
 */
const bestOfK = () => {
  const round0 = rankings.slice(0, round0Rankings);
  const sampled = mean(round0.flatMap((r) => r.tiers.flat().map((text) => utility(r.prompt, text))));
  const top = mean(round0.map((r) => utility(r.prompt, r.tiers[0]![0]!)));
  return { sampled, top, share: (top - sampled) / (1.5 - sampled) };
};
/** Of the ranked pairs (every labeler's, across tiers) where one answer called the calculator and the other did not: how often the one without the call was ranked higher. */
const callPairs = () => {
  let mixed = 0, noCallWins = 0;
  for (const r of rankings) {
    const flat = r.calls.flatMap((tier, rank) => tier.map((called) => ({ called, rank })));
    for (let i = 0; i < flat.length; i++) {
      for (let j = i + 1; j < flat.length; j++) {
        const [a, b] = [flat[i]!, flat[j]!];
        if (a.rank === b.rank || a.called === b.called) continue;
        mixed++;
        if ((a.rank < b.rank ? a : b).called === false) noCallWins++;
      }
    }
  }
  return { mixed, noCallWins };
};
type Result =
  | { name: string; state: string; error: string | null }
  | {
      name: string; state: string; prompts: number; utilityBefore: number; utilityAfter: number; diff: number; ci95: [number, number];
      headroomClosed: number; checkerBefore: number | null; checkerAfter: number | null; correctnessClosed: number | null;
      styledBefore: number; styledAfter: number; toolUseBefore: number; toolUseAfter: number; kl: number | null; klStderr: number | null; rmAccuracy: number | null; rmPairs: number | null; rmLabelers: number | null;
      rmCeilingHere: Awaited<ReturnType<typeof rmHeldOutCeiling>>;
      klFromOrigin: number | null; warnings: string[];
      slipsBefore: Record<Slip, number>; slipsAfter: Record<Slip, number>;
      perPrompt: Array<{ prompt: string; before: HeldAnswer; after: HeldAnswer; utilityBefore: number; utilityAfter: number }>;
    };
/** The GRPO/PPO reward per rollout and how many attempts each step took (a re-claimed step resumes), from the round's events. */
type RoundEvent = { kind: string; attempt: number; type: string; payload: Record<string, unknown> };
async function trainingCurve(id: string): Promise<{ rewards: number[]; zeroStd: number[]; batches: number[]; kls: number[]; earlyStop: Record<string, unknown> | null; attempts: Record<string, number> }> {
  const events = await json<RoundEvent[]>(await researcher.get(`/api/v1/rounds/${id}/events`));
  const attempts: Record<string, number> = {};
  for (const e of events) attempts[e.kind] = Math.max(attempts[e.kind] ?? 0, e.attempt);
  const metric = (name: string) => events.filter((e) => e.type === "metrics" && typeof e.payload[name] === "number").map((e) => e.payload[name] as number);
  // GRPO/RLOO: the share of groups whose answers all scored alike (TRL's frac_reward_zero_std): they teach nothing
  // with dynamic sampling, the prompt batches each rollout sampled to find its mixed groups
  // PPO names its reward objective/scores; every RL step measures the KL of its rollouts' own samples, and a KL guard
  // that stopped the step leaves an early_stop event
  const rewards = metric("reward").length > 0 ? metric("reward") : metric("objective/scores");
  const earlyStop = events.find((e) => e.type === "early_stop")?.payload ?? null;
  return { rewards, zeroStd: metric("frac_reward_zero_std"), batches: metric("dynamic_sampling/batches"), kls: metric("kl_guard/kl"), earlyStop, attempts };
}
/**
 * Why a wrong arithmetic answer is wrong, from its tool transcript: no call (answered from memory), the
 * expression written into the call is not the question's ("expression"), the call was right but the
 * answer states another number than the calculator returned ("result"), or something else (several
 * calls, an error result). Right answers count as "right".
 */
type Slip = "right" | "no-call" | "expression" | "result" | "other";
const digitsOf = (text: string) => text.replace(/\s+/g, "").replace("×", "*").replace("−", "-");
function slipOf(prompt: string, a: HeldAnswer): Slip {
  if (correct(prompt, a.answer) === 1) return "right";
  const uses = a.tools ?? [];
  if (uses.length === 0) return (a.toolCalls ?? 0) > 0 ? "other" : "no-call";
  if (uses.length > 1) return "other";
  const [use] = uses;
  const expression = itemOf.get(prompt)?.expression;
  if (!expression || typeof use!.arguments["expression"] !== "string") return "other";
  if (digitsOf(use!.arguments["expression"]) !== digitsOf(expression)) return "expression";
  return use!.result !== null && !a.answer.includes(use!.result) ? "result" : "other";
}
function slips(answers: Array<[string, HeldAnswer]>): Record<Slip, number> {
  const counts: Record<Slip, number> = { right: 0, "no-call": 0, expression: 0, result: 0, other: 0 };
  for (const [prompt, a] of answers) counts[slipOf(prompt, a)] += 1;
  return counts;
}
/**
 * The reward model's ceiling on the very pairs its held-out accuracy was measured on: the round's held-out side of
 * the preference export (as its reward job downloaded it). `oracle`: how often a model that knew the utility agrees
 * with these labels (an equal-utility pair counts half); `expected`: mean σ(τ·|Δu|) over them, what that model
 * scores on average over the labelers' noise. The run-wide ceiling above averages every prompt's distinct pairs
 * instead. Only rounds whose preference data has no filter other than the split (null otherwise).
 */
async function rmHeldOutCeiling(round: Round): Promise<{ oracle: number; expected: number; pairs: number; labelers: LabelerAgreement; byKind: Record<PairKind, KindTally> | null } | null> {
  const s = round.data_snapshot;
  const filtered = s.consensus || s.minAgreement !== null || (s.pairs ?? "all") !== "all" || s.mix || s.gold || s.chosenChecker || s.sources?.rounds
    || s.since || s.labeler || (s.sources?.projects.length ?? 1) > 1;
  if (!s.promptSplit || filtered) return null;
  const query = new URLSearchParams({ until: s.until, promptSplit: "eval", promptSplitSeed: s.promptSplit.seed, promptSplitShare: String(s.promptSplit.share) });
  const text = await (await researcher.get(`/api/v1/projects/${round.project_id}/exports/preferences.jsonl?${query.toString()}`)).text();
  let oracle = 0, expected = 0, pairs = 0;
  const held: HeldPair[] = [];
  for (const line of text.split("\n").filter(Boolean)) {
    const pair = JSON.parse(line) as HeldPair;
    const du = utilityGap(pair);
    oracle += du > 0 ? 1 : du === 0 ? 0.5 : 0;
    expected += sigmoid(TAU * Math.abs(du));
    pairs++;
    held.push(pair);
  }
  if (pairs === 0) return null;
  const rm = round.models.find((m) => m.kind === "reward");
  return { oracle: oracle / pairs, expected: expected / pairs, pairs, labelers: labelerAgreementOn(held), byKind: rm ? await rmByKind(rm.id, held) : null };
}

/**
 * The labelers' own agreement on the reward model's held-out pairs: the issue's "agreement ceiling" (decision 0067),
 * the human counterpart of the reward model's accuracy. Each exported pair is one labeler's label. `measured`: how
 * often another labeler who ranked the same two answers ordered them the same way (leave-one-out: the pair's own
 * ranking is one of those that put the chosen answer first, so one such ranking is left out), over the pairs that
 * another labeler ranked. `expected`: mean σ(τ·(u_chosen − u_rejected)), the chance that a fresh labeler agrees with
 * each label, E[p² + (1 − p)²] over the labels, with no sampling noise from the other two labelers' draws.
 */
type LabelerAgreement = { measured: number; pairs: number; expected: number };
function labelerAgreementOn(held: HeldPair[]): LabelerAgreement {
  // every ranking of the prompt: the held-out prompts are ranked only in the rounds this bench ran, and a later
  // round's answers that repeat an earlier one's text are the same answer to a labeler, so they count alike
  const tiersOf = ranksByPrompt();
  let agree = 0, counted = 0, expected = 0;
  for (const pair of held) {
    expected += sigmoid(TAU * utilityGap(pair));
    const [chosen, rejected] = [finalWords(pair.chosen), finalWords(pair.rejected)];
    let same = 0, opposite = 0;
    for (const rank of tiersOf.get(questionOf(pair)) ?? []) {
      const [c, r] = [rank.get(chosen), rank.get(rejected)];
      if (c === undefined || r === undefined || c === r) continue;
      if (c < r) same++;
      else opposite++;
    }
    const others = same - 1 + opposite; // the pair's own ranking is one of `same`
    if (same < 1 || others < 1) continue;
    agree += (same - 1) / others;
    counted++;
  }
  return { measured: counted > 0 ? agree / counted : NaN, pairs: counted, expected: expected / held.length };
}

/**
 * What a held-out pair's two answers differ in, by the labelers' utility: only whether the answer is right, only the
 * house style, both the same way, or each in the other's favour (a right answer in the wrong style against a wrong
 * one in the house style); "equal" when neither.
 */
type PairKind = "correctness" | "style" | "both" | "opposed" | "equal";
/** callsDiffer: the pairs of the kind where one answer called the calculator and the other did not. */
type KindTally = { pairs: number; labelsAgree: number; rmAgreesWithLabels: number; rmAgreesWithUtility: number; callsDiffer: { pairs: number; rmAgreesWithUtility: number } };
type Message = { role: string; content: string; tool_calls?: unknown };
type HeldPair = { prompt: Message[]; chosen: Message[]; rejected: Message[] };
const finalWords = (messages: Message[]) => messages.filter((m) => m.role === "assistant").at(-1)?.content ?? "";
const questionOf = (pair: HeldPair) => pair.prompt.filter((m) => m.role === "user").at(-1)?.content ?? "";
/** The chosen answer's utility minus the rejected one's, by the simulated labelers' own utility. */
const utilityGap = (pair: HeldPair) => utility(questionOf(pair), finalWords(pair.chosen)) - utility(questionOf(pair), finalWords(pair.rejected));
const usesTools = (messages: Message[]) => messages.some((m) => m.role === "tool" || m.tool_calls);
/**
 * The round's reward model on its own held-out pairs, scored through POST /models/:id/score (an answer that used
 * tools as its transcript, as the reward model read it in training), split by what the pair's answers differ in:
 * how often the labels follow the utility, how often the reward model agrees with the labels (its accuracy), and how
 * often it orders the pair as the utility does (not counted for "equal"). So the gap to the ceiling shows where
 * it is: in judging correctness or style.
 */
async function rmByKind(rmId: string, held: HeldPair[]): Promise<Record<PairKind, KindTally>> {
  // a plain answer is the text the reward model trained on (trainer/data/jsonl.ts flattens it); tool use stays a transcript
  const asScored = (messages: Message[]) => (usesTools(messages) ? messages : finalWords(messages));
  const byPrompt = new Map<string, { prompt: Message[]; answers: Map<string, Message[]> }>();
  for (const pair of held) {
    const key = JSON.stringify(pair.prompt);
    const entry = byPrompt.get(key) ?? { prompt: pair.prompt, answers: new Map() };
    for (const answer of [pair.chosen, pair.rejected]) entry.answers.set(JSON.stringify(answer), answer);
    byPrompt.set(key, entry);
  }
  const scoreOf = new Map<string, number>();
  for (const [key, { prompt, answers }] of byPrompt) {
    const list = [...answers.entries()];
    for (let i = 0; i < list.length; i += 16) {
      const chunk = list.slice(i, i + 16);
      const response = await researcher.json("POST", `/api/v1/models/${rmId}/score`, { messages: prompt, completions: chunk.map(([, a]) => asScored(a)) });
      if (response.status !== 200) throw new Error(`scoring held-out answers: ${response.status} ${await response.text()}`);
      const { scores } = (await response.json()) as { scores: number[] };
      chunk.forEach(([answerKey], j) => scoreOf.set(`${key}\u0000${answerKey}`, scores[j]!));
    }
  }
  const tally = Object.fromEntries((["correctness", "style", "both", "opposed", "equal"] as const).map((k) => [k, { pairs: 0, labelsAgree: 0, rmAgreesWithLabels: 0, rmAgreesWithUtility: 0, callsDiffer: { pairs: 0, rmAgreesWithUtility: 0 } }])) as Record<PairKind, KindTally>;
  for (const pair of held) {
    const key = JSON.stringify(pair.prompt);
    const question = questionOf(pair);
    const [chosen, rejected] = [finalWords(pair.chosen), finalWords(pair.rejected)];
    const dc = correct(question, chosen) - correct(question, rejected);
    const ds = Number(task.styled(chosen)) - Number(task.styled(rejected));
    const kind: PairKind = dc === 0 && ds === 0 ? "equal" : ds === 0 ? "correctness" : dc === 0 ? "style" : Math.sign(dc) === Math.sign(ds) ? "both" : "opposed";
    const du = utilityGap(pair);
    const margin = scoreOf.get(`${key}\u0000${JSON.stringify(pair.chosen)}`)! - scoreOf.get(`${key}\u0000${JSON.stringify(pair.rejected)}`)!;
    const t = tally[kind];
    t.pairs++;
    t.labelsAgree += du > 0 ? 1 : du === 0 ? 0.5 : 0;
    t.rmAgreesWithLabels += margin > 0 ? 1 : margin === 0 ? 0.5 : 0;
    const withUtility = du === 0 ? 0 : Math.sign(margin) === Math.sign(du) ? 1 : margin === 0 ? 0.5 : 0;
    t.rmAgreesWithUtility += withUtility;
    if (usesTools(pair.chosen) !== usesTools(pair.rejected)) {
      t.callsDiffer.pairs++;
      t.callsDiffer.rmAgreesWithUtility += withUtility;
    }
  }
  return tally;
}
const results: Result[] = [];
const curves: Record<string, Awaited<ReturnType<typeof trainingCurve>>> = {};
for (const r of rounds) {
  curves[r.name] = await trainingCurve(r.id);
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
  const checkerBefore = held.checker?.previous ?? null, checkerAfter = held.checker?.new ?? null;
  results.push({
    name: r.name, state: round.state, prompts: rows.length,
    utilityBefore: uBefore, utilityAfter: uAfter, diff: uAfter - uBefore, ci95: [lo, hi],
    headroomClosed: uBefore < MAX_UTILITY ? (uAfter - uBefore) / (MAX_UTILITY - uBefore) : 0,
    checkerBefore, checkerAfter,
    // the share of the wrong answers made right: the issue's "correctness headroom"
    correctnessClosed: checkerBefore !== null && checkerAfter !== null && checkerBefore < 1 ? (checkerAfter - checkerBefore) / (1 - checkerBefore) : null,
    styledBefore: mean(rows.map((e) => Number(task.styled(e.previous!.answer)))), styledAfter: mean(rows.map((e) => Number(task.styled(e.new.answer)))),
    // the share of held-out answers that called a tool (the substance of the arithmetic task)
    toolUseBefore: mean(rows.map((e) => Number((e.previous!.toolCalls ?? 0) > 0))), toolUseAfter: mean(rows.map((e) => Number((e.new.toolCalls ?? 0) > 0))),
    kl: held.kl, klStderr: held.klStderr, rmAccuracy: held.rmAccuracy, rmPairs: held.rmPairs, rmLabelers: held.rmLabelerAgreement?.rate ?? null,
    rmCeilingHere: held.rmAccuracy === null ? null : await rmHeldOutCeiling(round),
    klFromOrigin: held.klFromOrigin ?? null, warnings: (round.report?.warnings ?? []).map((w) => w.code),
    slipsBefore: slips(rows.map((e) => [e.prompt, e.previous!])), slipsAfter: slips(rows.map((e) => [e.prompt, e.new])),
    perPrompt: rows.map((e, i) => ({ prompt: e.prompt, before: e.previous!, after: e.new, utilityBefore: before[i]!, utilityAfter: after[i]!, })),
  });
}
const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "—" : x.toFixed(d));
console.log(`\nLoop bench (${values.task}): ${demonstrations} demonstrations, ${rankings.length} rankings (3 labelers, K ${K}, τ ${TAU}), ${EVAL} held-out prompts, seed ${SEED}, ${((Date.now() - started) / 60000).toFixed(1)} min`);
console.log(`labeler–labeler agreement ${f(labelerAgreement, 3)}; a reward model's ceiling (mean σ(τ|Δu|) over ranked pairs) ${f(rmCeiling, 3)}; round 0's held-out checker ${f(r0.report?.heldOut?.checker?.new)}`);
const best = bestOfK();
console.log(`round 0's sampled answers: utility ${f(best.sampled, 3)}; each labeler's favourite of its K: ${f(best.top, 3)} (${f(100 * best.share, 0)} % of the headroom from the samples)`);
const calls = callPairs();
console.log(`ranked pairs with one calculator call and one answer without: ${calls.mixed}; the answer without the call ranked higher in ${f(calls.noCallWins / Math.max(1, calls.mixed), 3)} of them`);
console.log("| round | utility before → after | Δ [95 % CI] | headroom closed | checker before → after | correctness headroom closed | style before → after | tool use before → after | KL (nats) | RM held-out acc. |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of results) {
  if (!("diff" in r)) {
    console.log(`| ${r.name} | ${r.state}: ${r.error} | | | | | | | | |`);
    continue;
  }
  console.log(`| ${r.name} | ${f(r.utilityBefore)} → ${f(r.utilityAfter)} | ${f(r.diff, 3)} [${f(r.ci95[0], 3)}, ${f(r.ci95[1], 3)}] | ${f(100 * r.headroomClosed, 0)} % | ${f(r.checkerBefore)} → ${f(r.checkerAfter)} | ${r.correctnessClosed === null ? "—" : `${f(100 * r.correctnessClosed, 0)} %`} | ${f(r.styledBefore)} → ${f(r.styledAfter)} | ${f(r.toolUseBefore)} → ${f(r.toolUseAfter)} | ${f(r.kl)} ± ${f(r.klStderr)} | ${f(r.rmAccuracy)} (${r.rmPairs ?? "—"} pairs${r.rmCeilingHere ? `; on them a utility oracle ${f(r.rmCeilingHere.oracle, 3)}, σ ceiling ${f(r.rmCeilingHere.expected, 3)} over ${r.rmCeilingHere.pairs}; labeler–labeler agreement ${f(r.rmCeilingHere.labelers.measured, 3)} over ${r.rmCeilingHere.labelers.pairs}, expected ${f(r.rmCeilingHere.labelers.expected, 3)}; the round's report: ${f(r.rmLabelers, 3)}` : ""}) |`);
}
fs.mkdirSync("bench/results", { recursive: true });
const file = `bench/results/loop-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
fs.writeFileSync(file, JSON.stringify({ args: values, demonstrations, rankings: rankings.length, labelerAgreement, rmCeiling, bestOfK: best, callPairs: calls, round0: r0.report?.heldOut?.checker, results, curves }, null, 2));
if (ARITHMETIC) {
  console.log("\nWhy held-out answers are wrong (before → after): no call / wrong expression in the call / result miscopied / other");
  for (const r of results) {
    if (!("slipsBefore" in r)) continue;
    const k = (x: Record<Slip, number>) => `${x["no-call"]} / ${x.expression} / ${x.result} / ${x.other}`;
    console.log(`${r.name}: ${k(r.slipsBefore)} → ${k(r.slipsAfter)} (right ${r.slipsBefore.right} → ${r.slipsAfter.right})`);
  }
}
const withKinds = results.flatMap((r) => ("rmCeilingHere" in r && r.rmCeilingHere?.byKind ? [{ name: r.name, rmAccuracy: r.rmAccuracy, byKind: r.rmCeilingHere.byKind }] : []));
if (withKinds.length > 0) {
  console.log("\nThe reward model on its held-out pairs, by what the two answers differ in: pairs; labels that follow the utility; the reward model's agreement with the labels (its accuracy) and with the utility's order");
  for (const { name, rmAccuracy, byKind } of withKinds) {
    const parts = Object.entries(byKind).filter(([, t]) => t.pairs > 0).map(([kind, t]) =>
      `${kind} ${t.pairs}: labels ${f(t.labelsAgree / t.pairs)}, RM vs labels ${f(t.rmAgreesWithLabels / t.pairs)}, vs utility ${kind === "equal" ? "—" : f(t.rmAgreesWithUtility / t.pairs)}` +
      (kind !== "equal" && t.callsDiffer.pairs > 0 ? ` (one answer called the calculator and the other not: ${t.callsDiffer.pairs}, vs utility ${f(t.callsDiffer.rmAgreesWithUtility / t.callsDiffer.pairs)})` : ""));
    // the same pairs scored here and by the round's evaluate job: the two accuracies must agree
    const all = Object.values(byKind).reduce((a, t) => ({ pairs: a.pairs + t.pairs, agree: a.agree + t.rmAgreesWithLabels }), { pairs: 0, agree: 0 });
    console.log(`${name}: ${parts.join("; ")}; all ${all.pairs}: RM vs labels ${f(all.agree / Math.max(1, all.pairs))} (the round's report: ${f(rmAccuracy)})`);
  }
}
console.log("\nKL from the chain's origin (the SFT policy it started from; — for a round straight off it), and each round's warnings");
for (const r of results) if ("warnings" in r) console.log(`${r.name}: KL from origin ${f(r.klFromOrigin)}; warnings ${r.warnings.join(", ") || "none"}`);
for (const [name, c] of Object.entries(curves)) {
  if (c.rewards.length === 0) continue;
  const tenth = Math.max(1, Math.floor(c.rewards.length / 10));
  const zeroStd = c.zeroStd.length > 0 ? `; groups that all scored alike ${f(mean(c.zeroStd.slice(0, tenth)))} → ${f(mean(c.zeroStd.slice(-tenth)))}` : "";
  const batches = c.batches.length > 0 ? `; prompt batches per rollout ${f(mean(c.batches.slice(0, tenth)))} → ${f(mean(c.batches.slice(-tenth)))} (${c.batches.reduce((a, x) => a + x, 0)} in all)` : "";
  const kl = c.kls.length > 0 ? `; rollout KL first and last tenth ${f(mean(c.kls.slice(0, tenth)))} → ${f(mean(c.kls.slice(-tenth)))}, most ${f(Math.max(...c.kls))}` : "";
  const stop = c.earlyStop ? `; stopped by the KL guard at KL ${f(Number(c.earlyStop["kl"]))} (target ${c.earlyStop["klTarget"]}), kept step ${c.earlyStop["keptStep"]} of ${c.earlyStop["step"]}` : "";
  console.log(`${name}: reward per rollout, first and last tenth ${f(mean(c.rewards.slice(0, tenth)))} → ${f(mean(c.rewards.slice(-tenth)))} (${c.rewards.length} points)${zeroStd}${batches}${kl}${stop}; attempts ${JSON.stringify(c.attempts)}`);
}
console.log(`\nwritten: ${file}`);
await server.stop();
fs.rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
