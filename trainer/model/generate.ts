// Batched, seeded generation with a KV cache.
//
// Prompts are left-padded; the attention mask hides pads and position ids count real tokens only,
// so a padded prompt continues exactly as it would alone. Each row samples with its own seeded RNG
// (seed, row), so a row's tokens do not depend on what else is in the batch. Besides the tokens,
// each step records the sampled token's log-prob under the full softmax at the sampling
// temperature: the behaviour log-prob PPO needs (top-k/top-p filtering changes what can be drawn,
// not that number; keep RL rollouts unfiltered — trainer-anchors checklist, PPO #3).
import * as tf from "@tensorflow/tfjs-core";
import { disposeForward, disposeKvCache, gptForwardTidy, type ForwardResult, type GptModel } from "./gpt.ts";
import { createRng, type Rng } from "../random/rng.ts";

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep only the k most likely tokens; 0 = off. */
  topK?: number;
  /** Keep the smallest set whose probability reaches p (nucleus, Holtzman et al. 2020); 1 = off. */
  topP?: number;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Tokens that end a completion (end of turn, EOS); the stop token is kept in the output. */
  stopTokens?: number[];
  padId: number;
  seed?: number;
}

export interface GenerateResult {
  /** New tokens per prompt, including the stop token when one was produced. */
  completions: number[][];
  /** True where the completion ended on a stop token (not on maxNewTokens or the context limit). */
  finished: boolean[];
  /** log p(token) of each new token under softmax(logits / temperature) (temperature 0 → 1). */
  logprobs: number[][];
}

/** Samples one token from a row of logits. Returns the token and its full-softmax log-prob. */
export function sampleToken(logits: ArrayLike<number>, o: SamplingOptions, rng: Rng): { token: number; logprob: number } {
  const V = logits.length;
  const t = o.temperature > 0 ? o.temperature : 1;
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, (logits[i] ?? 0) / t);
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp((logits[i] ?? 0) / t - max);
  const logZ = max + Math.log(z);
  const logprobOf = (i: number): number => (logits[i] ?? 0) / t - logZ;

  if (o.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if ((logits[i] ?? 0) > (logits[best] ?? 0)) best = i;
    return { token: best, logprob: logprobOf(best) };
  }
  // candidates by descending probability, cut by top-k then top-p
  let order = Array.from({ length: V }, (_, i) => i).sort((a, b) => (logits[b] ?? 0) - (logits[a] ?? 0));
  if (o.topK && o.topK > 0) order = order.slice(0, o.topK);
  if (o.topP !== undefined && o.topP < 1) {
    let cumulative = 0;
    const kept: number[] = [];
    for (const i of order) {
      kept.push(i);
      cumulative += Math.exp(logprobOf(i));
      if (cumulative >= o.topP) break;
    }
    order = kept;
  }
  let mass = 0;
  for (const i of order) mass += Math.exp(logprobOf(i));
  let u = rng.next() * mass;
  for (const i of order) {
    u -= Math.exp(logprobOf(i));
    if (u <= 0) return { token: i, logprob: logprobOf(i) };
  }
  const last = order[order.length - 1] ?? 0; // rounding left a sliver of mass
  return { token: last, logprob: logprobOf(last) };
}

/** Row-specific seed, so batching does not change a row's samples. */
function rowRng(seed: number, row: number): Rng {
  return createRng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(row + 1, 0x85ebca6b)) >>> 0);
}

export function generate(model: GptModel, prompts: number[][], o: GenerateOptions): GenerateResult {
  const B = prompts.length;
  const stop = new Set(o.stopTokens ?? []);
  const rngs = prompts.map((_, b) => rowRng(o.seed ?? 0, b));
  const completions: number[][] = prompts.map(() => []);
  const logprobs: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  const done = prompts.map(() => false);

  // 1. left-pad the prompts: (B, P) ids and mask
  const P = Math.max(...prompts.map((p) => p.length));
  if (P === 0) throw new Error("prompts must not all be empty");
  const padded = prompts.map((p) => [...new Array<number>(P - p.length).fill(o.padId), ...p]);
  const mask: number[][] = prompts.map((p) => [...new Array<number>(P - p.length).fill(0), ...p.map(() => 1)]);
  const realCount = prompts.map((p) => p.length); // real tokens so far = position of the next one
  // sampling n tokens feeds back n − 1 of them, so the context holds P + n − 1 positions
  const steps = Math.min(o.maxNewTokens, model.config.blockSize - P + 1);

  // 2. prefill: one forward over the prompts fills the cache (positions come from the mask)
  let out = forwardWith(model, padded, mask, null, undefined);

  // 3. decode: sample from the last position, feed the tokens back through the cache
  for (let s = 0; s < steps; s++) {
    const last = lastLogits(out); // B rows of V
    const next: number[] = [];
    const fedReal: number[] = [];
    for (let b = 0; b < B; b++) {
      if (done[b]) {
        next.push(o.padId); // finished rows feed pads that nothing attends to
        fedReal.push(0);
        continue;
      }
      const { token, logprob } = sampleToken(last[b] ?? [], o, rngs[b] as Rng);
      completions[b]?.push(token);
      logprobs[b]?.push(logprob);
      next.push(token);
      fedReal.push(1);
      if (stop.has(token)) finished[b] = done[b] = true;
    }
    if (done.every(Boolean) || s === steps - 1) break;
    const positions = realCount.slice();
    fedReal.forEach((r, b) => {
      mask[b]?.push(r);
      if (r) realCount[b] = (realCount[b] ?? 0) + 1;
    });
    const past = out.present;
    const nextOut = forwardWith(model, next.map((t) => [t]), mask, past ?? null, positions);
    disposeForward({ ...out, present: undefined });
    disposeKvCache(past);
    out = nextOut;
  }
  disposeForward(out);
  return { completions, finished, logprobs };
}

function forwardWith(
  model: GptModel,
  ids: number[][],
  mask: number[][],
  past: ForwardResult["present"] | null,
  positions: number[] | undefined,
): ForwardResult {
  const B = ids.length;
  const T = ids[0]?.length ?? 0;
  const inputs = tf.tidy(() => [
    tf.tensor2d(ids, [B, T], "int32"),
    tf.tensor2d(mask, [B, mask[0]?.length ?? 0], "int32"),
    ...(positions ? [tf.tensor2d(positions.map((p) => [p]), [B, 1], "int32")] : []),
  ]);
  const [idsT, maskT, posT] = inputs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D | undefined];
  const result = gptForwardTidy(model, idsT, {
    attentionMask: maskT,
    ...(posT ? { positionIds: posT } : {}),
    ...(past ? { past } : {}),
    useCache: true,
  });
  tf.dispose(inputs);
  return result;
}

function lastLogits(out: ForwardResult): Float32Array[] {
  const logits = out.logits as tf.Tensor3D; // (B, T, V)
  const [B, T, V] = logits.shape;
  const flat = tf.tidy(() => tf.slice(logits, [0, T - 1, 0], [B, 1, V]).dataSync() as Float32Array);
  return Array.from({ length: B }, (_, b) => flat.subarray(b * V, (b + 1) * V));
}
