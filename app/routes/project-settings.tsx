import { useState } from "react";
import { data, Form, Link, redirect } from "react-router";
import type { Route } from "./+types/project-settings";
import { projectInputSchema } from "../../server/labeling/project-settings.ts";
import { getProject, updateProject } from "../../server/labeling/projects.server.ts";
import { applyOverlapToOpenTasks, openTasksWithOtherOverlap } from "../../server/labeling/overlap.server.ts";
import { publishCounters } from "../../server/labeling/live-counters.server.ts";
import type { TaskType } from "../../server/db/schema.ts";
import { Alert, Button, Card, Field, PageTitle } from "../components/ui.tsx";
import { ProjectMembers, type MemberResult } from "../components/project-members.tsx";
import { addMembers, addMembersSchema, listMembers, projectAccessSchema, removeMembers, removeMembersSchema, setProjectAccess, splitEmails } from "../../server/labeling/members.server.ts";
import { recheckProjectSockets } from "../../server/socket/socket-server.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { requireProjectRole } from "../lib/auth.server.ts";
import { or404 } from "../lib/not-found.server.ts";
import { fieldErrors } from "../lib/form.ts";
import { checkerFromForm, checkerKinds, toolsFromForm } from "../lib/tool-settings-form.ts";
import { adaptiveOverlapFromForm, uncertaintyQueueFromForm } from "../lib/active-learning-form.ts";
import { ActiveLearningFieldset } from "../components/active-learning-settings.tsx";
import { TOOL_NAMES } from "../../trainer/contract/conversation.ts";
import { listEndpoints } from "../../server/bridges/external/endpoints.server.ts";
import { defaultJudgePrompts } from "../../server/labeling/judge/judge-settings.ts";

export const meta: Route.MetaFunction = () => [{ title: "Project settings · Tandem" }];

const taskTypes = ["demonstrate", "rank", "review", "compare"] as const;

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  // ?saved=1 comes from the action's redirect (post/redirect/get), so a reload never posts twice.
  const search = new URL(request.url).searchParams;
  const saved = search.get("saved") === "1";
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  // What an overlap change did not change: open tasks keep the overlap they were created with.
  const otherOverlap = await openTasksWithOtherOverlap(context.db, project);
  const applied = search.get("applied") ? { type: search.get("applied")!, updated: Number(search.get("updated") ?? 0), completed: Number(search.get("completed") ?? 0) } : null;
  // What may judge (decisions 0035, 0053): the project's endpoints, the registered chat models and
  // the registered reward models Tandem holds the files of (they score instead of answering).
  const models = await context.db
    .selectFrom("models").select(["id", "name", "kind", "external_uri"])
    .where((eb) => eb.or([eb("project_id", "=", project.id), eb("project_id", "is", null)]))
    .orderBy("id", "desc").limit(200).execute();
  const judgeSources = [
    ...(await listEndpoints(context.db, project.id)).map((e) => ({ value: `endpoint:${e.id}`, label: `Endpoint ${e.name} (${e.model})` })),
    ...models.filter((m) => m.kind !== "reward").map((m) => ({ value: `model:${m.id}`, label: `Model ${m.name} (#${m.id})` })),
    ...models.filter((m) => m.kind === "reward" && !m.external_uri).map((m) => ({ value: `reward-model:${m.id}`, label: `Reward model ${m.name} (#${m.id}, scores each answer)` })),
  ];
  // The uncertainty queue's choice of reward model (decisions 0048, 0053): the same models a reward-model judge may be.
  const rewardModels = models.filter((m) => m.kind === "reward" && !m.external_uri).map((m) => ({ id: m.id, name: m.name }));
  return { project, saved, otherOverlap, applied, judgeSources, rewardModels, members: await listMembers(context.db, project.id) };
}

/** The wellbeing fields (decision 0036): an empty cap or break time means none. */
function wellbeingFromForm(form: FormData, stored: unknown): unknown {
  // A form without these fields (an older page) keeps what is stored.
  if (!form.has("wellbeing.dailySensitiveCap")) return stored;
  const text = (name: string) => String(form.get(`wellbeing.${name}`) ?? "").trim();
  const numOrNull = (name: string) => (text(name) === "" ? null : Number(text(name)));
  return {
    dailySensitiveCap: numOrNull("dailySensitiveCap"),
    breakAfterMinutes: numOrNull("breakAfterMinutes"),
    classifierField: text("classifierField") || undefined,
    classifierThreshold: text("classifierThreshold") === "" ? undefined : Number(text("classifierThreshold")),
    sensitiveFlags: text("sensitiveFlags").split(/[\s,]+/).filter(Boolean),
  };
}

/** The judge fields of the form; no source means no judge. Numbers stay as typed for zod to judge. */
function judgeFromForm(form: FormData): Record<string, unknown> | undefined {
  const text = (name: string) => String(form.get(`judge.${name}`) ?? "").trim();
  const source = /^(endpoint|model|reward-model):(.*)$/.exec(text("source"));
  if (!source) return undefined;
  const num = (name: string) => (text(name) === "" ? undefined : Number(text(name)));
  return {
    source: source[1] === "endpoint" ? { kind: "endpoint", endpointId: source[2] } : { kind: source[1], modelId: source[2] },
    mode: text("mode") || undefined,
    // The default prompt left as it is stays "the default", so it follows the mode.
    prompt: text("prompt") === "" || Object.values(defaultJudgePrompts).includes(text("prompt") as never) ? undefined : text("prompt"),
    suggestions: text("suggestions") || undefined,
    withheldShare: num("withheldShare"),
    timeoutSeconds: num("timeoutSeconds"),
  };
}

/** Flags are edited as lines "id: label"; a malformed line is reported, not dropped. */
function parseFlags(text: string): { flags: Array<{ id: string; label: string }>; bad: string[] } {
  const flags: Array<{ id: string; label: string }> = [];
  const bad: string[] = [];
  for (const line of text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean)) {
    const match = /^([^:]+):\s*(.+)$/.exec(line);
    if (match) flags.push({ id: match[1]!.trim(), label: match[2]!.trim() });
    else bad.push(line);
  }
  return { flags, bad };
}

export async function action({ context, request, params }: Route.ActionArgs) {
  const { user } = await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const form = await request.formData();
  const intent = String(form.get("intent") ?? "");
  if (intent === "members-add" || intent === "members-remove" || intent === "access") {
    const memberResult = await changeMembers(context, project.id, intent, form);
    return data({ memberResult }, { status: memberResult.ok ? 200 : 422 });
  }
  if (intent === "apply-overlap") {
    const type = taskTypes.find((t) => t === form.get("taskType"));
    if (!type) return data({ errors: { taskType: "Choose a task type." }, values: {} }, { status: 422 });
    const result = await applyOverlapToOpenTasks(context.db, user.id, project, type);
    if (result.updated > 0) void publishCounters(context, project.id);
    return redirect(`/projects/${project.id}/settings?applied=${type}&updated=${result.updated}&completed=${result.completed}`);
  }
  const text = (name: string) => String(form.get(name) ?? "");
  const num = (name: string) => (text(name).trim() === "" ? undefined : Number(text(name)));
  const { flags, bad } = parseFlags(text("flags"));
  const parsed = projectInputSchema.safeParse({
    name: text("name"),
    guidelines: text("guidelines"),
    settings: {
      ...project.settings,
      k: num("k"),
      overlap: Object.fromEntries(taskTypes.map((t) => [t, num(`overlap.${t}`)])),
      taskWeights: Object.fromEntries(taskTypes.map((t) => [t, num(`taskWeights.${t}`)])),
      leaseMinutes: num("leaseMinutes"),
      maxPendingPerUser: num("maxPendingPerUser"),
      goldRate: num("goldRate"),
      nearDuplicateThreshold: num("nearDuplicateThreshold"),
      flags,
      tools: toolsFromForm(form),
      checker: checkerFromForm(form),
      judge: judgeFromForm(form),
      adaptiveOverlap: adaptiveOverlapFromForm(form, project.settings.adaptiveOverlap),
      uncertaintyQueue: uncertaintyQueueFromForm(form, project.settings.uncertaintyQueue),
      wellbeing: wellbeingFromForm(form, project.settings.wellbeing),
      // An older form without the field keeps what is stored.
      piiRedaction: form.has("piiRedaction.mode") ? { mode: text("piiRedaction.mode"), keepOriginal: form.get("piiRedaction.keepOriginal") === "on" } : project.settings.piiRedaction,
    },
  });
  const errors = parsed.success ? {} : fieldErrors(parsed.error);
  if (bad.length > 0) errors["settings.flags"] = `Write each flag as "id: label" — not understood: ${bad.join("; ")}`;
  if (!parsed.success || bad.length > 0) {
    // Checkboxes send a value only when ticked: the ticked tools come back as one list.
    return data({ errors, values: { ...Object.fromEntries([...form].map(([k, v]) => [k, String(v)])), tools: form.getAll("tools").map(String).join(",") } }, { status: 422 });
  }
  try {
    await updateProject(context.db, user.id, project.id, parsed.data);
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "validation_failed") throw error;
    const refused = Object.fromEntries(error.fieldErrors.map((d) => [d.path, d.message]));
    return data({ errors: refused, values: { ...Object.fromEntries([...form].map(([k, v]) => [k, String(v)])), tools: form.getAll("tools").map(String).join(",") } }, { status: 422 });
  }
  // Back to this page, which confirms the save (the form shows what is now stored).
  return redirect(`/projects/${project.id}/settings?saved=1`);
}

export default function ProjectSettingsPage({ loaderData, actionData }: Route.ComponentProps) {
  const { project, saved, otherOverlap, applied, members, judgeSources, rewardModels } = loaderData;
  const memberResult = actionData && "memberResult" in actionData ? actionData.memberResult : null;
  const errors: Record<string, string> = (actionData && "errors" in actionData ? actionData.errors : undefined) ?? {};
  const values: Record<string, string> = (actionData && "values" in actionData ? actionData.values : undefined) ?? {};
  const v = (name: string, fallback: string | number) => values[name] ?? String(fallback);
  const errorList = Object.entries(errors);
  const checker = project.settings.checker;
  // A refused form comes back as typed; else the saved settings.
  const typed = actionData !== undefined && "values" in actionData;
  const toolChecked = (tool: string) => (typed ? (values.tools ?? "").split(",").includes(tool) : project.settings.tools.includes(tool as (typeof TOOL_NAMES)[number]));
  const c = (name: string, fallback: unknown) => (typed ? (values[`checker.${name}`] ?? "") : fallback === undefined ? "" : String(fallback));
  const caseSensitive = typed ? values["checker.caseSensitive"] === "on" : checker?.kind === "exact" && checker.caseSensitive;
  const [kind, setKind] = useState(c("kind", checker?.kind));
  const e = (name: string) => errors[`settings.checker.${name}`];
  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Project settings</PageTitle>
      {saved && errorList.length === 0 ? <SavedNotice projectId={project.id} openTasksKeepOverlap={otherOverlap.reduce((n, o) => n + o.tasks, 0)} /> : null}
      {applied ? (
        <Alert tone="success">
          {applied.updated} open {applied.type} {applied.updated === 1 ? "task now has" : "tasks now have"} overlap {project.settings.overlap[applied.type as TaskType]}
          {applied.completed > 0 ? `; ${applied.completed} of them already had enough submissions and are complete` : ""}.
        </Alert>
      ) : null}
      {errorList.length > 0 ? (
        <Alert>
          <p>Nothing was saved:</p>
          <ul className="list-disc pl-5">
            {errorList.map(([field, message]) => (
              <li key={field}>
                {field}: {message}
              </li>
            ))}
          </ul>
        </Alert>
      ) : null}
      <Form method="post" className="grid gap-6 lg:grid-cols-2">
        <Card title="Basics">
          <Field label="Name" name="name" required defaultValue={v("name", project.name)} error={errors.name} />
          <div className="mb-4">
            <label htmlFor="field-guidelines" className="mb-1 block text-sm font-medium">Guidelines (markdown)</label>
            <textarea id="field-guidelines" name="guidelines" rows={10} defaultValue={v("guidelines", project.guidelines)}
              className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950" />
          </div>
          <Field label="Completions per ranking task (K, 2–9)" name="k" type="number" min={2} max={9} defaultValue={v("k", project.settings.k)} />
          <Field label="Lease (minutes a task stays yours)" name="leaseMinutes" type="number" min={1} defaultValue={v("leaseMinutes", project.settings.leaseMinutes)} />
          <Field label="Unfinished tasks a person may hold" name="maxPendingPerUser" type="number" min={1} defaultValue={v("maxPendingPerUser", project.settings.maxPendingPerUser)} />
          <Field label="Gold rate (share of ranking claims that draw a gold task, 0–1)" name="goldRate" type="number" step="0.01" min={0} max={1} defaultValue={v("goldRate", project.settings.goldRate)} error={errors["settings.goldRate"]} />
          <Field label="Near-duplicate threshold (Jaccard, 0.5–0.99)" name="nearDuplicateThreshold" type="number" step="0.01" min={0.5} max={0.99}
            defaultValue={v("nearDuplicateThreshold", project.settings.nearDuplicateThreshold)} error={errors["settings.nearDuplicateThreshold"]} />
        </Card>
        <Card title="Queue">
          <table className="mb-4 w-full text-sm">
            <thead>
              <tr>
                <th className="text-left">Task type</th>
                <th className="text-left">People per task</th>
                <th className="text-left">Weight</th>
              </tr>
            </thead>
            <tbody>
              {taskTypes.map((t) => (
                <tr key={t}>
                  <td className="py-1 pr-2">{t}</td>
                  <td className="py-1 pr-2">
                    <input aria-label={`Overlap for ${t}`} name={`overlap.${t}`} type="number" min={1} max={20} defaultValue={v(`overlap.${t}`, project.settings.overlap[t])}
                      className="w-20 rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-950" />
                  </td>
                  <td className="py-1">
                    <input aria-label={`Weight for ${t}`} name={`taskWeights.${t}`} type="number" min={0} max={100} step="any" defaultValue={v(`taskWeights.${t}`, project.settings.taskWeights[t])}
                      className="w-20 rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-950" />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <label htmlFor="field-flags" className="mb-1 block text-sm font-medium">Flags (one per line, “id: label”)</label>
          <textarea id="field-flags" name="flags" rows={12} defaultValue={v("flags", project.settings.flags.map((f) => `${f.id}: ${f.label}`).join("\n"))}
            className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-950" />
        </Card>
        <Card title="Tools and checker">
          <fieldset className="mb-4">
            <legend className="mb-1 text-sm font-medium">Tools the model may call while it answers (sampling, rollouts, demonstrations)</legend>
            {TOOL_NAMES.map((tool) => (
              <label key={tool} className="mr-4 inline-flex items-center gap-2 text-sm">
                <input type="checkbox" name="tools" value={tool} defaultChecked={toolChecked(tool)} />
                {tool}
              </label>
            ))}
            {errors["settings.tools"] ? <p className="mt-1 text-sm text-red-700 dark:text-red-400">{errors["settings.tools"]}</p> : null}
          </fieldset>
          <p className="mb-2 text-sm">
            The checker scores an answer against a field of each prompt&apos;s metadata (its reference answer): the verifiable reward of GRPO/RLOO rounds and the held-out checker score.
          </p>
          <div className="mb-4">
            <label htmlFor="field-checker.kind" className="mb-1 block text-sm font-medium">Checker</label>
            <select id="field-checker.kind" name="checker.kind" value={kind} onChange={(event) => setKind(event.target.value)}
              aria-invalid={e("kind") ? true : undefined}
              className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-slate-900 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100">
              <option value="">None</option>
              {checkerKinds.map((k) => (
                <option key={k.kind} value={k.kind}>{k.label}</option>
              ))}
            </select>
            {e("kind") ? <p className="mt-1 text-sm text-red-700 dark:text-red-400">{e("kind")}</p> : null}
          </div>
          {/* Every kind's fields stay in the form (hidden when another kind is chosen), so nothing typed is lost by switching. */}
          <div hidden={kind === ""}>
            <Field label={kind === "regex" ? "Metadata field holding each prompt's pattern (or leave empty and give one pattern)" : "Metadata field with the reference answer"}
              name="checker.field" defaultValue={c("field", checker?.field ?? (checker ? "" : "answer"))} error={e("field")} />
          </div>
          <div hidden={kind !== "numeric"}>
            <Field label="Tolerance (absolute; 0 = exact)" name="checker.tolerance" type="text" inputMode="decimal"
              defaultValue={c("tolerance", checker?.kind === "numeric" ? checker.tolerance : 0)} error={e("tolerance")} />
            <Field label="Relative tolerance (share of the reference, 0–1)" name="checker.relativeTolerance" type="text" inputMode="decimal"
              defaultValue={c("relativeTolerance", checker?.kind === "numeric" ? checker.relativeTolerance : 0)} error={e("relativeTolerance")} />
          </div>
          <div hidden={kind !== "exact"} className="mb-4">
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" name="checker.caseSensitive" defaultChecked={caseSensitive} />
              Case-sensitive comparison
            </label>
          </div>
          <div hidden={kind !== "regex"}>
            <Field label="Pattern (one regular expression for the project)" name="checker.pattern"
              defaultValue={c("pattern", checker?.kind === "regex" ? checker.pattern : "")} error={e("pattern")} />
            <Field label="Flags (i, m, s, u)" name="checker.flags" defaultValue={c("flags", checker?.kind === "regex" ? checker.flags : "i")} error={e("flags")} />
          </div>
          <div hidden={kind !== "json"}>
            <Field label="JSON path in the answer (e.g. result.value)" name="checker.path" defaultValue={c("path", checker?.kind === "json" ? checker.path : "")} error={e("path")} />
          </div>
        </Card>
        <Card title="Personal data at import">
          <div className="mb-4">
            <label htmlFor="field-piiRedaction.mode" className="mb-1 block text-sm font-medium">When the filter finds an e-mail, phone, card number or IP address</label>
            <select id="field-piiRedaction.mode" name="piiRedaction.mode" defaultValue={v("piiRedaction.mode", project.settings.piiRedaction.mode)}
              className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950">
              <option value="review">Send the prompt to review</option>
              <option value="mask">Mask it with a typed placeholder ([EMAIL] …) and label it</option>
              <option value="both">Mask it and send the prompt to review</option>
            </select>
            {errors["settings.piiRedaction.mode"] ? <p className="mt-1 text-sm text-red-700 dark:text-red-400">{errors["settings.piiRedaction.mode"]}</p> : null}
          </div>
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" name="piiRedaction.keepOriginal" defaultChecked={typed ? values["piiRedaction.keepOriginal"] === "on" : project.settings.piiRedaction.keepOriginal} />
            Keep the unmasked original (researchers only)
          </label>
          <p className="mt-2 text-sm">A prompt that would be left empty by masking goes to review instead.</p>
        </Card>
        <Card title="Labeler wellbeing">
          <p className="mb-3 text-sm">Sensitive tasks are shown blurred with their category until the labeler reveals them. Marks come from the import (a record&apos;s <code>sensitive</code> metadata or a classifier score) and from the flags below.</p>
          <Field label="Sensitive tasks per labeler per day (empty = no cap)" name="wellbeing.dailySensitiveCap" type="number" min={0}
            defaultValue={v("wellbeing.dailySensitiveCap", project.settings.wellbeing.dailySensitiveCap ?? "")} error={errors["settings.wellbeing.dailySensitiveCap"]} />
          <Field label="Suggest a break after this many minutes on tasks (5–480, empty = never)" name="wellbeing.breakAfterMinutes" type="number" min={5} max={480}
            defaultValue={v("wellbeing.breakAfterMinutes", project.settings.wellbeing.breakAfterMinutes ?? "")} error={errors["settings.wellbeing.breakAfterMinutes"]} />
          <Field label="Flags that mark a prompt sensitive (comma-separated flag ids)" name="wellbeing.sensitiveFlags"
            defaultValue={v("wellbeing.sensitiveFlags", project.settings.wellbeing.sensitiveFlags.join(", "))} error={errors["settings.wellbeing.sensitiveFlags"] ?? errors["settings.wellbeing.sensitiveFlags.0"]} />
          <Field label="Metadata field with classifier scores ({category: score})" name="wellbeing.classifierField"
            defaultValue={v("wellbeing.classifierField", project.settings.wellbeing.classifierField)} error={errors["settings.wellbeing.classifierField"]} />
          <Field label="Classifier score that marks a prompt sensitive (0–1)" name="wellbeing.classifierThreshold" type="number" step="0.01" min={0} max={1}
            defaultValue={v("wellbeing.classifierThreshold", project.settings.wellbeing.classifierThreshold)} error={errors["settings.wellbeing.classifierThreshold"]} />
        </Card>
        <JudgeFieldset project={project} sources={judgeSources} values={typed ? values : null} errors={errors} />
        <ActiveLearningFieldset adaptive={project.settings.adaptiveOverlap} queue={project.settings.uncertaintyQueue} rewardModels={rewardModels} values={typed ? values : null} errors={errors} />
        <div className="flex items-center gap-3">
          <Button type="submit">Save settings</Button>
          {saved && errorList.length === 0 ? <span className="text-sm" aria-hidden="true">Saved.</span> : null}
        </div>
      </Form>
      {otherOverlap.length > 0 ? (
        <section aria-labelledby="open-overlap" className="mt-6 rounded-lg border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900">
          <h2 id="open-overlap" className="mb-2 text-lg font-semibold">Open tasks and the overlap</h2>
          <p className="mb-3 text-sm">A changed overlap applies to new tasks. These open tasks keep the overlap they were created with until you apply the new one (complete tasks stay complete).</p>
          <ul className="space-y-2">
            {otherOverlap.map((o) => (
              <li key={o.type} data-testid={`overlap-${o.type}`}>
                <Form method="post" className="flex flex-wrap items-center gap-3 text-sm">
                  <input type="hidden" name="intent" value="apply-overlap" />
                  <input type="hidden" name="taskType" value={o.type} />
                  <span>
                    {o.tasks} open {o.type} {o.tasks === 1 ? "task keeps" : "tasks keep"} overlap {o.overlaps.join(" or ")}; new ones get {project.settings.overlap[o.type]}.
                    {o.overlaps.some((x) => x > project.settings.overlap[o.type]) ? " Lowering it completes those that already have enough submissions." : ""}
                  </span>
                  <Button type="submit" variant="secondary">Apply {project.settings.overlap[o.type]} to the open {o.type} tasks</Button>
                </Form>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <ProjectMembers access={project.access} members={members} result={memberResult} />
    </>
  );
}

/** The members card's forms: the same service calls and checks as the members API. */
async function changeMembers(context: Route.ActionArgs["context"], projectId: string, intent: string, form: FormData): Promise<MemberResult> {
  const actor = context.actor!;
  try {
    if (intent === "access") {
      const parsed = projectAccessSchema.safeParse({ access: form.get("access") });
      if (!parsed.success) throw AppError.fromZod(parsed.error, "Pick open or members.");
      await setProjectAccess(context.db, actor, projectId, parsed.data.access);
      await recheckProjectSockets(context.io, context.db, projectId);
      return { ok: true, message: parsed.data.access === "open" ? "The project is open to every signed-in person." : "The project is now for its members only." };
    }
    const emails = splitEmails(String(form.get("emails") ?? ""));
    if (intent === "members-add") {
      const parsed = addMembersSchema.safeParse({ emails, role: form.get("role") });
      if (!parsed.success) throw AppError.fromZod(parsed.error, "Nothing was changed.");
      const result = await addMembers(context.db, actor, projectId, parsed.data);
      return { ok: true, message: `${result.added} added${result.updated > 0 ? `, ${result.updated} given the new role` : ""}.` };
    }
    const parsed = removeMembersSchema.safeParse({ emails });
    if (!parsed.success) throw AppError.fromZod(parsed.error, "Nothing was changed.");
    const { removed } = await removeMembers(context.db, actor, projectId, parsed.data.emails);
    await recheckProjectSockets(context.io, context.db, projectId, removed);
    return { ok: true, message: `${removed.length} removed; their queue and pages of this project ended.` };
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "validation_failed") throw error;
    // The messages name the address, so they are shown rather than the field paths (emails.3).
    return { ok: false, message: error.message, errors: error.fieldErrors };
  }
}

/** Confirms a save at the top of the page (a status region, so screen readers announce it). */
function SavedNotice({ projectId, openTasksKeepOverlap }: { projectId: string; openTasksKeepOverlap: number }) {
  return (
    <Alert tone="success">
      Settings saved.{" "}
      {openTasksKeepOverlap > 0 ? `${openTasksKeepOverlap} open ${openTasksKeepOverlap === 1 ? "task keeps its" : "tasks keep their"} earlier overlap (see below). ` : ""}
      <Link className="underline" to={`/projects/${projectId}`}>Back to the project</Link>
    </Alert>
  );
}

/** The model judge (decision 0035): who judges, how it is asked, and what labelers may see. */
function JudgeFieldset({ project, sources, values, errors }: {
  project: Route.ComponentProps["loaderData"]["project"];
  sources: Array<{ value: string; label: string }>;
  values: Record<string, string> | null;
  errors: Record<string, string>;
}) {
  const judge = project.settings.judge;
  const stored = judge ? (judge.source.kind === "endpoint" ? `endpoint:${judge.source.endpointId}` : `${judge.source.kind}:${judge.source.modelId}`) : "";
  const v = (name: string, fallback: string | number | undefined) => (values ? (values[`judge.${name}`] ?? "") : fallback === undefined ? "" : String(fallback));
  const e = (name: string) => errors[`settings.judge.${name}`];
  const [mode, setMode] = useState(v("mode", judge?.mode ?? "pairwise"));
  const inputClass = "w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950";
  return (
    <Card title="Model judge">
      <p className="mb-3 text-sm">
        A judge pre-ranks ranking tasks and pre-picks comparisons in the background. A chat model is asked every question in both orders to cancel its position bias; a reward model scores each answer on its own and ranks by score (the questions and the prompt do not apply to it). Its verdicts are exported as their own annotator, never mixed into the labels.
      </p>
      <div className="mb-4">
        <label htmlFor="field-judge.source" className="mb-1 block text-sm font-medium">Judge</label>
        <select id="field-judge.source" name="judge.source" defaultValue={v("source", stored)} className={inputClass}>
          <option value="">No judge</option>
          {sources.map((s) => (
            <option key={s.value} value={s.value}>{s.label}</option>
          ))}
        </select>
        {e("source.endpointId") ?? e("source.modelId") ?? e("source") ? <p className="mt-1 text-sm text-red-700 dark:text-red-400">{e("source.endpointId") ?? e("source.modelId") ?? e("source")}</p> : null}
      </div>
      <div className="mb-4">
        <label htmlFor="field-judge.mode" className="mb-1 block text-sm font-medium">Questions</label>
        <select id="field-judge.mode" name="judge.mode" value={mode} onChange={(event) => setMode(event.target.value)} className={inputClass}>
          <option value="pairwise">Pairwise: every pair, both orders</option>
          <option value="kway">K-way: the whole list, forwards and reversed</option>
        </select>
      </div>
      <div className="mb-4">
        <label htmlFor="field-judge.prompt" className="mb-1 block text-sm font-medium">Judging prompt ({"{{conversation}}"} and {"{{answers}}"} are filled in)</label>
        <textarea id="field-judge.prompt" name="judge.prompt" rows={8} key={mode} defaultValue={v("prompt", judge?.prompt ?? defaultJudgePrompts[mode === "kway" ? "kway" : "pairwise"])}
          className={`${inputClass} font-mono text-sm`} />
        {e("prompt") ? <p className="mt-1 text-sm text-red-700 dark:text-red-400">{e("prompt")}</p> : null}
      </div>
      <div className="mb-4">
        <label htmlFor="field-judge.suggestions" className="mb-1 block text-sm font-medium">Labelers may reveal the suggestion</label>
        <select id="field-judge.suggestions" name="judge.suggestions" defaultValue={v("suggestions", judge?.suggestions ?? "off")} className={inputClass}>
          <option value="off">Off: labelers never see it</option>
          <option value="shown">Shown on request</option>
        </select>
      </div>
      <Field label="Withheld share (audit slice, 0–1)" name="judge.withheldShare" type="number" step="0.01" min={0} max={1}
        defaultValue={v("withheldShare", judge?.withheldShare ?? 0.2)} error={e("withheldShare")} />
      <Field label="Seconds the judge may take per task (1–600)" name="judge.timeoutSeconds" type="number" min={1} max={600}
        defaultValue={v("timeoutSeconds", judge?.timeoutSeconds ?? 120)} error={e("timeoutSeconds")} />
    </Card>
  );
}
