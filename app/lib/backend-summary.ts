// What the round page says about the backend a step trains on: the tfjs backend, the native BLAS doing
// its matmuls (or why there is none), and the project's own kernels — from the trainer's "backend" event.

import { adapterLabel } from "../../trainer/contract/webgpu-adapter.ts";

export type BackendEvent = Record<string, unknown>;

/**
 * One line, e.g. "wasm (SIMD, 1 thread) + OpenBLAS, 2 threads", "wasm (SIMD) — no native BLAS: …" or
 * "webgpu on nvidia hopper (NVIDIA H200)"; a GPU backend that was asked for and not used says why.
 */
export function backendSummary(event: BackendEvent | undefined): string {
  if (!event) return "–";
  const skipped = Array.isArray(event["skipped"]) ? (event["skipped"] as Array<{ package?: unknown; reason?: unknown }>) : [];
  const gpu = skipped.find((s) => /webgpu/i.test(String(s.package ?? "")));
  const line = oneLine(event, skipped);
  return gpu ? `${line}; webgpu not used: ${String(gpu.reason ?? "unavailable")}` : line;
}

function oneLine(event: BackendEvent, skipped: Array<{ package?: unknown; reason?: unknown }>): string {
  const name = String(event["backend"] ?? event["name"] ?? "?");
  const adapter = event["adapter"];
  if (adapter && typeof adapter === "object") return `${name} on ${adapterLabel(adapter)}`;
  const traits = [event["simd"] === true ? "SIMD" : null, typeof event["threads"] === "number" ? `${event["threads"]} thread${event["threads"] === 1 ? "" : "s"}` : null].filter(Boolean);
  const base = traits.length > 0 ? `${name} (${traits.join(", ")})` : name;
  const blas = event["blas"] as { library?: unknown; threads?: unknown } | null | undefined;
  if (blas && typeof blas === "object") {
    const threads = typeof blas.threads === "number" ? `, ${blas.threads} thread${blas.threads === 1 ? "" : "s"}` : "";
    return `${base} + native BLAS (${String(blas.library ?? "?")}${threads})`;
  }
  const why = skipped.find((s) => /blas/i.test(String(s.package ?? "")));
  return why ? `${base}; no native BLAS: ${String(why.reason ?? "unavailable")}` : base;
}

/** The project's own kernels on this backend, for the title attribute. */
export function backendKernels(event: BackendEvent | undefined): string {
  if (!event) return "";
  const list = (key: string) => (Array.isArray(event[key]) ? (event[key] as unknown[]).map(String) : []);
  return [...list("customKernels"), ...list("projectOps")].join(", ");
}
