import assert from "node:assert/strict";
import { test } from "node:test";
import { configFields, configFromForm } from "../../app/lib/config-fields.ts";
import { dpoConfigSchema } from "../../trainer/contract/dpo-config.ts";
import { ppoConfigSchema } from "../../trainer/contract/ppo-config.ts";
import { roundSpecSchema } from "../../trainer/contract/round.ts";

const form = (entries: Record<string, string>) => {
  const data = new FormData();
  for (const [k, v] of Object.entries(entries)) data.set(k, v);
  return data;
};

test("fields follow the schema: nested names, kinds, enum options and the trainer's own defaults", () => {
  const fields = configFields(dpoConfigSchema, "dpo");
  const byName = new Map(fields.map((f) => [f.name, f]));
  assert.equal(byName.get("dpo.beta")?.defaultValue, "0.1");
  assert.equal(byName.get("dpo.steps")?.kind, "integer");
  assert.deepEqual(byName.get("dpo.lossType")?.options, ["sigmoid", "hinge", "ipo"]);
  assert.equal(byName.get("dpo.labelSmoothing")?.max, 0.5);
  // DPO's optimiser default (lr 1e-4), not the generic optimiser schema's 6e-4.
  assert.equal(byName.get("dpo.optim.lr")?.defaultValue, "0.0001");
  // no default: the round chooses DPOP's λ (decision 0064); the empty field says "auto" and is left out of the spec
  assert.deepEqual([byName.get("dpo.dpopLambda")?.defaultValue, byName.get("dpo.dpopLambda")?.blank], ["", "auto"]);
  assert.equal(byName.get("dpo.beta")?.blank, undefined);
  assert.equal("dpopLambda" in ((configFromForm(form({ "dpo.dpopLambda": "" }), fields)["dpo"] ?? {}) as object), false);
  assert.deepEqual(configFromForm(form({ "dpo.dpopLambda": "0" }), fields)["dpo"], { dpopLambda: 0 });
  // a nullable number (zod writes anyOf [number, null]) keeps its bounds; emptied it is null (no KL guard), left out it is the default
  assert.deepEqual([byName.get("dpo.klTarget")?.nullable, byName.get("dpo.klTarget")?.min, byName.get("dpo.klTarget")?.defaultValue], [true, 0, "6"]);
  assert.deepEqual(configFromForm(form({ "dpo.klTarget": "" }), fields)["dpo"], { klTarget: null });
  assert.equal(dpoConfigSchema.parse(configFromForm(form({}), fields)["dpo"] ?? {}).klTarget, 6);
});

test("a form left at its defaults parses back to exactly the schema's defaults", () => {
  const fields = configFields(ppoConfigSchema, "ppo");
  const values = Object.fromEntries(fields.filter((f) => f.kind !== "boolean").map((f) => [f.name, f.defaultValue]));
  const parsed = ppoConfigSchema.parse(configFromForm(form(values), fields)["ppo"]);
  assert.deepEqual(parsed, ppoConfigSchema.parse({}));
  assert.equal(parsed.missingEosPenalty, null, "an empty nullable field is null (no missing-EOS penalty)");
  assert.deepEqual([parsed.klTarget, parsed.klControl], [6, "early_stop"], "PPO's KL guard (decision 0066)");
  assert.equal(ppoConfigSchema.parse(configFromForm(form({ ...values, "ppo.klTarget": "" }), fields)["ppo"]).klTarget, null, "emptied, no guard");
});

test("text that is not a number is kept, so validation names the field instead of seeing NaN", () => {
  const fields = configFields(dpoConfigSchema, "dpo");
  const spec = { name: "r", path: "sft-dpo", base: { init: { preset: "nano" } }, ...configFromForm(form({ "dpo.beta": "a lot" }), fields) };
  const result = roundSpecSchema.safeParse(spec);
  assert.equal(result.success, false);
  assert.deepEqual(result.error?.issues.map((i) => i.path.join(".")), ["dpo.beta"]);
});

test("a model trained from scratch must start with SFT", () => {
  const result = roundSpecSchema.safeParse({ name: "r", path: "dpo", base: { init: { preset: "nano" } } });
  assert.equal(result.success, false);
  assert.deepEqual(result.error?.issues.map((i) => i.path.join(".")), ["base"]);
  assert.equal(roundSpecSchema.safeParse({ name: "r", path: "dpo", base: { modelId: "3" } }).success, true);
});
