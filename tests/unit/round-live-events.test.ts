// The round page merges the loader's stored events with those the socket brought: a revalidation that
// answers late must not drop the newer ones (the loss chart vanished that way in an e2e run).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeEvents } from "../../app/lib/use-round-live.ts";
import type { RoundEventPayload } from "../../app/lib/socket-events.ts";

const event = (id: number): RoundEventPayload => ({ id: String(id), job_id: "1", kind: "pretrain", step_index: 0, attempt: 1, type: "metrics", payload: { loss: id }, created_at: "2026-12-05T00:00:00Z" } as unknown as RoundEventPayload);

test("events: the loader's, plus the socket's it lacks, in id order; each once", () => {
  const loaded = [event(1), event(2), event(10)];
  assert.equal(mergeEvents(loaded, [event(2)]), loaded, "nothing new: the loader's list as it is");
  assert.deepEqual(mergeEvents(loaded, [event(1), event(11), event(9), event(12)]).map((e) => e.id), ["1", "2", "9", "10", "11", "12"]);
  assert.deepEqual(mergeEvents([], [event(3)]).map((e) => e.id), ["3"]);
});
