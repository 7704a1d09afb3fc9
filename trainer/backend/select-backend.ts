// Backend selection: tfjs-node-gpu, then tfjs-node (optional packages, usually not installed), then
// wasm with SIMD plus the project's kernels, then the pure-JS cpu backend. The choice is recorded and
// reported by `describeBackend()` so every run logs what it actually trained on.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { registerTfjsGradients } from "./register-gradients.ts";
import { registerUnsortedSegmentSum, UNSORTED_SEGMENT_SUM } from "./unsorted-segment-sum-kernel.ts";
import { registerWasmSliceKernels } from "./wasm-slice-kernels.ts";
import { registerWasmLayoutKernels } from "./wasm-layout-kernels.ts";
import { registerWasmIdentityKernel } from "./wasm-identity-kernel.ts";

export type BackendPreference = "auto" | "tfjs-node-gpu" | "tfjs-node" | "wasm" | "cpu";

export interface BackendInfo {
  /** tfjs backend name in use: "tensorflow", "wasm" or "cpu". */
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
  /** Candidates tried before this one, with why they failed. */
  skipped: { package: string; reason: string }[];
}

export interface InitBackendOptions {
  prefer?: BackendPreference;
  /** For tests: how optional packages are imported. */
  importModule?: (specifier: string) => Promise<unknown>;
}

let current: BackendInfo | undefined;
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
  const prefer = options.prefer ?? "auto";
  const importModule = options.importModule ?? defaultImport;
  await registerTfjsGradients();
  const skipped: BackendInfo["skipped"] = [];

  const natives = prefer === "auto" ? ["tfjs-node-gpu", "tfjs-node"] : prefer.startsWith("tfjs-node") ? [prefer] : [];
  for (const name of natives) {
    const pkg = `@tensorflow/${name}`;
    try {
      const failure = await tryNative(pkg, importModule);
      if (failure === null) {
        current = { backend: "tensorflow", requested: prefer, package: pkg, threads: 0, simd: null, customKernels: [], projectOps: ["matMul2d"], skipped };
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
        if (!wasmSlicePatched) wasmSliceKernels = [...registerWasmSliceKernels(), ...registerWasmLayoutKernels(), ...registerWasmIdentityKernel()];
        wasmSlicePatched = true;
        const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
        current = {
          backend: "wasm", requested: prefer, package: "@tensorflow/tfjs-backend-wasm", threads: getThreadsCount(), simd,
          customKernels: [UNSORTED_SEGMENT_SUM, ...wasmSliceKernels], projectOps: ["matMul2d", "perHeadAttention"], skipped,
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
    customKernels: [UNSORTED_SEGMENT_SUM], projectOps: ["matMul2d"], skipped,
  };
  return current;
}

/** What the process is training on. Throws before `initBackend()`. */
export function describeBackend(): BackendInfo {
  if (!current) throw new Error("initBackend() has not been called");
  return current;
}
