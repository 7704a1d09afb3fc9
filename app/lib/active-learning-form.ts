/**
 * The project settings form's active-learning fields → the shapes projectSettingsSchema validates:
 * adaptive overlap (decisions 0038, 0049) and the uncertainty-first queue (0048, 0053). Numbers go
 * to the schema as typed, so a value out of range is refused with its field named
 * (settings.adaptiveOverlap.max …). A form without these fields (an older page) keeps what is stored.
 */
import { formNumber } from "./tool-settings-form.ts";

const reader = (form: FormData, prefix: string) => (name: string) => String(form.get(`${prefix}.${name}`) ?? "").trim();

export function adaptiveOverlapFromForm(form: FormData, stored: unknown): unknown {
  if (!form.has("adaptiveOverlap.start")) return stored;
  const text = reader(form, "adaptiveOverlap");
  // Both early-stop fields empty = no early stop; one of them alone is refused by the schema, naming the other.
  const early = text("earlyStop.after") === "" && text("earlyStop.confidentMargin") === "";
  return {
    enabled: form.get("adaptiveOverlap.enabled") === "on",
    start: formNumber(text("start")),
    max: formNumber(text("max")),
    agreementBelow: formNumber(text("agreementBelow")),
    extraLabelsCap: text("extraLabelsCap") === "" ? null : formNumber(text("extraLabelsCap")),
    earlyStop: early ? null : { after: formNumber(text("earlyStop.after")), confidentMargin: formNumber(text("earlyStop.confidentMargin")) },
  };
}

export function uncertaintyQueueFromForm(form: FormData, stored: unknown): unknown {
  if (!form.has("uncertaintyQueue.rule")) return stored;
  const text = reader(form, "uncertaintyQueue");
  return {
    enabled: form.get("uncertaintyQueue.enabled") === "on",
    rule: text("rule"),
    // Empty = the latest round's reward model (and, for disagreement, the round before it).
    rewardModelId: text("rewardModelId") === "" ? null : text("rewardModelId"),
    previousRewardModelId: text("previousRewardModelId") === "" ? null : text("previousRewardModelId"),
    randomShare: formNumber(text("randomShare")),
  };
}
