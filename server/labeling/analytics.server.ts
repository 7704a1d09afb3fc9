import { sql } from "kysely";
import { z } from "zod";
import type { Db } from "../db/database.server.ts";
import type { TaskType } from "../db/schema.ts";
import { choiceAsRanking } from "./export-items.server.ts";
import { labelerAgreement, type AgreementSubmission, type PooledRate } from "./quality/labeler-agreement.ts";
import { rankingSchema, type Ranking } from "./quality/ranking.ts";

/**
 * Progress and analytics (issue 14 item 3, decision 0046): per-labeler throughput, time on task,
 * skip rate and agreement in daily buckets; the project's burndown per task type with an ETA;
 * the most disputed items. Counts, medians and burndown points are aggregated in PostgreSQL
 * (indexes of migration 0021); agreement is the quality dashboard's own computation
 * (labelerAgreement), run on the rankings of the items labeled in the window only.
 * Days are UTC calendar days.
 */
export const ANALYTICS_MAX_DAYS = 366;
export const ANALYTICS_DEFAULT_DAYS = 30;
/** The ETA divides what is open by the tasks completed per day over this many last days of the range. */
export const ETA_WINDOW_DAYS = 7;
export const DISPUTED_MAX_LIMIT = 100;

const DAY_MS = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayMs = (day: string) => Date.parse(`${day}T00:00:00Z`);

const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: "must be a date, YYYY-MM-DD", abort: true })
  .refine((value) => !Number.isNaN(dayMs(value)) && isoDay(dayMs(value)) === value, "is not a calendar date");

export type AnalyticsRange = { from: string; to: string; days: string[] };

/** from defaults to 29 days before to, to to today (UTC): a 30-day window. */
export function resolveRange(input: { from?: string; to?: string }, now = new Date()): AnalyticsRange {
  const to = input.to ?? isoDay(now.getTime());
  const from = input.from ?? isoDay(dayMs(to) - (ANALYTICS_DEFAULT_DAYS - 1) * DAY_MS);
  const days: string[] = [];
  for (let t = dayMs(from); t <= dayMs(to) && days.length <= ANALYTICS_MAX_DAYS; t += DAY_MS) days.push(isoDay(t));
  return { from, to, days };
}

const rangeFields = {
  from: day.optional().describe("First day (UTC), YYYY-MM-DD; default: 29 days before to"),
  to: day.optional().describe("Last day (UTC), YYYY-MM-DD, included; default: today"),
};

function checkRange(input: { from?: string; to?: string }, ctx: z.RefinementCtx): void {
  if (input.from !== undefined && !day.safeParse(input.from).success) return;
  if (input.to !== undefined && !day.safeParse(input.to).success) return;
  const range = resolveRange(input);
  if (dayMs(range.from) > dayMs(range.to)) {
    if (input.to) ctx.addIssue({ code: "custom", path: ["to"], message: `must not be before from (${range.from})` });
    else ctx.addIssue({ code: "custom", path: ["from"], message: `must not be after to (${range.to}, today by default)` });
  } else if (range.days.length > ANALYTICS_MAX_DAYS) ctx.addIssue({ code: "custom", path: ["from"], message: `must be at most ${ANALYTICS_MAX_DAYS} days before to` });
}

export const analyticsRangeSchema = z.object(rangeFields).strict().superRefine(checkRange);

export const disputedQuerySchema = z
  .object({
    ...rangeFields,
    limit: z.coerce.number({ error: `must be a number from 1 to ${DISPUTED_MAX_LIMIT}` }).int().min(1).max(DISPUTED_MAX_LIMIT).default(20),
  })
  .strict()
  .superRefine(checkRange);

/** The SQL bounds of a range: [from 00:00, the day after to 00:00) in UTC. */
function bounds(range: AnalyticsRange) {
  return { start: new Date(dayMs(range.from)), end: new Date(dayMs(range.to) + DAY_MS) };
}

const utcDay = (column: string) => sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD')`;

export type DayFigures = {
  day: string;
  submissions: number;
  medianSecondsOnTask: number | null;
  skipped: number;
  /** skipped / (submitted + skipped); null with neither. */
  skipRate: number | null;
  vsConsensus: number | null;
  vsGold: number | null;
};

export type LabelerAnalytics = {
  labelerId: string;
  name: string;
  submissions: number;
  /** Submissions per calendar day of the range. */
  perDay: number;
  /** Median of (submitted − claimed) over the range's submissions. */
  medianSecondsOnTask: number | null;
  skipped: number;
  skipRate: number | null;
  /** As on the quality page: ordinary ranking items vs the leave-one-out consensus, gold items vs gold. */
  vsConsensus: PooledRate;
  vsGold: PooledRate;
  daily: DayFigures[];
};

type Counted = { user_id: string; day: string | null; n: number; median_seconds: number | null };

/**
 * Each labeler's figures in the range. `onlyUserId`: a labeler's own row (they see nothing of
 * the others). Everything counted is attributed to the day it happened: a submission to its
 * submission time, a skip to the time it was skipped.
 */
export async function labelerAnalytics(db: Db, projectId: string, range: AnalyticsRange, onlyUserId?: string): Promise<{ range: AnalyticsRange; labelers: LabelerAnalytics[] }> {
  const { start, end } = bounds(range);
  const onlyS = onlyUserId ? sql`and s.user_id = ${onlyUserId}` : sql``;
  const onlyA = onlyUserId ? sql`and a.user_id = ${onlyUserId}` : sql``;
  // One pass per table; grouping sets give each labeler's days and their whole range at once.
  const submitted = await sql<Counted>`
    select user_id, day, count(*)::int as n, percentile_cont(0.5) within group (order by seconds) as median_seconds
    from (
      select s.user_id, ${utcDay("s.created_at")} as day, extract(epoch from s.created_at - a.created_at)::float8 as seconds
      from submissions s join tasks t on t.id = s.task_id join assignments a on a.id = s.assignment_id
      where t.project_id = ${projectId} and s.created_at >= ${start} and s.created_at < ${end} ${onlyS}
    ) x
    group by grouping sets ((user_id, day), (user_id))`.execute(db);
  const skipped = await sql<Counted>`
    select user_id, day, count(*)::int as n, null::float8 as median_seconds
    from (
      select a.user_id, ${utcDay("a.updated_at")} as day
      from assignments a join tasks t on t.id = a.task_id
      where a.state = 'skipped' and a.updated_at >= ${start} and a.updated_at < ${end} and t.project_id = ${projectId} ${onlyA}
    ) x
    group by grouping sets ((user_id, day), (user_id))`.execute(db);

  const key = (userId: string, d: string | null) => `${userId} ${d ?? "*"}`;
  const subs = new Map(submitted.rows.map((r) => [key(r.user_id, r.day), r] as const));
  const skips = new Map(skipped.rows.map((r) => [key(r.user_id, r.day), r.n] as const));
  const userIds = [...new Set([...submitted.rows, ...skipped.rows].map((r) => r.user_id))];
  if (userIds.length === 0) return { range, labelers: [] };
  const names = new Map(
    (await db.selectFrom("users").select(["id", "name"]).where("id", "in", userIds).execute()).map((u) => [u.id, u.name] as const),
  );
  const agreement = await agreementByLabelerDay(db, projectId, range, onlyUserId);
  const none: PooledRate = { rate: null, agreed: 0, compared: 0, comparisons: 0 };
  const rate = (a: number, b: number) => (a + b === 0 ? null : b / (a + b));

  const labelers = userIds.map((userId): LabelerAnalytics => {
    const total = subs.get(key(userId, null));
    const totalSkipped = skips.get(key(userId, null)) ?? 0;
    const mine = agreement.get(userId);
    return {
      labelerId: userId,
      name: names.get(userId) ?? userId,
      submissions: total?.n ?? 0,
      perDay: (total?.n ?? 0) / range.days.length,
      medianSecondsOnTask: total?.median_seconds ?? null,
      skipped: totalSkipped,
      skipRate: rate(total?.n ?? 0, totalSkipped),
      vsConsensus: mine?.total.vsConsensus ?? none,
      vsGold: mine?.total.vsGold ?? none,
      daily: range.days.map((d) => {
        const row = subs.get(key(userId, d));
        const dayAgreement = mine?.byDay.get(d);
        return {
          day: d,
          submissions: row?.n ?? 0,
          medianSecondsOnTask: row?.median_seconds ?? null,
          skipped: skips.get(key(userId, d)) ?? 0,
          skipRate: rate(row?.n ?? 0, skips.get(key(userId, d)) ?? 0),
          vsConsensus: dayAgreement?.vsConsensus.rate ?? null,
          vsGold: dayAgreement?.vsGold.rate ?? null,
        };
      }),
    };
  });
  labelers.sort((a, b) => b.submissions - a.submissions || a.name.localeCompare(b.name));
  return { range, labelers };
}

type Agreement = { vsConsensus: PooledRate; vsGold: PooledRate };

const noRate = (): PooledRate => ({ rate: null, agreed: 0, compared: 0, comparisons: 0 });
/** Pools two pooled rates over disjoint items (the counts add up; the rate is recomputed). */
function pool(a: PooledRate, b: PooledRate): PooledRate {
  const agreed = a.agreed + b.agreed;
  const compared = a.compared + b.compared;
  return { rate: compared === 0 ? null : agreed / compared, agreed, compared, comparisons: a.comparisons + b.comparisons };
}

/**
 * Each labeler's agreement in the range and per day, by the quality dashboard's computation
 * (labelerAgreement; gold items only against gold, as on the quality page), in one call: every
 * labeler-day is passed as a labeler of its own. A person ranks an item at most once, so the
 * others a submission is compared with (and their consensus) are exactly those of the plain
 * call; a labeler's figures over the range are their days' counts added up. Submissions outside
 * the range still count as "the others" but are attributed to no day. Only items ranked in the
 * range are loaded.
 */
async function agreementByLabelerDay(db: Db, projectId: string, range: AnalyticsRange, onlyUserId?: string): Promise<Map<string, { total: Agreement; byDay: Map<string, Agreement> }>> {
  const { start, end } = bounds(range);
  const rows = await sql<{ task_id: string; user_id: string; payload: { ranking?: unknown }; gold: Ranking | null; day: string; in_range: boolean }>`
    select s.task_id, s.user_id, s.payload, t.gold, ${utcDay("s.created_at")} as day, (s.created_at >= ${start} and s.created_at < ${end}) as in_range
    from submissions s join tasks t on t.id = s.task_id
    where t.project_id = ${projectId} and t.type = 'rank'
      and s.task_id in (
        select s2.task_id from submissions s2 join tasks t2 on t2.id = s2.task_id
        where t2.project_id = ${projectId} and t2.type = 'rank' and s2.created_at >= ${start} and s2.created_at < ${end}
          ${onlyUserId ? sql`and s2.user_id = ${onlyUserId}` : sql``})
    order by s.id`.execute(db);
  const ordinary: AgreementSubmission[] = [];
  const golden: AgreementSubmission[] = [];
  const gold = new Map<string, Ranking>();
  for (const r of rows.rows) {
    const parsed = rankingSchema.safeParse(r.payload.ranking);
    if (!parsed.success) continue;
    const attributed = r.in_range && (!onlyUserId || r.user_id === onlyUserId);
    const submission = { itemId: r.task_id, labelerId: JSON.stringify([r.user_id, attributed ? r.day : null]), ranking: parsed.data };
    if (r.gold === null) ordinary.push(submission);
    else if (attributed) {
      // Against gold a submission is compared with the answer alone: the others are not needed.
      golden.push(submission);
      gold.set(r.task_id, rankingSchema.parse(r.gold));
    }
  }
  const result = new Map<string, { total: Agreement; byDay: Map<string, Agreement> }>();
  const add = (labelerDay: string, figure: "vsConsensus" | "vsGold", rate: PooledRate) => {
    const [userId, day] = JSON.parse(labelerDay) as [string, string | null];
    if (day === null) return;
    const entry = result.get(userId) ?? { total: { vsConsensus: noRate(), vsGold: noRate() }, byDay: new Map<string, Agreement>() };
    const onDay = entry.byDay.get(day) ?? { vsConsensus: noRate(), vsGold: noRate() };
    onDay[figure] = pool(onDay[figure], rate);
    entry.total[figure] = pool(entry.total[figure], rate);
    entry.byDay.set(day, onDay);
    result.set(userId, entry);
  };
  for (const l of labelerAgreement(ordinary).labelers) add(l.labelerId, "vsConsensus", l.vsConsensus);
  const goldRankings = [...gold].map(([itemId, ranking]) => ({ itemId, ranking }));
  for (const l of labelerAgreement(golden, goldRankings).labelers) add(l.labelerId, "vsGold", l.vsGold);
  return result;
}

export type BurndownPoint = { day: string; open: number; done: number };
export type Burndown = {
  type: TaskType;
  points: BurndownPoint[];
  eta: {
    /** Tasks completed in the last `windowDays` days of the range, per day. */
    windowDays: number;
    completedInWindow: number;
    perDay: number;
    /** Open at the end of the range. */
    open: number;
    /** open / perDay; 0 when nothing is open; null when nothing was completed in the window. */
    days: number | null;
    /** The day the open tasks would be done at that pace, counted from the end of the range. */
    date: string | null;
  };
};

/**
 * Open and done tasks per task type at the end of each day of the range, gold tasks left out
 * (they are never "work waiting"). Open at the end of day d = created by then − closed
 * (completed or cancelled) by then; done = completed by then. PostgreSQL returns one count per
 * type, event and day (everything before the range in one bucket), so the rows read stay
 * ≤ 4 types × 3 events × 367 buckets whatever the project's size.
 */
export async function burndown(db: Db, projectId: string, range: AnalyticsRange): Promise<{ range: AnalyticsRange; etaMethod: string; types: Burndown[] }> {
  const { start, end } = bounds(range);
  const bucket = (column: string) => sql<string | null>`case when ${sql.ref(column)} < ${start} then null else ${utcDay(column)} end`;
  const rows = await sql<{ type: TaskType; event: "created" | "completed" | "cancelled"; day: string | null; n: number }>`
    select type, 'created' as event, ${bucket("created_at")} as day, count(*)::int as n
    from tasks where project_id = ${projectId} and gold is null and created_at < ${end}
    group by 1, 2, 3
    union all
    select type, case when state = 'complete' then 'completed' else 'cancelled' end, ${bucket("closed_at")}, count(*)::int
    from tasks where project_id = ${projectId} and gold is null and closed_at < ${end}
    group by 1, 2, 3`.execute(db);
  const typeOrder: TaskType[] = ["rank", "compare", "demonstrate", "review"];
  const types = typeOrder.filter((t) => rows.rows.some((r) => r.type === t));
  const windowDays = Math.min(ETA_WINDOW_DAYS, range.days.length);
  const windowStart = range.days[range.days.length - windowDays]!;
  return {
    range,
    etaMethod: `ETA = tasks open at the end of the range ÷ tasks completed per day over the range's last ${ETA_WINDOW_DAYS} days (or fewer, if the range is shorter), counted from the end of the range; no ETA when nothing was completed in that window.`,
    types: types.map((type) => {
      const count = (event: string, d: string | null) => rows.rows.find((r) => r.type === type && r.event === event && r.day === d)?.n ?? 0;
      let created = count("created", null);
      let completed = count("completed", null);
      let cancelled = count("cancelled", null);
      let completedInWindow = 0;
      const points = range.days.map((d) => {
        created += count("created", d);
        completed += count("completed", d);
        cancelled += count("cancelled", d);
        if (d >= windowStart) completedInWindow += count("completed", d);
        return { day: d, open: created - completed - cancelled, done: completed };
      });
      const open = points.at(-1)?.open ?? 0;
      const perDay = completedInWindow / windowDays;
      // open ÷ (completed ÷ window), written so whole numbers stay exact.
      const days = open === 0 ? 0 : completedInWindow === 0 ? null : (open * windowDays) / completedInWindow;
      return {
        type,
        points,
        eta: { windowDays, completedInWindow, perDay, open, days, date: days === null ? null : isoDay(dayMs(range.to) + DAY_MS + Math.ceil(days * DAY_MS)) },
      };
    }),
  };
}

export type DisputedItem = {
  taskId: string;
  type: "rank" | "compare";
  promptId: string;
  text: string;
  labelers: number;
  pairwise: PooledRate;
  meanTau: number | null;
};

/**
 * The most disputed items among those labeled in the range: ranking and A/B tasks (gold left
 * out) with a submission in the range and two or more in all, lowest pairwise agreement first
 * (then the most compared pairs, then the oldest task). Each item's figure is the quality
 * dashboard's project figure computed for that one item (as the exports' itemAgreement does).
 * The items are picked in SQL (submissions_created bounds them by the window), so the work
 * grows with what was labeled in the range, not with the project.
 */
export async function disputedItems(db: Db, projectId: string, range: AnalyticsRange, limit: number): Promise<{ range: AnalyticsRange; items: DisputedItem[] }> {
  const { start, end } = bounds(range);
  const rows = await sql<{ task_id: string; type: "rank" | "compare"; prompt_id: string; user_id: string; payload: Record<string, unknown>; shown_order: string[] }>`
    select s.task_id, t.type, t.prompt_id, s.user_id, s.payload, a.shown_order
    from submissions s join tasks t on t.id = s.task_id join assignments a on a.id = s.assignment_id
    where s.task_id in (
      select t2.id from tasks t2
      where t2.id in (select s2.task_id from submissions s2 where s2.created_at >= ${start} and s2.created_at < ${end})
        and t2.project_id = ${projectId} and t2.type in ('rank', 'compare') and t2.gold is null
        and (select count(*) from submissions s3 where s3.task_id = t2.id) >= 2)
    order by s.id`.execute(db);
  const byItem = new Map<string, { type: "rank" | "compare"; promptId: string; submissions: AgreementSubmission[] }>();
  for (const r of rows.rows) {
    const item = byItem.get(r.task_id) ?? { type: r.type, promptId: r.prompt_id, submissions: [] };
    const ranking = r.type === "rank" ? rankingSchema.safeParse(r.payload.ranking).data : choiceAsRanking(r.payload, r.shown_order);
    if (ranking) item.submissions.push({ itemId: r.task_id, labelerId: r.user_id, ranking });
    byItem.set(r.task_id, item);
  }
  const scored = [...byItem].flatMap(([taskId, item]) => {
    const report = labelerAgreement(item.submissions).project;
    if (report.pairwise.rate === null) return [];
    const { rate, agreed, compared, comparisons } = report.pairwise;
    return [{ taskId, type: item.type, promptId: item.promptId, labelers: new Set(item.submissions.map((s) => s.labelerId)).size, pairwise: { rate, agreed, compared, comparisons }, meanTau: report.kendall.meanTau }];
  });
  scored.sort((a, b) => a.pairwise.rate! - b.pairwise.rate! || b.pairwise.compared - a.pairwise.compared || Number(a.taskId) - Number(b.taskId));
  const top = scored.slice(0, limit);
  const texts = new Map<string, string>();
  if (top.length > 0) {
    const found = await sql<{ id: string; text: string | null }>`
      select id, left(messages -> 0 ->> 'content', 200) as text from prompts where id in (${sql.join(top.map((t) => t.promptId))})`.execute(db);
    for (const p of found.rows) texts.set(p.id, p.text ?? "");
  }
  return { range, items: top.map((t) => ({ ...t, text: texts.get(t.promptId) ?? "" })) };
}
