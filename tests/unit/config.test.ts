import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../../server/config.server.ts";

test("defaults give a working embedded configuration", () => {
  const config = loadConfig({});
  assert.equal(config.PORT, 3000);
  assert.equal(config.DATABASE_URL, undefined);
  assert.equal(config.TANDEM_SOCKET_ADAPTER, "memory");
  assert.ok(config.TANDEM_DATA_DIR.endsWith(".tandem"));
});

test("every bad variable is named in one error, and secrets are not echoed", () => {
  try {
    loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://root:hunter2@db/x", TANDEM_ADMIN_PASSWORD: "short", LOG_LEVEL: "loud" });
    assert.fail("should have thrown");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.issues.map((issue) => issue.split(":")[0]).sort(), ["DATABASE_URL", "LOG_LEVEL", "PORT", "TANDEM_ADMIN_PASSWORD"]);
    assert.ok(!error.message.includes("hunter2"));
    assert.ok(!error.message.includes('"short"'));
    assert.match(error.message, /PORT: .*"eighty"/);
  }
});

test("empty strings count as unset", () => {
  assert.equal(loadConfig({ DATABASE_URL: "", PORT: "" }).PORT, 3000);
});
