import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { outputFileName, writeUpload } from "./model-files.server.ts";

test("an upload over the limit is refused while it streams and leaves no file behind", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-upload-"));
  try {
    await assert.rejects(writeUpload(dir, "manifest.json", Readable.from([Buffer.alloc(4), Buffer.alloc(4)]), 6), { code: "payload_too_large" });
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(await writeUpload(dir, "manifest.json", Readable.from([Buffer.from("{}")]), 6), 2);
    assert.equal(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"), "{}");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("only the known output files may be uploaded (no path in a name)", () => {
  assert.equal(outputFileName("samples.jsonl"), "samples.jsonl");
  assert.throws(() => outputFileName("../../etc/passwd"), { code: "bad_request" });
  assert.throws(() => outputFileName("optimizer.safetensors"), { code: "bad_request" });
});
