// Backend selection: tfjs-node-gpu, then tfjs-node (optional packages, usually not installed), then
// wasm with SIMD plus the project's kernels, then the pure-JS cpu backend. WebGPU (webgpu.ts) is tried
// only when asked for, by `prefer: "webgpu"` or TANDEM_BACKEND=webgpu (decision trainer-033), and
// falls back to wasm with the reason. The choice is recorded and reported by `describeBackend()` so
// every run logs what it actually trained on.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { registerTfjsGradients } from "./register-gradients.ts";
import { registerUnsortedSegmentSum, UNSORTED_SEGMENT_SUM } from "./unsorted-segment-sum-kernel.ts";
import { registerWasmSliceKernels } from "./wasm-slice-kernels.ts";
import { registerWasmLayoutKernels } from "./wasm-layout-kernels.ts";
import { registerWasmEmbeddingKernels } from "./wasm-embedding-kernels.ts";
import { registerWasmIdentityKernel } from "./wasm-identity-kernel.ts";
import { defaultBlasThreads, loadNativeBlas, type NativeBlas } from "./native-blas.ts";
import { registerWasmBlasMatMul, setWasmBlas } from "./wasm-blas-matmul.ts";
import { SIMD_KERNELS_LABEL, simdKernelsStatus } from "./wasm-simd.ts";
import type { WasmHeapBackend } from "./wasm-heap.ts";
import { loadWebgpu } from "./webgpu.ts";
import type { WebgpuAdapter } from "../contract/webgpu-adapter.ts";
import { BACKEND_PREFERENCES } from "../contract/job.ts";

export type BackendPreference = (typeof BACKEND_PREFERENCES)[number];
const WEBGPU_PACKAGE = "@tensorflow/tfjs-backend-webgpu";
const SYNC_READS = "the caller reads results synchronously (a tokenizer job, a job whose checkpoint cannot be read, the import/export commands, the inference worker), which tfjs-backend-webgpu cannot do under Node (decisions trainer-033, trainer-035)";

export interface BackendInfo {
  /** tfjs backend name in use: "tensorflow", "webgpu", "wasm" or "cpu". */
  backend: string;
  /** What was asked for. */
  requested: BackendPreference;
  /** The npm package that supplied the backend. */
  package: string;
  threads: number;
  simd: boolean | null;
  /** Kernels this project registered on the active backend. */
  customKernels: string[];
  /** Project ops used by the model on every backend (see trainer/backend/matmul.ts). */
  projectOps: string[];
  /**
   * Native BLAS doing the wasm backend's matmuls (native-blas.ts): the library, its build
   * (openblas_get_config) and threads; null when off or unavailable (the reason is in `skipped`).
   */
  blas: { library: string; config: string; threads: number } | null;
  /** The GPU the webgpu backend runs on; null on the other backends. */
  adapter: WebgpuAdapter | null;
  /** Candidates tried before this one, with why they failed. */
  skipped: { package: string; reason: string }[];
}

export interface InitBackendOptions {
  /** Default "auto"; "auto" means TANDEM_BACKEND where that names a backend. */
  prefer?: BackendPreference;
  /**
   * Native BLAS for wasm matmuls: "auto" (default) uses OpenBLAS when it loads and passes its
   * self-check, "off" never. Default from TANDEM_BLAS ("off" turns it off).
   */
  blas?: "auto" | "off";
  /** OpenBLAS threads; default TANDEM_BLAS_THREADS, else one per core. */
  blasThreads?: number;
  /**
   * The caller reads results with dataSync (the trainers' synchronous `trainStep`s, `generate`, the import/export
   * commands and the inference worker do; every job that run-job.ts's readsAsynchronously admits does not).
   * tfjs-backend-webgpu cannot under Node (its synchronous read draws through an OffscreenCanvas), so
   * such callers never get webgpu; gpu-check and the GPU bench read with `await data()` and pass false.
   * Default true.
   */
  readsSynchronously?: boolean;
  /** For tests: how optional packages are imported. */
  importModule?: (specifier: string) => Promise<unknown>;
}

let current: BackendInfo | undefined;
let nativeBlas: { threads: number; result: NativeBlas | { reason: string } } | undefined; // loaded once per thread count
const BLAS_PACKAGE = "OpenBLAS (libopenblas0-pthread) via koffi";

/** Native BLAS for the wasm backend, or why not (recorded in `skipped`). */
async function wasmBlas(options: InitBackendOptions, skipped: BackendInfo["skipped"]): Promise<NativeBlas | null> {
  const wanted = options.blas ?? (process.env["TANDEM_BLAS"] === "off" ? "off" : "auto");
  if (wanted === "off") return null;
  const threads = options.blasThreads ?? defaultBlasThreads();
  if (!nativeBlas || nativeBlas.threads !== threads) nativeBlas = { threads, result: await loadNativeBlas({ threads }) };
  const result = nativeBlas.result;
  if ("reason" in result) {
    skipped.push({ package: BLAS_PACKAGE, reason: result.reason });
    return null;
  }
  if (registerWasmBlasMatMul().length === 0) {
    skipped.push({ package: BLAS_PACKAGE, reason: "the wasm backend has no BatchMatMul kernel to replace" });
    return null;
  }
  return result;
}
let wasmSlicePatched = false; // the patches wrap the stock kernels, so they must be applied once
let wasmSliceKernels: string[] = [];

// A variable specifier keeps TypeScript and bundlers from resolving packages that are not installed.
const defaultImport = (specifier: string): Promise<unknown> => import(specifier);

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}

async function tryNative(pkg: string, importModule: (s: string) => Promise<unknown>): Promise<string | null> {
  await importModule(pkg); // registers the "tensorflow" backend on import
  if (!(await tf.setBackend("tensorflow"))) return "backend 'tensorflow' failed to initialise";
  return null;
}

/** Picks and initialises a backend; safe to call more than once (the last call wins). */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  // a job's "auto" (its spec's default) defers to the machine's TANDEM_BACKEND too
  const prefer = !options.prefer || options.prefer === "auto" ? backendFromEnv() : options.prefer;
  const importModule = options.importModule ?? defaultImport;
  await registerTfjsGradients();
  const skipped: BackendInfo["skipped"] = [];

  if (prefer === "webgpu" && (options.readsSynchronously ?? true)) {
    skipped.push({ package: WEBGPU_PACKAGE, reason: SYNC_READS });
  } else if (prefer === "webgpu") {
    const gpu = await loadWebgpu(importModule);
    if ("adapter" in gpu) {
      // tfjs-backend-webgpu has its own UnsortedSegmentSum (the embedding gradient); ours reads on the CPU
      current = { backend: "webgpu", requested: prefer, package: WEBGPU_PACKAGE, threads: 0, simd: null, customKernels: [], projectOps: ["matMul2d"], blas: null, adapter: gpu.adapter, skipped };
      return current;
    }
    skipped.push({ package: WEBGPU_PACKAGE, reason: gpu.reason });
  }

  const natives = prefer === "auto" ? ["tfjs-node-gpu", "tfjs-node"] : prefer.startsWith("tfjs-node") ? [prefer] : [];
  for (const name of natives) {
    const pkg = `@tensorflow/${name}`;
    try {
      const failure = await tryNative(pkg, importModule);
      if (failure === null) {
        current = { backend: "tensorflow", requested: prefer, package: pkg, threads: 0, simd: null, customKernels: [], projectOps: ["matMul2d"], blas: null, adapter: null, skipped };
        return current;
      }
      skipped.push({ package: pkg, reason: failure });
    } catch (error) {
      skipped.push({ package: pkg, reason: reasonOf(error) });
    }
  }

  if (prefer !== "cpu") {
    try {
      if (await tf.setBackend("wasm")) {
        await tf.ready();
        registerUnsortedSegmentSum("wasm");
        const embeddingKernels = registerWasmEmbeddingKernels(); // after the line above, which puts the JS kernel back
        if (!wasmSlicePatched) wasmSliceKernels = [...registerWasmSliceKernels(), ...registerWasmLayoutKernels(), ...registerWasmIdentityKernel()];
        wasmSlicePatched = true;
        const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
        const blas = await wasmBlas(options, skipped);
        setWasmBlas(blas);
        // the project's SIMD kernels on the wasm heap (wasm-simd.ts): built and self-checked here, so that a failure
        // is reported at start like a missing BLAS, and the JS loops and tensor ops take over
        const simdKernels = simdKernelsStatus(tf.backend() as unknown as WasmHeapBackend);
        if (!simdKernels.ok) skipped.push({ package: SIMD_KERNELS_LABEL, reason: simdKernels.reason });
        current = {
          backend: "wasm", requested: prefer, package: "@tensorflow/tfjs-backend-wasm", threads: getThreadsCount(), simd,
          customKernels: [UNSORTED_SEGMENT_SUM, ...embeddingKernels, ...wasmSliceKernels, ...(blas ? ["BatchMatMul (native BLAS)"] : []), ...(simdKernels.ok ? [SIMD_KERNELS_LABEL] : [])],
          projectOps: blas ? ["matMul2d"] : ["matMul2d", "perHeadAttention"],
          blas: blas ? { library: blas.library, config: blas.config, threads: blas.threads } : null,
          adapter: null,
          skipped,
        };
        return current;
      }
      skipped.push({ package: "@tensorflow/tfjs-backend-wasm", reason: "setBackend('wasm') returned false" });
    } catch (error) {
      skipped.push({ package: "@tensorflow/tfjs-backend-wasm", reason: reasonOf(error) });
    }
  }

  if (!(await tf.setBackend("cpu"))) throw new Error("no tfjs backend could be initialised");
  registerUnsortedSegmentSum("cpu");
  current = {
    backend: "cpu", requested: prefer, package: "@tensorflow/tfjs-backend-cpu", threads: 1, simd: null,
    customKernels: [UNSORTED_SEGMENT_SUM], projectOps: ["matMul2d"], blas: null, adapter: null, skipped,
  };
  return current;
}

/** TANDEM_BACKEND when it names a backend (a GPU machine's service sets it to "webgpu"), else "auto". */
function backendFromEnv(): BackendPreference {
  const asked = process.env["TANDEM_BACKEND"];
  return BACKEND_PREFERENCES.find((b) => b === asked) ?? "auto";
}

/** What the process is training on. Throws before `initBackend()`. */
export function describeBackend(): BackendInfo {
  if (!current) throw new Error("initBackend() has not been called");
  return current;
}
