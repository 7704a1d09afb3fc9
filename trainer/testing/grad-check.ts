// Finite-difference gradient checks for tests.
//
// Directional form: for random directions u, compare the analytic ⟨∇f(x), u⟩ with the central
// difference (f(x + εu) − f(x − εu)) / 2ε. One number per direction is far less noisy in float32
// than perturbing single elements, and random directions touch every element at once.
import * as tf from "@tensorflow/tfjs-core";
import { createRng, normalArray } from "../random/rng.ts";

export interface GradCheckResult {
  analytic: number[];
  numeric: number[];
  /** max over directions of |analytic − numeric| / max(|analytic|, |numeric|, floor). */
  maxRelError: number;
}

export function checkGradients(
  f: (xs: tf.Tensor[]) => tf.Scalar,
  xs: tf.Tensor[],
  options: { eps?: number; directions?: number; seed?: number; floor?: number } = {},
): GradCheckResult {
  const eps = options.eps ?? 1e-2;
  const directions = options.directions ?? 4;
  const floor = options.floor ?? 1e-3;
  const rng = createRng(options.seed ?? 1234);
  const analytic: number[] = [];
  const numeric: number[] = [];
  const grads = tf.tidy(() => tf.grads((...args: tf.Tensor[]) => f(args))(xs));
  const gradValues = grads.map((g) => g.dataSync().slice());
  tf.dispose(grads);
  for (let d = 0; d < directions; d++) {
    const us = xs.map((x) => normalArray(rng, x.size, 1));
    let dot = 0;
    us.forEach((u, i) => {
      const g = gradValues[i];
      if (!g) return;
      for (let j = 0; j < u.length; j++) dot += (g[j] ?? 0) * (u[j] ?? 0);
    });
    const at = (sign: number): number =>
      tf.tidy(() => {
        const moved = xs.map((x, i) => tf.add(x, tf.mul(tf.tensor(us[i] ?? [], x.shape, "float32"), sign * eps)));
        return f(moved).dataSync()[0] ?? NaN;
      });
    analytic.push(dot);
    numeric.push((at(1) - at(-1)) / (2 * eps));
  }
  let maxRelError = 0;
  analytic.forEach((a, i) => {
    const n = numeric[i] ?? NaN;
    const err = Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), floor);
    maxRelError = Math.max(maxRelError, Number.isNaN(err) ? Infinity : err);
  });
  return { analytic, numeric, maxRelError };
}
