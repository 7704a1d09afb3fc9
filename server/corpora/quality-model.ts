/**
 * The product's own quality model (decision 0041): ridge regression of the mean 1–5 rating on hashed word n-gram
 * features, solved exactly by conjugate gradient. Small, fast to score (one sparse dot product per document), and
 * needs no tokenizer or trainer process; FineWeb-Edu's classifier is likewise a regression on the annotators' 0–5 score
 * thresholded afterwards (Penedo et al. 2024, §3.3), there over embeddings.
 *
 * Features (the "hashing trick", Weinberger et al. 2009, "Feature Hashing for Large Scale Multitask Learning"): word
 * unigrams and bigrams of the lower-cased text, each hashed to one of `dims` buckets with a sign from another hash bit
 * (so collisions cancel in expectation), value log(1 + count), the vector scaled to unit length.
 *
 * Model: ŷ = w·x + b. Objective, over n training documents with mean ratings y:
 *   L(w, b) = (1 / 2n) Σ_i (w·x_i + b − y_i)² + (λ / 2) ‖w‖²          (b is not penalised)
 *   ∇_w L   = (1 / n) Xᵀ r + λ w,   ∂L/∂b = (1 / n) Σ_i r_i,   r = Xw + b − y
 * L is a positive-definite quadratic in θ = (w, b) when λ > 0, so the minimiser solves the normal equations
 *   (XᵀX / n + λ·diag(1, …, 1, 0)) θ = Xᵀy / n     (X with a column of ones for b)
 * which conjugate gradient (Hestenes & Stiefel 1952) solves with two sparse products per step, never forming XᵀX.
 */

export type SparseVector = { indices: Int32Array; values: Float32Array };
export type QualityModel = { dims: number; weights: Float32Array; bias: number };

export const DEFAULT_DIMS = 1 << 18;
const tokenPattern = /[\p{L}\p{N}]+/gu;

function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3's 32-bit finalizer: mixes a combined pair of word hashes into a bigram hash. */
function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashed, signed, log-scaled unigram + bigram counts of the text, unit length (empty text: the zero vector). */
export function featurize(text: string, dims = DEFAULT_DIMS): SparseVector {
  const words = text.toLowerCase().match(tokenPattern) ?? [];
  // Each n-gram becomes key = bucket · 2 + sign bit; sorting the keys (a native typed-array sort) groups them by bucket,
  // which is several times faster than counting in a Map. A bigram's hash combines its words' hashes, so no string is
  // built per bigram.
  const keys = new Uint32Array(Math.max(0, 2 * words.length - 1));
  let n = 0;
  // The top hash bit picks the sign: collisions of unrelated n-grams cancel on average instead of adding up.
  const key = (hash: number) => (hash % dims) * 2 + (hash >>> 31);
  let previous = -1;
  for (const word of words) {
    const hash = fnv1a(word, 0x811c9dc5);
    keys[n++] = key(fmix32(hash));
    if (previous >= 0) keys[n++] = key(fmix32(Math.imul(previous, 0x9e3779b1) ^ hash ^ 0x5bd1e995));
    previous = hash;
  }
  keys.sort();
  const indices: number[] = [];
  const values: number[] = [];
  let norm = 0;
  for (let i = 0; i < n; ) {
    const bucket = keys[i]! >>> 1;
    let count = 0;
    for (; i < n && keys[i]! >>> 1 === bucket; i++) count += keys[i]! & 1 ? -1 : 1;
    if (count === 0) continue;
    const value = Math.sign(count) * Math.log1p(Math.abs(count));
    indices.push(bucket);
    values.push(value);
    norm += value * value;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return { indices: Int32Array.from(indices), values: Float32Array.from(values, (v) => v * scale) };
}

export function predict(model: QualityModel, x: SparseVector): number {
  let sum = model.bias;
  for (let k = 0; k < x.indices.length; k++) sum += model.weights[x.indices[k]!]! * x.values[k]!;
  return sum;
}

/** L(w, b) above, in float64. */
export function ridgeLoss(weights: Float64Array, bias: number, xs: readonly SparseVector[], ys: readonly number[], lambda: number): number {
  let squared = 0;
  xs.forEach((x, i) => {
    let r = bias - ys[i]!;
    for (let k = 0; k < x.indices.length; k++) r += weights[x.indices[k]!]! * x.values[k]!;
    squared += r * r;
  });
  let norm = 0;
  for (const w of weights) norm += w * w;
  return squared / (2 * xs.length) + (lambda / 2) * norm;
}

/** (∇_w L, ∂L/∂b) above. */
export function ridgeGradient(weights: Float64Array, bias: number, xs: readonly SparseVector[], ys: readonly number[], lambda: number): { weights: Float64Array; bias: number } {
  const n = xs.length;
  const grad = new Float64Array(weights.length);
  let gradBias = 0;
  xs.forEach((x, i) => {
    let r = bias - ys[i]!;
    for (let k = 0; k < x.indices.length; k++) r += weights[x.indices[k]!]! * x.values[k]!;
    for (let k = 0; k < x.indices.length; k++) grad[x.indices[k]!]! += (r * x.values[k]!) / n;
    gradBias += r / n;
  });
  for (let j = 0; j < grad.length; j++) grad[j]! += lambda * weights[j]!;
  return { weights: grad, bias: gradBias };
}

/**
 * The exact ridge solution by conjugate gradient on the normal equations (θ = (w, b), b last). Stops when the
 * residual's norm falls below `tolerance` times the right-hand side's, or after `maxIterations`.
 */
export function trainRidge(xs: readonly SparseVector[], ys: readonly number[], options: { dims?: number; lambda: number; maxIterations?: number; tolerance?: number }): QualityModel & { iterations: number } {
  const dims = options.dims ?? DEFAULT_DIMS;
  const n = xs.length;
  if (n === 0) throw new RangeError("no training documents");
  if (!(options.lambda > 0)) throw new RangeError(`lambda must be positive, got ${options.lambda}`);
  const size = dims + 1;
  // A·v = (XᵀX v) / n + λ v (bias entry unpenalised), with X's last column all ones.
  const multiply = (v: Float64Array, out: Float64Array) => {
    out.fill(0);
    for (const x of xs) {
      let dot = v[dims]!;
      for (let k = 0; k < x.indices.length; k++) dot += v[x.indices[k]!]! * x.values[k]!;
      dot /= n;
      for (let k = 0; k < x.indices.length; k++) out[x.indices[k]!]! += dot * x.values[k]!;
      out[dims]! += dot;
    }
    for (let j = 0; j < dims; j++) out[j]! += options.lambda * v[j]!;
  };
  const theta = new Float64Array(size);
  const residual = new Float64Array(size); // c − Aθ with θ = 0: c = Xᵀy / n
  xs.forEach((x, i) => {
    const y = ys[i]! / n;
    for (let k = 0; k < x.indices.length; k++) residual[x.indices[k]!]! += y * x.values[k]!;
    residual[dims]! += y;
  });
  const direction = Float64Array.from(residual);
  const product = new Float64Array(size);
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let j = 0; j < a.length; j++) s += a[j]! * b[j]!;
    return s;
  };
  let rr = dot(residual, residual);
  const stop = (options.tolerance ?? 1e-10) ** 2 * rr;
  const maxIterations = options.maxIterations ?? 500;
  let iterations = 0;
  while (iterations < maxIterations && rr > stop) {
    multiply(direction, product);
    const alpha = rr / dot(direction, product);
    for (let j = 0; j < size; j++) {
      theta[j]! += alpha * direction[j]!;
      residual[j]! -= alpha * product[j]!;
    }
    const next = dot(residual, residual);
    const beta = next / rr;
    for (let j = 0; j < size; j++) direction[j] = residual[j]! + beta * direction[j]!;
    rr = next;
    iterations++;
  }
  return { dims, weights: Float32Array.from(theta.subarray(0, dims)), bias: theta[dims]!, iterations };
}

// --- evaluation ---

/** Share of pairs (high, low) that the scores order correctly, ties half: the ROC AUC (0.5 = chance). */
export function rankingAuc(scores: readonly number[], positive: readonly boolean[]): number | null {
  const order = scores.map((s, i) => ({ s, p: positive[i]! })).sort((a, b) => a.s - b.s);
  let positives = 0;
  let rankSum = 0;
  // Mann–Whitney U with average ranks for ties.
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]!.s === order[i]!.s) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (order[k]!.p) {
      positives++;
      rankSum += rank;
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function pearson(a: readonly number[], b: readonly number[]): number | null {
  const n = a.length;
  if (n < 2) return null;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : null;
}

/**
 * How often one rater agrees with the others on "high quality" (score ≥ threshold vs. the others' mean ≥ threshold),
 * over every rating of a document with two or more: the accuracy a model trained on these labels can hope to reach.
 */
export function raterAgreementAccuracy(ratings: readonly (readonly number[])[], threshold: number): number | null {
  let agree = 0;
  let total = 0;
  for (const scores of ratings) {
    if (scores.length < 2) continue;
    const sum = scores.reduce((s, v) => s + v, 0);
    for (const score of scores) {
      const others = (sum - score) / (scores.length - 1);
      if (score >= threshold === others >= threshold) agree++;
      total++;
    }
  }
  return total > 0 ? agree / total : null;
}
