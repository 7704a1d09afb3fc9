import assert from "node:assert/strict";
import { test } from "node:test";
import { redactSecrets } from "../auth/audit.server.ts";
import { isMetricsToken } from "./metrics-access.server.ts";
import { trainerRates } from "./ops-snapshot.server.ts";

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, seconds));
const row = (job: string, seconds: number, payload: Record<string, unknown>, kind = "sft", project = "1") => ({
  job_id: job,
  kind,
  project,
  payload: { time: at(seconds).toISOString(), ...payload },
  created_at: at(seconds + 30),
});

test("trainer rates: tokens and steps per second over the window, summed per project and kind", () => {
  const rows = [
    // job 1: steps 10→14 over 8 s, 50 tokens per line after the first
    ...[0, 2, 4, 6, 8].map((s, i) => row("1", s, { step: 10 + i, tokens: 50 })),
    // job 2 (same project and kind): steps 1→2 over 2 s, 30 tokens
    row("2", 0, { step: 1, tokens: 30 }),
    row("2", 2, { step: 2, tokens: 30 }),
    // a DPO job reports no tokens: steps only
    row("3", 0, { step: 1 }, "dpo"),
    row("3", 4, { step: 3 }, "dpo"),
  ];
  const rates = trainerRates(rows, at(20));
  const sft = rates.find((r) => r.kind === "sft")!;
  assert.equal(sft.jobs, 2);
  assert.equal(sft.tokensPerSecond, (4 * 50) / 8 + 30 / 2);
  assert.equal(sft.stepsPerSecond, 4 / 8 + 1 / 2);
  assert.equal(sft.step, 14);
  assert.equal(sft.lastEventAgeSeconds, 12);
  const dpo = rates.find((r) => r.kind === "dpo")!;
  assert.equal(dpo.tokensPerSecond, null);
  assert.equal(dpo.stepsPerSecond, 0.5);
});

test("trainer rates: one line is no rate; a line without the trainer's time falls back to the insert time", () => {
  const [single] = trainerRates([row("1", 0, { step: 3, tokens: 10 })], at(5));
  assert.equal(single!.stepsPerSecond, null);
  assert.equal(single!.tokensPerSecond, null);
  assert.equal(single!.step, 3);
  const noTime = [0, 10].map((s, i) => ({ job_id: "1", kind: "sft", project: "1", payload: { step: i + 1, tokens: 20, time: "garbage" }, created_at: at(s) }));
  assert.equal(trainerRates(noTime, at(10))[0]!.tokensPerSecond, 2);
});

test("audit details: keys that name a secret are redacted at any depth, the rest is kept", () => {
  const details = { role: "admin", password: "hunter2hunter2", nested: { apiKey: "sk-1", api_key: "sk-2", keep: 1, list: [{ secret: "s" }] }, tokenId: "7" };
  assert.deepEqual(redactSecrets(details), {
    role: "admin",
    password: "[redacted]",
    nested: { apiKey: "[redacted]", api_key: "[redacted]", keep: 1, list: [{ secret: "[redacted]" }] },
    tokenId: "7",
  });
});

test("the metrics token matches exactly and only as a bearer", () => {
  const configured = "a-metrics-secret-of-enough-length";
  assert.equal(isMetricsToken(`Bearer ${configured}`, configured), true);
  assert.equal(isMetricsToken(`Bearer ${configured}x`, configured), false);
  assert.equal(isMetricsToken(configured, configured), false);
  assert.equal(isMetricsToken(`Bearer ${configured}`, undefined), false);
  assert.equal(isMetricsToken(undefined, configured), false);
});
