import { useState } from "react";
import { data, Form, Link, redirect } from "react-router";
import type { Route } from "./+types/project-rounds";
import { AppError } from "../../server/lib/app-error.ts";
import { getProject } from "../../server/labeling/projects.server.ts";
import { launchRound, listRounds } from "../../server/rounds/rounds.server.ts";
import { rayExecutor } from "../../server/bridges/ray/ray-handoff.server.ts";
import { MIX_DEFAULT_WEIGHT, MIX_SOURCE_LABELS, MIX_SOURCES } from "../../server/labeling/data-mix.ts";
import { PAIR_MODE_LABELS } from "../../server/labeling/quality/pair-builder.ts";
import { GPT_PRESETS } from "../../trainer/contract/gpt-config.ts";
import { isCorpusPath, KL_STEPS, readsPreferencePairs, ROUND_PATHS, roundSpecSchema, type RoundPath } from "../../trainer/contract/round.ts";
import { checkerLabel } from "../../trainer/contract/checker.ts";
import { CorpusLaunchFields, corpusSpecFromForm } from "../components/corpus-launch-fields.tsx";
import { listDataMixes } from "../../server/rounds/corpus-rounds.server.ts";
import { sftConfigSchema } from "../../trainer/contract/sft-config.ts";
import { rewardConfigSchema } from "../../trainer/contract/reward-config.ts";
import { dpoConfigSchema } from "../../trainer/contract/dpo-config.ts";
import { grpoConfigSchema } from "../../trainer/contract/grpo-config.ts";
import { rlooConfigSchema } from "../../trainer/contract/rloo-config.ts";
import { ktoConfigSchema } from "../../trainer/contract/kto-config.ts";
import { ppoConfigSchema } from "../../trainer/contract/ppo-config.ts";
import { Alert, Button, Card, Field, PageTitle, Select } from "../components/ui.tsx";
import { ConfigFieldset } from "../components/config-fieldset.tsx";
import { RoundStateBadge } from "../components/round-state-badge.tsx";
import { requireProjectRole } from "../lib/auth.server.ts";
import { configFields, configFromForm, type ConfigField } from "../lib/config-fields.ts";
import { or404 } from "../lib/not-found.server.ts";

export const meta: Route.MetaFunction = ({ data }) => [{ title: `Training rounds · ${data?.project.name ?? "Project"} · Tandem` }];

const pathLabels: Record<RoundPath, string> = {
  "sft-dpo": "SFT → DPO",
  "sft-reward-ppo": "SFT → reward model → PPO",
  sft: "SFT only",
  dpo: "DPO only",
  "reward-ppo": "Reward model → PPO",
  "sft-grpo": "SFT → GRPO (group-sampled RL: checker, reward model, format)",
  grpo: "GRPO only",
  "reward-grpo": "Reward model → GRPO",
  "sft-rloo": "SFT → RLOO",
  rloo: "RLOO only",
  "sft-kto": "SFT → KTO (thumbs up/down, best/worst)",
  kto: "KTO only",
  pretrain: "Pretrain a base model from scratch on a corpus mix",
  midtrain: "Midtrain a base model on specialised corpus data (with replay)",
  "mix-search": "Data-mix search: small models on candidate mixes",
};


/** The hyperparameter sections, generated from the trainer's own config schemas. */
function sections(): Record<"sft" | "reward" | "dpo" | "ppo" | "grpo" | "rloo" | "kto" | "next" | "evaluation" | "pretrain", ConfigField[]> {
  return {
    sft: configFields(sftConfigSchema, "sft"),
    pretrain: configFields(sftConfigSchema, "pretrain"),
    reward: configFields(rewardConfigSchema, "reward"),
    dpo: configFields(dpoConfigSchema, "dpo"),
    ppo: configFields(ppoConfigSchema, "ppo"),
    grpo: configFields(grpoConfigSchema, "grpo"),
    rloo: configFields(rlooConfigSchema, "rloo"),
    kto: configFields(ktoConfigSchema, "kto"),
    next: configFields(roundSpecSchema.shape.next, "next"),
    evaluation: configFields(roundSpecSchema.shape.evaluation, "evaluation"),
  };
}

/** GRPO/RLOO reward sources from the form: each one ticked (or filled) with its weight. */
function rewardsFromForm(form: FormData): Record<string, unknown> {
  const text = (name: string) => String(form.get(name) ?? "").trim();
  const num = (name: string) => (text(name) === "" ? undefined : Number.isFinite(Number(text(name))) ? Number(text(name)) : text(name));
  const weight = (source: string) => (num(`rewards.${source}.weight`) === undefined ? {} : { weight: num(`rewards.${source}.weight`) });
  return {
    ...(form.get("rewards.checker") === "on" ? { checker: weight("checker") } : {}),
    ...(form.get("rewards.rewardModel") === "on" ? { rewardModel: { ...weight("rewardModel"), ...(text("rewards.rewardModel.modelId") ? { modelId: text("rewards.rewardModel.modelId") } : {}) } } : {}),
    ...(text("rewards.format.pattern") ? { format: { pattern: text("rewards.format.pattern"), ...weight("format") } } : {}),
    ...(text("rewards.length.target") ? { length: { target: num("rewards.length.target"), ...weight("length") } } : {}),
    ...(form.get("rewards.toolResult") === "on" ? { toolResult: weight("toolResult") } : {}),
    ...(form.get("rewards.digits") === "on" ? { digits: weight("digits") } : {}),
  };
}

export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const models = await context.db.selectFrom("models").select(["id", "name", "kind"]).where("kind", "!=", "reward").where("external_uri", "is", null).orderBy("id", "desc").execute();
  // what corpus rounds choose from: the project's corpora, finished cleaning jobs, classifiers with a threshold, saved mixes
  const corpusChoices = {
    corpora: await context.db.selectFrom("corpora").select(["id", "name"]).where("project_id", "=", project.id).orderBy("id").execute(),
    cleaningJobs: await context.db.selectFrom("cleaning_jobs").select(["id", "settings"]).where("project_id", "=", project.id).where("state", "=", "done").orderBy("id", "desc").execute(),
    classifiers: await context.db.selectFrom("quality_classifiers").select(["id", "job_id", "threshold"]).where("project_id", "=", project.id).where("threshold", "is not", null).orderBy("id", "desc").execute(),
    mixes: (await listDataMixes(context.db, project.id)).map((m) => ({ id: m.id, name: m.name })),
  };
  return {
    project, rounds: await listRounds(context.db, project.id), models, sections: sections(), presets: Object.keys(GPT_PRESETS).filter((p) => p !== "gpt2"), corpusChoices,
    // The Ray option appears only where a cluster is configured; its address is not shown.
    rayConfigured: Boolean(context.config.TANDEM_RAY_DASHBOARD_URL),
  };
}

export async function action({ context, request, params }: Route.ActionArgs) {
  const { user } = await requireProjectRole(context, request, params.projectId, "researcher");
  const project = await or404(getProject(context.db, params.projectId), "There is no such project.");
  const form = await request.formData();
  const path = String(form.get("path") ?? "") as RoundPath;
  const steps: readonly string[] = Object.hasOwn(ROUND_PATHS, path) ? ROUND_PATHS[path] : [];
  const all = sections();
  // Only the sections this path uses: a value typed into a hidden section must not block the launch.
  const corpusPath = Object.hasOwn(ROUND_PATHS, path) && isCorpusPath(path);
  const used = corpusPath ? all.pretrain : [...steps, "next"].flatMap((s) => all[s as keyof typeof all] ?? []);
  const chosen = String(form.get("base") ?? "");
  const base =
    chosen === "scratch"
      ? { init: { preset: String(form.get("preset") ?? "nano") }, vocabSize: Number(form.get("vocabSize")) || String(form.get("vocabSize")), seed: 0 }
      : chosen.startsWith("after:")
        ? { afterRound: chosen.slice("after:".length) }
        : { modelId: chosen };
  // A number where one was typed; the text itself when it is not one, so the schema names the field.
  const optionalNumber = (name: string, depth = 1) => {
    const text = String(form.get(name) ?? "").trim();
    return text ? { [name.split(".")[depth]!]: Number.isFinite(Number(text)) ? Number(text) : text } : {};
  };
  const mix = Object.assign({}, ...MIX_SOURCES.map((s) => optionalNumber(`data.mix.${s}`, 2))) as Record<string, unknown>;
  // Ids typed as a comma-separated list; each is checked by the schema (and must exist).
  const idList = (name: string) => {
    const ids = String(form.get(name) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    return ids.length > 0 ? { [name.split(".")[1]!]: ids } : {};
  };
  const selection = {
    consensus: form.get("data.consensus") === "on", ...optionalNumber("data.minAgreement"), ...optionalNumber("data.minGoldAgreement"),
    // "all" is the default: sent only when another mode is chosen, so a stray value reaches the schema's check
    ...(form.get("data.pairs") && form.get("data.pairs") !== "all" ? { pairs: form.get("data.pairs") } : {}),
    ...(form.get("data.rightChosenOnly") === "on" ? { rightChosenOnly: true } : {}),
    ...(Object.keys(mix).length > 0 ? { mix } : {}), ...idList("data.projects"), ...idList("data.rounds"),
  };
  // LoRA adapters on a registered base: r, alpha and targets as typed (PEFT's defaults when blank)
  const lora =
    form.get("lora.enabled") === "on" && form.get("base") !== "scratch"
      ? { ...optionalNumber("lora.r"), ...optionalNumber("lora.alpha"), ...(form.get("lora.targetModules") === "all-linear" ? { targetModules: "all-linear" } : {}) }
      : undefined;
  const rl = steps.some((s) => s === "grpo" || s === "rloo" || s === "ppo");
  const klTarget = String(form.get("klTarget") ?? "").trim();
  const spec = {
    name: String(form.get("name") ?? ""), path, base, data: selection, ...(lora ? { lora } : {}), ...(form.get("recompute") === "on" ? { recompute: true } : {}),
    ...configFromForm(form, corpusPath ? used : [...used, ...all.evaluation]), ...(corpusPath ? corpusSpecFromForm(form, path) : {}),
    ...(rl ? { rewards: rewardsFromForm(form) } : {}),
    ...(klTarget ? { klTarget: Number.isFinite(Number(klTarget)) ? Number(klTarget) : klTarget } : {}),
  };
  const runOn = form.get("runOn") === "ray" ? "ray" : "tandem";
  const handOff = { engine: String(form.get("handOff.engine") ?? ""), baseModel: String(form.get("handOff.baseModel") ?? ""), numGpus: Number(form.get("handOff.numGpus") ?? "1") };
  try {
    const executor = runOn === "ray" ? rayExecutor(context.config, handOff) : undefined;
    const round = await launchRound(context.db, user.id, project, spec, context.config.TANDEM_JOB_LEASE_SECONDS, executor);
    return redirect(`/rounds/${round.id}`);
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "validation_failed") throw error;
    const values = Object.fromEntries([...form.entries()].map(([k, v]) => [k, String(v)]));
    return data({ error: error.message, fieldErrors: Object.fromEntries(error.fieldErrors.map((e) => [e.path, e.message])), values }, { status: 422 });
  }
}

export default function ProjectRounds({ loaderData, actionData }: Route.ComponentProps) {
  const { project, rounds, models, sections: fields, presets, rayConfigured, corpusChoices } = loaderData;
  const values: Record<string, string> = actionData?.values ?? {};
  const errors: Record<string, string> = actionData?.fieldErrors ?? {};
  const [path, setPath] = useState<RoundPath>((values["path"] as RoundPath | undefined) ?? "sft-dpo");
  const [base, setBase] = useState(values["base"] ?? (models[0]?.id ?? "scratch"));
  const [runOn, setRunOn] = useState(values["runOn"] ?? "tandem");
  const steps: readonly string[] = ROUND_PATHS[path];
  const corpusPath = isCorpusPath(path);
  return (
    <>
      <PageTitle lead={<Link className="underline" to={`/projects/${project.id}`}>{project.name}</Link>}>Training rounds</PageTitle>
      <div className="grid gap-6 lg:grid-cols-[2fr_3fr]">
        <Card title="Rounds">
          {rounds.length === 0 ? (
            <p>No rounds yet. Launch one: it trains on what labelers submitted so far and samples the next batch for them.</p>
          ) : (
            <ul className="divide-y divide-slate-200 dark:divide-slate-800" data-testid="round-list">
              {rounds.map((r) => (
                <li key={r.id} className="flex items-center gap-3 py-2">
                  <Link className="font-medium underline" to={`/rounds/${r.id}`}>
                    {r.name}
                  </Link>
                  <span className="text-sm text-slate-600 dark:text-slate-400">{r.steps.join(" → ")}</span>
                  <span className="ml-auto">
                    <RoundStateBadge state={r.state} testId="round-list-state" />
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="Launch a round">
          {actionData?.error ? <Alert>{actionData.error}</Alert> : null}
          <Form method="post" noValidate>
            <Field label="Name" name="name" required defaultValue={values["name"] ?? `Round ${rounds.length + 1}`} error={errors["name"]} />
            <Select label="Path" name="path" value={path} onChange={(e) => setPath(e.currentTarget.value as RoundPath)} error={errors["path"]}>
              {(Object.keys(pathLabels) as RoundPath[]).map((p) => (
                <option key={p} value={p}>
                  {pathLabels[p]}
                  {isCorpusPath(p) ? "" : " → sample the next batch"}
                </option>
              ))}
            </Select>
            {rayConfigured ? (
              <fieldset className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800">
                <legend className="px-1 text-sm font-medium">Run on</legend>
                <label className="mr-4 text-sm">
                  <input type="radio" name="runOn" value="tandem" checked={runOn === "tandem"} onChange={() => setRunOn("tandem")} /> Tandem&apos;s trainer (TensorFlow.js)
                </label>
                <label className="text-sm">
                  <input type="radio" name="runOn" value="ray" checked={runOn === "ray"} onChange={() => setRunOn("ray")} /> The Ray cluster (OpenRLHF or TRL)
                </label>
                {runOn === "ray" ? (
                  <div className="mt-3 grid grid-cols-3 gap-3">
                    <Select label="Engine" name="handOff.engine" defaultValue={values["handOff.engine"] ?? "openrlhf"} error={errors["handOff.engine"]}>
                      <option value="openrlhf">OpenRLHF</option>
                      <option value="trl">TRL</option>
                    </Select>
                    <Field label="Base model (Hugging Face id or path)" name="handOff.baseModel" defaultValue={values["handOff.baseModel"] ?? ""} error={errors["handOff.baseModel"]} />
                    <Field label="GPUs for the entrypoint" name="handOff.numGpus" type="number" min={0} defaultValue={values["handOff.numGpus"] ?? "1"} error={errors["handOff.numGpus"]} />
                  </div>
                ) : null}
              </fieldset>
            ) : null}
            <Select label="Starting policy" name="base" value={base} onChange={(e) => setBase(e.currentTarget.value)} error={errors["base"] ?? errors["base.modelId"] ?? errors["base.afterRound"]}>
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  #{m.id} {m.name} ({m.kind})
                </option>
              ))}
              {rounds
                .filter((r) => r.state !== "failed" && r.state !== "cancelled")
                .map((r) => (
                  <option key={`after-${r.id}`} value={`after:${r.id}`}>
                    The final policy of {r.name} (#{r.id}){r.state === "done" ? "" : ", when it is done"}
                  </option>
                ))}
              <option value="scratch">A new model, trained from scratch on this {corpusPath ? "corpus mix" : "project's data"}</option>
            </Select>
            {base === "scratch" ? (
              <div className="grid grid-cols-2 gap-3">
                <Select label="Model size" name="preset" defaultValue={values["preset"] ?? "nano"}>
                  {presets.map((p) => (
                    <option key={p} value={p}>
                      {p}
                    </option>
                  ))}
                </Select>
                <Field label="Tokenizer vocabulary" name="vocabSize" type="number" defaultValue={values["vocabSize"] ?? "512"} error={errors["base.vocabSize"]} />
              </div>
            ) : null}
            {base !== "scratch" ? (
              <details className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" open={values["lora.enabled"] === "on" || Object.keys(errors).some((k) => k.startsWith("lora"))}>
                <summary className="cursor-pointer text-sm font-medium">LoRA adapters (Llama-family bases)</summary>
                <label className="mt-3 flex items-center gap-2 text-sm">
                  <input type="checkbox" name="lora.enabled" defaultChecked={values["lora.enabled"] === "on"} /> Train low-rank adapters only; the base stays frozen and is the reference
                </label>
                {errors["lora"] ? <p className="text-sm text-red-700 dark:text-red-400">{errors["lora"]}</p> : null}
                <div className="mt-3 grid grid-cols-3 gap-3">
                  <Field label="Rank r (blank = 8)" name="lora.r" inputMode="numeric" defaultValue={values["lora.r"] ?? ""} error={errors["lora.r"]} />
                  <Field label="Alpha (blank = 8)" name="lora.alpha" inputMode="decimal" defaultValue={values["lora.alpha"] ?? ""} error={errors["lora.alpha"]} />
                  <Select label="Projections" name="lora.targetModules" defaultValue={values["lora.targetModules"] ?? "default"}>
                    <option value="default">q_proj and v_proj (PEFT's default)</option>
                    <option value="all-linear">all linear projections</option>
                  </Select>
                </div>
              </details>
            ) : null}
            <label className="mb-4 flex items-center gap-2 text-sm">
              <input type="checkbox" name="recompute" defaultChecked={values["recompute"] === "on"} /> Recompute activations in the backward pass: about half the memory, about a third slower (for a model that would not fit otherwise)
            </label>
            {errors["recompute"] ? <p className="mb-4 text-sm text-red-700 dark:text-red-400">{errors["recompute"]}</p> : null}
            {corpusPath ? (
              <>
                <CorpusLaunchFields path={path} choices={corpusChoices} values={values} errors={errors} />
                <ConfigFieldset legend="Training (steps × batch size windows of the model's context: the token budget; each mix-search candidate gets the same)" fields={fields.pretrain} values={values} errors={errors} open />
              </>
            ) : null}
            {!corpusPath && readsPreferencePairs(steps) ? (
              <details className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" open={Boolean(errors["data.minAgreement"] ?? errors["data.minGoldAgreement"] ?? errors["data.pairs"] ?? errors["data.rightChosenOnly"])}>
                <summary className="cursor-pointer text-sm font-medium">Preference data</summary>
                <div className="mt-3 grid grid-cols-2 gap-3">
                  <Field label="Minimum agreement (0–1, blank = all)" name="data.minAgreement" inputMode="decimal" defaultValue={values["data.minAgreement"] ?? ""} error={errors["data.minAgreement"]} />
                  <label className="mt-6 flex items-center gap-2 text-sm">
                    <input type="checkbox" name="data.consensus" defaultChecked={values["data.consensus"] === "on"} /> One consensus ranking per item
                  </label>
                  <Select label="Pairs from each ranking" name="data.pairs" defaultValue={values["data.pairs"] ?? "all"} error={errors["data.pairs"]}>
                    {Object.entries(PAIR_MODE_LABELS).map(([mode, label]) => (
                      <option key={mode} value={mode}>
                        {label}
                      </option>
                    ))}
                  </Select>
                  <div className="mt-6 text-sm">
                    <label className="flex items-center gap-2">
                      <input type="checkbox" name="data.rightChosenOnly" defaultChecked={values["data.rightChosenOnly"] === "on"} />
                      Leave out pairs whose preferred answer the checker marks wrong{" "}
                      {project.settings.checker ? `(${checkerLabel(project.settings.checker)})` : "(no checker declared: see Settings)"}
                    </label>
                    {errors["data.rightChosenOnly"] ? <p className="mt-1 text-red-700 dark:text-red-400">{errors["data.rightChosenOnly"]}</p> : null}
                  </div>
                  <Field
                    label="Labelers' minimum agreement with gold (0–1, blank = everyone)"
                    name="data.minGoldAgreement"
                    inputMode="decimal"
                    defaultValue={values["data.minGoldAgreement"] ?? ""}
                    error={errors["data.minGoldAgreement"]}
                  />
                </div>
              </details>
            ) : null}
            {corpusPath ? null : (
            <>
            <details className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" open={Object.keys(errors).some((k) => k.startsWith("data.projects") || k.startsWith("data.rounds"))}>
              <summary className="cursor-pointer text-sm font-medium">Data from other projects or rounds</summary>
              <div className="mt-3 grid grid-cols-2 gap-3">
                <Field
                  label="Also the labels of projects (ids, comma-separated)"
                  name="data.projects"
                  defaultValue={values["data.projects"] ?? ""}
                  error={Object.entries(errors).find(([k]) => k.startsWith("data.projects"))?.[1]}
                />
                <Field
                  label="Only the tasks sampled by rounds (ids, comma-separated)"
                  name="data.rounds"
                  defaultValue={values["data.rounds"] ?? ""}
                  error={Object.entries(errors).find(([k]) => k.startsWith("data.rounds"))?.[1]}
                />
              </div>
            </details>
            <details className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" open={MIX_SOURCES.some((s) => errors[`data.mix.${s}`])}>
              <summary className="cursor-pointer text-sm font-medium">Data mix (weight per source: 1 = as labeled, 0 = leave out, 2 = twice; blank = the placeholder)</summary>
              <div className="mt-3 grid grid-cols-3 gap-3">
                {MIX_SOURCES.map((source) => (
                  <Field
                    key={source}
                    label={MIX_SOURCE_LABELS[source]}
                    name={`data.mix.${source}`}
                    inputMode="decimal"
                    placeholder={String(MIX_DEFAULT_WEIGHT[source])}
                    defaultValue={values[`data.mix.${source}`] ?? ""}
                    error={errors[`data.mix.${source}`]}
                  />
                ))}
              </div>
            </details>
            </>
            )}
            {steps.some((s) => s === "grpo" || s === "rloo" || s === "ppo") ? (
              <fieldset className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" data-testid="rewards">
                <legend className="px-1 text-sm font-medium">Rewards (each answer scores Σ weight × reward)</legend>
                {errors["rewards"] ? <p className="mb-2 text-sm text-red-700 dark:text-red-400">{errors["rewards"]}</p> : null}
                <div className="grid grid-cols-2 gap-3">
                  <label className="mt-6 flex items-center gap-2 text-sm">
                    <input type="checkbox" name="rewards.checker" defaultChecked={values["rewards.checker"] ? values["rewards.checker"] === "on" : Boolean(project.settings.checker)} />
                    The project&apos;s checker {project.settings.checker ? `(${checkerLabel(project.settings.checker)})` : "(none declared: see Settings)"}
                  </label>
                  <Field label="Checker weight" name="rewards.checker.weight" inputMode="decimal" placeholder="1" defaultValue={values["rewards.checker.weight"] ?? ""} error={errors["rewards.checker"] ?? errors["rewards.checker.weight"]} />
                  <label className="mt-6 flex items-center gap-2 text-sm">
                    <input type="checkbox" name="rewards.rewardModel" defaultChecked={values["rewards.rewardModel"] ? values["rewards.rewardModel"] === "on" : steps.includes("reward")} /> A reward model
                  </label>
                  <div className="grid grid-cols-2 gap-2">
                    <Field label="Its weight" name="rewards.rewardModel.weight" inputMode="decimal" placeholder="1" defaultValue={values["rewards.rewardModel.weight"] ?? ""} error={errors["rewards.rewardModel.weight"]} />
                    <Field
                      label="Model id (blank: the round's own)"
                      name="rewards.rewardModel.modelId"
                      defaultValue={values["rewards.rewardModel.modelId"] ?? ""}
                      error={errors["rewards.rewardModel"] ?? errors["rewards.rewardModel.modelId"]}
                    />
                  </div>
                  <Field label="Format: a pattern the answer must match (blank = none)" name="rewards.format.pattern" defaultValue={values["rewards.format.pattern"] ?? ""} error={errors["rewards.format.pattern"]} />
                  <Field label="Format weight" name="rewards.format.weight" inputMode="decimal" placeholder="1" defaultValue={values["rewards.format.weight"] ?? ""} error={errors["rewards.format.weight"]} />
                  <Field label="Length: target tokens (blank = none)" name="rewards.length.target" inputMode="numeric" defaultValue={values["rewards.length.target"] ?? ""} error={errors["rewards.length.target"]} />
                  <Field label="Length weight" name="rewards.length.weight" inputMode="decimal" placeholder="1" defaultValue={values["rewards.length.weight"] ?? ""} error={errors["rewards.length.weight"]} />
                  <label className="mt-6 flex items-center gap-2 text-sm">
                    <input type="checkbox" name="rewards.toolResult" defaultChecked={values["rewards.toolResult"] === "on"} /> Tool result: credit an answer that states what its last tool call returned
                  </label>
                  <Field label="Tool-result weight" name="rewards.toolResult.weight" inputMode="decimal" placeholder="1" defaultValue={values["rewards.toolResult.weight"] ?? ""} error={errors["rewards.toolResult"] ?? errors["rewards.toolResult.weight"]} />
                  <label className="mt-6 flex items-center gap-2 text-sm">
                    <input type="checkbox" name="rewards.digits" defaultChecked={values["rewards.digits"] === "on"} /> Digits: partial credit for each digit of a numeric answer that matches the checker&apos;s reference
                  </label>
                  <Field label="Digits weight" name="rewards.digits.weight" inputMode="decimal" placeholder="1" defaultValue={values["rewards.digits.weight"] ?? ""} error={errors["rewards.digits"] ?? errors["rewards.digits.weight"]} />
                </div>
              </fieldset>
            ) : null}
            {steps.some((s) => (KL_STEPS as readonly string[]).includes(s)) ? (
              <Field
                label="KL target (nats per answer; blank = each step's own): training stops or steers β there, and the report warns above it"
                name="klTarget"
                inputMode="decimal"
                defaultValue={values["klTarget"] ?? ""}
                error={errors["klTarget"]}
              />
            ) : null}
            {(["sft", "reward", "dpo", "ppo", "grpo", "rloo", "kto"] as const)
              .filter((s) => steps.includes(s))
              .map((s) => (
                <ConfigFieldset key={s} legend={`${s.toUpperCase()} hyperparameters`} fields={fields[s]} values={values} errors={errors} />
              ))}
            {corpusPath ? null : (
              <>
                <ConfigFieldset legend="Held-out evaluation (on the project's eval set) and the reward model's held-out split" fields={fields.evaluation} values={values} errors={errors} />
                <ConfigFieldset legend="Next batch: prompts to sample K completions for (0 = none)" fields={fields.next} values={values} errors={errors} open />
              </>
            )}
            <Button type="submit" className="mt-2">
              Launch round
            </Button>
          </Form>
        </Card>
      </div>
    </>
  );
}
