import assert from "node:assert/strict";
import { test } from "node:test";
import { idRanges } from "./rounds.server.ts";
import { distinctCompletions } from "./samples.server.ts";

const sample = (completion: string) => ({ line: 1, completion, tokens: 3, finished: true, sampling: { seed: 1 } });

test("a data snapshot stores its submission ids as exact inclusive ranges", () => {
  assert.deepEqual(idRanges([]), []);
  assert.deepEqual(idRanges([4]), [[4, 4]]);
  assert.deepEqual(idRanges([1, 2, 3, 7, 9, 10]), [[1, 3], [7, 7], [9, 10]]);
});

test("sampled completions: empty ones and near copies of a kept one are dropped, in order", () => {
  const answer = "The calculator says 17 times 3 is 51, so the answer is 51.";
  const { kept, empty, nearDuplicate } = distinctCompletions(
    [sample(answer), sample("   "), sample(answer.toUpperCase()), sample(answer.replace("51.", "51!")), sample("It is 41.")],
    0.8,
  );
  assert.deepEqual(kept.map((k) => k.completion), [answer, "It is 41."]);
  assert.equal(empty, 1);
  assert.equal(nearDuplicate, 2);
});
