/**
 * Personal API tokens for every role (issue 14, item 5): anyone makes and revokes tokens for
 * themselves, never above their own role; the queue and submission endpoints take them; admins
 * see and revoke everyone's.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

type Problem = { code: string; errors?: Array<{ path: string; message: string }> };
type Created = { token: { id: string; role: string }; secret: string };

test("a labeler makes a token for themselves and labels with it: claim, open, submit", async () => {
  const researcher = await server.newUser("researcher");
  const projectId = ((await (await researcher.client.json("POST", "/api/v1/projects", { name: "Token labeling", settings: { k: 2 } })).json()) as { id: string }).id;
  const content = JSON.stringify({ prompt: "Better greeting?", completions: ["Hello!", "Go away."] });
  assert.equal((await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);

  const labeler = await server.newMember(projectId, "labeler");
  const created = await labeler.client.json("POST", "/api/v1/me/tokens", { name: "my front-end", role: "labeler" });
  assert.equal(created.status, 201);
  const { secret, token } = (await created.json()) as Created;
  assert.match(secret, /^tdm_/);
  const bearer = { authorization: `Bearer ${secret}` };
  const script = server.client(); // no cookies: the token alone

  const claim = await script.json("POST", `/api/v1/projects/${projectId}/next-task`, undefined, bearer);
  assert.equal(claim.status, 200, await claim.clone().text());
  const { assignmentId } = (await claim.json()) as { assignmentId: string };
  const view = (await (await script.json("GET", `/api/v1/assignments/${assignmentId}`, undefined, bearer)).json()) as { completions: Array<{ id: string; text: string }> };
  const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
  const submitted = await script.json("POST", `/api/v1/assignments/${assignmentId}/submit`, { idempotencyKey: `personal-token-${assignmentId}`, payload: { ranking: { tiers: [[byText["Hello!"]], [byText["Go away."]]] } } }, bearer);
  assert.equal(submitted.status, 200, await submitted.clone().text());
  // The submission is the labeler's own, as if they had used the page.
  const row = await server.db.selectFrom("submissions").select("user_id").where("assignment_id", "=", assignmentId).executeTakeFirstOrThrow();
  assert.equal(row.user_id, labeler.id);
  // …and the token is still only a labeler: no researcher endpoint.
  assert.equal((await script.json("GET", `/api/v1/projects/${projectId}/rounds`, undefined, bearer)).status, 403);

  // Their own list shows it (no secret); revoking it ends it at once.
  const own = (await (await labeler.client.get("/api/v1/me/tokens")).json()) as Array<{ id: string }>;
  assert.deepEqual(own.map((t) => t.id), [token.id]);
  assert.ok(!JSON.stringify(own).includes(secret));
  assert.equal((await labeler.client.json("DELETE", `/api/v1/me/tokens/${token.id}`)).status, 204);
  assert.equal((await script.json("POST", `/api/v1/projects/${projectId}/next-task`, undefined, bearer)).status, 401);
});

test("never above one's own role: a labeler cannot make a reviewer or trainer token; nothing is stored", async () => {
  const labeler = await server.newUser("labeler");
  for (const role of ["reviewer", "admin", "trainer"]) {
    const refused = await labeler.client.json("POST", "/api/v1/me/tokens", { name: "too much", role });
    assert.equal(refused.status, 422, role);
    const problem = (await refused.json()) as Problem;
    assert.deepEqual(problem.errors?.map((e) => e.path), ["role"]);
  }
  assert.deepEqual(await (await labeler.client.get("/api/v1/me/tokens")).json(), []);
  // A researcher may make a lower one.
  const researcher = await server.newUser("researcher");
  assert.equal((await researcher.client.json("POST", "/api/v1/me/tokens", { name: "judge", role: "labeler" })).status, 201);
});

test("one's own tokens only; admins see and revoke everyone's; a token cannot make tokens", async () => {
  const alice = await server.newUser("labeler");
  const bob = await server.newUser("reviewer");
  const aliceToken = (await (await alice.client.json("POST", "/api/v1/me/tokens", { name: "alice", role: "labeler" })).json()) as Created;
  // Bob neither sees nor revokes Alice's token.
  assert.deepEqual(await (await bob.client.get("/api/v1/me/tokens")).json(), []);
  assert.equal((await bob.client.json("DELETE", `/api/v1/me/tokens/${aliceToken.token.id}`)).status, 404);
  // A token is no session: it cannot mint another.
  const minted = await server.client().json("POST", "/api/v1/me/tokens", { name: "more", role: "labeler" }, { authorization: `Bearer ${aliceToken.secret}` });
  assert.equal(minted.status, 403);
  // The admin sees it, with its owner, and revokes it.
  const admin = await server.newUser("admin");
  const all = (await (await admin.client.get("/api/v1/tokens")).json()) as Array<{ id: string; owner_email: string }>;
  assert.equal(all.find((t) => t.id === aliceToken.token.id)?.owner_email, alice.email);
  assert.equal((await admin.client.json("DELETE", `/api/v1/tokens/${aliceToken.token.id}`)).status, 204);
  assert.equal((await server.client().get("/api/v1/me", { authorization: `Bearer ${aliceToken.secret}` })).status, 401);
});

test("the account page makes, shows once, and revokes a person's own tokens", async () => {
  const labeler = await server.newUser("labeler");
  const page = (await (await labeler.client.get("/account", { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.ok(page.includes("Your API tokens"));
  assert.ok(!page.includes('value="reviewer"'), "only roles up to one's own are offered");

  const created = await labeler.client.postForm("/account", { intent: "create-token", name: "page token", role: "labeler" }, { accept: "text/html" });
  assert.equal(created.status, 200);
  const html = await created.text();
  const secret = /data-testid="new-token"[^>]*>(tdm_[^<]+)</.exec(html)?.[1];
  assert.ok(secret, "the secret is shown once");
  const me = await server.client().get("/api/v1/me", { authorization: `Bearer ${secret}` });
  assert.equal(((await me.json()) as { role: string }).role, "labeler");
  assert.ok(!(await (await labeler.client.get("/account", { accept: "text/html" })).text()).includes(secret), "never shown again");

  // Above one's role through the page: refused beside the field, nothing stored.
  const refused = await labeler.client.postForm("/account", { intent: "create-token", name: "too much", role: "admin" }, { accept: "text/html" });
  assert.equal(refused.status, 422);
  const refusedHtml = await refused.text();
  assert.ok(/<select id="field-role"[^]*?<\/select><p[^>]*>choose labeler<\/p>/.test(refusedHtml), "the reason shows beside the role");
  const tokens = await server.db.selectFrom("api_tokens").select(["id", "name"]).where("user_id", "=", labeler.id).execute();
  assert.deepEqual(tokens.map((t) => t.name), ["page token"]);

  const revoked = await labeler.client.postForm("/account", { intent: "revoke-token", tokenId: tokens[0]!.id }, { accept: "text/html" });
  assert.equal(revoked.status, 200);
  assert.equal((await server.client().get("/api/v1/me", { authorization: `Bearer ${secret}` })).status, 401);
});
