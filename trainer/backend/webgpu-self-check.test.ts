// A WebGPU device that computes wrong numbers is never used. Dawn's null backend (Dawn flag
// "backend=null", through TANDEM_WEBGPU_FLAGS) offers an adapter with no Vulkan driver at all and
// computes nothing; the self-check must refuse it and the trainer falls back to wasm, saying why.
// In its own file: tfjs keeps one webgpu backend per process.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./select-backend.ts";

test("a webgpu device that fails the start-up self-check is refused, and wasm runs instead", async () => {
  process.env["TANDEM_WEBGPU_FLAGS"] = "backend=null";
  const info = await initBackend({ prefer: "webgpu", readsSynchronously: false });
  assert.equal(info.backend, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.equal(info.skipped[0]?.package, "@tensorflow/tfjs-backend-webgpu");
  assert.match(info.skipped[0]?.reason ?? "", /^the webgpu backend failed its self-check: matmul off by/);
});
