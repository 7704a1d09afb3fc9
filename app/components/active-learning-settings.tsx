import type { AdaptiveOverlap } from "../../server/labeling/adaptive-overlap.ts";
import type { UncertaintyQueue } from "../../server/labeling/active/uncertainty-queue.ts";
import { Card, Field } from "./ui.tsx";

/**
 * Active learning on the project settings page: adaptive overlap (decisions 0038, 0049) and the
 * uncertainty-first queue with its rule (0048, 0053). A refused form comes back as typed, each
 * error beside its field (settings.adaptiveOverlap.max …).
 */
export function ActiveLearningFieldset({ adaptive, queue, rewardModels, values, errors }: {
  adaptive: AdaptiveOverlap;
  queue: UncertaintyQueue;
  rewardModels: Array<{ id: string; name: string }>;
  values: Record<string, string> | null;
  errors: Record<string, string>;
}) {
  const v = (name: string, stored: string | number | null | undefined) => (values ? (values[name] ?? "") : stored === null || stored === undefined ? "" : String(stored));
  const checked = (name: string, stored: boolean) => (values ? values[name] === "on" : stored);
  const e = (name: string) => errors[`settings.${name}`];
  const selectClass = "w-full rounded-md border border-slate-300 bg-white px-3 py-2 dark:border-slate-700 dark:bg-slate-950";
  const error = (name: string) => (e(name) ? <p id={`field-${name}-error`} className="mt-1 text-sm text-red-700 dark:text-red-400">{e(name)}</p> : null);
  const modelSelect = (name: "rewardModelId" | "previousRewardModelId", label: string, empty: string) => (
    <div className="mb-4">
      <label htmlFor={`field-uncertaintyQueue.${name}`} className="mb-1 block text-sm font-medium">{label}</label>
      <select id={`field-uncertaintyQueue.${name}`} name={`uncertaintyQueue.${name}`} defaultValue={v(`uncertaintyQueue.${name}`, queue[name])} className={selectClass}
        aria-invalid={e(`uncertaintyQueue.${name}`) ? true : undefined} aria-describedby={e(`uncertaintyQueue.${name}`) ? `field-uncertaintyQueue.${name}-error` : undefined}>
        <option value="">{empty}</option>
        {rewardModels.map((m) => (
          <option key={m.id} value={m.id}>{m.name} (#{m.id})</option>
        ))}
      </select>
      {error(`uncertaintyQueue.${name}`)}
    </div>
  );
  return (
    <Card title="Active learning">
      <fieldset className="mb-4">
        <legend className="mb-2 text-sm font-medium">Adaptive overlap (ranking tasks)</legend>
        <label className="mb-3 flex items-center gap-2 text-sm">
          <input type="checkbox" name="adaptiveOverlap.enabled" defaultChecked={checked("adaptiveOverlap.enabled", adaptive.enabled)} />
          Start with fewer labelers; add one while the labels disagree
        </label>
        <Field label="Labelers a new ranking task asks for (1–20)" name="adaptiveOverlap.start" type="number" min={1} max={20}
          defaultValue={v("adaptiveOverlap.start", adaptive.start)} error={e("adaptiveOverlap.start")} />
        <Field label="At most, per task (1–20, at least the start)" name="adaptiveOverlap.max" type="number" min={1} max={20}
          defaultValue={v("adaptiveOverlap.max", adaptive.max)} error={e("adaptiveOverlap.max")} />
        <Field label="Add a labeler when pairwise agreement is below (0–1)" name="adaptiveOverlap.agreementBelow" type="number" step="0.01" min={0} max={1}
          defaultValue={v("adaptiveOverlap.agreementBelow", adaptive.agreementBelow)} error={e("adaptiveOverlap.agreementBelow")} />
        <Field label="Extra labels the whole project may spend (empty = no cap)" name="adaptiveOverlap.extraLabelsCap" type="number" min={0}
          defaultValue={v("adaptiveOverlap.extraLabelsCap", adaptive.extraLabelsCap)} error={e("adaptiveOverlap.extraLabelsCap")} />
        <Field label="Stop early after this many agreeing labels when the reward model is confident (2 to start − 1; empty = never)" name="adaptiveOverlap.earlyStop.after" type="number" min={2}
          defaultValue={v("adaptiveOverlap.earlyStop.after", adaptive.earlyStop?.after)} error={e("adaptiveOverlap.earlyStop.after") ?? e("adaptiveOverlap.earlyStop")} />
        <Field label="…confident = its top-two score margin at least (the model's own units)" name="adaptiveOverlap.earlyStop.confidentMargin" type="text" inputMode="decimal"
          defaultValue={v("adaptiveOverlap.earlyStop.confidentMargin", adaptive.earlyStop?.confidentMargin)} error={e("adaptiveOverlap.earlyStop.confidentMargin")} />
      </fieldset>
      <fieldset>
        <legend className="mb-2 text-sm font-medium">Uncertainty-first queue (rankings and comparisons)</legend>
        <label className="mb-3 flex items-center gap-2 text-sm">
          <input type="checkbox" name="uncertaintyQueue.enabled" defaultChecked={checked("uncertaintyQueue.enabled", queue.enabled)} />
          Serve first the tasks the reward model is least sure of
        </label>
        <div className="mb-4">
          <label htmlFor="field-uncertaintyQueue.rule" className="mb-1 block text-sm font-medium">Least sure means</label>
          <select id="field-uncertaintyQueue.rule" name="uncertaintyQueue.rule" defaultValue={v("uncertaintyQueue.rule", queue.rule)} className={selectClass}
            aria-invalid={e("uncertaintyQueue.rule") ? true : undefined}>
            <option value="margin">Margin: the smallest gap between its two best-scored answers</option>
            <option value="disagreement">Disagreement: this round&apos;s and the previous round&apos;s reward models disagree most</option>
          </select>
          {error("uncertaintyQueue.rule")}
        </div>
        {modelSelect("rewardModelId", "Reward model", "The latest round's reward model")}
        {modelSelect("previousRewardModelId", "Previous reward model (disagreement only)", "The round before the reward model's")}
        <Field label="Share of claims served at random, so the data stays unbiased (0–1)" name="uncertaintyQueue.randomShare" type="number" step="0.01" min={0} max={1}
          defaultValue={v("uncertaintyQueue.randomShare", queue.randomShare)} error={e("uncertaintyQueue.randomShare")} />
      </fieldset>
    </Card>
  );
}
