import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * The data browser at a million prompts (issue 14, decision 0055; measured by `npm run bench:browser`).
 * - Indexes each listing and filter needs: a prompt's tasks (every prompt row counts its tasks and
 *   submissions, and the task, labeler, flag and quality filters look its tasks up), the task
 *   listing's keyset order, prompts by source, completions by model, tasks by round, and
 *   submissions by what a labeler wrote (trigram indexes on a demonstration's reply and a
 *   ranking's rationale, only where there is one).
 * - `tasks.agreement`: the item's pooled pairwise agreement (decision 0045), stored so that the
 *   agreement and "disputed" filters are a condition on a column instead of a scan computing it in
 *   TypeScript. `task_agreement(task)` computes it in SQL exactly as `labelerAgreement(...)
 *   .project.pairwise.rate` does over the item's rankings (A/B choices as two-tier rankings, a
 *   labeler's last submission counting, ties and not-rankable rankings ordering nothing).
 * - `tasks.flag_ids`: every flag id labelers gave in the task's submissions, GIN-indexed, so the
 *   flag filter looks at one array per task instead of parsing each submission's payload.
 * - `prompts.quality_sum` / `quality_count`: the quality scores labelers gave the prompt's
 *   completions, so the quality filter (their mean) is a condition on the row, indexed, instead of
 *   reading every submission of every prompt it passes.
 * Statement triggers on submissions keep all of them, whatever the path (queue, import, cascade, a
 * hand-made change); existing rows are backfilled here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function task_agreement(task bigint) returns double precision language sql stable as $$
      with latest as (
        -- Each labeler's last submission, as a ranking: an A/B choice is winner over loser, a tie one tier of both.
        select distinct on (s.user_id) s.user_id,
          case
            when t.type = 'rank' then s.payload -> 'ranking'
            when coalesce(s.payload ->> 'winner', '') <> '' and coalesce(s.payload ->> 'loser', '') <> ''
              then jsonb_build_object('tiers', jsonb_build_array(jsonb_build_array(s.payload -> 'winner'), jsonb_build_array(s.payload -> 'loser')))
            else jsonb_build_object('tiers', jsonb_build_array(a.shown_order))
          end as ranking
        from submissions s join tasks t on t.id = s.task_id join assignments a on a.id = s.assignment_id
        where s.task_id = task and t.type in ('rank', 'compare')
        order by s.user_id, s.id desc
      ), positions as (
        -- Each labeler's tier of each completion (a repeated id keeps its last tier; not rankable ties everything).
        select l.user_id, c.id, max(case when l.ranking -> 'notRankable' = 'true'::jsonb then 0 else tier.i end) as tier
        from latest l
          cross join lateral jsonb_array_elements(case when jsonb_typeof(l.ranking -> 'tiers') = 'array' then l.ranking -> 'tiers' else '[]'::jsonb end) with ordinality as tier(ids, i)
          cross join lateral jsonb_array_elements_text(case when jsonb_typeof(tier.ids) = 'array' then tier.ids else '[]'::jsonb end) as c(id)
        group by l.user_id, c.id
      )
      -- Over every two labelers and every two completions both ordered strictly: the share ordered the same way.
      -- (sum / count in double precision: the same division as the TypeScript's agreed / compared.)
      select sum((sign(x1.tier - y1.tier) = sign(x2.tier - y2.tier))::int)::double precision / nullif(count(*), 0)
      from positions x1
        join positions y1 on y1.user_id = x1.user_id and y1.id > x1.id
        join positions x2 on x2.id = x1.id and x2.user_id > x1.user_id
        join positions y2 on y2.user_id = x2.user_id and y2.id = y1.id
      where x1.tier <> y1.tier and x2.tier <> y2.tier
    $$`.execute(db);
  await sql`
    create function task_flag_ids(task bigint) returns text[] language sql stable as $$
      select coalesce(array_agg(distinct f.id order by f.id), '{}')
      from submissions s cross join lateral jsonb_array_elements_text(jsonb_path_query_array(s.payload, '$.flags.*[*]')) as f(id)
      where s.task_id = task
    $$`.execute(db);
  await sql`alter table tasks add column agreement double precision, add column flag_ids text[] not null default '{}'`.execute(db);
  await sql`alter table prompts add column quality_sum numeric not null default 0, add column quality_count integer not null default 0`.execute(db);
  // What some submissions add to (direction 1) or take from (direction -1) their tasks and prompts.
  // - Each task's agreement and flag ids are computed again, after taking the task rows' locks: a volatile SQL
  //   function's next statement reads a fresh snapshot, so a submission committed by whoever held the lock before is
  //   counted (the queue already holds it; a second writer to the same task waits here and then sees the first's rows).
  // - Each prompt's quality sum and count move by the scores those submissions carry: an increment, not a recount, so two
  //   submissions to one prompt's tasks at once each add their own, whichever commits first.
  await sql`
    create function browser_apply_submissions(task_ids bigint[], payloads jsonb[], direction integer) returns void language sql volatile as $$
      select 1 from tasks t where t.id = any(task_ids) order by t.id for no key update;
      update tasks t set agreement = case when t.type in ('rank', 'compare') then task_agreement(t.id) end, flag_ids = task_flag_ids(t.id)
      where t.id = any(task_ids);
      update prompts p set quality_sum = p.quality_sum + d.total, quality_count = p.quality_count + d.n
      from (
        select t.prompt_id, direction * sum((q.value)::numeric) as total, direction * count(*) as n
        from unnest(task_ids, payloads) as c(task_id, payload)
          join tasks t on t.id = c.task_id
          cross join jsonb_each(case when jsonb_typeof(c.payload -> 'quality') = 'object' then c.payload -> 'quality' else '{}'::jsonb end) as q
        where jsonb_typeof(q.value) = 'number'
        group by t.prompt_id
      ) d
      where p.id = d.prompt_id
    $$`.execute(db);
  await sql`
    create function submissions_browser_columns() returns trigger language plpgsql as $$
    declare
      task_ids bigint[];
      payloads jsonb[];
    begin
      -- Statement triggers: one call for all the rows a statement changed (an import's thousands, the queue's one).
      if tg_op in ('UPDATE', 'DELETE') then
        select array_agg(task_id), array_agg(payload) into task_ids, payloads from old_rows;
        perform browser_apply_submissions(task_ids, payloads, -1);
      end if;
      if tg_op in ('UPDATE', 'INSERT') then
        select array_agg(task_id), array_agg(payload) into task_ids, payloads from new_rows;
        perform browser_apply_submissions(task_ids, payloads, 1);
      end if;
      return null;
    end $$`.execute(db);
  await sql`create trigger submissions_browser_insert after insert on submissions referencing new table as new_rows for each statement execute function submissions_browser_columns()`.execute(db);
  await sql`create trigger submissions_browser_delete after delete on submissions referencing old table as old_rows for each statement execute function submissions_browser_columns()`.execute(db);
  await sql`
    create trigger submissions_browser_update after update on submissions referencing old table as old_rows new table as new_rows
    for each statement execute function submissions_browser_columns()`.execute(db);
  // Existing data.
  await sql`update tasks t set agreement = task_agreement(t.id) where t.type in ('rank', 'compare') and (select count(*) from submissions s where s.task_id = t.id) >= 2`.execute(db);
  await sql`
    update tasks t set flag_ids = task_flag_ids(t.id)
    where t.id in (select s.task_id from submissions s where jsonb_path_query_array(s.payload, '$.flags.*[*]') <> '[]'::jsonb)`.execute(db);
  await sql`
    update prompts p set quality_sum = d.total, quality_count = d.n
    from (
      select t.prompt_id, sum((q.value)::numeric) as total, count(*) as n
      from submissions s join tasks t on t.id = s.task_id
        cross join jsonb_each(case when jsonb_typeof(s.payload -> 'quality') = 'object' then s.payload -> 'quality' else '{}'::jsonb end) as q
      where jsonb_typeof(q.value) = 'number'
      group by t.prompt_id
    ) d
    where p.id = d.prompt_id`.execute(db);

  await sql`create index tasks_prompt on tasks (prompt_id)`.execute(db);
  await sql`create index tasks_browse on tasks (project_id, created_at desc, id desc)`.execute(db);
  await sql`create index tasks_agreement on tasks (project_id, agreement) where agreement is not null`.execute(db);
  await sql`create index tasks_round on tasks (round_id) where round_id is not null`.execute(db);
  // A task type or state few prompts have (say review tasks, or none): found from here, not by walking every prompt.
  await sql`create index tasks_type_state on tasks (project_id, type, state)`.execute(db);
  await sql`create index prompts_source on prompts (project_id, source, created_at desc, id desc)`.execute(db);
  // Not partial: the planner reads its statistics to tell a common range (walk the listing) from a rare one (this index).
  await sql`create index prompts_quality on prompts (project_id, (quality_sum / nullif(quality_count, 0)))`.execute(db);
  await sql`create index completions_model on completions (model_name, prompt_id)`.execute(db);
  // Not partial: a query could not state a partial index's predicate without the planner counting it twice.
  await sql`create index tasks_flags on tasks using gin (flag_ids)`.execute(db);
  // Substring search: PostgreSQL estimates "contains q" from a sample of the texts. With the default 100 the sample
  // often holds no prompt with a 0.1 % word, or none with a 3 % one, and the plan flips between walking the listing
  // and the trigram index from one ANALYZE to the next (13 ms or 230 ms, 8 ms or 250 ms at 1M prompts); 1,000 steadies it.
  await sql`alter table prompts alter column search_text set statistics 1000`.execute(db);
  await sql`create statistics submissions_reply on (coalesce(payload ->> 'text', '')) from submissions`.execute(db);
  await sql`create statistics submissions_rationale on (coalesce(payload ->> 'rationale', '')) from submissions`.execute(db);
  await sql`alter statistics submissions_reply set statistics 1000`.execute(db);
  await sql`alter statistics submissions_rationale set statistics 1000`.execute(db);
  await sql`
    create index submissions_search_trgm on submissions using gin ((coalesce(payload ->> 'text', '')) gin_trgm_ops, (coalesce(payload ->> 'rationale', '')) gin_trgm_ops)
    where coalesce(payload ->> 'text', '') <> '' or coalesce(payload ->> 'rationale', '') <> ''`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of ["submissions_search_trgm", "tasks_flags", "completions_model", "prompts_quality", "prompts_source", "tasks_type_state", "tasks_round", "tasks_agreement", "tasks_browse", "tasks_prompt"]) {
    await sql`drop index if exists ${sql.ref(index)}`.execute(db);
  }
  await sql`drop statistics if exists submissions_rationale`.execute(db);
  await sql`drop statistics if exists submissions_reply`.execute(db);
  await sql`alter table prompts alter column search_text set statistics -1`.execute(db);
  for (const trigger of ["submissions_browser_update", "submissions_browser_delete", "submissions_browser_insert"]) {
    await sql`drop trigger if exists ${sql.ref(trigger)} on submissions`.execute(db);
  }
  await sql`drop function if exists submissions_browser_columns()`.execute(db);
  await sql`drop function if exists browser_apply_submissions(bigint[], jsonb[], integer)`.execute(db);
  await sql`alter table prompts drop column if exists quality_count, drop column if exists quality_sum`.execute(db);
  await sql`alter table tasks drop column if exists flag_ids, drop column if exists agreement`.execute(db);
  await sql`drop function if exists task_flag_ids(bigint)`.execute(db);
  await sql`drop function if exists task_agreement(bigint)`.execute(db);
}
