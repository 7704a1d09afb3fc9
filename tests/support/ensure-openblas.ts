/**
 * Before the trainer tests (`npm test`, CI): makes the native-BLAS path testable, then says which
 * paths the trainer's numerical tests will run on (decision trainer-014).
 *
 * The trainer multiplies on the system's OpenBLAS when it loads (decision trainer-010) and on plain
 * wasm otherwise, and both must pass the same numerical tests (issue 15). CI machines come without
 * the library, so as root with apt-get this installs Debian's libopenblas0-pthread when no OpenBLAS
 * loads. This never fails the run: without root, apt-get or a reachable mirror it says why and the
 * tests run on wasm alone.
 *
 * Exit status: 0 when native BLAS loads and passes its self-check (run the numerical tests twice),
 * 3 when it does not (once is enough: both runs would be wasm).
 */
import { spawnSync } from "node:child_process";
import { loadNativeBlas } from "../../trainer/backend/native-blas.ts";

const PACKAGE = "libopenblas0-pthread";
const NO_BLAS = 3;

if (process.env["TANDEM_BLAS"] === "off") {
  console.log("TANDEM_BLAS=off: the trainer tests run on plain wasm only");
  process.exit(NO_BLAS);
}

let blas = await loadNativeBlas({ threads: 1 });
if ("reason" in blas) {
  const why = install();
  if (why) {
    console.log(`native BLAS not available (${why}); the trainer tests run on plain wasm only`);
    process.exit(NO_BLAS);
  }
  blas = await loadNativeBlas({ threads: 1 });
}
if ("reason" in blas) {
  console.log(`native BLAS still unusable after installing ${PACKAGE}: ${blas.reason}; the trainer tests run on plain wasm only`);
  process.exit(NO_BLAS);
}
console.log(`native BLAS: ${blas.library} (${blas.config}); the trainer's numerical tests run on it and again with TANDEM_BLAS=off`);

/** apt-get update + install, quietly and bounded in time; returns why it could not, or null. */
function install(): string | null {
  if (process.getuid?.() !== 0) return `not root; to test it: sudo apt-get install -y ${PACKAGE}`;
  if (spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status !== 0) return "no apt-get on this machine";
  console.log(`installing ${PACKAGE} with apt-get …`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // an unreachable mirror must cost seconds, not the run: no retries, short network timeouts, and a
  // hard limit on each command
  const net = ["-o", "Acquire::Retries=0", "-o", "Acquire::http::Timeout=15", "-o", "Acquire::https::Timeout=15"];
  for (const args of [["update", "-qq", ...net], ["install", "-y", "-qq", "--no-install-recommends", ...net, PACKAGE]]) {
    const r = spawnSync("apt-get", args, { env, encoding: "utf8", timeout: 180_000 });
    if (r.status !== 0) {
      const tail = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-3).join(" / ");
      return `apt-get ${args[0]} failed (${r.error ? r.error.message : `exit ${r.status ?? "?"}`}${tail ? `: ${tail}` : ""})`;
    }
  }
  return null;
}
