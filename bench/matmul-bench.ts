// Matmul throughput per shape the models use: GFLOP/s of tf.matMul on plain wasm (XNNPACK for plain
// 2-D products, tfjs's own loop for transposed and batched ones) and on native BLAS (OpenBLAS through
// koffi, trainer/backend/native-blas.ts), 1 thread and the machine's cores. CPU-time based as well as
// wall: on a shared machine the wall clock includes waiting for a core. With --json, prints the rows
// as JSON lines too (bench/torch_matmul_bench.py measures the same shapes in PyTorch).
// Usage: npx tsx bench/matmul-bench.ts [--min-cpu-s 0.3] [--json] [--no-torch]
// Shapes: micro (B·T = 8×128 = 1024 rows, C = 384, 4C = 1536, V = 2048, 48 (batch·head) slices of T 128 × D 64),
// decoding 8 rows, and the square 512³ / 1024³ of tfjs-notes.md.
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { pinOpenblasCoreType } from "../trainer/backend/native-blas.ts";
import { arg } from "./cli-arg.ts";

export const MATMUL_SHAPES: { name: string; a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
  { name: "square 512³", a: [512, 512], b: [512, 512], ta: false, tb: false },
  { name: "square 1024³", a: [1024, 1024], b: [1024, 1024], ta: false, tb: false },
  { name: "qkv x·W (1024×384·384×1152)", a: [1024, 384], b: [384, 1152], ta: false, tb: false },
  { name: "mlp up (1024×384·384×1536)", a: [1024, 384], b: [384, 1536], ta: false, tb: false },
  { name: "mlp down (1024×1536·1536×384)", a: [1024, 1536], b: [1536, 384], ta: false, tb: false },
  { name: "lm head x·Eᵀ (1024×384·(2048×384)ᵀ)", a: [1024, 384], b: [2048, 384], ta: false, tb: true },
  { name: "grad dX = dY·Wᵀ (1024×1536·(384×1536)ᵀ)", a: [1024, 1536], b: [384, 1536], ta: false, tb: true },
  { name: "grad dW = Xᵀ·dY ((1024×384)ᵀ·1024×1536)", a: [1024, 384], b: [1024, 1536], ta: true, tb: false },
  { name: "attention q·kᵀ [48,128,64]·[48,128,64]ᵀ", a: [48, 128, 64], b: [48, 128, 64], ta: false, tb: true },
  { name: "attention p·v [48,128,128]·[48,128,64]", a: [48, 128, 128], b: [48, 128, 64], ta: false, tb: false },
  { name: "decode mlp up (8×384·384×1536)", a: [8, 384], b: [384, 1536], ta: false, tb: false },
];

const minCpuS = Number(arg("min-cpu-s", "0.3"));

function flops(s: (typeof MATMUL_SHAPES)[number]): number {
  const batch = s.a.length === 3 ? (s.a[0] ?? 1) : 1;
  const [r, c] = s.a.slice(-2) as [number, number];
  const M = s.ta ? c : r;
  const K = s.ta ? r : c;
  const N = (s.tb ? s.b.at(-2) : s.b.at(-1)) ?? 0;
  return 2 * batch * M * N * K;
}

/** GFLOP/s by CPU time and by wall time: repeats until minCpuS of CPU time, after one warm-up. */
function measure(s: (typeof MATMUL_SHAPES)[number]): { cpu: number; wall: number } {
  const a = tf.randomNormal(s.a);
  const b = tf.randomNormal(s.b);
  tf.matMul(a, b, s.ta, s.tb).dispose(); // warm-up (XNNPACK packs the weights once)
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let cpuS = 0;
  while (cpuS < minCpuS || n < 3) {
    const y = tf.matMul(a, b, s.ta, s.tb);
    y.dataSync();
    y.dispose();
    n++;
    const c = process.cpuUsage(c0);
    cpuS = (c.user + c.system) / 1e6;
  }
  const wallS = (performance.now() - t0) / 1000;
  tf.dispose([a, b]);
  return { cpu: (flops(s) * n) / cpuS / 1e9, wall: (flops(s) * n) / wallS / 1e9 };
}

pinOpenblasCoreType(); // the same OpenBLAS kernels in this process and in PyTorch's (native-blas.ts)
const cores = availableParallelism();
const engines = [
  { label: "wasm (XNNPACK / tfjs loop)", blas: "off" as const, threads: 1 },
  { label: "OpenBLAS 1 thread", blas: "auto" as const, threads: 1 },
  ...(cores > 1 ? [{ label: `OpenBLAS ${cores} threads`, blas: "auto" as const, threads: cores }] : []),
];
const results = new Map<string, { cpu: number; wall: number }[]>();
for (const e of engines) {
  const info = await initBackend({ prefer: "wasm", blas: e.blas, blasThreads: e.threads });
  if (e.blas === "auto" && !info.blas) {
    console.log(`${e.label}: skipped (${info.skipped.at(-1)?.reason ?? "unavailable"})`);
    continue;
  }
  for (const s of MATMUL_SHAPES) {
    const r = measure(s);
    results.set(s.name, [...(results.get(s.name) ?? []), r]);
    if (process.argv.includes("--json")) console.log(JSON.stringify({ engine: e.label, shape: s.name, gflopsCpu: r.cpu, gflopsWall: r.wall }));
  }
}
// PyTorch on the same shapes (Debian's python3-torch, whatever libblas.so.3 is: OpenBLAS when
// libopenblas0-pthread is installed), 1 thread and the machine's cores; skipped when it does not import
const torchLabels: string[] = [];
if (!process.argv.includes("--no-torch")) {
  const script = fileURLToPath(new URL("./torch_matmul_bench.py", import.meta.url));
  for (const threads of cores > 1 ? [1, cores] : [1]) {
    // one thread means OpenBLAS's pool too: torch.set_num_threads does not limit it
    const env = threads === 1 ? { ...process.env, OPENBLAS_NUM_THREADS: "1" } : process.env;
    const r = spawnSync("/usr/bin/python3", [script, "--threads", String(threads), "--min-cpu-s", String(minCpuS)], { input: JSON.stringify(MATMUL_SHAPES), encoding: "utf8", env });
    if (r.status !== 0) {
      console.log(`PyTorch column skipped: ${(r.stderr || r.stdout).trim().split("\n").at(-1) ?? "failed"} (install python3-torch and libopenblas0-pthread)`);
      break;
    }
    const rows = r.stdout.trim().split("\n").map((line) => JSON.parse(line) as { shape: string; gflopsCpu: number; gflopsWall: number; torch: string });
    for (const row of rows) results.set(row.shape, [...(results.get(row.shape) ?? []), { cpu: row.gflopsCpu, wall: row.gflopsWall }]);
    torchLabels.push(`PyTorch ${rows[0]?.torch ?? "?"} ${threads} thread${threads > 1 ? "s" : ""}`);
  }
}
const used = [...engines.slice(0, (results.values().next().value ?? []).length - torchLabels.length), ...torchLabels.map((label) => ({ label }))];
console.log(`GFLOP/s per CPU-second (wall-clock GFLOP/s in brackets); ${cores} cores`);
console.log(`| shape | ${used.map((e) => e.label).join(" | ")} |`);
console.log(`|---|${used.map(() => "---:").join("|")}|`);
for (const s of MATMUL_SHAPES) {
  const rs = results.get(s.name) ?? [];
  console.log(`| ${s.name} | ${rs.map((r) => `${r.cpu.toFixed(1)} (${r.wall.toFixed(1)})`).join(" | ")} |`);
}
