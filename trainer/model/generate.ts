// Batched, seeded generation with a KV cache.
//
// Prompts are left-padded; the attention mask hides pads and position ids count real tokens only,
// so a padded prompt continues exactly as it would alone. Each row samples with its own seeded RNG
// (seed, row), so a row's tokens do not depend on what else is in the batch. Besides the tokens,
// each step records the sampled token's log-prob under the full softmax at the sampling
// temperature: the behaviour log-prob PPO needs (top-k/top-p filtering changes what can be drawn,
// not that number; keep RL rollouts unfiltered — trainer-anchors checklist, PPO #3).
//
// Tools (decision 0019): the decoding loop is a generator, so the tool-aware driver
// (generate-with-tools.ts) can pause a row whose assistant turn ended with tool calls, run them, and
// hand back the tokens to insert. Inserted tokens are fed through the cache one per step, exactly
// as sampled ones are fed, while the other rows keep sampling: the cache, the positions and the
// per-row RNG stay as they would be for that row alone. `policyMask` marks them 0 (and their
// log-prob 0) so RL losses skip them. Plain `generate` is the same loop with no pauses.
//
// Streaming (decision 0052): asked to, the loop also yields after every step, so an async driver
// can decode and send each new token before the next is sampled (`generateStepwise`, or
// generateWithTools' `onStep`). Yielding changes nothing that is computed.
//
// Reading the logits (trainer-034): each step's last-position logits are the loop's one read of the
// device, and the loop asks its driver for it (a `LogitsRead`) instead of reading. `generate` reads
// synchronously (wasm, cpu); the async drivers await the read, which is the only way to read webgpu
// under Node (trainer-033), so `generateAsync`, `generateStepwise` and `generateWithTools` run on it.
import * as tf from "@tensorflow/tfjs-core";
import { disposeForward, disposeKvCache, type ForwardResult } from "./gpt.ts";
import { lmForwardTidy, type LanguageModel } from "./lm.ts";
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
  /** Most tokens per completion, inserted ones (tool results) included: it bounds the context. */
  maxNewTokens: number;
  /** Tokens that end a completion (end of turn, EOS); the stop token is kept in the output. */
  stopTokens?: number[];
  padId: number;
  seed?: number;
  /** Tokens never sampled (logit −∞), e.g. <|tool_call|> when a request forbids tool calls. */
  suppressTokens?: number[];
  /** Per row, tokens the completion starts with, fed but not sampled (policyMask 0): a forced tool call. */
  forcedPrefix?: number[][];
}

export interface GenerateResult {
  /** New tokens per prompt, including the stop token when one was produced. */
  completions: number[][];
  /** True where the completion ended on a stop token (not on maxNewTokens or the context limit). */
  finished: boolean[];
  /** log p(token) of each new token under softmax(logits / temperature) (temperature 0 → 1); 0 where inserted. */
  logprobs: number[][];
  /** Same shape as completions: 1 = sampled by the policy, 0 = inserted by the sampler (tool results, forced tokens). */
  policyMask: number[][];
}

/** A row whose assistant turn just ended (<|end|>) after tool calls: the turn's tokens, calls included. */
export interface ToolPause {
  row: number;
  turn: number[];
}

/** For each pause, in order: the tokens to insert (then the row samples on), or null to end the row there. */
export type ToolResume = (number[] | null)[];

/** What the loop hands its driver: the rows that paused on tool calls, and every row's completion so far. */
export interface DecodeStep {
  pauses: ToolPause[];
  completions: readonly (readonly number[])[];
}

/** The loop asks its driver to read this (B, 1, V) tensor of logits and send back its values. */
export interface LogitsRead {
  read: tf.Tensor;
}

const isRead = (value: DecodeStep | LogitsRead): value is LogitsRead => "read" in value;

/** Called after each step with every row's completion so far; a throw ends generation (the cache is freed). */
export type OnStep = (completions: readonly (readonly number[])[]) => Promise<void>;

/** Which tokens make a tool call: a turn holding `callToken` and ending on `endToken` pauses. */
export interface ToolTokens {
  callToken: number;
  endToken: number;
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

/** Generation reading the logits synchronously (wasm, cpu). */
export function generate(model: LanguageModel, prompts: number[][], o: GenerateOptions): GenerateResult {
  const steps = decodeSteps(model, prompts, o, null);
  try {
    let step = steps.next([]);
    while (!step.done && isRead(step.value)) step = steps.next(step.value.read.dataSync() as Float32Array);
    if (!step.done) throw new Error("generation paused for a tool call without tools"); // cannot happen: no tool tokens given
    return step.value;
  } finally {
    steps.return(undefined as never); // frees the logits read and the KV cache when a read failed
  }
}

/** The same generation with every read of the device awaited: what webgpu needs (trainer-033, trainer-034). */
export async function generateAsync(model: LanguageModel, prompts: number[][], o: GenerateOptions): Promise<GenerateResult> {
  const steps = decodeSteps(model, prompts, o, null);
  try {
    const step = await advance(steps, []);
    if (!step.done) throw new Error("generation paused for a tool call without tools");
    return step.value;
  } finally {
    steps.return(undefined as never); // frees the logits read and the KV cache when a read failed
  }
}

/** generate(), awaiting `onStep` after every step: the same tokens, handed out as they are sampled. */
export async function generateStepwise(model: LanguageModel, prompts: number[][], o: GenerateOptions, onStep: OnStep): Promise<GenerateResult> {
  const steps = decodeSteps(model, prompts, o, null, true);
  try {
    for (;;) {
      const step = await advance(steps, []);
      if (step.done) return step.value;
      await onStep(step.value.completions);
    }
  } finally {
    steps.return(undefined as never); // frees the KV cache when onStep threw (a cancelled stream)
  }
}

/** The loop's steps for an async driver: sends `input`, answers every read of the logits awaited, and returns the next step. */
export async function advance(steps: DecodeLoop, input: ToolResume): Promise<IteratorResult<DecodeStep, GenerateResult>> {
  let step = steps.next(input);
  while (!step.done && isRead(step.value)) step = steps.next((await step.value.read.data()) as Float32Array);
  return step as IteratorResult<DecodeStep, GenerateResult>;
}

/** The decoding loop as its drivers hold it: it yields reads and steps, and takes back values and tool results. */
export type DecodeLoop = Generator<DecodeStep | LogitsRead, GenerateResult, ToolResume | Float32Array>;

/**
 * The decoding loop. Every step it yields a read of the last logits and takes their values back
 * (trainer-034). With `tools` it also yields the rows whose turn ended on tool calls and continues
 * with what the caller sends back (generate-with-tools.ts); with `everyStep` it yields after every
 * step (with no pauses unless a turn ended on calls).
 */
export function* decodeSteps(
  model: LanguageModel,
  prompts: number[][],
  o: GenerateOptions,
  tools: ToolTokens | null,
  everyStep = false,
): DecodeLoop {
  const B = prompts.length;
  const stop = new Set(o.stopTokens ?? []);
  const suppress = o.suppressTokens ?? [];
  const rngs = prompts.map((_, b) => rowRng(o.seed ?? 0, b));
  const completions: number[][] = prompts.map(() => []);
  const logprobs: number[][] = prompts.map(() => []);
  const policyMask: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  const done = prompts.map(() => false);
  // tokens waiting to be fed instead of sampled (forced prefix, tool results), and where each row's
  // current assistant turn began in its completion
  const queued: number[][] = prompts.map((_, b) => [...(o.forcedPrefix?.[b] ?? [])]);
  const turnStart = prompts.map(() => 0);

  // 1. left-pad the prompts: (B, P) ids and mask
  const P = Math.max(...prompts.map((p) => p.length));
  if (P === 0) throw new Error("prompts must not all be empty");
  const padded = prompts.map((p) => [...new Array<number>(P - p.length).fill(o.padId), ...p]);
  const mask: number[][] = prompts.map((p) => [...new Array<number>(P - p.length).fill(0), ...p.map(() => 1)]);
  const realCount = prompts.map((p) => p.length); // real tokens so far = position of the next one
  // sampling n tokens feeds back n − 1 of them, so the context holds P + n − 1 positions; every
  // step adds at most one token to each row, so no completion is longer than `steps`
  const steps = Math.min(o.maxNewTokens, model.config.blockSize - P + 1);

  // 2. prefill: one forward over the prompts fills the cache (positions come from the mask)
  let out = forwardWith(model, padded, mask, null, undefined);
  try {
    // 3. decode: each row samples from its last position (or takes its next queued token), and the
    //    tokens are fed back through the cache
    for (let s = 0; s < steps; s++) {
      // the step's one read of the device: the driver reads the last position's logits (B rows of V)
      const slice = lastPosition(out);
      let flat: Float32Array;
      try {
        flat = (yield { read: slice }) as Float32Array;
      } finally {
        slice.dispose();
      }
      const V = slice.shape[2] ?? 0;
      const last = Array.from({ length: B }, (_, b) => flat.subarray(b * V, (b + 1) * V));
      const next: number[] = [];
      const fedReal: number[] = [];
      const pauses: ToolPause[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          next.push(o.padId); // finished rows feed pads that nothing attends to
          fedReal.push(0);
          continue;
        }
        const forced = queued[b]?.shift();
        if (forced !== undefined) {
          completions[b]?.push(forced);
          logprobs[b]?.push(0);
          policyMask[b]?.push(0);
          next.push(forced);
          fedReal.push(1);
          continue;
        }
        const { token, logprob } = sampleToken(suppress.length > 0 ? suppressed(last[b] ?? [], suppress) : (last[b] ?? []), o, rngs[b] as Rng);
        const row = completions[b] as number[];
        row.push(token);
        logprobs[b]?.push(logprob);
        policyMask[b]?.push(1);
        next.push(token);
        fedReal.push(1);
        if (!stop.has(token)) continue;
        const turn = row.slice(turnStart[b]);
        if (tools && token === tools.endToken && turn.includes(tools.callToken)) pauses.push({ row: b, turn });
        else finished[b] = done[b] = true;
      }
      // 3a. rows that called tools: the caller runs them and sends back what to insert
      if (pauses.length > 0 || everyStep) {
        const resume = (yield { pauses, completions }) as ToolResume;
        pauses.forEach(({ row: b }, i) => {
          const insert = resume[i] ?? null;
          const length = completions[b]?.length ?? 0;
          if (insert === null) finished[b] = done[b] = true; // ended on the calls (handed to a client)
          else if (length + insert.length + 1 > steps) done[b] = true; // no room for the results and an answer: cut here
          else {
            queued[b] = [...insert];
            turnStart[b] = length + insert.length; // the next turn starts after the reopened <|assistant|>
          }
        });
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
  } finally {
    disposeForward(out); // also when the caller abandons the loop (a tool driver that failed)
  }
  return { completions, finished, logprobs, policyMask };
}

/** A copy of a logits row with some tokens made impossible (finite, so sorting by logit stays well defined). */
function suppressed(logits: ArrayLike<number>, tokens: number[]): Float32Array {
  const copy = Float32Array.from(logits);
  for (const t of tokens) if (t >= 0 && t < copy.length) copy[t] = -1e30;
  return copy;
}

function forwardWith(
  model: LanguageModel,
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
  const result = lmForwardTidy(model, idsT, {
    attentionMask: maskT,
    ...(posT ? { positionIds: posT } : {}),
    ...(past ? { past } : {}),
    useCache: true,
  });
  tf.dispose(inputs);
  return result;
}

/** The logits at the last position, (B, 1, V): what the next tokens are sampled from. */
function lastPosition(out: ForwardResult): tf.Tensor3D {
  const logits = out.logits as tf.Tensor3D; // (B, T, V)
  const [B, T, V] = logits.shape;
  return tf.slice(logits, [0, T - 1, 0], [B, 1, V]);
}
