// Where a whole training step's CPU time goes, from V8's sampling profiler (decision trainer-021).
//
// `tf.profile` (the trainer bench's --profile) times kernels only, wall-clock per kernel; JS outside kernels (the
// fused loops, tfjs's tape, copies out of the heap) and system time do not show. This runs SFT steps of a GPT
// preset in a child process under `node --cpu-prof`, drops the first part of the samples as warm-up and charges
// each sample to its innermost frame in a project file (trainer/, bench/) or a tfjs-wasm kernel function, so an
// op chain shows under the project function that runs it (GELU's ops under gpt.ts's anonymous closure). Gradients
// that tfjs computes itself (an Add's, a Mul's) run from the tape under sft-trainer.ts's closure around
// tf.variableGrads; OpenBLAS shows as native-blas.ts. Shares of samples, not CPU seconds: on a loaded machine a
// sample can land while the thread waits for a core, so compare shares within one run.
// Usage: npx tsx bench/step-profile.ts [--preset micro] [--steps 6] [--warmup-share 0.4] [--top 25] [--blas-threads 1]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { arg, randomSftStep } from "./one-process-bench.ts";

const preset = arg("preset", "micro");
const steps = Number(arg("steps", "6"));

if (process.argv.includes("--child")) {
  // the profiled process: N steps, CPU seconds of each
  const tf = await import("@tensorflow/tfjs-core");
  const { initBackend } = await import("../trainer/backend/select-backend.ts");
  const { pinOpenblasCoreType } = await import("../trainer/backend/native-blas.ts");
  const { sftConfigSchema } = await import("../trainer/contract/sft-config.ts");
  const { disposeGpt } = await import("../trainer/model/gpt.ts");
  const { createSftTrainer } = await import("../trainer/algorithms/sft-trainer.ts");
  pinOpenblasCoreType();
  const info = await initBackend();
  const { B, T, examples, model } = randomSftStep(preset as "micro");
  const trainer = createSftTrainer(model, sftConfigSchema.parse({ batchSize: B }), 0);
  console.log(`backend ${info.backend}${info.blas ? `, native BLAS ${info.blas.threads} thread(s)` : ", plain wasm"}; ${preset} ${B}×${T}`);
  for (let i = 0; i < steps; i++) {
    const c0 = process.cpuUsage();
    trainer.trainStep(examples);
    const c = process.cpuUsage(c0);
    console.log(`step ${i + 1}: ${((c.user + c.system) / 1e6).toFixed(3)} CPU s (system ${(c.system / 1e6).toFixed(3)})`);
  }
  trainer.dispose();
  disposeGpt(model);
  tf.disposeVariables();
  process.exit(0);
}

if (process.argv.includes("--blas-threads")) process.env["TANDEM_BLAS_THREADS"] = arg("blas-threads", "1");
const warmupShare = Number(arg("warmup-share", "0.4"));
const top = Number(arg("top", "25"));
const dir = mkdtempSync(join(tmpdir(), "step-profile-"));
const self = fileURLToPath(import.meta.url);
const child = spawnSync(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--import", "tsx", self, "--child", "--preset", preset, "--steps", String(steps)], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
process.stdout.write(child.stdout ?? "");
if (child.status !== 0) {
  console.error(`profiled child exited with ${child.status}`);
  process.exit(1);
}
// the main thread's profile is the largest file (workers write small ones)
const file = readdirSync(dir)
  .map((f) => join(dir, f))
  .sort((a, b) => statSync(b).size - statSync(a).size)[0];
if (!file) throw new Error("no profile written");

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}
const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
rmSync(dir, { recursive: true, force: true });
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
// frames of tfjs-wasm that are plumbing rather than a kernel
const plumbing = new Set(["kernelFunc", "ccall", "", "BackendWasm.readSync", "BackendWasm.move", "identity", "BackendWasm.makeOutput", "BackendWasm.write", "BackendWasm.disposeData", "BackendWasm.typedArrayFromHeap"]);
const label = (id: number): string | null => {
  const { functionName, url } = (byId.get(id) as CpuProfile["nodes"][number]).callFrame;
  const fileName = url.split("/").pop() ?? "";
  if (fileName === "tf-backend-wasm.node.js" && !plumbing.has(functionName)) return `tfjs-wasm ${functionName}`;
  if (/\/(trainer|bench)\//.test(url) && fileName !== "wasm-heap.ts") return `${fileName} ${functionName || "(anonymous)"}`;
  return null;
};
let t = 0;
const times = profile.timeDeltas.map((d) => (t += d));
const start = (times[0] ?? 0) + ((times[times.length - 1] ?? 0) - (times[0] ?? 0)) * warmupShare;
const counts = new Map<string, number>();
let total = 0;
profile.samples.forEach((s, i) => {
  if ((times[i] ?? 0) < start) return;
  total += 1;
  let key: string | null = null;
  for (let id: number | undefined = s; id !== undefined && key === null; id = parent.get(id)) key = label(id);
  if (key === null) key = `other ${(byId.get(s) as CpuProfile["nodes"][number]).callFrame.functionName}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
});
console.log(`\n${total} samples after the first ${Math.round(warmupShare * 100)} % (warm-up); share by innermost project function or tfjs-wasm kernel:`);
console.log("| where | share of samples |\n|---|---:|");
for (const [k, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${((100 * n) / total).toFixed(1)} % |`);
