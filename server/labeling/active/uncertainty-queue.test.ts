import assert from "node:assert/strict";
import { test } from "node:test";
import { drawRule, scoreMargin, uncertaintyQueueSchema } from "./uncertainty-queue.ts";

test("the margin is the gap between the top two scores, whatever their order", () => {
  assert.equal(scoreMargin([0.5, 2, -1, 1.5]), 0.5);
  assert.equal(scoreMargin([3, 3, 1]), 0);
  assert.equal(scoreMargin([-2, -0.5]), 1.5);
  assert.equal(scoreMargin([1]), 0);
});

test("a claim is random with probability randomShare, else uncertainty-first", () => {
  const settings = uncertaintyQueueSchema.parse({ enabled: true });
  assert.equal(settings.randomShare, 0.3, "30 % random by default");
  assert.equal(drawRule(settings, () => 0.29), "random");
  assert.equal(drawRule(settings, () => 0.3), "uncertainty");
  assert.equal(drawRule({ ...settings, randomShare: 0 }, () => 0), "uncertainty");
  assert.equal(drawRule({ ...settings, randomShare: 1 }, () => 0.999), "random");
  assert.equal(drawRule({ ...settings, rule: "disagreement" }, () => 0.3), "disagreement", "the disagreement rule serves as itself");
  assert.equal(drawRule({ ...settings, rule: "disagreement" }, () => 0.29), "random");
});

test("settings: off by default, margin by default, numeric model ids or null, two different models, a share in [0, 1]", () => {
  assert.deepEqual(uncertaintyQueueSchema.parse(undefined), { enabled: false, rule: "margin", rewardModelId: null, previousRewardModelId: null, randomShare: 0.3 });
  assert.equal(uncertaintyQueueSchema.parse({}).rule, "margin");
  assert.equal(uncertaintyQueueSchema.safeParse({ rule: "entropy" }).success, false);
  const same = uncertaintyQueueSchema.safeParse({ rule: "disagreement", rewardModelId: "7", previousRewardModelId: "7" });
  assert.equal(same.success, false);
  assert.deepEqual(same.error?.issues[0]?.path, ["previousRewardModelId"]);
  assert.equal(uncertaintyQueueSchema.safeParse({ rewardModelId: "abc" }).success, false);
  assert.equal(uncertaintyQueueSchema.safeParse({ randomShare: -0.1 }).success, false);
  assert.equal(uncertaintyQueueSchema.safeParse({ extra: 1 }).success, false);
});
