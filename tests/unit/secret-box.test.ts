import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { apiKeyHint, createSecretBox, loadSecretKey, parseSecretKey } from "../../server/bridges/external/secret-box.server.ts";
import { AppError } from "../../server/lib/app-error.ts";

const key = randomBytes(32);
const box = createSecretBox(key);
const secret = "sk-live-THIS-IS-A-VERY-DISTINCTIVE-KEY-1234";

test("round trip: what is encrypted decrypts to itself, and the stored form does not contain it", () => {
  const stored = box.encrypt(secret, "external_endpoints:project:7");
  assert.match(stored, /^v1\.[0-9a-f]{8}\.[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(!stored.includes(secret));
  assert.ok(!stored.includes(Buffer.from(secret).toString("base64")));
  assert.equal(box.decrypt(stored, "external_endpoints:project:7"), secret);
  // A fresh IV each time: the same key encrypts differently twice.
  assert.notEqual(box.encrypt(secret, "c"), box.encrypt(secret, "c"));
});

test("tampering with the ciphertext, tag or IV, or moving it to another row, is detected", () => {
  const stored = box.encrypt(secret, "external_endpoints:project:7");
  const parts = stored.split(".");
  const flip = (s: string) => {
    const bytes = Buffer.from(s, "base64url");
    bytes[0]! ^= 1;
    return bytes.toString("base64url");
  };
  for (const index of [2, 3, 4]) {
    const altered = parts.map((p, i) => (i === index ? flip(p) : p)).join(".");
    assert.throws(() => box.decrypt(altered, "external_endpoints:project:7"), (e: unknown) => e instanceof AppError && /integrity/.test(e.message));
  }
  assert.throws(() => box.decrypt(stored, "external_endpoints:project:8"), /integrity/);
});

test("another server key is named as such, not as tampering", () => {
  const stored = box.encrypt(secret, "c");
  const other = createSecretBox(randomBytes(32));
  assert.throws(() => other.decrypt(stored, "c"), /another server key/);
  assert.throws(() => box.decrypt("v0.junk", "c"), /format/);
});

test("keys: hex or base64 from config, or one generated file (0600) reused on the next start", () => {
  assert.deepEqual(parseSecretKey(key.toString("hex")), key);
  assert.deepEqual(parseSecretKey(key.toString("base64")), key);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-key-"));
  try {
    const first = loadSecretKey({ TANDEM_DATA_DIR: dir });
    assert.equal(first.length, 32);
    assert.equal(fs.statSync(path.join(dir, "secret.key")).mode & 0o777, 0o600);
    assert.deepEqual(loadSecretKey({ TANDEM_DATA_DIR: dir }), first);
    assert.deepEqual(loadSecretKey({ TANDEM_DATA_DIR: dir, TANDEM_SECRET_KEY: key.toString("hex") }), key);
    assert.deepEqual(fs.readdirSync(dir), ["secret.key"], "no temporary files left behind");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the hint shows at most the last four characters", () => {
  assert.equal(apiKeyHint(secret), "…1234");
  assert.equal(apiKeyHint("short"), "…");
});
