// What the trainer's one-process benches share (simd-ab, qkv-attention-ab, sgemm-trace, step-profile): the
// command-line reader, CPU seconds, a round robin of two arms, and a preset's SFT batch of random tokens.
import { resolveGptConfig, type GptPreset } from "../trainer/contract/gpt-config.ts";
import { initGpt } from "../trainer/model/gpt.ts";
import { type SftExample } from "../trainer/algorithms/sft-trainer.ts";
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
