// Linear warmup then cosine decay to minLr, as in nanoGPT's train.py `get_lr`
// (Loshchilov & Hutter 2017, "SGDR", for the cosine; Goyal et al. 2017 for the warmup).
import { type OptimConfig } from "../contract/optim-config.ts";

/** Learning rate for 0-based optimizer step `step`. */
export function learningRateAt(step: number, c: Pick<OptimConfig, "lr" | "minLr" | "warmupSteps" | "totalSteps">): number {
  // 1. warmup: (step + 1) / (warmup + 1) so the very first step already moves
  if (step < c.warmupSteps) return (c.lr * (step + 1)) / (c.warmupSteps + 1);
  // 2. after the schedule: hold the floor
  if (step >= c.totalSteps) return c.minLr;
  // 3. cosine from lr down to minLr
  const ratio = (step - c.warmupSteps) / Math.max(1, c.totalSteps - c.warmupSteps);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio));
  return c.minLr + coeff * (c.lr - c.minLr);
}
