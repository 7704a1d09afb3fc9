import assert from "node:assert/strict";
import { test } from "node:test";
import { safeRedirect } from "../../app/lib/auth.server.ts";
import { effectiveTokenRole, hasRole, tokenRoles, userRoles } from "../../server/auth/roles.ts";
import { checkAccess } from "../../server/api/endpoint.server.ts";
import { AppError, toProblem } from "../../server/lib/app-error.ts";
import type { Actor } from "../../server/auth/actor.ts";

test("roles are a ladder: each role can do what the ones below can", () => {
  for (const [i, actual] of userRoles.entries()) {
    for (const [j, needed] of userRoles.entries()) assert.equal(hasRole(actual, needed), i >= j, `${actual} vs ${needed}`);
  }
});

test("a trainer token holds no person role at all", () => {
  for (const needed of userRoles) assert.equal(hasRole("trainer", needed), false);
  assert.ok(tokenRoles.includes("trainer"));
});

const actor = (role: Actor["role"]): Actor =>
  role === "trainer"
    ? { kind: "token", role, tokenId: "1", user: { id: "1", email: "t@x", name: "t", role: "admin" } }
    : { kind: "session", role, sessionId: "s", user: { id: "1", email: "p@x", name: "p", role } };

test("checkAccess: anonymous → unauthenticated, wrong role → forbidden", () => {
  assert.throws(() => checkAccess("labeler", null), (e: AppError) => e.code === "unauthenticated");
  assert.throws(() => checkAccess("admin", actor("researcher")), (e: AppError) => e.code === "forbidden");
  assert.throws(() => checkAccess("labeler", actor("trainer")), (e: AppError) => e.code === "forbidden");
  checkAccess("trainer", actor("trainer"));
  checkAccess("trainer", actor("admin"));
  assert.throws(() => checkAccess("trainer", actor("researcher")), (e: AppError) => e.code === "forbidden");
  checkAccess("any", actor("trainer"));
  checkAccess("public", null);
});

test("a token's effective role is the lower of its own and its owner's current role", () => {
  assert.equal(effectiveTokenRole("admin", "labeler"), "labeler");
  assert.equal(effectiveTokenRole("reviewer", "admin"), "reviewer");
  assert.equal(effectiveTokenRole("researcher", "researcher"), "researcher");
  assert.equal(effectiveTokenRole("trainer", "admin"), "trainer");
  assert.equal(effectiveTokenRole("trainer", "researcher"), null);
});

test("safeRedirect follows local paths only", () => {
  assert.equal(safeRedirect("/admin/users?x=1"), "/admin/users?x=1");
  for (const bad of ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)", null, ""]) {
    assert.equal(safeRedirect(bad), "/", String(bad));
  }
  // Parsed like a browser parses Location: dot segments cannot produce a `//host` path.
  assert.equal(safeRedirect("/.//evil.example"), "/");
  assert.equal(safeRedirect("/ü"), "/%C3%BC");
  for (const refused of ["/\t/evil.example", "/\r\n/x", "/\u2028/x", "/\u0000"]) {
    assert.throws(() => safeRedirect(refused), (e: { init?: { status?: number } }) => e.init?.status === 400, JSON.stringify(refused));
  }
});

test("problem documents carry a stable code and the field errors", () => {
  const problem = toProblem(new AppError("validation_failed", "Bad.", [{ path: "email", message: "Invalid" }]));
  assert.deepEqual(problem, {
    type: "urn:tandem:problem:validation_failed",
    title: "validation failed",
    status: 422,
    code: "validation_failed",
    detail: "Bad.",
    errors: [{ path: "email", message: "Invalid" }],
  });
});
