// Switches for the step-time changes of decisions trainer-026, trainer-028, trainer-029 and trainer-031, by group, in the style of TANDEM_SIMD:
//   embedding  GatherV2 and UnsortedSegmentSum (the embedding lookup and its gradient) on wasm as row copies and row
//              adds over heap views (wasm-embedding-kernels.ts), instead of tfjs-wasm's per-element Gather and the
//              JS kernel that copies its input out of the heap and its output back in
//   lm-head    the tied LM head as one matmul with a transpose flag, x·wteᵀ, and its gradients dx = g·wte and
//              d(wte) = gᵀ·x (matmul.ts matMul2dBT), instead of a transposed copy of wte and of its gradient
//   bias-sum   with native BLAS, a Sum over leading axes (bias gradients) as cblas_sgemv instead of a (1, rows)
//              row of ones times the input with cblas_sgemm (wasm-layout-kernels.ts)
//   causal     in the in-place attention's one-op core (qkv-attention.ts), batch rows whose bias is causal in its
//              first half (no left padding) skip the masked quarter of every head's (T, T) products: each product
//              is two, queries 0 … T/2−1 against keys 0 … T/2−1 and the rest against all keys
//   decode     a KV-cache decoding step of GPT-2 (one token per row after a cache) as one pass over the wasm heap
//              (model/gpt-decode.ts, decision trainer-028): the cache preallocated and written in place instead of
//              concatenated, single-query attention as SIMD kernels (cblas_sgemv for a head size not a multiple of
//              16), the projections as cblas_sgemm with the bias or residual already in C, LayerNorm and GELU as the
//              SIMD kernels; no tfjs op inside the blocks. The same for the Llama family (model/llama-decode.ts,
//              decision trainer-029): RMSNorm and SwiGLU as SIMD kernels, rotary positions on the new token's q
//              and k, grouped-query heads reading the cache's nKvHead heads; not while LoRA adapters are on
//   linear     with native BLAS under wasm, GPT's x·W + b (and the residual add after attention's and the MLP's
//              output projections) as one op: the output filled with the bias (or residual + bias) and cblas_sgemm
//              adding the product onto it with beta 1 (matmul.ts linearBias, decision trainer-031), instead of a
//              product and one or two tfjs-wasm Adds
// TANDEM_STEP_KERNELS: unset or "on" all groups, "off" none, else a comma-separated list ("embedding,lm-head").
// Each group's "off" is the path that ran before; every path is tested against the other (decision trainer-026).

export const ALL_STEP_GROUPS = ["embedding", "lm-head", "bias-sum", "causal", "decode", "linear"] as const;
export type StepGroup = (typeof ALL_STEP_GROUPS)[number];

function groupsFromEnv(value: string | undefined): ReadonlySet<StepGroup> {
  if (value === undefined || value === "" || value === "on") return new Set(ALL_STEP_GROUPS);
  if (value === "off") return new Set();
  const named = value.split(",").map((v) => v.trim());
  return new Set(ALL_STEP_GROUPS.filter((g) => named.includes(g)));
}

let groups = groupsFromEnv(process.env["TANDEM_STEP_KERNELS"]);

/** For the tests and the benches: true all groups, false none, a list exactly those. */
export function setStepKernels(on: boolean | readonly StepGroup[]): void {
  groups = new Set(on === true ? ALL_STEP_GROUPS : on === false ? [] : on);
}

export function stepKernelOn(group: StepGroup): boolean {
  return groups.has(group);
}
