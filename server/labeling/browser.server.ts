import { sql, type Expression, type RawBuilder, type SqlBool } from "kysely";
import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import type { Actor } from "../auth/actor.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Db } from "../db/database.server.ts";
import { flagSchema } from "./project-settings.ts";

/**
 * The data browser (decision 0032): a project's prompts with their tasks and submissions,
 * searched (trigram index on prompts.search_text), filtered, sorted and paged by keyset, an
 * item's whole history, and one bulk action, exclusion from training (soft, audited, reversible).
 */
export const BROWSE_MAX_LIMIT = 200;
export const BULK_MAX_IDS = 1000;

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");
const flag = z.enum(["true", "false"], { error: "must be true or false" });
const date = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time, e.g. 2026-12-05T00:00:00Z" });
const score = z.coerce.number({ error: "must be a number" }).refine(Number.isFinite, "must be a number");

/** What narrows the prompts: the same fields for a listing and for a bulk action over a filter. */
const promptFilterFields = {
    q: z.string().trim().min(1, "must not be empty").max(200, "at most 200 characters").optional(),
    source: z.string().max(500).optional(),
    status: z.enum(["active", "review", "rejected"]).optional(),
    kind: z.enum(["prompt", "qa"]).optional(),
    taskType: z.enum(["demonstrate", "rank", "review", "compare"]).optional(),
    taskState: z.enum(["open", "complete", "cancelled"]).optional(),
    round: id.optional(),
    labeler: id.optional(),
    gold: flag.optional(),
    heldOut: flag.optional(),
    excluded: flag.optional(),
    from: date.optional(),
    to: date.optional(),
    /** A labeler flagged one of its completions: with this flag of the project's taxonomy, or `any` flag. */
    flag: z.union([z.literal("any"), flagSchema.shape.id], { error: "must be any or a flag id (lowercase letters, digits and _)" }).optional(),
    /** One of its completions came from this model (completions.model_name). */
    model: z.string().trim().min(1, "must not be empty").max(200, "at most 200 characters").optional(),
    /** The mean of the quality scores labelers gave its completions, inclusive bounds; prompts nobody scored match neither. */
    minQuality: score.optional(),
    maxQuality: score.optional(),
};
const datesInOrder = (f: { from?: string; to?: string }) => !f.from || !f.to || new Date(f.from) <= new Date(f.to);
const qualityInOrder = (f: { minQuality?: number; maxQuality?: number }) => f.minQuality === undefined || f.maxQuality === undefined || f.minQuality <= f.maxQuality;

export const promptFilterSchema = z
  .object(promptFilterFields)
  .strict()
  .refine(datesInOrder, { path: ["to"], message: "must not be before from" })
  .refine(qualityInOrder, { path: ["maxQuality"], message: "must not be below minQuality" });

export type PromptFilter = z.infer<typeof promptFilterSchema>;

/**
 * A keyset cursor: the sort it was given out for, the last row's sort value and its id. A time sort's value is
 * PostgreSQL's own timestamp text (microseconds; a JS Date would skip rows) and encodes as `{ at, id }` (the cursors
 * before sorts existed); a score's is its exact text (numeric, or float8's shortest round-trip text), null for a row
 * without one (those come last in both orders), and encodes as `{ s, v, id }`.
 */
export type Cursor = { sort: string; v: string | null; id: string };
const numberText = z.string().regex(/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i);
export const cursorSchema = z.string().transform((value, ctx): Cursor => {
  try {
    const raw: unknown = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    const byTime = z.object({ at: z.iso.datetime({ offset: true }), id }).strict().safeParse(raw);
    if (byTime.success) return { sort: "created_at", v: byTime.data.at, id: byTime.data.id };
    const byScore = z.object({ s: z.string().regex(/^[a-z_]{1,40}$/), v: numberText.nullable(), id }).strict().parse(raw);
    return { sort: byScore.s, v: byScore.v, id: byScore.id };
  } catch {
    ctx.addIssue({ code: "custom", message: "is not a cursor this listing gave out" });
    return z.NEVER;
  }
});
export const encodeCursor = (sort: string, v: string | null, rowId: string) =>
  Buffer.from(JSON.stringify(sort === "created_at" ? { at: v, id: rowId } : { s: sort, v, id: rowId })).toString("base64url");
/** A cursor only continues the sort it was given out for: `.superRefine(cursorFitsSort)`; refused naming `after`. */
export const cursorFitsSort = (query: { sort: string; after?: Cursor }, ctx: z.RefinementCtx) => {
  if (query.after && query.after.sort !== query.sort) {
    ctx.addIssue({ code: "custom", path: ["after"], message: `is a cursor of the listing sorted by ${query.after.sort}, not ${query.sort}; start again without after` });
  }
};

/**
 * One keyset page over a sort key that some rows lack (decision 0055, migration 0028): the rows with a value by
 * (value, id), then those without by id, in the same direction, so rows without a value come last either way. Two
 * index ranges, each a keyset walk: `run` gets the extra conditions, the order and how many rows it may return.
 */
export type NullableSort = {
  name: string;
  /** The key, written as its index's expression. */
  value: RawBuilder<unknown>;
  type: "numeric" | "float8";
  /** A row has a value / has none, written as the indexes' predicates. */
  valued: Expression<SqlBool>;
  unvalued: Expression<SqlBool>;
  id: RawBuilder<unknown>;
};
export async function nullsLastPage<R>(
  sort: NullableSort,
  order: "asc" | "desc",
  after: Cursor | undefined,
  limit: number,
  run: (rules: Array<Expression<SqlBool>>, orderBy: RawBuilder<unknown>, limit: number) => Promise<R[]>,
): Promise<R[]> {
  const direction = order === "desc" ? sql`desc` : sql`asc`;
  const beyond = order === "desc" ? sql`<` : sql`>`;
  let rows: R[] = [];
  if (!after || after.v !== null) {
    const rules = [sort.valued];
    if (after) rules.push(sql<SqlBool>`(${sort.value}, ${sort.id}) ${beyond} (${after.v}::${sql.raw(sort.type)}, ${after.id}::bigint)`);
    rows = await run(rules, sql`order by ${sort.value} ${direction}, ${sort.id} ${direction}`, limit);
  }
  if (rows.length < limit) {
    const rules = [sort.unvalued];
    if (after && after.v === null) rules.push(sql<SqlBool>`${sort.id} ${beyond} ${after.id}::bigint`);
    rows = rows.concat(await run(rules, sql`order by ${sort.id} ${direction}`, limit - rows.length));
  }
  return rows;
}

export const browseQuerySchema = z
  .object({
    ...promptFilterFields,
    /** created_at: when the prompt came in; quality: the mean quality score (unscored prompts last, by id). */
    sort: z.enum(["created_at", "quality"]).default("created_at"),
    order: z.enum(["desc", "asc"]).default("desc"),
    limit: z.coerce.number({ error: `must be a number from 1 to ${BROWSE_MAX_LIMIT}` }).int().min(1).max(BROWSE_MAX_LIMIT).default(50),
    after: cursorSchema.optional(),
  })
  .strict()
  .superRefine(cursorFitsSort)
  .refine(datesInOrder, { path: ["to"], message: "must not be before from" })
  .refine(qualityInOrder, { path: ["maxQuality"], message: "must not be below minQuality" });

export type BrowseQuery = z.infer<typeof browseQuerySchema>;

/** An ILIKE pattern for a substring search: the % and _ a person types are searched for, not wildcards. */
export const likePattern = (q: string) => "%" + q.replace(/[\\%_]/g, (c) => "\\" + c) + "%";

/** At most this many tasks with a flag: a listing starts from those tasks' prompts instead of walking every prompt. */
export const RARE_FLAG_TASKS = 2000;

/**
 * The SQL conditions of a filter over `prompts as p` in one project. `flaggedPrompts`: the ids of the prompts whose
 * tasks carry the filter's flag, when the caller found them few (see browsePrompts).
 */
export function filterRules(projectId: string, f: PromptFilter, flaggedPrompts?: string[]): Array<Expression<SqlBool>> {
  const rules: Array<Expression<SqlBool>> = [sql<SqlBool>`p.project_id = ${projectId}`];
  if (f.q) rules.push(sql<SqlBool>`p.search_text ilike ${likePattern(f.q)}`);
  // `=` (not `is not distinct from`) so the prompts_source index serves it (decision 0055).
  if (f.source !== undefined) rules.push(f.source === "" ? sql<SqlBool>`p.source is null` : sql<SqlBool>`p.source = ${f.source}`);
  if (f.status) rules.push(sql<SqlBool>`p.status = ${f.status}`);
  if (f.kind) rules.push(sql<SqlBool>`p.kind = ${f.kind}`);
  if (f.heldOut) rules.push(f.heldOut === "true" ? sql<SqlBool>`p.held_out` : sql<SqlBool>`not p.held_out`);
  if (f.excluded) rules.push(f.excluded === "true" ? sql<SqlBool>`p.excluded_at is not null` : sql<SqlBool>`p.excluded_at is null`);
  if (f.from) rules.push(sql<SqlBool>`p.created_at >= ${new Date(f.from)}`);
  if (f.to) rules.push(sql<SqlBool>`p.created_at <= ${new Date(f.to)}`);
  const taskRules = [
    f.taskType ? sql`t.type = ${f.taskType}` : null,
    f.taskState ? sql`t.state = ${f.taskState}` : null,
    f.round ? sql`t.round_id = ${f.round}` : null,
    f.gold ? (f.gold === "true" ? sql`t.gold is not null` : sql`t.gold is null`) : null,
  ].filter((r) => r !== null);
  if (taskRules.length > 0) rules.push(sql<SqlBool>`exists (select 1 from tasks t where t.prompt_id = p.id and ${sql.join(taskRules, sql` and `)})`);
  if (f.labeler) rules.push(sql<SqlBool>`exists (select 1 from submissions s join tasks t on t.id = s.task_id where t.prompt_id = p.id and s.user_id = ${f.labeler})`);
  if (f.model) rules.push(sql<SqlBool>`exists (select 1 from completions c where c.prompt_id = p.id and c.model_name = ${f.model})`);
  if (flaggedPrompts) rules.push(sql<SqlBool>`p.id = any(${flaggedPrompts}::bigint[])`);
  else if (f.flag) {
    // A ranking's flags are { completionId: [flagId, …] } (submissions.server.ts); tasks.flag_ids holds every flag id its
    // submissions gave, kept by a trigger (decision 0055).
    const has = f.flag === "any" ? sql`t.flag_ids <> '{}'` : sql`t.flag_ids @> array[${f.flag}]::text[]`;
    rules.push(sql<SqlBool>`exists (select 1 from tasks t where t.prompt_id = p.id and ${has})`);
  }
  if (f.minQuality !== undefined || f.maxQuality !== undefined) {
    // A ranking's quality is { completionId: score } on the project's scale; the mean over every score given, from the
    // sum and count triggers keep on the prompt (decision 0055), written as the prompts_quality_sort index's expression.
    // Unscored prompts have a null mean and match no range.
    const mean = sql`(p.quality_sum / nullif(p.quality_count, 0))`;
    if (f.minQuality !== undefined) rules.push(sql<SqlBool>`${mean} >= ${f.minQuality}`);
    if (f.maxQuality !== undefined) rules.push(sql<SqlBool>`${mean} <= ${f.maxQuality}`);
  }
  return rules;
}

export type BrowsedPrompt = {
  id: string;
  text: string;
  source: string | null;
  status: string;
  kind: string;
  held_out: boolean;
  excluded_at: Date | null;
  exclusion_reason: string | null;
  created_at: Date;
  tasks: number;
  submissions: number;
  /** The mean quality score labelers gave its completions; null when nobody scored them. */
  quality: number | null;
};

/**
 * Runs one listing page in its own transaction, with no parallel workers and a time limit (decision 0055). A page is a keyset walk that stops after
 * `limit` rows; PostgreSQL's cost model, seeing a rare filter, plans two workers that each walk their own share of the
 * listing, and on a machine with few cores starting them costs more than the walk (at 1M prompts, `gold=true`: 140 ms
 * with workers, 24 ms without). `set local` ends with the transaction; inside a caller's transaction it runs as is.
 */
export async function inListingTransaction<T>(db: Db, page: (db: Db) => Promise<T>, timeoutMs = LISTING_TIMEOUT_MS): Promise<T> {
  if (db.isTransaction) return page(db);
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`set local max_parallel_workers_per_gather = 0`.execute(trx);
      // A few sort and filter combinations still walk most of a large project (decision 0055): one page must not
      // hold a connection for many seconds, so it stops and says how to narrow it instead.
      await sql.raw(`set local statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`).execute(trx);
      return page(trx);
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === "57014") {
      throw new AppError("service_unavailable", `This listing took longer than ${timeoutMs / 1000} s to read at this project's size. Narrow it with a search or a filter, or sort by time.`);
    }
    throw error;
  }
}

/** The longest one listing page may read before it is stopped (statement_timeout, per page). */
export const LISTING_TIMEOUT_MS = 5000;

/** One page of prompts, newest first (or oldest), and the cursor of the next page (null at the end). */
export async function browsePrompts(db: Db, projectId: string, query: BrowseQuery): Promise<{ items: BrowsedPrompt[]; next: string | null }> {
  return inListingTransaction(db, (trx) => promptPage(trx, projectId, query));
}

async function promptPage(db: Db, projectId: string, query: BrowseQuery): Promise<{ items: BrowsedPrompt[]; next: string | null }> {
  // A flag few tasks carry (or none): walking the listing until a page is full would read every prompt, and the
  // planner cannot tell a flag nobody gave from a rare one. Count them from the tasks_flags index first (decision 0055).
  let flaggedPrompts: string[] | undefined;
  if (query.flag && query.flag !== "any") {
    const found = await sql<{ prompt_id: string }>`
      select prompt_id from tasks where project_id = ${projectId} and flag_ids @> array[${query.flag}]::text[] limit ${RARE_FLAG_TASKS + 1}`.execute(db);
    if (found.rows.length <= RARE_FLAG_TASKS) flaggedPrompts = [...new Set(found.rows.map((r) => r.prompt_id))];
  }
  const rules = filterRules(projectId, query, flaggedPrompts);
  const select = (more: Array<Expression<SqlBool>>, sortValue: RawBuilder<unknown>, orderBy: RawBuilder<unknown>, limit: number) =>
    sql<BrowsedPrompt & { tasks: string; submissions: string; sort_value: string | null }>`
    select p.id, ${sortValue} as sort_value, left(p.messages -> 0 ->> 'content', 300) as text, p.source, p.status, p.kind, p.held_out, p.excluded_at, p.exclusion_reason, p.created_at,
      (p.quality_sum / nullif(p.quality_count, 0))::float8 as quality,
      (select count(*) from tasks t where t.prompt_id = p.id) as tasks,
      (select count(*) from submissions s join tasks t on t.id = s.task_id where t.prompt_id = p.id) as submissions
    from prompts p
    where ${sql.join([...rules, ...more], sql` and `)}
    ${orderBy}
    limit ${limit}`.execute(db).then((r) => r.rows);
  let rows;
  if (query.sort === "quality") {
    // The mean quality score, written as the prompts_quality_sort index's expression; unscored prompts (quality_count 0,
    // a null mean) last, by id (prompts_unscored; migration 0028).
    const mean = sql`(p.quality_sum / nullif(p.quality_count, 0))`;
    // `is not null` on the index's own expression, not `quality_count > 0`: the btree keeps the null means at the high
    // end, and only a condition on the key lets a highest-first scan start below them instead of reading past 2/3 of
    // the prompts (1 s at 1M).
    const sort: NullableSort = { name: "quality", value: mean, type: "numeric", valued: sql<SqlBool>`${mean} is not null`, unvalued: sql<SqlBool>`p.quality_count = 0`, id: sql`p.id` };
    rows = await nullsLastPage(sort, query.order, query.after, query.limit + 1, (more, orderBy, limit) => select(more, sql`${mean}::text`, orderBy, limit));
  } else {
    const desc = query.order === "desc";
    const more: Array<Expression<SqlBool>> = [];
    if (query.after) {
      // The cursor holds PostgreSQL's own microseconds: a JS Date (milliseconds) would skip rows.
      const at = sql`${query.after.v}::timestamptz`;
      more.push(desc ? sql<SqlBool>`(p.created_at, p.id) < (${at}, ${query.after.id}::bigint)` : sql<SqlBool>`(p.created_at, p.id) > (${at}, ${query.after.id}::bigint)`);
    }
    const direction = desc ? sql`desc` : sql`asc`;
    rows = await select(more, sql`to_json(p.created_at) #>> '{}'`, sql`order by p.created_at ${direction}, p.id ${direction}`, query.limit + 1);
  }
  const page = rows.slice(0, query.limit);
  const items = page.map(({ sort_value: _v, ...row }) => ({ ...row, tasks: Number(row.tasks), submissions: Number(row.submissions) }));
  const last = page.at(-1);
  const next = rows.length > query.limit && last ? encodeCursor(query.sort, last.sort_value, last.id) : null;
  return { items, next };
}

/** Everything that happened to one prompt: who was shown it and when, what they submitted, exclusions, rounds over it. */
export async function promptHistory(db: Db, projectId: string, promptId: string) {
  const prompt = await db
    .selectFrom("prompts")
    .leftJoin("users", "users.id", "prompts.excluded_by")
    .select([
      "prompts.id", "prompts.messages", "prompts.metadata", "prompts.source", "prompts.status", "prompts.kind", "prompts.held_out", "prompts.created_at",
      "prompts.excluded_at", "prompts.exclusion_reason", "users.email as excluded_by",
    ])
    .where("prompts.id", "=", promptId)
    .where("prompts.project_id", "=", projectId)
    .executeTakeFirst();
  if (!prompt) throw new AppError("not_found", "No such prompt in this project.");
  const completions = await db.selectFrom("completions").select(["id", "model_name", "model_id", "text", "created_at"]).where("prompt_id", "=", promptId).orderBy("id").execute();
  const tasks = await db.selectFrom("tasks").select(["id", "type", "state", "overlap_target", "round_id", sql<boolean>`gold is not null`.as("gold"), "created_at"]).where("prompt_id", "=", promptId).orderBy("id").execute();
  const taskIds = tasks.map((t) => t.id);
  const assignments = taskIds.length === 0 ? [] : await db
    .selectFrom("assignments")
    .innerJoin("users", "users.id", "assignments.user_id")
    .select(["assignments.id", "assignments.task_id", "users.email", "users.name", "assignments.state", "assignments.shown_order", "assignments.skip_reason", "assignments.created_at", "assignments.updated_at"])
    .where("assignments.task_id", "in", taskIds)
    .orderBy("assignments.created_at")
    .execute();
  const submissions = taskIds.length === 0 ? [] : await db
    .selectFrom("submissions")
    .innerJoin("users", "users.id", "submissions.user_id")
    .innerJoin("assignments", "assignments.id", "submissions.assignment_id")
    .leftJoin("annotation_reviews", "annotation_reviews.submission_id", "submissions.id")
    .select([
      "submissions.id", "submissions.task_id", "submissions.user_id", "users.email", "users.name", "submissions.payload", "submissions.timings", "submissions.created_at",
      "assignments.shown_order",
      // The annotation review's state, as the submission listing says it: null (never reviewed), open, or its decision.
      sql<string | null>`case when annotation_reviews.id is null then null when annotation_reviews.state = 'open' then 'open' else annotation_reviews.decision end`.as("review"),
      "annotation_reviews.comment as review_comment",
    ])
    .where("submissions.task_id", "in", taskIds)
    .orderBy("submissions.created_at")
    .execute();
  const exclusions = await db
    .selectFrom("audit_log")
    .leftJoin("users", "users.id", "audit_log.actor_user_id")
    .select(["audit_log.action", "audit_log.details", "audit_log.created_at", "users.email"])
    .where("audit_log.target", "=", `project:${projectId}`)
    .where("audit_log.action", "in", ["prompts.exclude", "prompts.include", "prompts.review", "prompts.release"])
    .where(sql<SqlBool>`(audit_log.details -> 'promptIds') ? ${promptId}`)
    .orderBy("audit_log.id")
    .execute();
  // Rounds whose frozen data snapshot came after a label on it, over this project's data.
  const firstLabel = submissions[0]?.created_at;
  const rounds = !firstLabel || prompt.held_out ? [] : (await sql<{ id: string; name: string; state: string; created_at: Date }>`
    select r.id, r.name, r.state, r.created_at from rounds r
    where (r.project_id = ${projectId} or coalesce(r.data_snapshot -> 'sources' -> 'projects', '[]'::jsonb) ? ${projectId})
      and (r.data_snapshot ->> 'until')::timestamptz > ${firstLabel}
    order by r.id`.execute(db)).rows;
  return { prompt, completions, tasks, assignments, submissions, exclusions, rounds };
}

/**
 * Which prompts a bulk action is over (decision 0047): a selection of ids, or every prompt a
 * browser filter finds; and the count the caller was shown (absent: count only).
 */
export const promptSelectionFields = {
  promptIds: z.array(id, { error: "must be a list of prompt ids" }).min(1, "name at least one prompt").max(BULK_MAX_IDS, `at most ${BULK_MAX_IDS} prompts at once; use a filter for more`).optional(),
  filter: promptFilterSchema.optional(),
  /** The count the caller was shown; the change runs only when it still matches. Absent: count only. */
  confirm: z.number({ error: "must be the count you were shown" }).int("must be the count you were shown").min(0, "must be the count you were shown").optional(),
};
/** A selection is ids or a filter: `.refine(oneSelection.check, oneSelection.params)`. */
export const oneSelection = {
  check: (b: { promptIds?: unknown; filter?: unknown }) => (b.promptIds === undefined) !== (b.filter === undefined),
  params: { path: ["promptIds"], message: "send either promptIds or filter, not both or neither" },
};
export type PromptSelection = { promptIds?: string[]; filter?: PromptFilter };

/**
 * The SQL conditions over `prompts as p` for a selection: the filter's rules, or the ids, each of
 * which must be a prompt of the project (refused by index, `promptIds.N`, otherwise).
 */
export async function selectionRules(db: Db, projectId: string, selection: PromptSelection): Promise<Array<Expression<SqlBool>>> {
  const rules = selection.filter ? filterRules(projectId, selection.filter) : [sql<SqlBool>`p.project_id = ${projectId}`];
  if (selection.promptIds) {
    const found = await db.selectFrom("prompts").select("id").where("project_id", "=", projectId).where("id", "in", selection.promptIds).execute();
    const known = new Set(found.map((r) => r.id));
    const errors = selection.promptIds.flatMap((pid, i) => (known.has(pid) ? [] : [{ path: `promptIds.${i}`, message: `no prompt ${pid} in this project` }]));
    if (errors.length > 0) throw new AppError("validation_failed", "Some prompts are not in this project; nothing was changed.", errors);
    rules.push(sql<SqlBool>`p.id in (${sql.join(selection.promptIds)})`);
  }
  return rules;
}

export const exclusionSchema = z
  .object({
    /** true: leave the prompts out of training; false: take them back in. */
    exclude: z.boolean({ error: "say exclude: true or false" }),
    reason: z.string().trim().max(500, "at most 500 characters").optional(),
    ...promptSelectionFields,
  })
  .strict()
  .refine(oneSelection.check, oneSelection.params)
  .refine((b) => !b.exclude || (b.reason !== undefined && b.reason.length > 0), { path: ["reason"], message: "say why these prompts leave the training data" });

export type ExclusionInput = z.infer<typeof exclusionSchema>;

/**
 * Excludes prompts from training, or takes them back. Without `confirm` it only counts what would
 * change (nothing is written); with `confirm` equal to that count it changes exactly those
 * prompts in one transaction and writes one audit entry with their ids. A count that moved in
 * between is refused (409) and changes nothing.
 */
export async function setExclusion(db: Db, actor: Actor, projectId: string, input: ExclusionInput): Promise<{ count: number; applied: boolean }> {
  return db.transaction().execute(async (trx) => {
    const rules = await selectionRules(trx, projectId, input);
    // Only the prompts whose state changes count: excluding an excluded prompt again is no change.
    rules.push(input.exclude ? sql<SqlBool>`p.excluded_at is null` : sql<SqlBool>`p.excluded_at is not null`);
    const where = sql.join(rules, sql` and `);
    if (input.confirm === undefined) {
      const counted = await sql<{ n: string }>`select count(*) as n from prompts p where ${where}`.execute(trx);
      return { count: Number(counted.rows[0]!.n), applied: false };
    }
    const changed = input.exclude
      ? await sql<{ id: string }>`update prompts p set excluded_at = now(), excluded_by = ${actor.user.id}, exclusion_reason = ${input.reason ?? null} where ${where} returning p.id`.execute(trx)
      : await sql<{ id: string }>`update prompts p set excluded_at = null, excluded_by = null, exclusion_reason = null where ${where} returning p.id`.execute(trx);
    if (changed.rows.length !== input.confirm) {
      // Throwing rolls the update back.
      throw new AppError("conflict", `${changed.rows.length} prompts match now, not the ${input.confirm} you confirmed; nothing was changed. Count again.`);
    }
    await recordAudit(trx, {
      actor,
      action: input.exclude ? "prompts.exclude" : "prompts.include",
      target: `project:${projectId}`,
      details: { count: changed.rows.length, reason: input.reason ?? null, filter: input.filter ?? null, promptIds: changed.rows.map((r) => r.id) },
    });
    return { count: changed.rows.length, applied: true };
  });
}
