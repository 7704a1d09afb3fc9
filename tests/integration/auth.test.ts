import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { LOGIN_FAILED } from "../../server/auth/login.server.ts";
import { sha256 } from "../../server/auth/secrets.server.ts";
import { startTestServer, uniqueEmail, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer({ TANDEM_LOGIN_ATTEMPTS: "3" });
});
after(() => server.stop());

test("login sets an HttpOnly, SameSite=Lax session cookie and stores only its hash", async () => {
  const { email, password } = await server.newUser("labeler");
  const client = server.client();
  const response = await client.postForm("/login", { email, password, redirectTo: "/account" });
  assert.equal(response.status, 302);
  assert.equal(response.headers.get("location"), "/account");
  const setCookie = response.headers.get("set-cookie") ?? "";
  assert.match(setCookie, /tandem_session=/);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Lax/);
  assert.doesNotMatch(setCookie, /Secure/); // plain http here; see the next test for TLS
  const value = client.cookies.get("tandem_session")!;
  const stored = await server.db.selectFrom("sessions").select("id").where("id", "=", value).executeTakeFirst();
  assert.equal(stored, undefined, "the raw cookie value is not a stored id");
  assert.ok(await server.db.selectFrom("sessions").select("id").where("id", "=", sha256(value)).executeTakeFirst());
  assert.equal((await client.get("/account")).status, 200);
});

test("behind TLS (trusted proxy) the cookie is also Secure", async () => {
  const tls = await startTestServer({ TANDEM_TRUST_PROXY: "true" });
  try {
    const { email, password } = await tls.newUser("labeler");
    const response = await tls.client().postForm("/login", { email, password }, { "x-forwarded-proto": "https", origin: "https://" + new URL(tls.url).host });
    assert.equal(response.status, 302);
    assert.match(response.headers.get("set-cookie") ?? "", /Secure/);
  } finally {
    await tls.stop();
  }
});

test("a wrong password and an unknown e-mail get the same generic message", async () => {
  const { email } = await server.newUser("labeler");
  const wrong = await server.client().postForm("/login", { email, password: "not-the-password" });
  const unknown = await server.client().postForm("/login", { email: uniqueEmail("nobody"), password: "whatever-password" });
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, 401);
  const [wrongHtml, unknownHtml] = [await wrong.text(), await unknown.text()];
  assert.ok(wrongHtml.includes(LOGIN_FAILED.replace(/'/g, "&#x27;")) || wrongHtml.includes(LOGIN_FAILED));
  assert.ok(unknownHtml.includes(LOGIN_FAILED.replace(/'/g, "&#x27;")) || unknownHtml.includes(LOGIN_FAILED));
  assert.equal(wrong.headers.get("set-cookie"), null);
  // What the person typed comes back in the form.
  assert.ok(wrongHtml.includes(`value="${email}"`));
});

test("login is rate limited per account, even for the right password, until the window passes", async () => {
  const { email, password } = await server.newUser("labeler");
  for (let i = 0; i < 3; i++) {
    assert.equal((await server.client().postForm("/login", { email, password: "wrong-password-" + i })).status, 401);
  }
  const limited = await server.client().postForm("/login", { email, password });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("retry-after")) > 0);
  assert.match(await limited.text(), /Too many sign-in attempts/);
});

test("a deactivated user cannot sign in and their sessions end at once", async () => {
  const admin = await server.newUser("admin");
  const victim = await server.newUser("reviewer");
  assert.equal((await victim.client.get("/")).status, 200);
  const response = await admin.client.postForm("/admin/users", { intent: "update", userId: victim.id, active: "false" });
  assert.equal(response.status, 200);
  assert.equal((await victim.client.get("/")).status, 302);
  const again = await server.client().postForm("/login", { email: victim.email, password: victim.password });
  assert.equal(again.status, 401);
});

test("sign out ends this session; sign out everywhere ends all of them", async () => {
  const { email, password, client: first } = await server.newUser("labeler");
  const second = server.client();
  assert.equal((await second.postForm("/login", { email, password })).status, 302);
  const third = server.client();
  assert.equal((await third.postForm("/login", { email, password })).status, 302);

  assert.equal((await third.postForm("/logout", {})).status, 302);
  assert.equal((await third.get("/")).status, 302, "third is signed out");
  assert.equal((await second.get("/")).status, 200, "second still signed in");

  assert.equal((await first.postForm("/account", { intent: "logout-everywhere" })).status, 302);
  assert.equal((await first.get("/")).status, 302);
  assert.equal((await second.get("/")).status, 302);
});

test("CSRF: a cookie-carrying mutation from another origin, or with no origin, is refused and changes nothing", async () => {
  const admin = await server.newUser("admin");
  const email = uniqueEmail("csrf");
  const fields = { intent: "create", email, name: "Mallory", role: "admin", password: "long-enough-password" };
  const foreign = await admin.client.postForm("/admin/users", fields, { origin: "https://evil.example" });
  assert.equal(foreign.status, 403);
  const noOrigin = await admin.client.request("POST", "/admin/users", {
    body: new URLSearchParams(fields),
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "" },
  });
  assert.equal(noOrigin.status, 403);
  const apiForeign = await admin.client.json("POST", "/api/v1/users", { ...fields, intent: undefined }, { origin: "https://evil.example" });
  assert.equal(apiForeign.status, 403);
  assert.equal(((await apiForeign.json()) as { code: string }).code, "csrf_failed");
  assert.equal(await server.db.selectFrom("users").select("id").where("email", "=", email).executeTakeFirst(), undefined);
  // The same request from our own origin goes through.
  assert.equal((await admin.client.postForm("/admin/users", fields)).status, 200);
  assert.ok(await server.db.selectFrom("users").select("id").where("email", "=", email).executeTakeFirst());
});

test("API tokens: shown once, hashed at rest, revocable, and bearer requests need no CSRF origin", async () => {
  const admin = await server.newUser("admin");
  const created = await admin.client.json("POST", "/api/v1/tokens", { name: "script", role: "researcher" });
  assert.equal(created.status, 201);
  const { secret, token } = (await created.json()) as { secret: string; token: { id: string } };
  assert.match(secret, /^tdm_/);
  const row = await server.db.selectFrom("api_tokens").selectAll().where("id", "=", token.id).executeTakeFirstOrThrow();
  assert.equal(row.token_hash, sha256(secret));
  assert.ok(!JSON.stringify(row).includes(secret));
  const listed = await (await admin.client.json("GET", "/api/v1/tokens")).text();
  assert.ok(!listed.includes(secret), "the list never contains a secret");

  const bearer = server.client();
  const me = await bearer.json("GET", "/api/v1/me", undefined, { authorization: `Bearer ${secret}` });
  assert.equal(me.status, 200);
  assert.deepEqual(((await me.json()) as { role: string; via: string }).role, "researcher");

  assert.equal((await admin.client.json("DELETE", `/api/v1/tokens/${token.id}`)).status, 204);
  const revoked = await bearer.json("GET", "/api/v1/me", undefined, { authorization: `Bearer ${secret}` });
  assert.equal(revoked.status, 401);
  assert.equal((await bearer.json("GET", "/api/v1/me", undefined, { authorization: "Bearer tdm_forged" })).status, 401);
});

test("an admin cannot demote or deactivate themselves", async () => {
  const admin = await server.newUser("admin");
  const response = await admin.client.json("PATCH", `/api/v1/users/${admin.id}`, { active: false });
  assert.equal(response.status, 409);
  const row = await server.db.selectFrom("users").select(["active", "role"]).where("id", "=", admin.id).executeTakeFirstOrThrow();
  assert.deepEqual(row, { active: true, role: "admin" });
});

test("the login form does not redirect off-site", async () => {
  const { email, password } = await server.newUser("labeler");
  const response = await server.client().postForm("/login", { email, password, redirectTo: "//evil.example/" });
  assert.equal(response.headers.get("location"), "/");
});
