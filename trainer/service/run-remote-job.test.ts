import assert from "node:assert/strict";
import { test } from "node:test";
import { metricsOfKeptStep, textOf } from "./run-remote-job.ts";

test("a fresh model's tokenizer corpus is every string of the dataset except role names", () => {
  const jsonl = [JSON.stringify({ messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }] }), "", JSON.stringify({ prompt: "p", chosen: [{ role: "assistant", content: "c" }] })].join("\n");
  assert.equal(textOf(jsonl), "hi\nhello\np\nc");
});

test("after a KL guard's stop the job reports the kept step's metrics, not the rejected line's", () => {
  // DPO checks at steps 2 and 4; the check at 6 is over the target and the weights of step 4 are back
  const dpo: Array<Record<string, number>> = [{ step: 1, loss: 0.69 }, { step: 2, loss: 0.6, "kl_guard/kl": 0.5 }, { step: 3, loss: 0.5 }, { step: 4, loss: 0.4, "kl_guard/kl": 0.9 }, { step: 5, loss: 0.3 }, { step: 6, loss: 0.2, "kl_guard/kl": 1.7 }];
  assert.deepEqual(metricsOfKeptStep(dpo, 4), { step: 4, loss: 0.4, "kl_guard/kl": 0.9 });
  // GRPO: a line's step counts the updates after its rollout. Rollout 2 passed at step 2 (the snapshot), trained to
  // step 4; rollout 3's samples were over the target, so the weights of step 2 are back: rollout 1's line ends there
  const grpo: Array<Record<string, number>> = [{ rollout: 1, step: 2 }, { rollout: 2, step: 4 }, { rollout: 3, step: 4, "kl_guard/kl": 9 }];
  assert.deepEqual(metricsOfKeptStep(grpo, 2), { rollout: 1, step: 2 });
  // the rejected line can carry the kept step itself: a resumed run over the target at once (the weights it resumed
  // from are kept), or a rollout that trained no rows; it never describes the kept weights
  assert.deepEqual(metricsOfKeptStep([{ rollout: 5, step: 8, "kl_guard/kl": 9 }], 8), {});
  assert.deepEqual(metricsOfKeptStep([{ rollout: 1, step: 0 }, { rollout: 2, step: 0, "kl_guard/kl": 9 }], 0), { rollout: 1, step: 0 });
  assert.deepEqual(metricsOfKeptStep(dpo, 0), {}, "stopped at the first check: the starting weights, which no line describes");
  assert.deepEqual(metricsOfKeptStep([{ loss: 1 }], 3), {}, "a line without a step describes no step");
});
