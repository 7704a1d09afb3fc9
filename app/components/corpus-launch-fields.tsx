/**
 * The launch form's section for rounds that train on corpora (decisions 0050, 0051): which cleaning job's kept documents,
 * an optional quality classifier (at its chosen threshold), and either a saved mix or a weight per corpus (pretrain,
 * midtrain, with midtraining's replay share), or the sources, target and grid of a data-mix search. The schema validates;
 * its errors come back keyed by field (corpus.mix.sources.0.weight, mixSearch.target.share, …) and are shown here.
 */
import { Field, Select } from "./ui.tsx";

type Choices = {
  corpora: Array<{ id: string; name: string }>;
  cleaningJobs: Array<{ id: string; settings: unknown }>;
  classifiers: Array<{ id: string; job_id: string; threshold: number | null }>;
  mixes: Array<{ id: string; name: string }>;
};

/** A number where one was typed, the text itself where not (so the schema names the field), nothing when blank. */
function value(form: FormData, name: string): number | string | undefined {
  const text = String(form.get(name) ?? "").trim();
  if (text === "") return undefined;
  return Number.isFinite(Number(text)) ? Number(text) : text;
}
const text = (form: FormData, name: string) => String(form.get(name) ?? "").trim();
const optional = (key: string, v: unknown) => (v === undefined || v === "" ? {} : { [key]: v });

/** The round spec's corpus or mixSearch part from the form. */
export function corpusSpecFromForm(form: FormData, path: string): Record<string, unknown> {
  if (path === "mix-search") {
    return {
      mixSearch: {
        cleaningJobId: text(form, "mixSearch.cleaningJobId"), ...optional("classifierId", text(form, "mixSearch.classifierId")),
        sources: form.getAll("mixSearch.sources").map(String),
        // "tasks": the eval set's prompts scored by the project's checker (decision 0054), else a corpus's text
        target: text(form, "mixSearch.target.corpusId") === "tasks"
          ? { tasks: {} }
          : { corpusId: text(form, "mixSearch.target.corpusId"), ...optional("share", value(form, "mixSearch.target.share")) },
        ...optional("levels", value(form, "mixSearch.levels")), ...optional("saveAs", text(form, "mixSearch.saveAs")),
      },
    };
  }
  const mixId = text(form, "corpus.mix.mixId");
  const sources = [...form.keys()]
    .filter((k, i, all) => k.startsWith("corpus.weight.") && all.indexOf(k) === i && text(form, k) !== "")
    .map((k) => ({ corpusId: k.slice("corpus.weight.".length), weight: value(form, k) }));
  const mix = mixId ? { mixId } : { ...optional("cleaningJobId", text(form, "corpus.mix.cleaningJobId")), ...optional("classifierId", text(form, "corpus.mix.classifierId")), sources };
  const replayMix = text(form, "corpus.replay.mixId");
  return {
    corpus: {
      mix, ...optional("heldOutShare", value(form, "corpus.heldOutShare")),
      ...(path === "midtrain" ? { replay: { ...optional("share", value(form, "corpus.replay.share")), ...(replayMix ? { mix: { mixId: replayMix } } : {}) } } : {}),
    },
  };
}

function ErrorList({ errors, prefix }: { errors: Record<string, string>; prefix: string }) {
  const shown = Object.entries(errors).filter(([k]) => k.startsWith(prefix));
  if (shown.length === 0) return null;
  return (
    <div role="alert">
      <ul className="mb-3 list-disc pl-5 text-sm text-red-700 dark:text-red-400">
        {shown.map(([k, m]) => (
          <li key={k}>
            <code>{k}</code>: {m}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function CorpusLaunchFields({ path, choices, values, errors }: { path: string; choices: Choices; values: Record<string, string>; errors: Record<string, string> }) {
  const jobs = choices.cleaningJobs.map((j) => (
    <option key={j.id} value={j.id}>
      Cleaning job #{j.id}
    </option>
  ));
  const classifiers = [
    <option key="none" value="">
      None: every kept document
    </option>,
    ...choices.classifiers.map((c) => (
      <option key={c.id} value={c.id}>
        Classifier #{c.id} (job #{c.job_id}), score ≥ {c.threshold?.toFixed(2)}
      </option>
    )),
  ];
  // the schema's sources.N are the filled-in weights in form order
  const filled = choices.corpora.filter((c) => (values[`corpus.weight.${c.id}`] ?? "").trim() !== "").map((c) => c.id);
  const sourceError = (corpusId: string) => {
    const i = filled.indexOf(corpusId);
    return i < 0 ? undefined : (errors[`corpus.mix.sources.${i}.weight`] ?? errors[`corpus.mix.sources.${i}.corpusId`]);
  };
  if (choices.cleaningJobs.length === 0) {
    return (
      <p className="mb-4 rounded-md border border-amber-300 p-3 text-sm" role="status">
        No finished cleaning job yet: upload corpora and clean them on the Corpora page first.
      </p>
    );
  }
  if (path === "mix-search") {
    return (
      <fieldset className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" data-testid="mix-search-fields">
        <legend className="px-1 text-sm font-medium">Data-mix search: a small model per candidate mix, scored on the target</legend>
        <ErrorList errors={errors} prefix="mixSearch" />
        <div className="grid grid-cols-2 gap-3">
          <Select label="Kept documents of" name="mixSearch.cleaningJobId" defaultValue={values["mixSearch.cleaningJobId"] ?? choices.cleaningJobs[0]?.id}>
            {jobs}
          </Select>
          <Select label="Quality filter" name="mixSearch.classifierId" defaultValue={values["mixSearch.classifierId"] ?? ""}>
            {classifiers}
          </Select>
        </div>
        <fieldset className="mb-4">
          <legend className="mb-1 text-sm font-medium">Sources to mix (two or more)</legend>
          {choices.corpora.map((c) => (
            <label key={c.id} className="mr-4 inline-flex items-center gap-1 text-sm">
              <input type="checkbox" name="mixSearch.sources" value={c.id} defaultChecked={values[`mixSearch.sources`]?.split(",").includes(c.id)} /> {c.name}
            </label>
          ))}
        </fieldset>
        <div className="grid grid-cols-2 gap-3">
          <Select label="Target domain (held-out text)" name="mixSearch.target.corpusId" defaultValue={values["mixSearch.target.corpusId"] ?? ""} error={errors["mixSearch.target.corpusId"]}>
            {choices.corpora.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
            <option value="tasks">Not text: the eval set&apos;s prompts, scored by the project&apos;s checker</option>
          </Select>
          <Field label="Share of the target held out (0–1; ≤ 0.5 if it is also a source)" name="mixSearch.target.share" inputMode="decimal" placeholder="1" defaultValue={values["mixSearch.target.share"] ?? ""} error={errors["mixSearch.target.share"]} />
          <Field label="Weight levels per source (3: 0, ½, 1)" name="mixSearch.levels" inputMode="numeric" placeholder="3" defaultValue={values["mixSearch.levels"] ?? ""} error={errors["mixSearch.levels"]} />
          <Field label="Save the chosen mix as (blank: the round's name)" name="mixSearch.saveAs" defaultValue={values["mixSearch.saveAs"] ?? ""} error={errors["mixSearch.saveAs"]} />
        </div>
      </fieldset>
    );
  }
  return (
    <fieldset className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" data-testid="corpus-mix-fields">
      <legend className="px-1 text-sm font-medium">{path === "midtrain" ? "Specialised corpus data, and replay of the original mix" : "Corpus mix to pretrain on"}</legend>
      <ErrorList errors={errors} prefix="corpus" />
      <Select label="A saved mix (from a mix search)" name="corpus.mix.mixId" defaultValue={values["corpus.mix.mixId"] ?? ""}>
        <option value="">None: the weights below</option>
        {choices.mixes.map((m) => (
          <option key={m.id} value={m.id}>
            Mix #{m.id} {m.name}
          </option>
        ))}
      </Select>
      <div className="grid grid-cols-2 gap-3">
        <Select label="Kept documents of" name="corpus.mix.cleaningJobId" defaultValue={values["corpus.mix.cleaningJobId"] ?? choices.cleaningJobs[0]?.id}>
          {jobs}
        </Select>
        <Select label="Quality filter" name="corpus.mix.classifierId" defaultValue={values["corpus.mix.classifierId"] ?? ""}>
          {classifiers}
        </Select>
      </div>
      <p className="mb-2 text-sm">Weight per corpus (relative; blank = not in the mix):</p>
      <div className="grid grid-cols-3 gap-3">
        {choices.corpora.map((c) => (
          <Field
            key={c.id}
            label={c.name}
            name={`corpus.weight.${c.id}`}
            inputMode="decimal"
            defaultValue={values[`corpus.weight.${c.id}`] ?? ""}
            error={sourceError(c.id)}
          />
        ))}
      </div>
      <div className="grid grid-cols-2 gap-3">
        <Field label="Share of documents held out to measure loss (0.01–0.5)" name="corpus.heldOutShare" inputMode="decimal" placeholder="0.1" defaultValue={values["corpus.heldOutShare"] ?? ""} error={errors["corpus.heldOutShare"]} />
        {path === "midtrain" ? (
          <>
            <Field label="Replay share of the original mix (0–0.9)" name="corpus.replay.share" inputMode="decimal" placeholder="0.25" defaultValue={values["corpus.replay.share"] ?? ""} error={errors["corpus.replay.share"]} />
            <Select label="Original mix to replay" name="corpus.replay.mixId" defaultValue={values["corpus.replay.mixId"] ?? ""} error={errors["corpus.replay.mix"]}>
              <option value="">The mix the base model was pretrained on</option>
              {choices.mixes.map((m) => (
                <option key={m.id} value={m.id}>
                  Mix #{m.id} {m.name}
                </option>
              ))}
            </Select>
          </>
        ) : null}
      </div>
    </fieldset>
  );
}
