// KV-cache generation with the decode step of decisions trainer-028 and trainer-029 (trainer/model/gpt-decode.ts for
// GPT-2 presets, trainer/model/llama-decode.ts for Llama-family presets such as smollm2-135m; step-kernels.ts group
// "decode") on and off, and PyTorch's, in alternating child processes: each child runs trainer-bench.ts's generation
// (8 random prompts of 16 tokens, then 64 greedy steps, each one token per row through the cache) --runs times after
// a warm-up and prints tokens per CPU-second and per wall-second of each run. CPU seconds of the process (user +
// system, every thread): on a shared machine the wall figure waits for cores. PyTorch is bench/torch_gpt_bench.py's
// generate_bench (llama_generate_bench for a Llama preset) on one thread (torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1), as trainer-bench.ts's ratio; the
// tfjs arms run OpenBLAS on --blas-threads (default 1, the same).
// --lora (Llama presets): the model carries LoRA adapters as trainer-bench.ts's LoRA mode attaches them (PEFT's
// defaults, r 8 on q_proj and v_proj), switched on, as a LoRA policy generates; no PyTorch arm then.
// Usage: npx tsx bench/decode-ab.ts [--preset micro|smollm2-135m] [--lora] [--rounds 3] [--runs 3] [--blas-threads 1] [--no-torch]
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { pinOpenblasCoreType } from "../trainer/backend/native-blas.ts";
import { resolveGptConfig, type GptPreset } from "../trainer/contract/gpt-config.ts";
import { LLAMA_PRESETS, resolveLlamaConfig, type LlamaPreset } from "../trainer/contract/llama-config.ts";
import { disposeGpt, initGpt } from "../trainer/model/gpt.ts";
import { loraConfigSchema } from "../trainer/contract/lora-config.ts";
import { disposeLlama, initLlama } from "../trainer/model/llama.ts";
import { attachLora } from "../trainer/model/lora.ts";
import { arg } from "./cli-arg.ts";
import { greedyGeneration } from "./greedy-generation.ts";
import { median } from "./one-process-bench.ts";

const preset = arg("preset", "micro");
const runs = Number(arg("runs", "3"));
const lora = process.argv.includes("--lora");

if (process.argv.includes("--child")) {
  pinOpenblasCoreType();
  const info = await initBackend({ prefer: "wasm" });
  const llama = Object.hasOwn(LLAMA_PRESETS, preset) ? initLlama(resolveLlamaConfig({ preset: preset as LlamaPreset }), 0) : null;
  if (lora) {
    if (!llama) throw new Error("--lora needs a Llama-family preset");
    attachLora(llama, loraConfigSchema.parse({}));
  }
  const model = llama ?? initGpt(resolveGptConfig({ preset: preset as GptPreset }), 0);
  // trainer-bench.ts's generateBench: the same prompts, steps and greedy choice
  const generate = (prompts: number, promptLength: number, newTokens: number) => greedyGeneration(model, prompts, promptLength, newTokens);
  generate(8, 16, 4); // warm-up
  const out = Array.from({ length: runs }, () => generate(8, 16, 64));
  console.log(JSON.stringify({ blas: info.blas ? `${info.blas.library} ${info.blas.threads}` : "off", perCpuS: out.map((r) => 512 / r.cpuS), perS: out.map((r) => 512 / r.wallS) }));
  if (llama) disposeLlama(llama);
  else disposeGpt(model as ReturnType<typeof initGpt>);
  process.exit(0);
}

// the same OpenBLAS kernels for the tfjs children and PyTorch (native-blas.ts; trainer-bench.ts does the same)
pinOpenblasCoreType();
const rounds = Number(arg("rounds", "3"));
const blasThreads = arg("blas-threads", "1");
const self = fileURLToPath(import.meta.url);
const torchScript = fileURLToPath(new URL("./torch_gpt_bench.py", import.meta.url));
type Arm = { name: string; run: () => { perCpuS: number[]; perS: number[] } };
const tfjsArm = (name: string, stepKernels: string): Arm => ({
  name,
  run: () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", self, "--child", "--preset", preset, "--runs", String(runs), ...(lora ? ["--lora"] : [])], {
      encoding: "utf8",
      env: { ...process.env, TANDEM_STEP_KERNELS: stepKernels, TANDEM_BLAS_THREADS: blasThreads },
    });
    if (r.status !== 0) throw new Error(`${name} child failed:\n${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as { perCpuS: number[]; perS: number[] };
  },
});
const arms: Arm[] = [tfjsArm("decode step off", "embedding,lm-head,bias-sum,causal"), tfjsArm("decode step on", "on")];
if (!process.argv.includes("--no-torch") && !lora)
  arms.push({
    name: "PyTorch, 1 thread",
    run: () => {
      const r = spawnSync("/usr/bin/python3", [torchScript, "--preset", preset, "--generate-only", "--steps", String(runs), "--threads", "1"], {
        encoding: "utf8",
        env: { ...process.env, OPENBLAS_NUM_THREADS: "1" },
      });
      if (r.status !== 0) throw new Error(`torch_gpt_bench.py failed:\n${r.stdout}${r.stderr}`);
      const j = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as { gen_tokens_per_s: number[]; gen_tokens_per_cpu_s: number[] };
      return { perCpuS: j.gen_tokens_per_cpu_s, perS: j.gen_tokens_per_s };
    },
  });
console.log(`${preset}${lora ? " with LoRA adapters (r 8, q/v) on" : ""} KV-cache generation, 8 prompts × 16 tokens then 64 steps; ${rounds} rounds of ${arms.map((a) => a.name).join(" / ")} in alternating processes, ${runs} runs each; OpenBLAS ${blasThreads} thread(s), core type ${process.env["OPENBLAS_CORETYPE"] ?? "OpenBLAS's own"}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
const results = new Map(arms.map((a) => [a.name, { perCpuS: [] as number[], perS: [] as number[] }]));
for (let round = 0; round < rounds; round++)
  for (const arm of round % 2 === 0 ? arms : [...arms].reverse()) {
    const r = arm.run();
    const into = results.get(arm.name) as { perCpuS: number[]; perS: number[] };
    into.perCpuS.push(...r.perCpuS);
    into.perS.push(...r.perS);
  }
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} [${xs.map((x) => x.toFixed(0)).join(", ")}]`;
for (const [name, r] of results) console.log(`${name}: ${fmt(r.perCpuS)} tokens per CPU-second; ${fmt(r.perS)} tokens/s wall`);
const m = (name: string, k: "perCpuS" | "perS") => median(results.get(name)?.[k] ?? []);
console.log(`decode step on / off: ×${(m("decode step on", "perCpuS") / m("decode step off", "perCpuS")).toFixed(2)} per CPU-second, ×${(m("decode step on", "perS") / m("decode step off", "perS")).toFixed(2)} wall`);
if (results.has("PyTorch, 1 thread"))
  for (const arm of ["decode step off", "decode step on"])
    console.log(`${arm} vs PyTorch: ${(m(arm, "perCpuS") / m("PyTorch, 1 thread", "perCpuS")).toFixed(2)} per CPU-second, ${(m(arm, "perS") / m("PyTorch, 1 thread", "perS")).toFixed(2)} wall`);
console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
