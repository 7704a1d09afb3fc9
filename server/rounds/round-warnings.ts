/**
 * What a round report says about the held-out eval set, and the warnings it raises when a round
 * went wrong rather than right (issue #11): KL above the target (the round's own, and the chain's from its
 * origin policy, decision 0058), a step its KL guard stopped (decision 0066), answers breaking down (undecodable
 * bytes, loops, empty answers, broken tool calls), length drifting, a held-out score that fell, and tools no
 * longer called. Pure functions over
 * the trainer's files and metrics, so they are tested on hand-made numbers.
 */
import { z } from "zod";

const tally = z.object({ accuracy: z.number().nullable(), scored: z.number(), correct: z.number(), reasons: z.record(z.string(), z.number()) });
// brokenCallShare is newer than stored reports: a report without it has no broken-call warning.
const health = z.object({ undecodableShare: z.number(), loopShare: z.number(), emptyShare: z.number(), unfinishedShare: z.number(), brokenCallShare: z.number().optional() });
const policyScores = z.object({
  checker: tally.nullable(),
  reward: z.object({ mean: z.number(), n: z.number() }).nullable(),
  meanLength: z.number(),
  health,
  /** Share of answers that called a tool; null without tools, absent in files written before it was kept. */
  toolCallShare: z.number().nullable().optional(),
});

/** One held-out answer; toolCalls and tools are absent in reports written before they were kept. */
const sampleAnswer = z.object({
  answer: z.string(),
  correct: z.union([z.literal(0), z.literal(1)]).nullable(),
  toolCalls: z.number().int().nonnegative().optional(),
  /** Each call's name, arguments and result (null: none followed), where the answer called a tool. */
  tools: z.array(z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()), result: z.string().nullable() })).optional(),
});

const klEstimate = z.object({ mean: z.number(), stderr: z.number(), samples: z.number() });

/** The trainer's heldout.json (trainer/cli/heldout-eval.ts). */
export const heldoutFileSchema = z.object({
  prompts: z.number().int().nonnegative(),
  new: policyScores,
  previous: policyScores.nullable(),
  kl: klEstimate.nullable(),
  klSkipped: z.string().optional(),
  /** KL from the chain's origin policy (decision 0058); absent in files written before it was measured. */
  klFromOrigin: klEstimate.nullable().optional(),
  klFromOriginSkipped: z.string().optional(),
  /** Prompts whose checker verdict changed, by direction; absent in files written before it was counted. */
  checkerChanges: z.object({ gained: z.number().int().nonnegative(), lost: z.number().int().nonnegative() }).nullable().optional(),
  /** Prompts whose answer calls a tool under one policy only; absent in files written before it was counted. */
  toolUseChanges: z.object({ started: z.number().int().nonnegative(), stopped: z.number().int().nonnegative() }).nullable().optional(),
  samples: z.array(
    z.object({
      prompt: z.string(),
      new: sampleAnswer,
      previous: sampleAnswer.nullable(),
    }),
  ),
});
export type HeldoutFile = z.infer<typeof heldoutFileSchema>;

/** `report.heldOut` as GET /api/v1/rounds/{id} returns it. */
export type HeldOutReport = {
  /** Held-out prompts each policy answered. */
  samples: number;
  /**
   * Share correct (0..1) of the scored answers, new and previous policy; null without a checker. `gained` and `lost`:
   * the prompts only the new policy got right, and only the previous one (null with no previous policy, or in a
   * report stored before they were counted).
   */
  checker: { new: number | null; previous: number | null; scored: number; reasons: Record<string, number>; gained: number | null; lost: number | null } | null;
  /** Mean reward-model score of the answers. */
  reward: { new: number; previous: number | null } | null;
  /** KL(new ‖ reference) per answer in nats, on held-out prompts. */
  kl: number | null;
  klStderr: number | null;
  /**
   * KL(new ‖ origin) per answer in nats, on the same samples: the origin is the policy the chain of rounds
   * started from (the nearest supervised policy up the lineage, decision 0058), measured when the round's reference
   * is not it; null when it is (a round straight off its SFT: the KL is `kl`) or when it could not be measured
   * (another tokenizer). `origin` names it whenever the evaluation was given one. Absent in reports stored before.
   */
  klFromOrigin?: number | null;
  klFromOriginStderr?: number | null;
  origin?: { modelId: string; name: string } | null;
  /**
   * Share of held-out answers that called a tool, new and previous policy, with the prompts whose answer started or
   * stopped calling one; null without tools, absent in reports stored before it was kept.
   */
  toolUse?: { new: number; previous: number | null; started: number | null; stopped: number | null } | null;
  /** The round's reward model on the preference pairs it did not train on. */
  rmAccuracy: number | null;
  rmPairs: number | null;
  /**
   * The labelers' agreement with each other on those pairs' items (heldout-agreement.server.ts, decision 0067): the
   * human figure the reward model's accuracy is read against. null without a reward model, or when no two labelers
   * ordered a common pair; absent in reports stored before it was kept.
   */
  rmLabelerAgreement?: { rate: number; compared: number } | null;
  meanLength: { new: number; previous: number | null };
  health: { new: HeldoutFile["new"]["health"]; previous: HeldoutFile["new"]["health"] | null };
  /** Answers to read. */
  examples: HeldoutFile["samples"];
};

export function heldOutReport(
  file: HeldoutFile,
  rm: { accuracy: number; pairs: number; labelerAgreement?: { rate: number | null; compared: number } | null } | null,
  origin: { modelId: string; name: string } | null = null,
): HeldOutReport {
  const agreement = rm?.labelerAgreement;
  const checker = file.new.checker;
  return {
    samples: file.prompts,
    checker: checker
      ? {
          new: checker.accuracy, previous: file.previous?.checker?.accuracy ?? null, scored: checker.scored, reasons: checker.reasons,
          gained: file.checkerChanges?.gained ?? null, lost: file.checkerChanges?.lost ?? null,
        }
      : null,
    reward: file.new.reward ? { new: file.new.reward.mean, previous: file.previous?.reward?.mean ?? null } : null,
    kl: file.kl?.mean ?? null,
    klStderr: file.kl?.stderr ?? null,
    klFromOrigin: file.klFromOrigin?.mean ?? null,
    klFromOriginStderr: file.klFromOrigin?.stderr ?? null,
    origin,
    toolUse: file.new.toolCallShare == null ? null : {
      new: file.new.toolCallShare, previous: file.previous?.toolCallShare ?? null,
      started: file.toolUseChanges?.started ?? null, stopped: file.toolUseChanges?.stopped ?? null,
    },
    rmAccuracy: rm?.accuracy ?? null,
    rmPairs: rm?.pairs ?? null,
    rmLabelerAgreement: agreement && agreement.rate !== null ? { rate: agreement.rate, compared: agreement.compared } : null,
    meanLength: { new: file.new.meanLength, previous: file.previous?.meanLength ?? null },
    health: { new: file.new.health, previous: file.previous?.health ?? null },
    examples: file.samples,
  };
}

export type RoundWarning = {
  code:
    | "kl_above_target" | "kl_from_origin_above_target" | "kl_guard_stopped" | "undecodable_answers" | "repeated_loops" | "empty_answers" | "broken_tool_calls"
    | "length_drift" | "heldout_score_fell" | "tool_use_fell";
  message: string;
  value: number;
  threshold: number;
};

/** A share that is high in itself, or clearly higher than the previous policy's. */
/**
 * Answer-health warnings: a share of held-out answers above a floor and 5 points above the previous policy's
 * (code, share, floor, what the answers do).
 */
const SHARE_WARNINGS: ReadonlyArray<[RoundWarning["code"], "undecodableShare" | "loopShare" | "emptyShare" | "brokenCallShare", number, string]> = [
  ["undecodable_answers", "undecodableShare", 0.05, "contain undecodable bytes (U+FFFD)"],
  ["repeated_loops", "loopShare", 0.1, "end in a repeated-token loop"],
  ["empty_answers", "emptyShare", 0.1, "are empty"],
  ["broken_tool_calls", "brokenCallShare", 0.1, "hold a tool call that cannot be read (cut off or malformed)"],
];
/**
 * Whether the held-out checker score fell by more than chance and by at least 5 points. Both policies answered the
 * same prompts with the same decoding and seeds, so with the paired counts this is McNemar's test: fell when
 * (lost − gained) / √(lost + gained) > 1.96. It is about twice as sensitive as comparing two shares (measured on the
 * loop bench: the share test called drops of 0.41 → 0.30 and 0.45 → 0.33 on 96 prompts noise; this one flags them).
 * Reports stored before the counts were kept fall back to the two-share test.
 */
function scoreFell(c: { new: number | null; previous: number | null; scored: number; gained: number | null; lost: number | null }): boolean {
  const drop = c.previous! - c.new!;
  if (drop < 0.05) return false;
  if (c.gained !== null && c.lost !== null) return c.lost + c.gained > 0 && (c.lost - c.gained) / Math.sqrt(c.lost + c.gained) > 1.96;
  const p = (c.new! + c.previous!) / 2;
  return drop > 1.96 * Math.sqrt((2 * p * (1 - p)) / c.scored);
}
const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;

/**
 * Whether the policy stopped calling its tools: a share that was at least 20 % fell by at least 10 points and by
 * more than chance (McNemar's test on the prompts whose answer started or stopped calling one). A reward model
 * that does not value the call, or rankings that put answers without it higher, teach a policy this; a checker can
 * miss it while the answers are still right by luck (the loop bench's PPO rounds: 0.80 → 0.05 in 4 rollouts).
 */
function toolUseFell(t: NonNullable<HeldOutReport["toolUse"]>): boolean {
  if (t.previous === null || t.previous < 0.2 || t.previous - t.new < 0.1 - 1e-9) return false; // shares are k/n: 0.9 − 0.8 is 0.0999…
  if (t.started === null || t.stopped === null) return false;
  return t.started + t.stopped > 0 && (t.stopped - t.started) / Math.sqrt(t.started + t.stopped) > 1.96;
}

/** A step's KL guard stopped it (the trainer's early_stop event, contract/kl-guard.ts). */
export type EarlyStopSummary = { kind: string; kl: number; klTarget: number; step: number; keptStep: number };

/**
 * Warnings from what a round measured. `kl` comes from the held-out set when there is one, else the
 * round's own evaluation on its training prompts, else the last training metrics.
 */
export function roundWarnings(input: {
  klTarget: number; heldOut: HeldOutReport | null; kl: { value: number; where: string } | null;
  /** Steps of the round that a KL guard stopped (their early_stop events). */
  earlyStops?: EarlyStopSummary[];
}): RoundWarning[] {
  const warnings: RoundWarning[] = [];
  const { heldOut } = input;
  for (const stop of input.earlyStops ?? []) {
    warnings.push({
      code: "kl_guard_stopped", value: stop.kl, threshold: stop.klTarget,
      message:
        `The ${stop.kind.toUpperCase()} step stopped early: its KL to the reference reached ${stop.kl.toFixed(2)} nats per answer at step ${stop.step}, above its target ${stop.klTarget}, ` +
        `so it kept the weights of step ${stop.keptStep} and trained less than asked (lower the learning rate, or raise the target if the answers stay healthy).`,
    });
  }
  if (input.kl && input.kl.value > input.klTarget) {
    warnings.push({
      code: "kl_above_target", value: input.kl.value, threshold: input.klTarget,
      message: `KL to the reference is ${input.kl.value.toFixed(2)} nats per answer ${input.kl.where}, above the target ${input.klTarget}: the policy moved far from where it started (lower the learning rate or steps, or raise β).`,
    });
  }
  if (heldOut?.klFromOrigin != null && heldOut.klFromOrigin > input.klTarget) {
    const value = heldOut.klFromOrigin;
    const origin = heldOut.origin ? `${heldOut.origin.name} (model ${heldOut.origin.modelId})` : "the policy this chain of rounds started from";
    warnings.push({
      code: "kl_from_origin_above_target", value, threshold: input.klTarget,
      message:
        `KL from ${origin}, where this chain of rounds started, is ${value.toFixed(2)} nats per answer on held-out prompts, above the target ${input.klTarget}: ` +
        "each round measures KL only to the policy it started from, so the chain drifted this far without any round crossing the target. " +
        "Start the next round from an earlier policy, lower the learning rate or steps, or raise DPOP's λ or β.",
    });
  }
  if (heldOut) {
    const now = heldOut.health.new;
    const before = heldOut.health.previous;
    for (const [code, key, floor, what] of SHARE_WARNINGS) {
      const value = now[key];
      if (value === undefined) continue; // a report stored before the share existed
      const was = before?.[key];
      const threshold = Math.max(floor, (was ?? 0) + 0.05);
      if (value > threshold) warnings.push({ code, value, threshold, message: `${pct(value)} of held-out answers ${what}${was !== undefined ? `, against ${pct(was)} before` : ""}.` });
    }
    const { new: length, previous } = heldOut.meanLength;
    if (previous !== null && previous > 0 && Math.abs(length - previous) >= 4 && (length / previous > 2 || length / previous < 0.5)) {
      warnings.push({ code: "length_drift", value: length, threshold: previous, message: `Held-out answers average ${length.toFixed(1)} tokens, against ${previous.toFixed(1)} before the round.` });
    }
    const toolUse = heldOut.toolUse;
    if (toolUse && toolUseFell(toolUse)) {
      warnings.push({
        code: "tool_use_fell", value: toolUse.new, threshold: toolUse.previous! - 0.1,
        message:
          `${pct(toolUse.new)} of held-out answers call a tool, against ${pct(toolUse.previous!)} before (${toolUse.stopped} answers stopped calling one, ${toolUse.started} started): ` +
          "the policy is unlearning its tools. A reward model that does not value the call, or rankings that put answers without it higher, teach this; check both before training on.",
      });
    }
    const checker = heldOut.checker;
    if (checker && checker.new !== null && checker.previous !== null && checker.scored > 0 && scoreFell(checker)) {
      const changed = checker.lost !== null && checker.gained !== null ? `: ${checker.lost} answers right before are wrong now, ${checker.gained} the other way` : "";
      warnings.push({
        code: "heldout_score_fell", value: checker.new, threshold: checker.previous - 0.05,
        message: `The held-out checker score fell from ${pct(checker.previous)} to ${pct(checker.new)} (${checker.scored} prompts${changed}).`,
      });
    }
  }
  return warnings;
}
