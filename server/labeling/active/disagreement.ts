/**
 * How much two reward models disagree about one task's K completions (decision 0053, issue 16
 * item 2: "largest disagreement between two reward models of successive rounds"). Pure.
 *
 * The measure is the mean, over the K(K−1)/2 completion pairs, of |P(i ≻ j) − P'(i ≻ j)|, where
 * P(i ≻ j) = σ(sᵢ − sⱼ) is the pairwise preference a Bradley–Terry reward model states with its
 * scores s (the loss the reward trainer fits). In [0, 1]: 0 when both models state the same
 * preferences, near 1 when each is sure of the opposite.
 *
 * Why not 1 − Kendall τ between the two orderings: τ sees only the order, so (a) it takes
 * K(K−1)/2 + 1 values — two for K = 2, where every task the models order alike would tie at 0 and
 * the queue could not choose among them — and (b) a pair one model barely prefers and the other
 * barely rejects counts as much as a pair both are sure of in opposite directions. The probability
 * difference is continuous and weighs each pair by how much the models' stated beliefs differ.
 * Its scale is comparable across rounds: Bradley–Terry fixes score differences as log-odds, and a
 * shift of all of one model's scores (which the loss leaves free) changes nothing.
 */

/** σ(x), without overflowing exp for large |x|. */
export function preference(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Mean |σ(aᵢ − aⱼ) − σ(bᵢ − bⱼ)| over pairs i < j; 0 with fewer than two completions. */
export function rewardDisagreement(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`${a.length} scores against ${b.length}`);
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      sum += Math.abs(preference(a[i]! - a[j]!) - preference(b[i]! - b[j]!));
      pairs++;
    }
  }
  return pairs === 0 ? 0 : sum / pairs;
}
