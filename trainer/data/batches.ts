// Shuffled batches without replacement, epoch after epoch, from a seeded RNG (reproducible order).
import { type Rng } from "../random/rng.ts";

export function* shuffledBatches<T>(items: T[], batchSize: number, rng: Rng): Generator<T[]> {
  if (items.length === 0) throw new Error("no items to batch");
  for (;;) {
    const order = items.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
    }
    // a dataset smaller than one batch still yields (the whole set); otherwise drop the ragged tail
    if (order.length < batchSize) yield order.map((k) => items[k] as T);
    for (let i = 0; i + batchSize <= order.length; i += batchSize) yield order.slice(i, i + batchSize).map((k) => items[k] as T);
  }
}
