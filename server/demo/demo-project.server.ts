/**
 * The demo that teaches (first start only): a mental-math project with the calculator as a tool,
 * reference answers as checker metadata and a held-out eval set. Two rounds run with no person in
 * the loop: round 0 trains a small policy from scratch on generated demonstrations (half of them
 * call the calculator, half answer from memory), round 1 — GRPO against the checker — starts from
 * its policy and learns that the calculator gets answers right. Each round reports its held-out
 * checker score next to the previous policy's. Then people rank for what a checker cannot see.
 *
 * The starter labels are generated, not written by people: they are submitted through the normal
 * queue by a deactivated account named "Demo data (generated)", so exports and rounds treat them
 * like any labels and anyone can tell them apart (and filter them out by labeler).
 */
import { randomBytes } from "node:crypto";
import type { Db } from "../db/database.server.ts";
import { createUser } from "../auth/users.server.ts";
import type { SessionUser } from "../auth/actor.ts";
import { projectSettingsSchema } from "../labeling/project-settings.ts";
import { createProject } from "../labeling/projects.server.ts";
import { insertPrompts, type NewPrompt } from "../labeling/prompts.server.ts";
import { claimNextTask } from "../labeling/queue.server.ts";
import { submitAssignment } from "../labeling/submissions.server.ts";
import { contentHash } from "../labeling/import/normalize.ts";
import { signatureToBase64, textSignature } from "../labeling/import/minhash.ts";
import { launchRound } from "../rounds/rounds.server.ts";
import { arithmeticItems, askedExpression, goodAnswer, mentalAnswer, rankedAnswers, type ArithmeticItem } from "./arithmetic.ts";
import { answerOfRow, answerText, sameAnswer, storedMessages } from "../labeling/transcript.ts";

export const DEMO_PROJECT_NAME = "Demo: mental math with a calculator";

const guidelines = `Small models are bad at mental arithmetic. Here a good answer **calls the calculator**
(a tool the model runs while it answers) on the question's expression, reads the result, and states it:

> What is 37 × 4?
> *calls* \`calculator(37 × 4)\` → \`148\` — The answer is 148.

Rank best first: (1) a correct calculator call and the right result; (2) the right result
without the calculator; (3) a calculator call with a slip; (4) a guess. Equal quality may tie.
In a demonstration, **Insert a calculator call** writes the call; Tandem runs it for the result.

Each prompt carries its reference answer, so a **checker** scores every answer, and each round is
scored on 48 held-out questions nobody trains on: the round page shows that score next to the
previous policy's, and next to how often you preferred the new policy.`;

export type DemoSizes = {
  /** Generated demonstrations; every other one calls the calculator, the rest answer from memory. */
  demonstrations: number;
  rankings: number;
  pool: number;
  /** Held-out questions (the eval set). */
  eval: number;
  sftSteps: number;
  /** GRPO rollouts of round 1 (0: no round 1). */
  grpoRollouts: number;
  nextPrompts: number;
};
export const DEMO_SIZES: DemoSizes = { demonstrations: 300, rankings: 24, pool: 168, eval: 48, sftSteps: 800, grpoRollouts: 40, nextPrompts: 24 };

/** The longest answer the demo's rounds sample or evaluate: a calculator call, its result and the sentence. */
const ANSWER_TOKENS = 48;

type DemoAnswer = ReturnType<typeof rankedAnswers>[number];

function promptOf(item: ArithmeticItem, completions: DemoAnswer[], heldOut = false): NewPrompt {
  const messages = [{ role: "user" as const, content: item.question }];
  return {
    messages,
    completions: completions.map((answer) => {
      const transcript = storedMessages(answer);
      return { text: answerText(answer), model: "demo-generator", ...(transcript ? { messages: transcript } : {}) };
    }),
    source: "demo",
    metadata: { answer: item.answer, expression: askedExpression(item) },
    contentHash: contentHash(messages),
    minhash: signatureToBase64(textSignature(item.question)),
    status: "active",
    ...(heldOut ? { heldOut: true } : {}),
  };
}

/**
 * Seeds the demo project and launches its rounds: round 0 (SFT from scratch) and round 1 (GRPO on
 * the checker, waiting for round 0's policy). Returns the project and the rounds' ids.
 */
export async function seedDemoProject(
  db: Db,
  adminId: string,
  leaseSeconds: number,
  sizes: DemoSizes = DEMO_SIZES,
  options: { launchFirstRound: boolean } = { launchFirstRound: true },
): Promise<{ projectId: string; roundId: string | null; grpoRoundId: string | null }> {
  const items = arithmeticItems(sizes.demonstrations + sizes.rankings + sizes.pool + sizes.eval, 2026);
  const starter = items.slice(0, sizes.demonstrations + sizes.rankings);
  const pool = items.slice(starter.length, starter.length + sizes.pool);
  const evalSet = items.slice(starter.length + sizes.pool);
  const settings = projectSettingsSchema.parse({
    k: 4,
    // three people per ranking (the default, as the README says), so the quality page can measure agreement
    overlap: { demonstrate: 1, rank: 3, review: 1, compare: 1 },
    // Mostly rankings and compares for the person trying the demo.
    taskWeights: { demonstrate: 1, rank: 20, review: 5, compare: 10 },
    tools: ["calculator"],
    checker: { kind: "numeric", field: "answer" },
  });
  // Open to every signed-in person (decision 0031): whoever an admin creates can try the demo at once.
  const project = await createProject(db, adminId, { name: DEMO_PROJECT_NAME, guidelines, settings, access: "open" });
  const answerOf = new Map(items.map((item) => [item.question, item]));
  const calculatorFor = new Set(starter.slice(0, sizes.demonstrations).filter((_, i) => i % 2 === 0).map((item) => item.question));

  // 1. Starter labels through the real queue: demonstrations, then rankings of four answers.
  await db.transaction().execute((trx) =>
    insertPrompts(trx, project.id, settings, starter.map((item, i) => promptOf(item, i < sizes.demonstrations ? [] : rankedAnswers(item))), null),
  );
  // One generator account, reused if a demo was seeded before (its project deleted, say).
  const account =
    (await db.selectFrom("users").select(["id", "email", "name"]).where("email", "=", "demo-data@tandem.local").executeTakeFirst()) ??
    (await createUser(db, null, { email: "demo-data@tandem.local", name: "Demo data (generated)", role: "labeler", password: randomBytes(24).toString("base64url") }));
  const generator: SessionUser = { id: account.id, email: account.email, name: account.name, role: "labeler" };
  for (;;) {
    const assignment = await claimNextTask(db, generator, project.id, settings);
    if (!assignment) break;
    const task = await db
      .selectFrom("tasks")
      .innerJoin("prompts", "prompts.id", "tasks.prompt_id")
      .select(["tasks.type", "prompts.messages"])
      .where("tasks.id", "=", assignment.task_id)
      .executeTakeFirstOrThrow();
    const item = answerOf.get(task.messages[0]?.content ?? "")!;
    let payload: Record<string, unknown>;
    if (task.type === "rank") {
      const shown = await db.selectFrom("completions").select(["id", "text", "messages"]).where("id", "in", assignment.shown_order).execute();
      const tiers = rankedAnswers(item).map((answer) => [shown.find((row) => sameAnswer(answerOfRow(row), answer))!.id]);
      payload = { ranking: { tiers }, rationale: "generated by the demo: tool + right ≻ right ≻ tool + slip ≻ guess" };
    } else if (calculatorFor.has(item.question)) {
      // the call and its result; the server runs the calculator for the result, as for any labeler
      const [call, result] = goodAnswer(item);
      payload = { text: mentalAnswer(item), toolTurns: [call, result] };
    } else {
      payload = { text: mentalAnswer(item) };
    }
    await submitAssignment(db, generator, assignment.id, { idempotencyKey: `demo-${assignment.id}`, payload, timings: {} }, settings);
  }
  await db.updateTable("users").set({ active: false, updated_at: new Date() }).where("id", "=", account.id).execute();

  // 2. The pool the rounds sample from (each prompt also waits for a person's demonstration), and the eval set.
  await db.transaction().execute((trx) =>
    insertPrompts(trx, project.id, settings, [...pool.map((item) => promptOf(item, [])), ...evalSet.map((item) => promptOf(item, [], true))], null),
  );

  if (!options.launchFirstRound) return { projectId: project.id, roundId: null, grpoRoundId: null };
  // 3. Round 0: a nano policy from scratch on the starter demonstrations, scored on the eval set, then K samples per prompt.
  const round = await launchRound(
    db,
    adminId,
    project,
    {
      name: "Round 0: a base policy from scratch",
      path: "sft",
      base: { init: { preset: "nano" }, vocabSize: 512, seed: 0 },
      sft: { steps: sizes.sftSteps, batchSize: 8, optim: { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: sizes.sftSteps } },
      evaluation: { maxNewTokens: ANSWER_TOKENS },
      next: { prompts: sizes.nextPrompts, maxNewTokens: ANSWER_TOKENS, temperature: 0.9 },
    },
    leaseSeconds,
  );
  if (sizes.grpoRollouts === 0) return { projectId: project.id, roundId: round.id, grpoRoundId: null };
  // 4. Round 1: GRPO from round 0's policy against the checker, no human labels; it waits for round 0.
  const grpo = await launchRound(
    db,
    adminId,
    project,
    {
      name: "Round 1: GRPO on the checker (no human labels)",
      path: "grpo",
      base: { afterRound: round.id },
      rewards: { checker: { weight: 1 } },
      grpo: { rollouts: sizes.grpoRollouts, promptsPerRollout: 8, numGenerations: 8, maxCompletionLength: ANSWER_TOKENS },
      evaluation: { maxNewTokens: ANSWER_TOKENS },
      next: { prompts: sizes.nextPrompts, maxNewTokens: ANSWER_TOKENS, temperature: 0.9 },
    },
    leaseSeconds,
  );
  return { projectId: project.id, roundId: round.id, grpoRoundId: grpo.id };
}
