/**
 * Pages, scripts and JSON are served compressed (gzip and brotli, as the client asks), and
 * there is a favicon (issue 14, item 8). Raw HTTP here: fetch would decompress out of sight.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import zlib from "node:zlib";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

type Raw = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

function rawGet(urlPath: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    http
      .get(server.url + urlPath, { headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      })
      .on("error", reject);
  });
}

function decode(raw: Raw): Buffer {
  const encoding = raw.headers["content-encoding"];
  if (encoding === "br") return zlib.brotliDecompressSync(raw.body);
  if (encoding === "gzip") return zlib.gunzipSync(raw.body);
  return raw.body;
}

/** The biggest JavaScript file of the UI build (the shared chunk every page loads). */
function biggestScript(): { urlPath: string; bytes: Buffer } {
  const dir = path.resolve("build/client/assets");
  const [name] = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".js"))
    .sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size);
  assert.ok(name, "the UI build has scripts");
  return { urlPath: `/assets/${name}`, bytes: fs.readFileSync(path.join(dir, name)) };
}

test("JavaScript comes as brotli or gzip, whichever the client accepts, byte-identical once decoded", async () => {
  const script = biggestScript();
  const br = await rawGet(script.urlPath, { "accept-encoding": "gzip, deflate, br" });
  assert.equal(br.status, 200);
  assert.equal(br.headers["content-encoding"], "br", "brotli when offered");
  assert.match(String(br.headers.vary), /Accept-Encoding/i);
  assert.ok(br.body.length < script.bytes.length / 2, `compressed ${br.body.length} of ${script.bytes.length} bytes`);
  assert.ok(decode(br).equals(script.bytes));
  const gzip = await rawGet(script.urlPath, { "accept-encoding": "gzip" });
  assert.equal(gzip.headers["content-encoding"], "gzip");
  assert.ok(decode(gzip).equals(script.bytes));
  const plain = await rawGet(script.urlPath, { "accept-encoding": "identity" });
  assert.equal(plain.headers["content-encoding"], undefined, "a client that takes no encoding gets the file as it is");
  assert.ok(plain.body.equals(script.bytes));
});

test("HTML pages and JSON answers are compressed; tiny answers are not", async () => {
  const page = await rawGet("/login", { "accept-encoding": "br" });
  assert.equal(page.status, 200);
  assert.match(String(page.headers["content-type"]), /text\/html/);
  assert.equal(page.headers["content-encoding"], "br");
  const html = decode(page).toString("utf8");
  assert.match(html, /<link rel="icon" href="\/favicon\.svg" type="image\/svg\+xml"\/>/, "every page links the favicon");

  const api = await rawGet("/api/v1/openapi.json", { "accept-encoding": "gzip" });
  assert.equal(api.status, 200);
  assert.equal(api.headers["content-encoding"], "gzip");
  assert.equal((JSON.parse(decode(api).toString("utf8")) as { openapi: string }).openapi, "3.1.0");

  const health = await rawGet("/healthz", { "accept-encoding": "gzip, br" });
  assert.equal(health.headers["content-encoding"], undefined, "under 1 KB: sent as it is");
});

test("a favicon: /favicon.svg, and the classic /favicon.ico path leads to it", async () => {
  const icon = await rawGet("/favicon.svg");
  assert.equal(icon.status, 200);
  assert.match(String(icon.headers["content-type"]), /image\/svg\+xml/);
  assert.match(icon.body.toString("utf8"), /^<svg /);
  const classic = await rawGet("/favicon.ico");
  assert.equal(classic.status, 301);
  assert.equal(classic.headers.location, "/favicon.svg");
});
