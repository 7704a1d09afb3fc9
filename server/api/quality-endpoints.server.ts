import { z } from "zod";
import { getProject } from "../labeling/projects.server.ts";
import { qualityReport } from "../labeling/quality-report.server.ts";
import { endpoint, type AnyEndpoint } from "./endpoint.server.ts";

/**
 * The quality dashboard as JSON (issue 14, item 6). It calls the very function the page's
 * loader calls (qualityReport), so the API and the page cannot show different numbers.
 */
const projectParams = z.object({ id: z.string().regex(/^\d{1,18}$/, "must be a numeric id") });

const pooledRate = z.object({
  rate: z.number().nullable().describe("agreed / compared, pooled over every compared pair of completions; null when nothing was compared"),
  agreed: z.number().int(),
  compared: z.number().int().describe("Pairs of completions ordered by both sides"),
  comparisons: z.number().int().describe("Comparisons that contributed at least one pair"),
});

const biasRate = z.object({
  submissions: z.number().int(),
  hits: z.number().int().describe("Submissions with the probe completion (first shown / longest) in the top tier"),
  rate: z.number().nullable(),
  expectedRate: z.number().nullable().describe("The rate with no bias (chance)"),
  z: z.number().nullable().describe("Normal-approximation z-score of hits against chance; above ~2 is clearly above chance"),
  skipped: z.object({ notRankable: z.number().int(), ambiguous: z.number().int() }),
});

const armFigures = z.object({
  submissions: z.number().int(),
  compared: z.number().int().describe("Submissions with at least one completion pair ordered by both the labeler and the judge"),
  meanAgreement: z.number().nullable().describe("Mean over submissions of the share of pairs ordered as the judge ordered them"),
  sd: z.number().nullable().describe("Sample standard deviation of that per-submission agreement"),
  agreedPairs: z.number().int(),
  comparedPairs: z.number().int(),
  revealed: z.number().int().describe("Submissions whose labeler revealed the suggestion"),
  meanMsOnTask: z.number().nullable().describe("Mean time on task (ms) of the submissions that report it"),
  timed: z.number().int(),
});
const armReport = z.object({
  shown: armFigures.describe("Tasks whose suggestion could be revealed"),
  withheld: armFigures.describe("The audit slice: suggestion withheld; its agreement is the judge–human agreement without anchoring"),
  effect: z
    .object({
      difference: z.number().nullable().describe("Anchoring effect: shown − withheld mean agreement"),
      low: z.number().nullable(),
      high: z.number().nullable(),
      method: z.literal("welch-normal-95").describe("95 % Welch normal-approximation interval for a difference of means, submissions as the unit"),
    }),
});
const judgeSchema = z.object({
  status: z.object({
    configured: z.boolean(),
    source: z.enum(["endpoint", "model", "reward-model"]).nullable().describe("What judges: an external endpoint, a registered chat model, or a registered reward model (scores, decision 0053)"),
    suggestions: z.enum(["off", "shown"]).nullable(),
    withheldShare: z.number().nullable(),
    done: z.number().int(),
    running: z.number().int(),
    failed: z.object({ timeout: z.number().int(), unparseable: z.number().int(), error: z.number().int() }),
    arms: z.object({ shown: z.number().int(), withheld: z.number().int() }).describe("Tasks per audit arm"),
  }),
  project: armReport,
  positionBias: z.object({
    applies: z.boolean().describe("False for a reward-model judge: it scores each answer alone and reads nothing in an order, so position bias is not applicable"),
    firstWon: z.number().int().describe("Judge answers whose first-read completion won outright"),
    decided: z.number().int(),
    rate: z.number().nullable(),
    expectedRate: z.number().nullable().describe("1/2 pairwise, 1/K for a K-way list: the rate with no position preference"),
    consistency: z.object({ agreed: z.number().int(), compared: z.number().int(), rate: z.number().nullable() }).describe("Pairs ordered the same way in both presentation orders"),
  }),
  labelers: z.array(armReport.extend({ labelerId: z.string(), name: z.string() })),
});

export const qualityReportSchema = z
  .object({
    project: z.object({
      overlappingItems: z.number().int().describe("Ranking items with two or more labelers (gold left out)"),
      pairwise: pooledRate.extend({ meanOverLabelerPairs: z.number().nullable(), labelerPairs: z.number().int() }),
      kendall: z.object({ meanTau: z.number().nullable().describe("Mean Kendall τ-b"), comparisons: z.number().int() }),
      alpha: z
        .object({
          alpha: z.number().nullable().describe("Krippendorff's α (ordinal); null when undefined"),
          pairableUnits: z.number().int(),
          pairableValues: z.number().int(),
          observedDisagreement: z.number(),
          expectedDisagreement: z.number(),
        }),
    }),
    labelers: z.array(
      z.object({
        labelerId: z.string(),
        name: z.string(),
        submissions: z.number().int().describe("Ordinary (non-gold) ranking submissions"),
        vsConsensus: pooledRate.describe("Agreement with the leave-one-out consensus of the others"),
        goldSubmissions: z.number().int(),
        vsGold: pooledRate,
        bias: z.object({ position: biasRate, length: biasRate }),
      }),
    ),
    judge: judgeSchema.describe("The model judge: what it judged or failed on, and the anchoring audit (decision 0035)"),
  })
  .meta({ id: "QualityReport" });

export const qualityEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/quality",
    summary: "The quality dashboard's numbers: agreement, Kendall τ, Krippendorff α, per-labeler agreement (consensus and gold) and bias",
    access: "reviewer",
    params: projectParams,
    response: qualityReportSchema,
    handler: async ({ ctx, params }) => {
      const project = await getProject(ctx.db, params.id);
      return qualityReport(ctx.db, project.id);
    },
  }),
];
