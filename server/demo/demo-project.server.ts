/**
 * The demo that teaches (first start only): a mental-math project whose prompts carry reference
 * answers, a starter set of demonstrations and rankings, and a first round that trains a small
 * base policy from scratch and samples ranking tasks from it, so a new user can rank, launch a
 * DPO round, watch it train and rank the new policy's completions within minutes.
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
import { arithmeticItems, goodAnswer, rankedAnswers, type ArithmeticItem } from "./arithmetic.ts";

export const DEMO_PROJECT_NAME = "Demo: mental math with a calculator";

const guidelines = `Small models are bad at mental arithmetic. Here a good answer **calls the calculator**
with the annotation \`<<expression=result>>\` and then states the result:

> What is 37 × 4?
> \`<<37*4=148>> The answer is 148.\`

Rank best first: (1) a correct calculator call and the right result; (2) the right result
without the calculator; (3) a calculator call with a slip; (4) a guess. Equal quality may tie.

Each prompt carries its reference answer, so the round page also shows a **checker** score:
how often the policy is right, next to how often you preferred it.`;

export type DemoSizes = { demonstrations: number; rankings: number; pool: number; sftSteps: number; nextPrompts: number };
export const DEMO_SIZES: DemoSizes = { demonstrations: 48, rankings: 24, pool: 168, sftSteps: 200, nextPrompts: 24 };

function promptOf(item: ArithmeticItem, completions: string[]): NewPrompt {
  const messages = [{ role: "user" as const, content: item.question }];
  return {
    messages,
    completions: completions.map((text) => ({ text, model: "demo-generator" })),
    source: "demo",
    metadata: { answer: item.answer, expression: item.expression },
    contentHash: contentHash(messages),
    minhash: signatureToBase64(textSignature(item.question)),
    status: "active",
  };
}

/** Seeds the demo project and launches its first round; returns the project and round ids. */
export async function seedDemoProject(
  db: Db,
  adminId: string,
  leaseSeconds: number,
  sizes: DemoSizes = DEMO_SIZES,
  options: { launchFirstRound: boolean } = { launchFirstRound: true },
): Promise<{ projectId: string; roundId: string | null }> {
  const items = arithmeticItems(sizes.demonstrations + sizes.rankings + sizes.pool, 2026);
  const starter = items.slice(0, sizes.demonstrations + sizes.rankings);
  const pool = items.slice(starter.length);
  const settings = projectSettingsSchema.parse({
    k: 4,
    overlap: { demonstrate: 1, rank: 1, review: 1, compare: 1 },
    // Mostly rankings and compares for the person trying the demo.
    taskWeights: { demonstrate: 1, rank: 20, review: 5, compare: 10 },
  });
  const project = await createProject(db, adminId, { name: DEMO_PROJECT_NAME, guidelines, settings });
  const answerOf = new Map(items.map((item) => [item.question, item]));

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
      const texts = await db.selectFrom("completions").select(["id", "text"]).where("id", "in", assignment.shown_order).execute();
      const order = rankedAnswers(item);
      const tiers = order.map((text) => [texts.find((t) => t.text === text)!.id]);
      payload = { ranking: { tiers }, rationale: "generated by the demo: tool + right ≻ right ≻ tool + slip ≻ guess" };
    } else {
      payload = { text: goodAnswer(item) };
    }
    await submitAssignment(db, generator, assignment.id, { idempotencyKey: `demo-${assignment.id}`, payload, timings: {} }, settings);
  }
  await db.updateTable("users").set({ active: false, updated_at: new Date() }).where("id", "=", account.id).execute();

  // 2. The pool the rounds sample from (each prompt also waits for a person's demonstration).
  await db.transaction().execute((trx) => insertPrompts(trx, project.id, settings, pool.map((item) => promptOf(item, [])), null));

  // 3. Round 0: a nano policy from scratch on the starter demonstrations, then K samples per prompt.
  if (!options.launchFirstRound) return { projectId: project.id, roundId: null };
  const round = await launchRound(
    db,
    adminId,
    project,
    {
      name: "Round 0: a base policy from scratch",
      path: "sft",
      base: { init: { preset: "nano" }, vocabSize: 512, seed: 0 },
      sft: { steps: sizes.sftSteps, batchSize: 8, optim: { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: sizes.sftSteps } },
      next: { prompts: sizes.nextPrompts, maxNewTokens: 32, temperature: 0.9 },
    },
    leaseSeconds,
  );
  return { projectId: project.id, roundId: round.id };
}
