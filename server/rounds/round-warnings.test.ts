import assert from "node:assert/strict";
import { test } from "node:test";
import { heldOutReport, heldoutFileSchema, roundWarnings, type HeldoutFile } from "./round-warnings.ts";

const health = (over: Partial<HeldoutFile["new"]["health"]> = {}) => ({ undecodableShare: 0, loopShare: 0, emptyShare: 0, unfinishedShare: 0, ...over });
const scores = (accuracy: number | null, over: Partial<HeldoutFile["new"]> = {}): HeldoutFile["new"] => ({
  checker: accuracy === null ? null : { accuracy, scored: 40, correct: Math.round(accuracy * 40), reasons: {} },
  reward: null, meanLength: 10, health: health(), ...over,
});
const file = (now: HeldoutFile["new"], before: HeldoutFile["new"] | null, kl: number | null = null): HeldoutFile =>
  heldoutFileSchema.parse({ prompts: 40, new: now, previous: before, kl: kl === null ? null : { mean: kl, stderr: 0.1, samples: 80 }, samples: [] });
const codes = (f: HeldoutFile, klTarget = 3, rm: { accuracy: number; pairs: number } | null = null) => {
  const heldOut = heldOutReport(f, rm);
  return roundWarnings({ klTarget, heldOut, kl: heldOut.kl === null ? null : { value: heldOut.kl, where: "on held-out prompts" } }).map((w) => w.code);
};

test("report.heldOut carries the checker's new and previous shares, KL, the reward model's held-out accuracy and the sample count", () => {
  const report = heldOutReport(file(scores(0.6), scores(0.25), 1.5), { accuracy: 0.7, pairs: 20 });
  assert.deepEqual(report.checker, { new: 0.6, previous: 0.25, scored: 40, reasons: {}, gained: null, lost: null }, "a file without the paired counts");
  const paired = heldOutReport(heldoutFileSchema.parse({ ...file(scores(0.6), scores(0.25)), checkerChanges: { gained: 16, lost: 2 } }), null);
  assert.deepEqual(paired.checker, { new: 0.6, previous: 0.25, scored: 40, reasons: {}, gained: 16, lost: 2 });
  assert.equal(report.kl, 1.5);
  assert.equal(report.rmAccuracy, 0.7);
  assert.equal(report.rmPairs, 20);
  assert.equal(report.samples, 40);
  assert.deepEqual(heldOutReport(file(scores(null), null), null).checker, null);
});

test("a healthy round that improved raises no warning", () => {
  assert.deepEqual(codes(file(scores(0.6), scores(0.25), 1.2)), []);
});

test("KL above the target warns; at the target it does not", () => {
  assert.deepEqual(codes(file(scores(0.6), scores(0.25), 24)), ["kl_above_target"]);
  assert.deepEqual(codes(file(scores(0.6), scores(0.25), 3)), []);
  assert.deepEqual(codes(file(scores(0.6), scores(0.25), 3.01)), ["kl_above_target"]);
});

test("a step its KL guard stopped warns, naming the step, the KL, the target and the weights kept (decision 0066)", () => {
  const heldOut = heldOutReport(file(scores(0.6), scores(0.25), 1.2), null);
  const warnings = roundWarnings({ klTarget: 6, heldOut, kl: { value: 1.2, where: "on held-out prompts" }, earlyStops: [{ kind: "ppo", kl: 7.25, klTarget: 6, step: 48, keptStep: 44 }] });
  assert.deepEqual(warnings.map((w) => [w.code, w.value, w.threshold]), [["kl_guard_stopped", 7.25, 6]]);
  assert.match(warnings[0]!.message, /^The PPO step stopped early: its KL to the reference reached 7\.25 nats per answer at step 48, above its target 6, so it kept the weights of step 44/);
  assert.deepEqual(roundWarnings({ klTarget: 6, heldOut, kl: null, earlyStops: [] }), []);
});

test("broken answers warn when high in themselves or clearly up on the previous policy", () => {
  assert.deepEqual(codes(file(scores(0.6, { health: health({ undecodableShare: 0.45 }) }), scores(0.25))), ["undecodable_answers"]);
  assert.deepEqual(codes(file(scores(0.6, { health: health({ undecodableShare: 0.04 }) }), scores(0.25))), [], "4 % with none before is under the 5 % floor");
  assert.deepEqual(codes(file(scores(0.6, { health: health({ undecodableShare: 0.12 }) }), scores(0.25, { health: health({ undecodableShare: 0.1 }) }))), [], "about as before");
  assert.deepEqual(codes(file(scores(0.6, { health: health({ loopShare: 0.3, emptyShare: 0.2 }) }), scores(0.25))), ["repeated_loops", "empty_answers"]);
});

test("broken tool calls warn (DPO cut 21 of 96 calls off in the ninth loop bench); a stored report without the share raises nothing", () => {
  assert.deepEqual(codes(file(scores(0.3, { health: health({ brokenCallShare: 0.22 }) }), scores(0.4, { health: health({ brokenCallShare: 0 }) }))), ["broken_tool_calls"]);
  assert.deepEqual(codes(file(scores(0.6, { health: health({ brokenCallShare: 0.08 }) }), scores(0.4))), [], "8 % is under the 10 % floor");
  assert.deepEqual(codes(file(scores(0.6, { health: health({ brokenCallShare: 0.2 }) }), scores(0.4, { health: health({ brokenCallShare: 0.18 }) }))), [], "about as before");
  assert.deepEqual(codes(file(scores(0.6, { health: health({ brokenCallShare: 0.2 }) }), scores(0.4, { health: health() }))), ["broken_tool_calls"], "none recorded before counts as none");
  const old = heldoutFileSchema.parse({ prompts: 40, new: scores(0.6), previous: scores(0.25), kl: null, samples: [] });
  assert.equal(old.new.health.brokenCallShare, undefined);
  assert.deepEqual(codes(old), []);
});

test("length drift: more than twice or under half the previous length, by at least 4 tokens", () => {
  assert.deepEqual(codes(file(scores(0.6, { meanLength: 25 }), scores(0.25, { meanLength: 10 }))), ["length_drift"]);
  assert.deepEqual(codes(file(scores(0.6, { meanLength: 4 }), scores(0.25, { meanLength: 10 }))), ["length_drift"]);
  assert.deepEqual(codes(file(scores(0.6, { meanLength: 5 }), scores(0.25, { meanLength: 2 }))), [], "3 tokens more is not drift");
  assert.deepEqual(codes(file(scores(0.6, { meanLength: 25 }), null)), [], "no previous policy to drift from");
});

/** heldout.json with the paired counts: prompts only the new policy got right (gained), only the previous one (lost). */
const pairedFile = (now: number, before: number, gained: number, lost: number, prompts = 96) =>
  heldoutFileSchema.parse({
    prompts, kl: null, samples: [], checkerChanges: { gained, lost },
    new: scores(now, { checker: { accuracy: now, scored: prompts, correct: Math.round(now * prompts), reasons: {} } }),
    previous: scores(before, { checker: { accuracy: before, scored: prompts, correct: Math.round(before * prompts), reasons: {} } }),
  });

test("with the paired counts, a fall is McNemar's test on the prompts whose verdict changed (loop bench rounds)", () => {
  // plain DPO's first loop round: 39 → 29 right of 96, 16 lost and 6 gained: z = 10/√22 ≈ 2.13. The two-share
  // test would need a drop of 1.96·√(2·0.354·0.646/96) ≈ 0.135 and missed it.
  assert.deepEqual(codes(pairedFile(29 / 96, 39 / 96, 6, 16)), ["heldout_score_fell"]);
  assert.deepEqual(codes(file(scores(29 / 96, { checker: { accuracy: 29 / 96, scored: 96, correct: 29, reasons: {} } }), scores(39 / 96, { checker: { accuracy: 39 / 96, scored: 96, correct: 39, reasons: {} } }))), [], "the share test on the same figures");
  // DPOP λ 1's second loop round: 43 → 32, 11 lost and none gained: z ≈ 3.32
  assert.deepEqual(codes(pairedFile(32 / 96, 43 / 96, 0, 11)), ["heldout_score_fell"]);
  // the same 10-point drop with much churn is noise: 30 lost, 20 gained, z = 10/√50 ≈ 1.41
  assert.deepEqual(codes(pairedFile(29 / 96, 39 / 96, 20, 30)), []);
  // a significant but tiny fall stays under the 5-point floor: 4 lost, 0 gained (z = 2) is 4 points of 96
  assert.deepEqual(codes(pairedFile(35 / 96, 39 / 96, 0, 4)), []);
  assert.deepEqual(codes(pairedFile(39 / 96, 39 / 96, 0, 0)), [], "nothing changed");
});

test("the warning's message gives the paired counts when there are some", () => {
  const heldOut = heldOutReport(pairedFile(29 / 96, 39 / 96, 6, 16), null);
  const [warning] = roundWarnings({ klTarget: 6, heldOut, kl: null });
  assert.match(warning!.message, /16 answers right before are wrong now, 6 the other way/);
});

test("a held-out score that fell beyond noise warns (two proportions on the same 40 prompts)", () => {
  // p ≈ 0.425, margin = 1.96·√(2·0.425·0.575/40) ≈ 0.217
  assert.deepEqual(codes(file(scores(0.3), scores(0.55))), ["heldout_score_fell"]);
  assert.deepEqual(codes(file(scores(0.4), scores(0.55))), [], "15 points on 40 prompts is within noise");
  assert.deepEqual(codes(file(scores(0.05), scores(0.31))), ["heldout_score_fell"], "the demo's old DPO step: 31 % → 5 %");
});

// the tenth run's chain (docs/benchmarks.md, "DPO rounds in a row"): each round's own KL under the target 6
const chained = (klFromOrigin: number | null | undefined, klOwn = 2.4): HeldoutFile =>
  heldoutFileSchema.parse({
    prompts: 40, new: scores(0.07), previous: scores(0.14), kl: { mean: klOwn, stderr: 0.2, samples: 80 }, samples: [],
    ...(klFromOrigin === undefined ? {} : { klFromOrigin: klFromOrigin === null ? null : { mean: klFromOrigin, stderr: 0.4, samples: 80 } }),
  });
const origin = { modelId: "17", name: "Round 0 · sft" };

test("report.heldOut carries the KL from the chain's origin and names the origin; a stored file without it parses", () => {
  const report = heldOutReport(chained(7.5), null, origin);
  assert.equal(report.klFromOrigin, 7.5);
  assert.equal(report.klFromOriginStderr, 0.4);
  assert.deepEqual(report.origin, origin);
  const old = heldOutReport(chained(undefined), null);
  assert.equal(old.klFromOrigin, null);
  assert.equal(old.origin, null);
  assert.equal(heldOutReport(chained(null), null).klFromOrigin, null, "a round straight off its SFT: no second KL");
});

test("KL from the origin above the target warns, naming the origin and what to do, even when the round's own KL is under it", () => {
  const warn = (f: HeldoutFile, klTarget = 6, named: typeof origin | null = origin) => {
    const heldOut = heldOutReport(f, null, named);
    return roundWarnings({ klTarget, heldOut, kl: heldOut.kl === null ? null : { value: heldOut.kl, where: "on held-out prompts" } });
  };
  const [w, ...rest] = warn(chained(7.5));
  assert.deepEqual(rest, []);
  assert.equal(w?.code, "kl_from_origin_above_target");
  assert.equal(w?.value, 7.5);
  assert.equal(w?.threshold, 6);
  assert.match(w!.message, /Round 0 · sft \(model 17\)/);
  assert.match(w!.message, /7\.50 nats/);
  assert.match(w!.message, /earlier policy/);
  assert.match(w!.message, /λ or β/);
  assert.deepEqual(warn(chained(6)).map((x) => x.code), [], "at the target it does not");
  assert.deepEqual(warn(chained(null)).map((x) => x.code), []);
  assert.deepEqual(warn(chained(undefined)).map((x) => x.code), [], "a report stored before the field");
  assert.deepEqual(warn(chained(9, 8)).map((x) => x.code), ["kl_above_target", "kl_from_origin_above_target"], "both when both are over");
  assert.match(warn(chained(7.5), 6, null)[0]!.message, /the policy this chain of rounds started from/, "unnamed origin");
  // a report stored before the field was written: the type's fields are absent, not null
  const stored = { ...heldOutReport(chained(undefined), null) } as Partial<ReturnType<typeof heldOutReport>>;
  delete stored.klFromOrigin;
  delete stored.origin;
  assert.deepEqual(roundWarnings({ klTarget: 6, heldOut: stored as ReturnType<typeof heldOutReport>, kl: null }), []);
});

test("tools no longer called warn: a share of at least 20 % down 10 points and beyond chance on the paired prompts (the loop bench's PPO: 0.80 → 0.05)", () => {
  const withTools = (now: number, before: number, changes: { started: number; stopped: number } | null) =>
    heldoutFileSchema.parse({ ...file(scores(0.5, { toolCallShare: now }), scores(0.5, { toolCallShare: before })), toolUseChanges: changes });
  const collapsed = withTools(0.05, 0.8, { started: 0, stopped: 30 });
  assert.deepEqual(codes(collapsed), ["tool_use_fell"]);
  const report = heldOutReport(collapsed, null);
  assert.deepEqual(report.toolUse, { new: 0.05, previous: 0.8, started: 0, stopped: 30 });
  const [warning] = roundWarnings({ klTarget: 3, heldOut: report, kl: null });
  assert.match(warning!.message, /^5 % of held-out answers call a tool, against 80 % before \(30 answers stopped calling one, 0 started\)/);
  // a fall of 10 points that is noise: 6 stopped and 2 started on 40 prompts, (6 − 2)/√8 = 1.41
  assert.deepEqual(codes(withTools(0.65, 0.75, { started: 2, stopped: 6 })), []);
  // beyond chance (4 stopped, 0 started: 4/√4 = 2 > 1.96): 0.9 → 0.82 is under 10 points, 0.9 → 0.8 is not
  assert.deepEqual(codes(withTools(0.82, 0.9, { started: 0, stopped: 4 })), []);
  assert.deepEqual(codes(withTools(0.8, 0.9, { started: 0, stopped: 4 })), ["tool_use_fell"]);
  // a policy that hardly called tools before cannot unlearn them
  assert.deepEqual(codes(withTools(0, 0.15, { started: 0, stopped: 6 })), []);
  // more calls, no previous policy, no tools, or a report stored before the counts: nothing
  assert.deepEqual(codes(withTools(0.9, 0.3, { started: 24, stopped: 0 })), []);
  assert.deepEqual(codes(heldoutFileSchema.parse({ ...file(scores(0.5, { toolCallShare: 0.05 }), null), toolUseChanges: null })), []);
  assert.equal(heldOutReport(file(scores(0.5, { toolCallShare: null }), scores(0.5, { toolCallShare: null })), null).toolUse, null);
  assert.deepEqual(codes(withTools(0.05, 0.8, null)), []);
  assert.equal(heldOutReport(file(scores(0.5), scores(0.5)), null).toolUse, null, "a file from before toolCallShare");
});
