import { sql, type Expression, type RawBuilder, type SqlBool } from "kysely";
import { z } from "zod";
import type { Actor } from "../auth/actor.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Db } from "../db/database.server.ts";
import { AppError } from "../lib/app-error.ts";
import { BROWSE_MAX_LIMIT, BULK_MAX_IDS, cursorFitsSort, cursorSchema, encodeCursor, likePattern, nullsLastPage, inListingTransaction, type Cursor, type NullableSort } from "./browser.server.ts";
import { getProject } from "./projects.server.ts";

/**
 * The data browser's task and submission listings and the re-queue bulk action (decision 0045,
 * extending 0032). Same rules as the prompt listing: every field validated (unknown ones refused),
 * keyset pages on (created_at, id) with an opaque cursor, never offsets.
 */
const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");
const flag = z.enum(["true", "false"], { error: "must be true or false" });
const date = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time, e.g. 2026-12-05T00:00:00Z" });
const rate = z.coerce.number({ error: "must be a number from 0 to 1" }).min(0, "must be a number from 0 to 1").max(1, "must be a number from 0 to 1");
const taskType = z.enum(["demonstrate", "rank", "review", "compare"]);
/** Substring search, as the prompt listing's q. */
const q = z.string().trim().min(1, "must not be empty").max(200, "at most 200 characters");

const paging = {
  order: z.enum(["desc", "asc"]).default("desc"),
  limit: z.coerce.number({ error: `must be a number from 1 to ${BROWSE_MAX_LIMIT}` }).int().min(1).max(BROWSE_MAX_LIMIT).default(50),
  after: cursorSchema.optional(),
};
const datesInOrder = (f: { from?: string; to?: string }) => !f.from || !f.to || new Date(f.from) <= new Date(f.to);

/** The keyset condition and direction for `alias`.created_at, `alias`.id; the cursor's value is PostgreSQL's own timestamp text. */
function keyset(alias: "t" | "s", order: "asc" | "desc", after: Cursor | undefined) {
  const col = sql.raw(alias);
  const direction = order === "desc" ? sql`desc` : sql`asc`;
  const rule = !after
    ? null
    : order === "desc"
      ? sql<SqlBool>`(${col}.created_at, ${col}.id) < (${after.v}::timestamptz, ${after.id}::bigint)`
      : sql<SqlBool>`(${col}.created_at, ${col}.id) > (${after.v}::timestamptz, ${after.id}::bigint)`;
  return { rule, orderBy: sql`order by ${col}.created_at ${direction}, ${col}.id ${direction}` };
}

// ---------------------------------------------------------------------------------------------
// Tasks

const taskFilterFields = {
  /** The prompt's text contains this. */
  q: q.optional(),
  type: taskType.optional(),
  state: z.enum(["open", "complete", "cancelled"]).optional(),
  round: id.optional(),
  gold: flag.optional(),
  prompt: id.optional(),
  /** Items' pooled pairwise agreement (the quality dashboard's figure for one item), inclusive bounds. */
  minAgreement: rate.optional(),
  maxAgreement: rate.optional(),
  /** Agreement below the project's adaptive-overlap threshold (agreementBelow, default 0.75). */
  disputed: z.enum(["true"], { error: "only disputed=true filters; use minAgreement for items that agree" }).optional(),
};
const agreementInOrder = {
  check: (f: { minAgreement?: number; maxAgreement?: number }) => f.minAgreement === undefined || f.maxAgreement === undefined || f.minAgreement <= f.maxAgreement,
  params: { path: ["maxAgreement"], message: "must not be below minAgreement" },
};
/** A task filter without paging: what a re-queue over a whole filter takes (decision 0047). */
export const taskFilterSchema = z.object(taskFilterFields).strict().refine(agreementInOrder.check, agreementInOrder.params);
export type TaskFilter = z.infer<typeof taskFilterSchema>;
export const taskBrowseSchema = z
  .object({
    ...taskFilterFields,
    /** created_at: when the task was made; agreement: the stored agreement (tasks without one last, by id). */
    sort: z.enum(["created_at", "agreement"]).default("created_at"),
    ...paging,
  })
  .strict()
  .refine(agreementInOrder.check, agreementInOrder.params)
  .superRefine(cursorFitsSort);
export type TaskBrowseQuery = z.infer<typeof taskBrowseSchema>;

export type BrowsedTask = {
  id: string;
  prompt_id: string;
  text: string;
  type: string;
  state: string;
  overlap_target: number;
  round_id: string | null;
  gold: boolean;
  created_at: Date;
  submissions: number;
  /** Pooled pairwise agreement of the item's rankings (rank and A/B tasks); null when fewer than two people ordered a common pair. */
  agreement: number | null;
  labelers: number;
};

/**
 * One page of a project's tasks. Agreement is the stored `tasks.agreement` (decision 0055): the
 * quality dashboard's project figure (labelerAgreement) over that one item's rankings, A/B choices
 * read as two-tier rankings, a labeler's last submission counting, computed in SQL by
 * `task_agreement` whenever the task's submissions change. So an agreement or disputed filter is
 * one more condition of one query, and a page is full unless the listing ends.
 */
export async function browseTasks(db: Db, projectId: string, query: TaskBrowseQuery): Promise<{ items: BrowsedTask[]; next: string | null; disputedBelow: number }> {
  return inListingTransaction(db, (trx) => taskPage(trx, projectId, query));
}

async function taskPage(db: Db, projectId: string, query: TaskBrowseQuery): Promise<{ items: BrowsedTask[]; next: string | null; disputedBelow: number }> {
  const project = await getProject(db, projectId);
  const disputedBelow = project.settings.adaptiveOverlap.agreementBelow;
  const rules: Array<Expression<SqlBool>> = [sql<SqlBool>`t.project_id = ${projectId}`];
  if (query.q) rules.push(sql<SqlBool>`p.search_text ilike ${likePattern(query.q)}`);
  if (query.type) rules.push(sql<SqlBool>`t.type = ${query.type}`);
  if (query.state) rules.push(sql<SqlBool>`t.state = ${query.state}`);
  if (query.round) rules.push(sql<SqlBool>`t.round_id = ${query.round}`);
  if (query.prompt) rules.push(sql<SqlBool>`t.prompt_id = ${query.prompt}`);
  if (query.gold) rules.push(query.gold === "true" ? sql<SqlBool>`t.gold is not null` : sql<SqlBool>`t.gold is null`);
  // A null agreement (fewer than two rankings, or no pair both ordered) matches no range.
  if (query.minAgreement !== undefined) rules.push(sql<SqlBool>`t.agreement >= ${query.minAgreement}`);
  if (query.maxAgreement !== undefined) rules.push(sql<SqlBool>`t.agreement <= ${query.maxAgreement}`);
  if (query.disputed) rules.push(sql<SqlBool>`t.agreement < ${disputedBelow}`);
  const select = (more: Array<Expression<SqlBool>>, sortValue: RawBuilder<unknown>, orderBy: RawBuilder<unknown>, limit: number) =>
    sql<Omit<BrowsedTask, "submissions" | "labelers"> & { submissions: string; labelers: string; sort_value: string | null }>`
    select t.id, t.prompt_id, left(p.messages -> 0 ->> 'content', 300) as text, t.type, t.state, t.overlap_target, t.round_id,
      t.gold is not null as gold, t.created_at, ${sortValue} as sort_value, t.agreement,
      (select count(*) from submissions s where s.task_id = t.id) as submissions,
      -- The people whose rankings the agreement is over (rank and A/B tasks only).
      case when t.type in ('rank', 'compare') then (select count(distinct s.user_id) from submissions s where s.task_id = t.id) else 0 end as labelers
    from tasks t join prompts p on p.id = t.prompt_id
    where ${sql.join([...rules, ...more], sql` and `)}
    ${orderBy}
    limit ${limit}`.execute(db).then((r) => r.rows);
  let rows;
  if (query.sort === "agreement") {
    // Most disputed first is order=asc. Tasks without an agreement (fewer than two rankings, demonstrations) come last,
    // by id: tasks_agreement_sort and tasks_unagreed (migration 0028). float8's text round-trips exactly.
    const sort: NullableSort = { name: "agreement", value: sql`t.agreement`, type: "float8", valued: sql<SqlBool>`t.agreement is not null`, unvalued: sql<SqlBool>`t.agreement is null`, id: sql`t.id` };
    rows = await nullsLastPage(sort, query.order, query.after, query.limit + 1, (more, orderBy, limit) => select(more, sql`t.agreement::text`, orderBy, limit));
  } else {
    const { rule, orderBy } = keyset("t", query.order, query.after);
    rows = await select(rule ? [rule] : [], sql`to_json(t.created_at) #>> '{}'`, orderBy, query.limit + 1);
  }
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(({ sort_value: _v, ...row }) => ({ ...row, submissions: Number(row.submissions), labelers: Number(row.labelers) })),
    next: rows.length > query.limit && last ? encodeCursor(query.sort, last.sort_value, last.id) : null,
    disputedBelow,
  };
}

// ---------------------------------------------------------------------------------------------
// Submissions

export const submissionBrowseSchema = z
  .object({
    /** The prompt's text, or what the labeler wrote (a demonstration's reply, a ranking's rationale), contains this. */
    q: q.optional(),
    labeler: id.optional(),
    taskType: taskType.optional(),
    task: id.optional(),
    from: date.optional(),
    to: date.optional(),
    /** The annotation review's state: none (never sampled), open (a reviewer holds it), or its decision. */
    review: z.enum(["none", "open", "accept", "override", "send_back"]).optional(),
    gold: flag.optional(),
    excluded: flag.optional(),
    /** Whether the labeler revealed the judge's suggestion before submitting. */
    suggestionRevealed: flag.optional(),
    /** When the labeler submitted (order: newest or oldest first). */
    sort: z.enum(["created_at"]).default("created_at"),
    ...paging,
  })
  .strict()
  .refine(datesInOrder, { path: ["to"], message: "must not be before from" })
  .superRefine(cursorFitsSort);
export type SubmissionBrowseQuery = z.infer<typeof submissionBrowseSchema>;

export type BrowsedSubmission = {
  id: string;
  task_id: string;
  prompt_id: string;
  text: string;
  task_type: string;
  user_id: string;
  email: string;
  payload: Record<string, unknown>;
  created_at: Date;
  review: string | null;
  gold: boolean;
  excluded: boolean;
  suggestion_revealed: boolean;
};

/** One page of a project's submissions, newest first (or oldest). */
export async function browseSubmissions(db: Db, projectId: string, query: SubmissionBrowseQuery): Promise<{ items: BrowsedSubmission[]; next: string | null }> {
  return inListingTransaction(db, (trx) => submissionPage(trx, projectId, query));
}

async function submissionPage(db: Db, projectId: string, query: SubmissionBrowseQuery): Promise<{ items: BrowsedSubmission[]; next: string | null }> {
  const rules: Array<Expression<SqlBool>> = [sql<SqlBool>`t.project_id = ${projectId}`];
  if (query.labeler) rules.push(sql<SqlBool>`s.user_id = ${query.labeler}`);
  if (query.taskType) rules.push(sql<SqlBool>`t.type = ${query.taskType}`);
  if (query.task) rules.push(sql<SqlBool>`s.task_id = ${query.task}`);
  if (query.from) rules.push(sql<SqlBool>`s.created_at >= ${new Date(query.from)}`);
  if (query.to) rules.push(sql<SqlBool>`s.created_at <= ${new Date(query.to)}`);
  if (query.gold) rules.push(query.gold === "true" ? sql<SqlBool>`t.gold is not null` : sql<SqlBool>`t.gold is null`);
  if (query.excluded) rules.push(query.excluded === "true" ? sql<SqlBool>`p.excluded_at is not null` : sql<SqlBool>`p.excluded_at is null`);
  if (query.suggestionRevealed) rules.push(query.suggestionRevealed === "true" ? sql<SqlBool>`a.suggestion_revealed_at is not null` : sql<SqlBool>`a.suggestion_revealed_at is null`);
  // Not `r.id is null`: the planner takes that left-join test for a rare row and reads every submission (decision 0055).
  if (query.review === "none") rules.push(sql<SqlBool>`not exists (select 1 from annotation_reviews r0 where r0.submission_id = s.id)`);
  else if (query.review === "open") rules.push(sql<SqlBool>`r.state = 'open'`);
  else if (query.review) rules.push(sql<SqlBool>`r.decision = ${query.review}`);
  const { rule, orderBy } = keyset("s", query.order, query.after);
  if (rule) rules.push(rule);
  const from = sql`
    from submissions s join tasks t on t.id = s.task_id join prompts p on p.id = t.prompt_id join users u on u.id = s.user_id
      join assignments a on a.id = s.assignment_id left join annotation_reviews r on r.submission_id = s.id`;
  const where = (more: Array<Expression<SqlBool>>) => sql.join([...rules, ...more], sql` and `);
  let condition = where([]);
  if (query.q) {
    // The prompt, or what the labeler wrote, contains q. One OR across two tables could use neither trigram index, so
    // each half is a page of its own (prompts_search_trgm, submissions_search_trgm; decision 0055) and the page is the
    // first rows of the two together. The labeler's half states the index's predicate (implied by a non-empty match).
    const pattern = likePattern(query.q);
    const reply = sql`coalesce(s.payload ->> 'text', '')`;
    const rationale = sql`coalesce(s.payload ->> 'rationale', '')`;
    const inPrompt = sql<SqlBool>`p.search_text ilike ${pattern}`;
    const inOwn = sql<SqlBool>`(${reply} <> '' or ${rationale} <> '') and (${reply} ilike ${pattern} or ${rationale} ilike ${pattern})`;
    // The labeler's half sorts its matches first, from submissions alone, and joins only as far down that order as the
    // page needs: joined before the sort, every match (~4,000 for a common word at 3M submissions) cost five index
    // probes, most of the page's time (decision 0055). The same rows in the same order: the joins and the rules are
    // the same, applied to the sorted matches until limit + 1 pass.
    // Each half joins only what its rules read (no users: nothing filters on them), which also halves its planning.
    const joins = sql`join tasks t on t.id = s.task_id join prompts p on p.id = t.prompt_id
      ${query.suggestionRevealed ? sql`join assignments a on a.id = s.assignment_id` : sql``}
      ${query.review && query.review !== "none" ? sql`left join annotation_reviews r on r.submission_id = s.id` : sql``}`;
    const own = sql`(select s.id, s.created_at, s.task_id, s.user_id, s.assignment_id from submissions s
      where ${sql.join([inOwn, ...(rule ? [rule] : [])], sql` and `)} ${orderBy})`;
    condition = sql`s.id in (select id from (
      (select s.id from submissions s ${joins} where ${where([inPrompt])} ${orderBy} limit ${query.limit + 1})
      union
      (select s.id from ${own} s ${joins} where ${where([])} ${orderBy} limit ${query.limit + 1})) hits)`;
  }
  const rows = await sql<BrowsedSubmission & { cursor_at: string }>`
    select s.id, s.task_id, t.prompt_id, left(p.messages -> 0 ->> 'content', 300) as text, t.type as task_type, s.user_id, u.email, s.payload,
      s.created_at, to_json(s.created_at) #>> '{}' as cursor_at, case when r.id is null then null when r.state = 'open' then 'open' else r.decision end as review,
      t.gold is not null as gold, p.excluded_at is not null as excluded, a.suggestion_revealed_at is not null as suggestion_revealed
    ${from}
    where ${condition}
    ${orderBy}
    limit ${query.limit + 1}`.execute(db);
  const page = rows.rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(({ cursor_at: _at, ...row }) => row),
    next: rows.rows.length > query.limit && last ? encodeCursor("created_at", last.cursor_at, last.id) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Re-queue with more overlap

/** The most tasks one re-queue over a filter changes: more is refused (narrow the filter). */
export const REQUEUE_FILTER_MAX = 10_000;

export const requeueSchema = z
  .object({
    taskIds: z.array(id, { error: "must be a list of task ids" }).min(1, "name at least one task").max(BULK_MAX_IDS, `at most ${BULK_MAX_IDS} tasks at once; use a filter for more`).optional(),
    /** Every task this browser filter finds (decision 0047); cancelled and redo tasks among them are left as they are. */
    filter: taskFilterSchema.optional(),
    /** How many more labelers each task asks for. */
    add: z.number({ error: "must be a whole number from 1 to 10" }).int("must be a whole number from 1 to 10").min(1, "must be a whole number from 1 to 10").max(10, "must be a whole number from 1 to 10"),
    /** The count the caller was shown; the change runs only when it still matches. Absent: count only. */
    confirm: z.number({ error: "must be the count you were shown" }).int("must be the count you were shown").min(0, "must be the count you were shown").optional(),
  })
  .strict()
  .refine((b) => (b.taskIds === undefined) !== (b.filter === undefined), { path: ["taskIds"], message: "send either taskIds or filter, not both or neither" });
export type RequeueInput = z.infer<typeof requeueSchema>;

/** Every task a filter finds, oldest first, read page by page as the listing reads them (agreement included). */
async function taskIdsMatching(db: Db, projectId: string, filter: TaskFilter): Promise<string[]> {
  const ids: string[] = [];
  let after: Cursor | undefined;
  for (;;) {
    const page = await browseTasks(db, projectId, { ...filter, sort: "created_at", order: "asc", limit: BROWSE_MAX_LIMIT, after });
    ids.push(...page.items.map((t) => t.id));
    if (ids.length > REQUEUE_FILTER_MAX) {
      throw new AppError("validation_failed", "The filter finds too many tasks; nothing was changed.", [{ path: "filter", message: `finds more than ${REQUEUE_FILTER_MAX.toLocaleString("en")} tasks; narrow it` }]);
    }
    if (!page.next) return ids;
    after = cursorSchema.parse(page.next);
  }
}

/**
 * Asks more labelers for the selected tasks: overlap_target + add, and a complete task is open
 * again (the queue serves a task while it is open and has fewer live assignments than its
 * target). Cancelled tasks and redo tasks (decision 0044: only their labeler gets them) are
 * refused with the id named. Without `confirm` it only counts; with `confirm` equal to the
 * count it changes exactly those tasks in one transaction, under their row locks, with one audit
 * entry; a count that moved is refused (409) and nothing changes.
 */
export async function requeueTasks(db: Db, actor: Actor, projectId: string, input: RequeueInput): Promise<{ count: number; reopened: number; applied: boolean }> {
  const byFilter = input.filter !== undefined;
  const ids = [...new Set(byFilter ? await taskIdsMatching(db, projectId, input.filter!) : input.taskIds!)];
  if (ids.length === 0) {
    if (input.confirm !== undefined && input.confirm !== 0) throw new AppError("conflict", `0 tasks match now, not the ${input.confirm} you confirmed; nothing was changed. Count again.`);
    return { count: 0, reopened: 0, applied: false };
  }
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom("tasks")
      .select(["id", "state", "redo_of", "overlap_target"])
      .where("project_id", "=", projectId)
      .where("id", "in", ids)
      .orderBy("id")
      .forUpdate()
      .execute()
      // A filter's cancelled and redo tasks are simply not re-queued; named ones are refused below.
      .then((locked) => (byFilter ? locked.filter((r) => r.state !== "cancelled" && r.redo_of === null) : locked));
    const byId = new Map(rows.map((r) => [r.id, r]));
    const errors = (input.taskIds ?? []).flatMap((tid, i) => {
      const task = byId.get(tid);
      if (!task) return [{ path: `taskIds.${i}`, message: `no task ${tid} in this project` }];
      if (task.state === "cancelled") return [{ path: `taskIds.${i}`, message: `task ${tid} is cancelled` }];
      if (task.redo_of !== null) return [{ path: `taskIds.${i}`, message: `task ${tid} is a redo for one labeler; it is not queued` }];
      return [];
    });
    if (errors.length > 0) throw new AppError("validation_failed", "Some tasks cannot be re-queued; nothing was changed.", errors);
    const reopened = rows.filter((r) => r.state === "complete").length;
    if (input.confirm === undefined) return { count: rows.length, reopened, applied: false };
    if (input.confirm !== rows.length) throw new AppError("conflict", `${rows.length} tasks match now, not the ${input.confirm} you confirmed; nothing was changed. Count again.`);
    if (rows.length === 0) return { count: 0, reopened: 0, applied: false };
    await trx
      .updateTable("tasks")
      .set({ overlap_target: sql`overlap_target + ${input.add}`, state: "open" })
      .where("id", "in", rows.map((r) => r.id))
      .execute();
    await recordAudit(trx, {
      actor,
      action: "tasks.requeue",
      target: `project:${projectId}`,
      details: {
        count: rows.length, reopened, add: input.add, filter: input.filter ?? null, taskIds: rows.map((r) => r.id),
        overlapBefore: Object.fromEntries(rows.map((r) => [r.id, r.overlap_target])),
      },
    });
    return { count: rows.length, reopened, applied: true };
  });
}
