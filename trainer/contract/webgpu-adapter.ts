// What the trainer reports of the GPU the webgpu backend runs on (trainer/backend/webgpu.ts), and how it is
// named in logs, bench output and on the round page (app/lib/backend-summary.ts). No tfjs here: the web app
// imports it.

/** What Dawn says about the device. */
export interface WebgpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasteriser (lavapipe, SwiftShader): fine for tests, slower than wasm for training. */
  software: boolean;
}

/** e.g. "nvidia hopper (NVIDIA H200)", "mesa (llvmpipe …), a software device"; fields may be missing in an event. */
export function adapterLabel(a: Partial<Record<keyof WebgpuAdapter, unknown>>): string {
  const name = [a.vendor, a.architecture].filter((x) => typeof x === "string" && x).join(" ") || "an unnamed adapter";
  const detail = String(a.description || a.device || "");
  return `${name}${detail ? ` (${detail})` : ""}${a.software === true ? ", a software device" : ""}`;
}
