// The GPU backend: tfjs's webgpu backend (@tensorflow/tfjs-backend-webgpu) over Dawn, Chrome's WebGPU
// implementation, from the `webgpu` npm package (its dawn.node ships inside the tarball; on Linux it
// drives Vulkan, so the machine needs the Vulkan loader, libvulkan1, and a driver: NVIDIA's ICD on a GPU
// machine, Mesa's lavapipe for a software device in tests).
//
// Steps, in order (decision trainer-033):
// 1. import `webgpu` and put its globals (GPUBufferUsage, …) and `navigator.gpu` on globalThis, where
//    tfjs-backend-webgpu looks for them: it must happen before that package is imported.
// 2. ask Dawn for an adapter; none means no driver, and the caller falls back to wasm with that reason.
// 3. import tfjs-backend-webgpu (it registers the "webgpu" backend) and switch to it.
// 4. self-check: a matmul, a softmax and a matmul's gradient against float64 results computed here.
//    A backend that computes wrong numbers (Dawn's null backend returns zeros) is never used.
import * as tf from "@tensorflow/tfjs-core";
import type { WebgpuAdapter } from "../contract/webgpu-adapter.ts";

export type WebgpuResult = { adapter: WebgpuAdapter } | { reason: string };

/** How optional packages are imported: a variable specifier, so that tests can substitute one. */
export type ImportModule = (specifier: string) => Promise<unknown>;

interface DawnModule {
  create(flags: string[]): { requestAdapter(options?: object): Promise<DawnAdapter | null> };
  globals: Record<string, unknown>;
}
interface DawnAdapter {
  info?: Partial<Record<"vendor" | "architecture" | "device" | "description", string>>;
  isFallbackAdapter?: boolean;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;
let dawnGpu: { key: string; gpu: ReturnType<DawnModule["create"]> } | undefined;

/**
 * Steps 1–3: Dawn, an adapter, and tfjs's webgpu backend made active. `flags` are Dawn's
 * (TANDEM_WEBGPU_FLAGS, comma-separated; e.g. "backend=null" gives a device that computes nothing,
 * which the self-check must refuse).
 */
export async function loadWebgpu(importModule: ImportModule, flags: string[] = dawnFlags()): Promise<WebgpuResult> {
  let dawn: DawnModule;
  try {
    dawn = (await importModule("webgpu")) as DawnModule;
  } catch (error) {
    return { reason: `the webgpu package did not load: ${firstLine(error)}` };
  }
  // one Dawn instance per process: tfjs keeps the device of the first, and a second instance in its place
  // would let the first be collected under it
  const key = flags.join(",");
  try {
    if (!dawnGpu || dawnGpu.key !== key) dawnGpu = { key, gpu: dawn.create(flags) };
  } catch (error) {
    return { reason: `Dawn did not start with flags [${flags.join(", ")}]: ${firstLine(error)}` };
  }
  const gpu = dawnGpu.gpu;
  Object.assign(globalThis, dawn.globals);
  // Node 20 has no `navigator`; Node 21+ has one without `gpu`. tfjs-backend-webgpu reads navigator.gpu.
  const g = globalThis as { navigator?: object };
  if (!g.navigator) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });

  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  if (!adapter) return { reason: "no WebGPU adapter: Dawn found no Vulkan driver (libvulkan1 and a GPU driver's ICD are needed)" };
  const info = adapter.info ?? {};
  const described = { vendor: info.vendor ?? "", architecture: info.architecture ?? "", device: info.device ?? "", description: info.description ?? "" };
  const summary: WebgpuAdapter = { ...described, software: Boolean(adapter.isFallbackAdapter) || SOFTWARE.test(Object.values(described).join(" ")) };

  try {
    await importModule("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) return { reason: "setBackend('webgpu') returned false" };
    await tf.ready();
  } catch (error) {
    return { reason: `tfjs-backend-webgpu did not start: ${firstLine(error)}` };
  }
  // a device lost or a read refused mid-check is a failed check too, never a crash
  const failed = await selfCheck().catch((error: unknown) => `it stopped: ${firstLine(error)}`);
  if (failed) return { reason: `the webgpu backend failed its self-check: ${failed}` };
  return { adapter: summary };
}

export function dawnFlags(): string[] {
  return (process.env["TANDEM_WEBGPU_FLAGS"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
}

// Step 4. Odd shapes on purpose: tiling bugs show at edges that square powers of two hide.
const M = 13, K = 37, N = 11;
const TOLERANCE = 1e-4; // relative to the largest expected magnitude; float32 sums of 37 terms are ~1e-6

/** null when the active backend computes a matmul, a softmax and a matmul's gradient right; else what differed. */
export async function selfCheck(): Promise<string | null> {
  const a = Float64Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.37) * 0.9);
  const b = Float64Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.23) * 0.7);
  const product = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[i * K + k]! * b[k * N + j]!;
    product[i * N + j] = s;
  }
  const softmax = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    const row = product.subarray(i * N, (i + 1) * N);
    const max = Math.max(...row);
    const exps = Array.from(row, (v) => Math.exp(v - max));
    const sum = exps.reduce((x, y) => x + y, 0);
    exps.forEach((e, j) => (softmax[i * N + j] = e / sum));
  }
  // d/dA of sum((A·B)²) = 2·(A·B)·Bᵀ
  const gradA = new Float64Array(M * K);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) {
    let s = 0;
    for (let j = 0; j < N; j++) s += 2 * product[i * N + j]! * b[k * N + j]!;
    gradA[i * K + k] = s;
  }

  const [gotProduct, gotSoftmax, gotGrad] = tf.tidy(() => {
    const ta = tf.tensor2d(Float32Array.from(a), [M, K]);
    const tb = tf.tensor2d(Float32Array.from(b), [K, N]);
    const y = tf.matMul(ta, tb);
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.matMul(x as tf.Tensor2D, tb))))(ta);
    return [y, tf.softmax(y), grad];
  });
  try {
    const checks: Array<[string, tf.Tensor, Float64Array]> = [["matmul", gotProduct, product], ["softmax", gotSoftmax, softmax], ["matmul gradient", gotGrad, gradA]];
    for (const [name, got, want] of checks) {
      const worst = maxRelativeError(want, await got.data());
      if (!(worst <= TOLERANCE)) return `${name} off by ${worst.toExponential(2)} of its largest value (tolerance ${TOLERANCE})`;
    }
    return null;
  } finally {
    tf.dispose([gotProduct, gotSoftmax, gotGrad]);
  }
}

/**
 * max |got − want| over the largest |want|: the self-check's measure, and the parity tests'
 * (trainer/testing/backend-parity.ts). Infinity when a value is missing or not a number.
 */
export function maxRelativeError(want: ArrayLike<number>, got: ArrayLike<number>): number {
  let worst = 0, scale = 1e-12;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    worst = Math.max(worst, Math.abs((got[i] ?? NaN) - want[i]!));
  }
  return Number.isNaN(worst) || want.length !== got.length ? Infinity : worst / scale;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
