/**
 * Active learning: which labeling order buys the most held-out reward-model accuracy per label?
 * (issue #16 item 2) Random order, the uncertainty-first queue's two rules, and fixed against
 * adaptive overlap, all at the same number of labels (the human effort).
 *
 * A simulation with the trainer's real reward model (Bradley–Terry on K-way rankings,
 * algorithms/reward-trainer.ts) and the server's real rules — the queue's (server/labeling/active/
 * uncertainty-queue.ts: smallest top-two margin first, or the largest disagreement between two
 * successive models, active/disagreement.ts; `randomShare` of claims at random) and adaptive
 * overlap's (server/labeling/adaptive-overlap.ts: grow while the labels disagree) — but without the
 * server: the pool's scores are computed as the scoring runner's worker computes them
 * (rewardModelReward).
 *
 *   items       a topic token and K answers of L words; the hidden utility of an answer is the sum
 *               of its words' weights for that topic (weights ~ N(0, 1));
 *   labelers    as in bench/loop-bench.ts: each label is τ·u + Gumbel noise, sorted (Plackett–Luce,
 *               so P(a over b) = σ(τ·(u_a − u_b))); an item's j-th label is the same draw in
 *               every order that asks for it;
 *   rounds      collect --batch labels, retrain the reward model from the same initialisation on
 *               every label so far (each label one ranking example, as the rankings export gives
 *               them; same steps each time), measure its pairwise accuracy against the true
 *               utility on --heldout fresh items; repeat up to --budget labels;
 *   orders      random: one label per item, items at random;
 *               uncertainty: one label per item; the first batch at random (no model yet, the
 *               queue's fallback), then each claim at random with probability --random-share, else
 *               the unlabeled item with the smallest margin under the latest model;
 *               disagreement: the same, but the item on which the latest two models (successive
 *               retrains, the bench's rounds) disagree most; random until there are two;
 *               fixed: items at random, --overlap labels each;
 *               adaptive: items at random, --start labels each, one more while their pooled
 *               pairwise agreement is below --agreement-below, up to --max.
 *
 *   npm run bench:active [-- --seeds 3 --pool 400 --heldout 200 --batch 40 --budget 240 --k 4 --tau 2
 *                           --steps 80 --random-share 0.3 --overlap 3 --start 2 --max 5 --agreement-below 0.75
 *                           --orders random,uncertainty,disagreement,fixed,adaptive]
 *
 * Prints two tables (held-out accuracy per labels, mean over seeds; the paired differences and the
 * items each order labeled) and writes bench/results/active-learning-<time>.json.
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
import { rewardDisagreement } from "../server/labeling/active/disagreement.ts";
import { adaptiveOverlapSchema, wantsAnother } from "../server/labeling/adaptive-overlap.ts";
import type { Ranking } from "../server/labeling/quality/ranking.ts";

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
    overlap: { type: "string", default: "3" },
    start: { type: "string", default: "2" },
    max: { type: "string", default: "5" },
    "agreement-below": { type: "string", default: "0.75" },
    orders: { type: "string", default: "random,uncertainty,disagreement,fixed,adaptive" },
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
const disagreementSettings = { ...queueSettings, rule: "disagreement" as const };
const FIXED_OVERLAP = Number(values.overlap);
const adaptiveSettings = adaptiveOverlapSchema.parse({ enabled: true, start: Number(values.start), max: Number(values.max), agreementBelow: Number(values["agreement-below"]) });
const ORDERS = ["random", "uncertainty", "disagreement", "fixed", "adaptive"] as const;
type Order = (typeof ORDERS)[number];
const orders = values.orders.split(",").map((o) => {
  if (!ORDERS.includes(o as Order)) throw new Error(`--orders: ${o} is not one of ${ORDERS.join(", ")}`);
  return o as Order;
});
if (!orders.includes("random")) throw new Error("--orders must include random (the baseline of the differences)");

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

type Point = { labeled: number; items: number; accuracy: number; servedByRule: number };
type Curve = Point[];

/** A label as the server stores it (completion indices as ids), for adaptive overlap's agreement. */
const asRanking = (ranks: number[]): Ranking => ({ tiers: ranks.map((r, i) => [r, i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => [String(i)]) });

async function run(order: Order, seed: number): Promise<Curve> {
  const worldRng = createRng(1000 + seed); // the same items, utilities and held-out set for every order
  const w = world(worldRng);
  const pool = Array.from({ length: POOL }, () => w.item());
  const heldout = Array.from({ length: HELDOUT }, () => w.item());
  const pickRng = createRng(3000 + seed);
  // Item i's j-th label is one fixed draw, the same in every order that asks for it.
  const labels = new Map<string, number[]>();
  const labelOf = (i: number, j: number) => {
    const key = `${i}:${j}`;
    if (!labels.has(key)) labels.set(key, label(pool[i]!, createRng(2000 + seed * 100_000 + i + j * 10_000_000)));
    return labels.get(key)!;
  };

  // Overlap orders: items at random, each labeled `overlap` times (fixed) or as adaptive overlap decides.
  function* overlapStream(): Generator<[number, number[]]> {
    const items = pool.map((_, i) => i);
    for (let n = items.length - 1; n > 0; n--) {
      const m = Math.floor(pickRng.next() * (n + 1));
      [items[n], items[m]] = [items[m]!, items[n]!];
    }
    for (const i of items) {
      let overlap = order === "fixed" ? FIXED_OVERLAP : adaptiveSettings.start;
      const got: Ranking[] = [];
      for (let j = 0; j < overlap; j++) {
        const ranks = labelOf(i, j);
        got.push(asRanking(ranks));
        yield [i, ranks];
        // The submit's rule (decision 0038): when the task is full and its labels disagree, one more.
        if (order === "adaptive" && j === overlap - 1 && wantsAnother(got, overlap, adaptiveSettings)) overlap++;
      }
    }
  }
  const stream = order === "fixed" || order === "adaptive" ? overlapStream() : null;

  const examples: RankingExample[] = [];
  const labeled = new Set<number>();
  let byRule = 0;
  let measure: number[] | null = null; // per pool item: margin (small = unsure) or disagreement (large = unsure)
  let previousScores: number[][] | null = null;
  const curve: Curve = [];
  let exhausted = false;
  while (examples.length < BUDGET && !exhausted) {
    for (let n = 0; n < BATCH; n++) {
      if (stream) {
        const next = stream.next();
        if (next.done) {
          exhausted = true; // the pool ran out of items before the budget (a --pool too small)
          break;
        }
        const [i, ranks] = next.value;
        labeled.add(i);
        examples.push(asExample(pool[i]!, ranks));
        continue;
      }
      const open = pool.map((_, i) => i).filter((i) => !labeled.has(i));
      if (open.length === 0) {
        exhausted = true;
        break;
      }
      const rule = measure && order !== "random" ? drawRule(order === "disagreement" ? disagreementSettings : queueSettings, () => pickRng.next()) : "random";
      let pick: number;
      if (rule === "uncertainty") pick = open.reduce((best, i) => (measure![i]! < measure![best]! ? i : best), open[0]!);
      else if (rule === "disagreement") pick = open.reduce((best, i) => (measure![i]! > measure![best]! ? i : best), open[0]!);
      else pick = open[Math.floor(pickRng.next() * open.length)]!;
      if (rule !== "random") byRule++;
      labeled.add(pick);
      examples.push(asExample(pool[pick]!, labelOf(pick, 0)));
    }
    const model = train(examples, seed);
    curve.push({ labeled: examples.length, items: labeled.size, accuracy: pairwiseAccuracy(await scoreItems(model, heldout), heldout), servedByRule: byRule / examples.length });
    if (order === "uncertainty") measure = (await scoreItems(model, pool)).map(scoreMargin);
    if (order === "disagreement") {
      const scores = await scoreItems(model, pool);
      if (previousScores) measure = scores.map((s, i) => rewardDisagreement(s, previousScores![i]!));
      previousScores = scores;
    }
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

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
/** Paired over seeds: mean difference ± its standard error. */
const paired = (a: number[], b: number[]) => {
  const d = a.map((x, i) => x - b[i]!);
  return `${(100 * mean(d)).toFixed(1)} ± ${(100 * sd(d) / Math.sqrt(d.length)).toFixed(1)} pt`;
};

async function main() {
  const backend = await initBackend({ prefer: "wasm" });
  const started = Date.now();
  const results = Object.fromEntries(orders.map((o) => [o, [] as Curve[]])) as Record<Order, Curve[]>;
  for (let seed = 1; seed <= SEEDS; seed++) {
    for (const order of orders) {
      results[order].push(await run(order, seed));
      process.stderr.write(`seed ${seed} ${order} done (${Math.round((Date.now() - started) / 1000)} s, ${tf.memory().numTensors} tensors)\n`);
    }
  }
  const ceiling = Array.from({ length: SEEDS }, (_, s) => labelerAgreement(s + 1)).reduce((a, b) => a + b, 0) / SEEDS;
  const names: Record<Order, string> = {
    random: "random order",
    uncertainty: "uncertainty-first (margin)",
    disagreement: "uncertainty-first (disagreement)",
    fixed: `fixed overlap ${FIXED_OVERLAP}`,
    adaptive: `adaptive overlap ${adaptiveSettings.start}–${adaptiveSettings.max}`,
  };
  const at = (order: Order, p: number, key: keyof Point) => results[order].map((c) => c[p]![key]);
  const points = results.random[0]!.map((point, p) => ({ labeled: point.labeled, p }));
  console.log(`active learning: K=${K}, τ=${TAU}, pool ${POOL}, held-out ${HELDOUT} items, ${SEEDS} seeds, ${STEPS} RM steps per retrain, randomShare ${queueSettings.randomShare}, ` +
    `adaptive start ${adaptiveSettings.start} max ${adaptiveSettings.max} agreementBelow ${adaptiveSettings.agreementBelow}, backend ${backend.backend}`);
  console.log(`labelers' own pairwise agreement with the true utility: ${pct(ceiling)}`);
  console.log("");
  console.log(`| labels | ${orders.map((o) => names[o]).join(" | ")} |`);
  console.log(`|---:|${orders.map(() => "---:").join("|")}|`);
  for (const { labeled, p } of points) console.log(`| ${labeled} | ${orders.map((o) => pct(mean(at(o, p, "accuracy")))).join(" | ")} |`);
  console.log("");
  const others = orders.filter((o) => o !== "random");
  const overlapPair = orders.includes("fixed") && orders.includes("adaptive");
  console.log(`| labels | ${others.map((o) => `${names[o]} − random`).join(" | ")}${overlapPair ? " | adaptive − fixed" : ""} | items labeled (${orders.map((o) => o).join(" / ")}) | claims served by the rule (${others.filter((o) => o === "uncertainty" || o === "disagreement").join(" / ")}) |`);
  console.log(`|---:|${others.map(() => "---:").join("|")}${overlapPair ? "|---:" : ""}|---:|---:|`);
  for (const { labeled, p } of points) {
    const diffs = others.map((o) => paired(at(o, p, "accuracy"), at("random", p, "accuracy")));
    if (overlapPair) diffs.push(paired(at("adaptive", p, "accuracy"), at("fixed", p, "accuracy")));
    const items = orders.map((o) => mean(at(o, p, "items")).toFixed(0)).join(" / ");
    const served = others.filter((o) => o === "uncertainty" || o === "disagreement").map((o) => pct(mean(at(o, p, "servedByRule")))).join(" / ");
    console.log(`| ${labeled} | ${diffs.join(" | ")} | ${items} | ${served} |`);
  }
  console.log("(differences: mean ± s.e., paired over seeds)");
  const dir = path.join(import.meta.dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `active-learning-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const settings = { SEEDS, POOL, HELDOUT, BATCH, BUDGET, K, TAU, STEPS, randomShare: queueSettings.randomShare, fixedOverlap: FIXED_OVERLAP, adaptive: adaptiveSettings, orders };
  fs.writeFileSync(file, JSON.stringify({ settings, ceiling, results }, null, 2));
  console.log(`wrote ${path.relative(process.cwd(), file)} (${Math.round((Date.now() - started) / 1000)} s)`);
}

await main();
