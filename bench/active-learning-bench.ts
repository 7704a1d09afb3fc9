/**
 * Active learning: does serving the items the reward model is least sure of first buy more
 * held-out reward-model accuracy per labeled item than serving them at random? (issue #16 item 2)
 *
 * A simulation with the trainer's real reward model (Bradley–Terry on K-way rankings,
 * algorithms/reward-trainer.ts) and the queue's real rule (server/labeling/active/uncertainty-queue.ts:
 * smallest top-two margin first, `randomShare` of claims at random), but without the server: the
 * pool's scores are computed as the scoring runner's worker computes them (rewardModelReward).
 *
 *   items       a topic token and K answers of L words; the hidden utility of an answer is the sum
 *               of its words' weights for that topic (weights ~ N(0, 1));
 *   labelers    as in bench/loop-bench.ts: each item is ranked once, by τ·u + Gumbel noise
 *               (Plackett–Luce, so P(a over b) = σ(τ·(u_a − u_b)));
 *   rounds      label --batch items, retrain the reward model from the same initialisation on every
 *               label so far (same steps each time), measure its pairwise accuracy against the true
 *               utility on --heldout fresh items; repeat up to --budget items;
 *   orders      random: the next items at random; uncertainty: the first batch at random (no model
 *               yet, the queue's fallback), then each claim at random with probability --random-share,
 *               else the unlabeled item with the smallest margin under the latest model.
 *
 *   npm run bench:active [-- --seeds 3 --pool 400 --heldout 200 --batch 40 --budget 240 --k 4 --tau 2
 *                           --steps 80 --random-share 0.3]
 *
 * Prints a table (held-out accuracy per labeled items, mean over seeds, and the paired difference)
 * and writes bench/results/active-learning-<time>.json.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { resolveGptConfig } from "../trainer/contract/gpt-config.ts";
import { rewardConfigSchema } from "../trainer/contract/reward-config.ts";
import { createRewardTrainer, type RankingExample } from "../trainer/algorithms/reward-trainer.ts";
import { rewardModelReward } from "../trainer/rewards/reward-sources.ts";
import { disposeModel, initModel } from "../trainer/model/lm.ts";
import { createRng, type Rng } from "../trainer/random/rng.ts";
import { drawRule, scoreMargin, uncertaintyQueueSchema } from "../server/labeling/active/uncertainty-queue.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "3" },
    pool: { type: "string", default: "400" },
    heldout: { type: "string", default: "200" },
    batch: { type: "string", default: "40" },
    budget: { type: "string", default: "240" },
    k: { type: "string", default: "4" },
    tau: { type: "string", default: "2" },
    steps: { type: "string", default: "80" },
    "random-share": { type: "string", default: "0.3" },
  },
});
const SEEDS = Number(values.seeds);
const POOL = Number(values.pool);
const HELDOUT = Number(values.heldout);
const BATCH = Number(values.batch);
const BUDGET = Number(values.budget);
const K = Number(values.k);
const TAU = Number(values.tau);
const STEPS = Number(values.steps);
const queueSettings = uncertaintyQueueSchema.parse({ enabled: true, randomShare: Number(values["random-share"]) });

// Vocabulary: pad, end of answer, topics, words.
const PAD = 0;
const END = 1;
const TOPICS = 4;
const WORDS = 12;
const L = 4;
const topicToken = (t: number) => 2 + t;
const wordToken = (w: number) => 2 + TOPICS + w;
const VOCAB = 2 + TOPICS + WORDS;

type Item = { topic: number; answers: number[][]; utility: number[] };

function world(rng: Rng) {
  const weights = Array.from({ length: TOPICS }, () => Array.from({ length: WORDS }, () => rng.normal()));
  const item = (): Item => {
    const topic = Math.floor(rng.next() * TOPICS);
    const answers = Array.from({ length: K }, () => Array.from({ length: L }, () => Math.floor(rng.next() * WORDS)));
    return { topic, answers, utility: answers.map((a) => a.reduce((s, w) => s + weights[topic]![w]!, 0)) };
  };
  return { item };
}

/** One labeler's ranking: sort by τ·u + Gumbel (Plackett–Luce); ranks 0 = best. */
function label(item: Item, rng: Rng): number[] {
  const noisy = item.utility.map((u) => TAU * u - Math.log(-Math.log(Math.max(rng.next(), 1e-12))));
  const order = noisy.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).map(([, i]) => i);
  const ranks = new Array<number>(K);
  order.forEach((i, r) => (ranks[i] = r));
  return ranks;
}

const asExample = (item: Item, ranks: number[]): RankingExample => ({
  prompt: [topicToken(item.topic)],
  completions: item.answers.map((a) => [...a.map(wordToken), END]),
  ranks,
});

const modelConfig = resolveGptConfig({ vocabSize: VOCAB, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 32, scalarHead: "reward" });

/** A reward model trained from the same initialisation on these labels, STEPS steps of 16 items. */
function train(examples: RankingExample[], seed: number) {
  const model = initModel(modelConfig, seed);
  const trainer = createRewardTrainer(model, rewardConfigSchema.parse({ steps: STEPS, batchSize: 16, optim: { lr: 3e-3, warmupSteps: 0 } }), PAD);
  const rng = createRng(seed + 7);
  for (let s = 0; s < STEPS; s++) {
    const batch = Array.from({ length: Math.min(16, examples.length) }, () => examples[Math.floor(rng.next() * examples.length)]!);
    trainer.trainStep(batch);
  }
  trainer.dispose();
  return model;
}

/** Scores of every answer of every item, as the scoring runner gets them. */
async function scoreItems(model: ReturnType<typeof initModel>, items: Item[]): Promise<number[][]> {
  const samples = items.flatMap((item) => item.answers.map((a) => ({ prompt: [topicToken(item.topic)], completion: [...a.map(wordToken), END], metadata: {}, answer: "", policyLength: 0 })));
  const { values: flat } = await rewardModelReward(model, PAD, 1, 256).score(samples);
  return items.map((_, i) => flat.slice(i * K, (i + 1) * K) as number[]);
}

/** Share of answer pairs (distinct true utility) the model orders as the true utility does. */
function pairwiseAccuracy(scores: number[][], items: Item[]): number {
  let right = 0;
  let total = 0;
  items.forEach((item, i) => {
    for (let a = 0; a < K; a++) for (let b = a + 1; b < K; b++) {
      const du = item.utility[a]! - item.utility[b]!;
      if (du === 0) continue;
      const ds = scores[i]![a]! - scores[i]![b]!;
      total++;
      if (ds === 0) right += 0.5;
      else if (Math.sign(ds) === Math.sign(du)) right++;
    }
  });
  return right / total;
}

type Curve = { labeled: number; accuracy: number; uncertaintyShare: number }[];

async function run(order: "random" | "uncertainty", seed: number): Promise<Curve> {
  const worldRng = createRng(1000 + seed); // the same items, utilities and held-out set for both orders
  const w = world(worldRng);
  const pool = Array.from({ length: POOL }, () => w.item());
  const heldout = Array.from({ length: HELDOUT }, () => w.item());
  const pickRng = createRng(3000 + seed);
  const labels = new Map<number, number[]>(); // pool index → ranks (each item's label is drawn once, the same in both orders)
  const labelOf = (i: number) => {
    if (!labels.has(i)) labels.set(i, label(pool[i]!, createRng(2000 + seed * 100_000 + i)));
    return labels.get(i)!;
  };
  const labeled: number[] = [];
  let byUncertainty = 0;
  let margins: number[] | null = null; // per pool item, from the latest model
  const curve: Curve = [];
  while (labeled.length < BUDGET) {
    for (let n = 0; n < BATCH; n++) {
      const open = pool.map((_, i) => i).filter((i) => !labeled.includes(i));
      let pick: number;
      const rule = order === "uncertainty" && margins ? drawRule(queueSettings, () => pickRng.next()) : "random";
      if (rule === "uncertainty") {
        pick = open.reduce((best, i) => (margins![i]! < margins![best]! ? i : best), open[0]!);
        byUncertainty++;
      } else {
        pick = open[Math.floor(pickRng.next() * open.length)]!;
      }
      labeled.push(pick);
    }
    const model = train(labeled.map((i) => asExample(pool[i]!, labelOf(i))), seed);
    curve.push({ labeled: labeled.length, accuracy: pairwiseAccuracy(await scoreItems(model, heldout), heldout), uncertaintyShare: byUncertainty / labeled.length });
    if (order === "uncertainty") margins = (await scoreItems(model, pool)).map(scoreMargin);
    disposeModel(model);
  }
  return curve;
}

/** How often one noisy label orders a pair as the true utility does: the labels' own ceiling. */
function labelerAgreement(seed: number): number {
  const w = world(createRng(1000 + seed));
  const rng = createRng(4000 + seed);
  const items = Array.from({ length: 2000 }, () => w.item());
  return pairwiseAccuracy(items.map((item) => label(item, rng).map((r) => -r)), items);
}

async function main() {
  const backend = await initBackend({ prefer: "wasm" });
  const started = Date.now();
  const results: Record<"random" | "uncertainty", Curve[]> = { random: [], uncertainty: [] };
  for (let seed = 1; seed <= SEEDS; seed++) {
    for (const order of ["random", "uncertainty"] as const) {
      results[order].push(await run(order, seed));
      process.stderr.write(`seed ${seed} ${order} done (${Math.round((Date.now() - started) / 1000)} s, ${tf.memory().numTensors} tensors)\n`);
    }
  }
  const ceiling = Array.from({ length: SEEDS }, (_, s) => labelerAgreement(s + 1)).reduce((a, b) => a + b, 0) / SEEDS;
  const rows = results.random[0]!.map((point, p) => {
    const r = results.random.map((c) => c[p]!.accuracy);
    const u = results.uncertainty.map((c) => c[p]!.accuracy);
    const diffs = u.map((x, i) => x - r[i]!);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
    return {
      labeled: point.labeled,
      random: mean(r),
      uncertainty: mean(u),
      difference: mean(diffs),
      differenceSe: sd(diffs) / Math.sqrt(diffs.length),
      uncertaintyShare: mean(results.uncertainty.map((c) => c[p]!.uncertaintyShare)),
    };
  });
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  console.log(`active learning: K=${K}, τ=${TAU}, pool ${POOL}, held-out ${HELDOUT} items, ${SEEDS} seeds, ${STEPS} RM steps per retrain, randomShare ${queueSettings.randomShare}, backend ${backend.backend}`);
  console.log(`labelers' own pairwise agreement with the true utility: ${pct(ceiling)}`);
  console.log("| labeled items | random order | uncertainty-first | difference (± s.e., paired over seeds) | claims served by uncertainty |");
  console.log("|---:|---:|---:|---:|---:|");
  for (const row of rows) console.log(`| ${row.labeled} | ${pct(row.random)} | ${pct(row.uncertainty)} | ${(100 * row.difference).toFixed(1)} ± ${(100 * row.differenceSe).toFixed(1)} pt | ${pct(row.uncertaintyShare)} |`);
  const dir = path.join(import.meta.dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `active-learning-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify({ settings: { SEEDS, POOL, HELDOUT, BATCH, BUDGET, K, TAU, STEPS, randomShare: queueSettings.randomShare }, ceiling, rows, results }, null, 2));
  console.log(`wrote ${path.relative(process.cwd(), file)} (${Math.round((Date.now() - started) / 1000)} s)`);
}

await main();
