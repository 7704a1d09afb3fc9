import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { rewardSpecSchema } from "../contract/reward-spec.ts";
import { collateCompletions } from "../data/collate.ts";
import { scoreCompletions } from "../algorithms/reward-trainer.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { finalAnswerText, lastInsertedText } from "../rewards/answer-text.ts";
import { ppoReward } from "./ppo-reward.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

// tokens 2–11 decode to the digits 0–9; 1 ends the turn
const decode = (ids: number[]) => ids.map((t) => String(t - 2)).join("");
const readers = { answerText: (c: number[], m: number[]) => finalAnswerText(c, m, decode, [1]), toolResult: (c: number[], m: number[]) => lastInsertedText(c, m, decode) };

test("PPO's reward: the reward model alone, or Σ w·r with the checker on each prompt's metadata; a prompt it does not know is refused", async () => {
  const rewardModel = initGpt(resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, scalarHead: "reward" }), 7);
  const prompts = [[3, 4], [5, 6], [7, 8]];
  const metadataOf = new Map(prompts.map((p, i) => [p, { answer: [4, 7, 9][i] }]));
  // answers "4", "3" (after an inserted "7"), "9": right, wrong (the tool said 7, the answer says 3), right
  const responses = [[6, 1], [9, 5, 1], [11, 1]];
  const policyMask = [[1, 1], [0, 1, 1], [1, 1]];
  const byModel = tf.tidy(() => Array.from(scoreCompletions(rewardModel, collateCompletions(prompts.map((prompt, b) => ({ prompt, completion: responses[b] ?? [] })), 0)).dataSync()));

  const alone = await ppoReward({ rewardModel, padId: 0, metadataOf, ...readers })(prompts, responses, policyMask);
  assert.ok(alone instanceof Float32Array);
  assert.deepEqual(Array.from(alone), byModel);

  const reward = rewardSpecSchema.parse({ checker: { kind: "numeric" }, toolResult: {}, weights: { checker: 2, rewardModel: 0.5, toolResult: 0.25 } });
  const summed = await ppoReward({ rewardModel, padId: 0, reward, metadataOf, ...readers })(prompts, responses, policyMask);
  assert.ok(!(summed instanceof Float32Array));
  const right = [1, 0, 1];
  // the tool-result term scores only the answer that called a tool (it stated another number: 0)
  right.forEach((r, b) => assert.ok(Math.abs((summed.scores[b] ?? NaN) - (0.5 * (byModel[b] ?? NaN) + 2 * r)) < 1e-5, `row ${b}: ${summed.scores[b]}`));
  assert.equal(summed.metrics?.["rewards/checker/mean"], 2 / 3);
  assert.equal(summed.metrics?.["rewards/tool_result/mean"], 0);
  assert.ok(Number.isFinite(summed.metrics?.["rewards/reward_model/mean"]));

  await assert.rejects(Promise.resolve(ppoReward({ rewardModel, padId: 0, reward, metadataOf, ...readers })([[3, 4]], [[6, 1]], [[1, 1]])), /not one of the job's prompts/);
  disposeGpt(rewardModel);
});
