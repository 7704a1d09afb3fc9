// What the trainer's one-process benches share (simd-ab, qkv-attention-ab, step-kernels-ab, sgemm-trace, step-profile): the
// command-line reader, CPU seconds, a round robin of two arms, a preset's SFT batch of random tokens and the SFT-step row.
import { resolveGptConfig, type GptPreset } from "../trainer/contract/gpt-config.ts";
import { initGpt } from "../trainer/model/gpt.ts";
import { createSftTrainer, type SftExample } from "../trainer/algorithms/sft-trainer.ts";
import { sftConfigSchema } from "../trainer/contract/sft-config.ts";
import { createRng } from "../trainer/random/rng.ts";

export { arg } from "./cli-arg.ts";

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** CPU seconds (user + system) of the process while `fn` runs: on a shared machine, not wall-clock. */
export function cpuSeconds(fn: () => void): number {
  const c = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1e6;
}

export type ArmTimes = { on: number[]; off: number[] };

/** Alternates two arms `rounds` times after one warm-up each (`arm(on)` switches them); CPU seconds per arm. Leaves the on arm set. */
export function alternate(rounds: number, arm: (on: boolean) => void, fn: () => void, onFirst: boolean): ArmTimes {
  const r: ArmTimes = { on: [], off: [] };
  for (let i = 0; i < 2 * (rounds + 1); i++) {
    const on = (i % 2 === 0) === onFirst;
    arm(on);
    const s = cpuSeconds(fn);
    if (i >= 2) (on ? r.on : r.off).push(s);
  }
  arm(true);
  return r;
}

/** Prints one A/B line: both arms' medians and samples in `unit`s, and the off/on ratio. */
export function abPrinter(offName: string, onName: string) {
  const list = (xs: number[], unit: number, digits: number) => `${(unit * median(xs)).toFixed(digits)} [${xs.map((v) => (unit * v).toFixed(digits)).join(", ")}]`;
  return (name: string, unit: number, r: ArmTimes, digits: number): void =>
    console.log(`${name}: ${offName} ${list(r.off, unit, digits)}, ${onName} ${list(r.on, unit, digits)} (×${(median(r.off) / median(r.on)).toFixed(2)})`);
}

/** A preset's SFT batch of random tokens (nano 16×128, the others 8×128), a freshly initialised model, and the random stream drawn on. */
export function randomSftStep(preset: GptPreset) {
  const config = resolveGptConfig({ preset });
  const [B, T] = preset === "nano" ? [16, 128] : [8, 128];
  const rng = createRng(1);
  const examples: SftExample[] = Array.from({ length: B }, () => {
    const ids = Array.from({ length: T }, () => Math.floor(rng.next() * config.vocabSize));
    return { ids, lossMask: ids.map(() => 1) };
  });
  return { config, B, T, examples, model: initGpt(config, 0), rng };
}

/** The row each A/B bench starts with: one whole SFT step of the preset's random batch, CPU s per arm. Returns the batch. */
export function sftStepRow(preset: GptPreset, steps: number, ab: (rounds: number, fn: () => void) => ArmTimes, show: ReturnType<typeof abPrinter>) {
  const step = randomSftStep(preset);
  show(`${preset} SFT step, CPU s`, 1, ab(steps, () => {
    const t = createSftTrainer(step.model, sftConfigSchema.parse({ batchSize: step.B }), 0);
    t.trainStep(step.examples);
    t.dispose();
  }), 3);
  return step;
}
