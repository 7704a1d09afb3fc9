import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { roundSpecSchema } from "../../../trainer/contract/round.ts";
import { chainSteps, engineSteps, ENGINES, epochsFor, handOffSchema, MAPPING_NOTES, oneLine, shellWord, UnsupportedStepError } from "./engine-steps.ts";
import { parseResultLine } from "./ray-handoff.server.ts";

const spec = (path: string, extra: Record<string, unknown> = {}) =>
  roundSpecSchema.parse({ name: "R", path, base: { init: { preset: "nano" } }, ...extra });

test("models chain like Tandem's trainer: SFT feeds DPO; the RM feeds PPO's reward and critic; PPO's actor is the SFT policy", () => {
  assert.deepEqual(chainSteps(spec("sft-dpo")).map((s) => [s.kind, s.input, s.output]), [
    ["sft", "$TANDEM_BASE_MODEL", "$TANDEM_OUTPUT_DIR/01-sft"],
    ["dpo", "$TANDEM_OUTPUT_DIR/01-sft", "$TANDEM_OUTPUT_DIR/02-dpo"],
  ]);
  const ppo = chainSteps(spec("sft-reward-ppo"));
  assert.deepEqual(ppo[1], { kind: "reward", input: "$TANDEM_OUTPUT_DIR/01-sft", reward: null, output: "$TANDEM_OUTPUT_DIR/02-reward" });
  assert.deepEqual(ppo[2], { kind: "ppo", input: "$TANDEM_OUTPUT_DIR/01-sft", reward: "$TANDEM_OUTPUT_DIR/02-reward", output: "$TANDEM_OUTPUT_DIR/03-ppo" });
  const openrlhf = engineSteps(spec("sft-reward-ppo"), "openrlhf", { sft: 10, preferences: 10, prompts: 10 })[2]!.body;
  assert.match(openrlhf, /--reward\.model_name_or_path "\$TANDEM_OUTPUT_DIR\/02-reward"/);
  assert.match(openrlhf, /--critic\.model_name_or_path "\$TANDEM_OUTPUT_DIR\/02-reward"/);
});

test("PPO's KL target maps to OpenRLHF's adaptive KL only under klControl 'adaptive'; the default early stop has no counterpart", () => {
  const body = (ppo: Record<string, unknown>) => engineSteps(spec("sft-reward-ppo", { ppo }), "openrlhf", { sft: 10, preferences: 10, prompts: 10 })[2]!.body;
  assert.doesNotMatch(body({}), /--algo\.kl\.target/, "the default (early stop at 6) is not OpenRLHF's adaptive KL");
  assert.match(body({ klControl: "adaptive", klTarget: 3, klHorizon: 500 }), /--algo\.kl\.target 3 \\\n\s+--algo\.kl\.horizon 500/);
  // the round's target is PPO's own, as on Tandem's trainer
  const roundTarget = engineSteps(spec("sft-reward-ppo", { klTarget: 2, ppo: { klControl: "adaptive" } }), "openrlhf", { sft: 10, preferences: 10, prompts: 10 })[2]!.body;
  assert.match(roundTarget, /--algo\.kl\.target 2 /);
  assert.ok(MAPPING_NOTES.some((n) => n.includes("early stop at the target (decision 0066)")));
});

test("OpenRLHF counts epochs: steps × batch ÷ rows, rounded, at least one", () => {
  assert.equal(epochsFor(100, 8, 400), 2);
  assert.equal(epochsFor(10, 8, 400), 1, "less than half an epoch still runs one");
  assert.equal(epochsFor(100, 8, 0), 1, "an empty dataset does not divide by zero");
  assert.equal(epochsFor(30, 10, 100), 3);
});

test("hyperparameters keep their meaning where the engine has the same knob", () => {
  const s = spec("dpo", { base: { modelId: "7" }, dpo: { beta: 0.3, lossType: "ipo", labelSmoothing: 0.1, rpoAlpha: 1, batchSize: 16, steps: 50, optim: { lr: 5e-6, warmupSteps: 5, minLr: 5e-7, gradAccumSteps: 4 } } });
  const [step] = engineSteps(s, "openrlhf", { sft: 0, preferences: 400, prompts: 0 });
  for (const expected of ["--model.beta 0.3", "--model.ipo_enable", "--model.label_smoothing 0.1", "--model.nll_loss_coef 1", "--train.batch_size 16", "--train.micro_batch_size 4", "--train.max_epochs 2", "--adam.lr 0.000005", "--lr_warmup_ratio 0.1", "--min_lr_ratio 0.1"]) {
    assert.ok(step!.body.includes(expected + " ") || step!.body.includes(expected + "\n"), `${expected} in\n${step!.body}`);
  }
  const [trl] = engineSteps(s, "trl", { sft: 0, preferences: 400, prompts: 0 });
  const yaml = trl!.files["trl/dpo.yaml"]!;
  for (const line of ["max_steps: 50", "beta: 0.3", 'loss_type: "ipo"', "per_device_train_batch_size: 4", "gradient_accumulation_steps: 4", "learning_rate: 0.000005", "warmup_steps: 5"]) {
    assert.match(yaml, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
  }
  assert.match(yaml, /lr_scheduler_kwargs: \{"min_lr": 5e-7\}/);
});

test("an engine that cannot run a step says why", () => {
  assert.throws(() => engineSteps(spec("sft-reward-ppo"), "trl", { sft: 1, preferences: 1, prompts: 1 }), UnsupportedStepError);
  assert.throws(() => engineSteps(spec("sft-dpo", { dpo: { lossType: "hinge" } }), "openrlhf", { sft: 1, preferences: 1, prompts: 1 }), /hinge/);
  assert.doesNotThrow(() => engineSteps(spec("sft-dpo", { dpo: { lossType: "hinge" } }), "trl", { sft: 1, preferences: 1, prompts: 1 }));
  // DPOP's λ has no engine counterpart: the engines train plain DPO, and the bundle's notes say so
  for (const engine of ENGINES) assert.doesNotThrow(() => engineSteps(spec("sft-dpo", { dpo: { dpopLambda: 50 } }), engine, { sft: 1, preferences: 1, prompts: 1 }));
  assert.ok(MAPPING_NOTES.some((note) => note.includes("dpopLambda")));
});

test("shell words: environment paths stay expandable, anything odd is single-quoted and survives bash intact", () => {
  assert.equal(shellWord("$TANDEM_OUTPUT_DIR/01-sft"), '"$TANDEM_OUTPUT_DIR/01-sft"');
  assert.equal(shellWord("Qwen/Qwen2.5-0.5B"), "Qwen/Qwen2.5-0.5B");
  for (const odd of ["a b", "it's", "$(rm -rf /)", "`id`", 'quote"d', "semi;colon"]) {
    const echoed = execFileSync("bash", ["-c", `printf %s ${shellWord(odd)}`]).toString();
    assert.equal(echoed, odd);
  }
});

test("a round name cannot add keys to a TRL config: every YAML line break becomes a space", () => {
  const name = "x\u2028push_to_hub: true\u2029hub_model_id: evil/m\u0085a\r\nb";
  const s = roundSpecSchema.parse({ name, path: "sft-dpo", base: { init: { preset: "nano" } } });
  const yaml = engineSteps(s, "trl", { sft: 1, preferences: 1, prompts: 1 })[1]!.files["trl/dpo.yaml"]!;
  const lines = yaml.split(/\r\n|[\r\n\u0085\u2028\u2029]/);
  assert.ok(lines[0]!.startsWith("# Tandem round") && lines[0]!.includes("push_to_hub: true"), "the name stays in the comment");
  assert.ok(!lines.some((l) => /^(push_to_hub|hub_model_id)/.test(l)), yaml);
  assert.equal(oneLine("a\u2028b\tc"), "a b c");
});

test("the hand-off refuses model names a shell could misread", () => {
  assert.equal(handOffSchema.safeParse({ baseModel: "meta-llama/Llama-3.1-8B-Instruct" }).success, true);
  assert.equal(handOffSchema.safeParse({ baseModel: "/mnt/models/qwen@v2" }).success, true);
  for (const bad of ["x; rm -rf /", "$(id)", "a b", "`id`", "-rf", ""]) assert.equal(handOffSchema.safeParse({ baseModel: bad }).success, false, bad);
});

test("the result line: the last TANDEM_RESULT wins; a malformed one is no result", () => {
  const logs = 'x\nTANDEM_RESULT {"engine":"trl","checkpoint":"/a"}\nmore\nTANDEM_RESULT {"engine":"openrlhf","checkpoint":"/out/02-dpo","dryRun":false}\n';
  assert.deepEqual(parseResultLine(logs), { engine: "openrlhf", checkpoint: "/out/02-dpo", dryRun: false });
  assert.equal(parseResultLine("TANDEM_RESULT {not json}"), null);
  assert.equal(parseResultLine('TANDEM_RESULT {"engine":"x"}'), null, "no checkpoint, no result");
  assert.equal(parseResultLine("nothing here"), null);
});
