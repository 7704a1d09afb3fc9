/**
 * What the ranking task page downloads in JavaScript, raw and compressed as the server sends it
 * (gzip -6, brotli 5: server/http/compression.server.ts). Reads the UI build's route manifest:
 *   npm run build && npx tsx bench/page-weight.ts
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const client = path.resolve("build/client");
const assets = path.join(client, "assets");
const manifestFile = fs.readdirSync(assets).find((f) => f.startsWith("manifest-") && f.endsWith(".js"));
if (!manifestFile) throw new Error("no UI build: run `npm run build` first");
const text = fs.readFileSync(path.join(assets, manifestFile), "utf8");
type Entry = { module: string; imports?: string[] };
const manifest = JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1)) as { entry: Entry; routes: Record<string, Entry> };

// The task page: the client entry, the root and shell layouts, and the task route with their imports.
const files = new Set<string>();
for (const entry of [manifest.entry, ...["root", "routes/shell", "routes/task"].map((id) => manifest.routes[id]!)]) {
  files.add(entry.module);
  for (const file of entry.imports ?? []) files.add(file);
}
let raw = 0;
let gzip = 0;
let brotli = 0;
for (const file of files) {
  const bytes = fs.readFileSync(path.join(client, file));
  raw += bytes.length;
  gzip += zlib.gzipSync(bytes, { level: 6 }).length;
  brotli += zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }).length;
}
const kb = (n: number) => `${(n / 1000).toFixed(1)} KB`;
console.log(`ranking task page JavaScript: ${files.size} files, raw ${kb(raw)}, gzip ${kb(gzip)}, brotli ${kb(brotli)}`);
