import assert from "node:assert/strict";
import { test } from "node:test";
import { preference, rewardDisagreement } from "./disagreement.ts";

const close = (a: number, b: number, what = "") => assert.ok(Math.abs(a - b) < 1e-12, `${what} ${a} ≈ ${b}`);

test("the preference a score difference states: σ(x), also for huge |x|", () => {
  close(preference(0), 0.5);
  close(preference(Math.log(3)), 0.75); // 1 / (1 + 1/3)
  close(preference(-Math.log(3)), 0.25);
  assert.equal(preference(1000), 1);
  assert.equal(preference(-1000), 0);
});

test("disagreement by hand: mean |σ(aᵢ − aⱼ) − σ(bᵢ − bⱼ)| over the pairs", () => {
  // K = 2: one pair. a is indifferent (½), b prefers the first 3:1 (¾): |½ − ¾| = ¼.
  close(rewardDisagreement([0, 0], [Math.log(3), 0]), 0.25);
  // Opposite preferences of the same strength: |¾ − ¼| = ½.
  close(rewardDisagreement([Math.log(3), 0], [0, Math.log(3)]), 0.5);
  // K = 3, a = (ln 3, 0, 0), b = (0, 0, 0): pairs (1,2) |¾ − ½| = ¼, (1,3) ¼, (2,3) |½ − ½| = 0 → mean 1/6.
  close(rewardDisagreement([Math.log(3), 0, 0], [0, 0, 0]), 1 / 6);
  // K = 3, a = (ln 3, 0, −ln 3), b its reverse: (1,2) |¾ − ¼| = ½, (2,3) ½, (1,3) |σ(ln 9) − σ(−ln 9)| = |9/10 − 1/10| = 0.8 → 1.8 / 3 = 0.6.
  close(rewardDisagreement([Math.log(3), 0, -Math.log(3)], [-Math.log(3), 0, Math.log(3)]), 0.6);
});

test("0 for the same preferences, whatever each model's offset; symmetric; near 1 for sure opposites", () => {
  close(rewardDisagreement([1, 2, 3], [11, 12, 13]), 0, "a shift changes nothing");
  close(rewardDisagreement([0.3, -2], [5, 1]), rewardDisagreement([5, 1], [0.3, -2]), "symmetric");
  assert.ok(rewardDisagreement([50, -50], [-50, 50]) > 0.999999);
  assert.equal(rewardDisagreement([1], [2]), 0, "no pair, no disagreement");
  assert.throws(() => rewardDisagreement([1, 2], [1]), /2 scores against 1/);
});

test("it tells apart what 1 − Kendall τ cannot: two pairs both ordered the opposite way, weakly or strongly", () => {
  const weak = rewardDisagreement([0.1, 0], [0, 0.1]);
  const strong = rewardDisagreement([4, 0], [0, 4]);
  assert.ok(weak < 0.05 && strong > 0.9, `${weak} vs ${strong}`);
});
