import { z } from "zod";
import { sql } from "kysely";
import { getProject } from "../labeling/projects.server.ts";
import { uncertaintyModels } from "../labeling/active/reward-scores.server.ts";
import { scoringRequestSchema } from "../../trainer/contract/inference.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

const idParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });
const count = z.number().int();

/** Reward-model scoring and the uncertainty-first queue's state (decisions 0048 and 0053, issue 16 item 2). */
export const activeLearningEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "post",
    path: "/models/:id/score",
    project: "model",
    summary: "Score answers with a registered reward model: one prompt (messages) and its completions, one scalar reward each (its scalar head at the last token)",
    access: "researcher",
    params: idParams,
    body: scoringRequestSchema,
    response: z.object({ modelId: z.string(), scores: z.array(z.number()) }),
    handler: async ({ ctx, params, body }) => ({ modelId: params.id, scores: await ctx.inference.score(ctx.db, params.id, body) }),
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/uncertainty-queue",
    summary: "The uncertainty-first queue: its rule and reward model(s), how many open tasks it has scored (and measured the disagreement of), and which rule served the project's claims",
    access: "researcher",
    params: idParams,
    response: z.object({
      enabled: z.boolean(),
      rule: z.enum(["margin", "disagreement"]).describe("margin: smallest top-two gap of the current model first; disagreement: largest disagreement between two successive rounds' reward models first"),
      randomShare: z.number(),
      rewardModelId: z.string().nullable(),
      previousRewardModelId: z.string().nullable().describe("The disagreement rule's other model (null under margin, or before a second round)"),
      scores: z.object({ done: count, running: count, failed: count, openUnscored: count }).describe("The current reward model's scores"),
      disagreements: count.describe("Tasks whose disagreement between the two models is measured (disagreement rule)"),
      servedBy: z.object({ uncertainty: count, disagreement: count, random: count, fifo: count, unrecorded: count }).describe("uncertainty: the margin rule"),
    }),
    handler: async ({ ctx, params }) => {
      const project = await getProject(ctx.db, params.id);
      const models = await uncertaintyModels(ctx.db, project.id, project.settings);
      const modelId = models.current;
      const scores = { done: 0, running: 0, failed: 0, openUnscored: 0 };
      if (modelId !== null) {
        const rows = await ctx.db
          .selectFrom("reward_scores").select(["state", sql<string>`count(*)`.as("n")])
          .where("project_id", "=", project.id).where("model_id", "=", modelId).groupBy("state").execute();
        for (const row of rows) scores[row.state] = Number(row.n);
        const open = await sql<{ n: string }>`
          select count(*) as n from tasks t
          where t.project_id = ${project.id} and t.state = 'open' and t.type in ('rank', 'compare') and t.gold is null
            and not exists (select 1 from reward_scores s where s.task_id = t.id and s.model_id = ${modelId})`.execute(ctx.db);
        scores.openUnscored = Number(open.rows[0]?.n ?? 0);
      }
      let disagreements = 0;
      if (modelId !== null && models.previous !== null) {
        const measured = await ctx.db
          .selectFrom("reward_scores").select(sql<string>`count(*)`.as("n"))
          .where("model_id", "=", modelId).where("project_id", "=", project.id)
          .where("compared_model_id", "=", models.previous).where("disagreement", "is not", null)
          .executeTakeFirst();
        disagreements = Number(measured?.n ?? 0);
      }
      const served = await sql<{ served_by: string | null; n: string }>`
        select a.served_by, count(*) as n from assignments a join tasks t on t.id = a.task_id
        where t.project_id = ${project.id} group by a.served_by`.execute(ctx.db);
      const servedBy = { uncertainty: 0, disagreement: 0, random: 0, fifo: 0, unrecorded: 0 };
      for (const row of served.rows) servedBy[(row.served_by ?? "unrecorded") as keyof typeof servedBy] = Number(row.n);
      const queue = project.settings.uncertaintyQueue;
      return { enabled: queue.enabled, rule: queue.rule, randomShare: queue.randomShare, rewardModelId: modelId, previousRewardModelId: models.previous, scores, disagreements, servedBy };
    },
  }),
];
