// The sampler behind GRPO/RLOO rollouts and the sampled KL checks, as an injected dependency with
// generate()'s signature, so sampling that runs tools plugs in without touching the trainers.
//
// A rollout may insert tokens the policy did not sample (a tool's result): `policyMask` (same shape
// as `completions`) is 1 where the policy sampled the token and 0 where the sampler inserted it.
// Inserted tokens stay in the context the policy conditions on, but ratios, KL and losses run over
// policy tokens only (TRL's tool_mask). A sampler without tools leaves it out: all ones.
import { generateAsync, type GenerateOptions, type GenerateResult } from "../model/generate.ts";
import { type LanguageModel } from "../model/lm.ts";
import { collateCompletions, type CompletionBatch } from "../data/collate.ts";

export type RolloutResult = GenerateResult & { policyMask?: number[][] };
export type RolloutFn = (model: LanguageModel, prompts: number[][], options: GenerateOptions) => RolloutResult | Promise<RolloutResult>;

/** Plain sampling: every completion token is the policy's. Its reads are awaited, so it runs on webgpu too (trainer-034). */
export const plainRollout: RolloutFn = (model, prompts, options) => generateAsync(model, prompts, options);

/** A tool-running sampler's per-row call counts (generateWithTools' toolCalls); null from one that runs no tools. */
export function toolCallsOf(result: RolloutResult): number[] | null {
  return "toolCalls" in result && Array.isArray(result.toolCalls) ? (result.toolCalls as number[]) : null;
}

/** `tools/call_frac`: the share of answers that called a tool; {} without call counts, so the metric is there only when tools were. */
export function toolCallMetrics(calls: readonly number[] | null): Record<string, number> {
  return calls && calls.length > 0 ? { "tools/call_frac": calls.filter((n) => n > 0).length / calls.length } : {};
}

/** The rollout's policy mask, or all ones; refused when its shape differs from the completions'. */
export function policyMaskOf(result: RolloutResult): number[][] {
  const mask = result.policyMask;
  if (!mask) return result.completions.map((c) => c.map(() => 1));
  if (mask.length !== result.completions.length || mask.some((m, b) => m.length !== (result.completions[b]?.length ?? -1)))
    throw new Error("rollout: policyMask must have the shape of completions (one 0/1 per completion token)");
  return mask;
}

export interface RolloutBatch {
  /** prompt ++ completion, right-padded: (B, T). */
  batch: CompletionBatch;
  /** T − 1: next-token positions; position j predicts token j + 1. */
  width: number;
  /** (B, T−1) row-major: 1 where the predicted token is a completion token the policy sampled. */
  lossMask: Float32Array;
  /** Policy tokens per row. */
  policyLengths: number[];
}

export function collateRollout(prompts: number[][], completions: number[][], policyMask: number[][], padId: number): RolloutBatch {
  const batch = collateCompletions(prompts.map((prompt, b) => ({ prompt, completion: completions[b] ?? [] })), padId);
  const [B, T] = batch.shape;
  const W = T - 1;
  const lossMask = new Float32Array(B * W);
  const policyLengths = prompts.map(() => 0);
  for (let b = 0; b < B; b++) {
    const start = prompts[b]?.length ?? 0;
    const mask = policyMask[b] ?? [];
    mask.forEach((m, c) => {
      const j = start + c - 1; // the position that predicts completion token c
      if (m && j >= 0 && j < W) {
        lossMask[b * W + j] = 1;
        policyLengths[b] = (policyLengths[b] ?? 0) + 1;
      }
    });
  }
  return { batch, width: W, lossMask, policyLengths };
}

/** The sampled-by-the-policy tokens of one completion, in order (health metrics look at these). */
export function policyTokens(completion: number[], policyMask: number[]): number[] {
  return completion.filter((_, i) => policyMask[i]);
}

/** A row's seed for rollout r: reproducible, and distinct across rollouts (PPO's scheme). */
export function rolloutSeed(seed: number, rollout: number): number {
  return (seed + rollout * 7919) >>> 0;
}

/** Some rows of a batch, in the order given (a minibatch, or a chunk of a long rollout). */
export function batchRows(batch: CompletionBatch, rows: number[]): CompletionBatch {
  const [, T] = batch.shape;
  return {
    shape: [rows.length, T],
    inputIds: pickRows(batch.inputIds, rows, T),
    attentionMask: pickRows(batch.attentionMask, rows, T),
    completionMask: pickRows(batch.completionMask, rows, T),
    lastIndex: Int32Array.from(rows, (row) => batch.lastIndex[row] ?? 0),
  };
}

/** Rows of a row-major (B, width) array, in the order given. */
export function pickRows<A extends Int32Array | Float32Array>(src: A, rows: number[], width: number): A {
  const out = new (src.constructor as new (n: number) => A)(rows.length * width);
  rows.forEach((row, k) => out.set(src.subarray(row * width, (row + 1) * width), k * width));
  return out;
}

/**
 * `f` over consecutive chunks of at most `size` rows, its outputs (row-major, the same width per row) joined in order.
 * A forward over a rollout holds (rows, T, V) logits at once; dynamic sampling can make a rollout several times the
 * planned batch, so its no-gradient passes run a planned batch at a time. One chunk passes the batch itself. `f` is
 * awaited chunk by chunk: it reads the device (webgpu cannot read synchronously, trainer-033).
 */
export async function byRowChunks(batch: CompletionBatch, size: number, f: (part: CompletionBatch) => Promise<Float32Array[]>): Promise<Float32Array[]> {
  const [B] = batch.shape;
  if (B <= size) return f(batch);
  const parts: Float32Array[][] = [];
  for (let start = 0; start < B; start += size) parts.push(await f(batchRows(batch, Array.from({ length: Math.min(size, B - start) }, (_, k) => start + k))));
  return (parts[0] ?? []).map((_, j) => {
    const out = new Float32Array(parts.reduce((n, p) => n + (p[j]?.length ?? 0), 0));
    let at = 0;
    for (const p of parts) { out.set(p[j] ?? new Float32Array(0), at); at += p[j]?.length ?? 0; }
    return out;
  });
}
