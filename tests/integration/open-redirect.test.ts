/**
 * Open redirects (issue 12, finding 1): every route that redirects to a target the client chose
 * gets a list of known open-redirect payloads. A Location header is judged the way a browser
 * judges it (WHATWG URL against the page's URL, which strips tabs and newlines); it must stay on
 * our origin. Targets with control or whitespace characters are refused with 400, never 500.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { UNSAFE_URL_CHARS } from "../../server/lib/unsafe-text.ts";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

/** Payloads from open-redirect cheat sheets, plus the ones the evaluation found. */
const payloads = [
  "//evil.example",
  "///evil.example",
  "////evil.example/",
  "/\\evil.example",
  "/\\/evil.example",
  "\\\\evil.example",
  "\\/evil.example",
  "/%2F/evil.example",
  "/%5Cevil.example",
  "//%65vil.example",
  "/.//evil.example",
  "/..//evil.example",
  "/x/..//evil.example",
  "/./\\evil.example",
  "https://evil.example",
  "HTTPS://evil.example",
  "http:evil.example",
  "http:/evil.example",
  "https:/\\evil.example",
  "//evil.example@127.0.0.1",
  "/@evil.example",
  "javascript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "/\uff0f/evil.example",
  "/ü/€/路径",
  // Characters browsers drop or treat as separators: refused with 400.
  "/\t/evil.example",
  "/\n/evil.example",
  "/\r/evil.example",
  "/\r\n/evil.example",
  "/\r\nSet-Cookie: x=1",
  "/ /evil.example",
  " //evil.example",
  "\t//evil.example",
  "/\u000b/evil.example",
  "/\u000c/evil.example",
  "/\u0000/evil.example",
  "/\u007f/evil.example",
  "/\u0085/evil.example",
  "/\u00a0/evil.example",
  "/\u2028/evil.example",
  "/\u2029/evil.example",
  "/\u200b/evil.example",
  "/\ufeff/evil.example",
];
const hasControlOrSpace = (p: string) => UNSAFE_URL_CHARS.test(p);

/** The response either refuses (400 for control characters) or redirects on our own origin. */
async function assertSafe(route: string, payload: string, response: Response, expectRedirect = true): Promise<void> {
  const label = `${route} with ${JSON.stringify(payload)}`;
  assert.ok(response.status < 500, `${label}: ${response.status}`);
  if (hasControlOrSpace(payload)) {
    assert.equal(response.status, 400, `${label} is refused`);
    return;
  }
  if (!expectRedirect) return;
  assert.equal(response.status, 302, label);
  const location = response.headers.get("location");
  assert.ok(location, label);
  const followed = new URL(location, server.url + "/login");
  assert.equal(followed.origin, new URL(server.url).origin, `${label} → Location ${JSON.stringify(location)}`);
}

test("GET /login?redirectTo= (signed in) never leaves the site", async () => {
  const { client } = await server.newUser("labeler");
  for (const payload of payloads) {
    await assertSafe("GET /login", payload, await client.get("/login?" + new URLSearchParams({ redirectTo: payload }).toString()));
  }
  // The raw form from the report: a percent-encoded tab in the query string.
  await assertSafe("GET /login", "/\t/evil.example", await client.get("/login?redirectTo=/%09/evil.example"));
});

test("GET /login?redirectTo= (anonymous) puts only a local path into the form", async () => {
  const client = server.client();
  for (const payload of payloads) {
    const response = await client.get("/login?" + new URLSearchParams({ redirectTo: payload }).toString());
    await assertSafe("GET /login (anonymous)", payload, response, false);
    if (response.status !== 200) continue;
    const value = /name="redirectTo" value="([^"]*)"/.exec(await response.text())?.[1];
    assert.ok(value !== undefined, payload);
    const target = value.replaceAll("&amp;", "&").replaceAll("&#x27;", "'").replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&gt;", ">");
    assert.equal(new URL(target, server.url).origin, new URL(server.url).origin, `${JSON.stringify(payload)} → ${value}`);
  }
});

test("the sign-in form POST /login never leaves the site", async () => {
  const { email, password } = await server.newUser("labeler");
  for (const payload of payloads) {
    const client: HttpClient = server.client();
    await assertSafe("POST /login", payload, await client.postForm("/login", { email, password, redirectTo: payload }));
  }
});

test("POST /theme (returnTo) never leaves the site", async () => {
  const { client } = await server.newUser("labeler");
  for (const payload of payloads) {
    await assertSafe("POST /theme", payload, await client.postForm("/theme", { theme: "dark", returnTo: payload }));
  }
});

test("a page visit without a session sends the path to /login, on our origin", async () => {
  for (const path of ["//evil.example/projects", "/\\evil.example", "/projects?x=//evil.example"]) {
    const response = await fetch(server.url + path, { redirect: "manual" });
    assert.ok(response.status < 500, path);
    const location = response.headers.get("location");
    if (location) assert.equal(new URL(location, server.url).origin, new URL(server.url).origin, `${path} → ${location}`);
  }
});

test("local targets still work, query and fragment kept", async () => {
  const { client } = await server.newUser("labeler");
  const response = await client.get("/login?" + new URLSearchParams({ redirectTo: "/projects?page=2#top" }).toString());
  assert.equal(response.status, 302);
  assert.equal(response.headers.get("location"), "/projects?page=2#top");
});
