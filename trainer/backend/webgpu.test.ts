// The webgpu backend (webgpu.ts, decision trainer-033) against wasm. Where no WebGPU adapter exists the
// device tests are skipped with the reason, unless TANDEM_REQUIRE_WEBGPU=1 (npm test sets it after
// tests/support/ensure-lavapipe.ts prepared Mesa's software Vulkan device), when they fail instead.
// The fallbacks at the end need no device.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, type BackendInfo } from "./select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { compareReadouts, parityBatch, sftStepReadout, type StepReadout } from "../testing/backend-parity.ts";

let gpu: BackendInfo;
let noDevice: string | false = false;
before(async () => {
  gpu = await initBackend({ prefer: "webgpu", readsSynchronously: false });
  if (gpu.backend !== "webgpu") {
    const reason = gpu.skipped.find((s) => /webgpu/.test(s.package))?.reason ?? "unknown";
    if (process.env["TANDEM_REQUIRE_WEBGPU"] === "1") throw new Error(`TANDEM_REQUIRE_WEBGPU=1 but webgpu is unavailable: ${reason}`);
    noDevice = `no usable WebGPU device here (${reason})`;
  }
});

test("webgpu starts on the adapter Dawn offers, after its self-check, and names it", { skip: false }, (t) => {
  if (noDevice) return t.skip(noDevice);
  assert.equal(tf.getBackend(), "webgpu");
  assert.equal(gpu.package, "@tensorflow/tfjs-backend-webgpu");
  assert.deepEqual(gpu.skipped, []);
  assert.ok(gpu.adapter && `${gpu.adapter.vendor}${gpu.adapter.description}`.length > 0, JSON.stringify(gpu.adapter));
});

test("one SFT step of a GPT on webgpu equals wasm's: logits, loss, every gradient, the weights after AdamW", async (t) => {
  if (noDevice) return t.skip(noDevice);
  const config = resolveGptConfig({ vocabSize: 61, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 });
  const batch = parityBatch(61, 3, 24);
  const onGpu: StepReadout = await sftStepReadout(config, 5, batch);
  await initBackend({ prefer: "wasm" });
  const onWasm = await sftStepReadout(config, 5, batch);
  const report = compareReadouts(onWasm, onGpu);
  assert.ok(Number.isFinite(onGpu.loss) && onGpu.loss > 3, `a fresh model's loss is about ln(61) = 4.1, got ${onGpu.loss}`);
  // float32 with sums in another order: ~1e-7 measured on lavapipe (docs/benchmarks.md)
  assert.ok(report.logits < 1e-5, `logits ${report.logits}`);
  assert.ok(report.loss < 1e-5, `loss ${report.loss}`);
  assert.ok(report.grads < 1e-4, `gradients ${report.grads}`);
  assert.ok(report.update < 1e-2, `weights after AdamW, in learning rates: ${report.update}`);
  // the comparison itself can fail: a step with other data is far from this one
  const other = await sftStepReadout(config, 5, parityBatch(61, 3, 23));
  assert.ok(compareReadouts(onWasm, other).loss > 1e-5);
});

test("a caller that reads synchronously (every trainer step) is given wasm, with the reason", async () => {
  const info = await initBackend({ prefer: "webgpu" });
  assert.equal(info.backend, "wasm");
  assert.equal(info.requested, "webgpu");
  assert.match(info.skipped[0]?.reason ?? "", /synchronously/);
});

test("without the webgpu package, webgpu falls back to wasm with the reason", async () => {
  const info = await initBackend({
    prefer: "webgpu", readsSynchronously: false,
    importModule: async (s) => { throw new Error(`Cannot find package '${s}'`); },
  });
  assert.equal(info.backend, "wasm");
  assert.deepEqual(info.skipped.map((s) => s.package)[0], "@tensorflow/tfjs-backend-webgpu");
  assert.match(info.skipped[0]?.reason ?? "", /the webgpu package did not load: Cannot find package 'webgpu'/);
});

test("TANDEM_BACKEND picks the preference when the caller names none", async () => {
  process.env["TANDEM_BACKEND"] = "cpu";
  try {
    assert.equal((await initBackend()).backend, "cpu");
    process.env["TANDEM_BACKEND"] = "no-such-backend"; // ignored: "auto"
    assert.equal((await initBackend()).requested, "auto");
  } finally {
    delete process.env["TANDEM_BACKEND"];
  }
});
