/**
 * Which prompts a query may read, by two rules that keep evaluation honest (issue #11):
 * - the project's **eval set** (`prompts.held_out`) is never exported for training unless asked
 *   for (`heldOut=only`), and never sampled or turned into labeling tasks;
 * - a round's **preference split**: a deterministic share of the prompts (by a hash of the prompt id
 *   and a seed frozen in the round's data snapshot) is kept out of reward-model and DPO training and
 *   measures the reward model's held-out accuracy. The same function in SQL and in JS, so tests and
 *   reports can tell which side a prompt falls on.
 */
import { createHash } from "node:crypto";
import { sql, type Expression, type RawBuilder, type SqlBool } from "kysely";
import { z } from "zod";

export const evalSplitFilterSchema = {
  /** `exclude` (default): leave the eval set out; `only`: the eval set alone. */
  heldOut: z.enum(["exclude", "only"]).default("exclude"),
  /** One side of a prompt split: `eval` is the share of prompts whose bucket falls under promptSplitShare. */
  promptSplit: z.enum(["train", "eval"]).optional(),
  promptSplitSeed: z.string().regex(/^[\w-]{1,64}$/, "letters, digits, _ and -").default("0"),
  promptSplitShare: z.coerce.number({ error: "must be a number from 0 to 0.5" }).min(0, { error: "must be a number from 0 to 0.5" }).max(0.5, { error: "must be a number from 0 to 0.5" }).default(0.1),
};

export type EvalSplitFilter = {
  heldOut?: "exclude" | "only";
  promptSplit?: "train" | "eval";
  promptSplitSeed?: string;
  promptSplitShare?: number;
  /**
   * Only the prompts a subquery of prompt ids returns: the data browser's selection (decision 0047),
   * built on the server, never read from a query string. `label` says in words what was chosen.
   */
  promptSubset?: PromptSubset;
};
export type PromptSubset = { ids: RawBuilder<unknown>; label: string };

const BUCKETS = 10_000;

/** The prompt's bucket in 0..9999: the first 28 bits of md5("<id>:<seed>"), mod 10,000. */
export function splitBucket(promptId: string, seed: string): number {
  return parseInt(createHash("md5").update(`${promptId}:${seed}`).digest("hex").slice(0, 7), 16) % BUCKETS;
}

/** True where a prompt falls in the eval side of a split of this share. */
export function inEvalSplit(promptId: string, seed: string, share: number): boolean {
  return splitBucket(promptId, seed) < Math.round(share * BUCKETS);
}

/** The SQL conditions for a query joined to `prompts`: the eval-set rule and, when set, one side of the split. */
export function promptRules(filter: EvalSplitFilter, promptId = "prompts.id", heldOutColumn = "prompts.held_out"): Array<Expression<SqlBool>> {
  const rules: Array<Expression<SqlBool>> = [
    filter.heldOut === "only" ? sql<SqlBool>`${sql.ref(heldOutColumn)}` : sql<SqlBool>`not ${sql.ref(heldOutColumn)}`,
    // Excluded from training in the data browser (decision 0032): out of every export, eval set included.
    sql<SqlBool>`${sql.ref(heldOutColumn.replace(/held_out$/, "excluded_at"))} is null`,
  ];
  if (filter.promptSubset) rules.push(sql<SqlBool>`${sql.ref(promptId)} in (${filter.promptSubset.ids})`);
  if (filter.promptSplit) {
    const bucket = sql<number>`(('x' || left(md5(${sql.ref(promptId)}::text || ':' || ${filter.promptSplitSeed ?? "0"}), 7))::bit(28)::int % ${BUCKETS})`;
    const cut = Math.round((filter.promptSplitShare ?? 0.1) * BUCKETS);
    rules.push(filter.promptSplit === "eval" ? sql<SqlBool>`${bucket} < ${cut}` : sql<SqlBool>`${bucket} >= ${cut}`);
  }
  return rules;
}
