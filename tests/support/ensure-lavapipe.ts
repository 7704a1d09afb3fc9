/**
 * Before the webgpu tests (`npm test`, CI): a software Vulkan device, so that the webgpu backend's
 * numerical tests run on machines without a GPU (decision trainer-033).
 *
 * Dawn (the `webgpu` package) refuses the lavapipe of Debian 12's Mesa 22 ("shaderUniform*ArrayDynamicIndexing
 * required") and accepts Mesa 25's. As root with apt-get this installs libvulkan1 and the distribution's
 * mesa-vulkan-drivers (which bring the libraries lavapipe links to), then on Debian 12 unpacks
 * bookworm-backports' mesa-vulkan-drivers and libdrm into node_modules/.cache/tandem-lavapipe, without adding
 * the backports to the machine's sources, and asks Dawn for an adapter there. Without root, apt-get, a mirror
 * or an adapter it says why and exits 3, and the webgpu tests skip their device cases; any other exit is a
 * bug, and fails `npm test`.
 *
 * Prints shell `export` lines (VK_ICD_FILENAMES, LD_LIBRARY_PATH) on stdout; everything else goes to stderr.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const NOT_READY = 3;
const REPO = resolve(fileURLToPath(import.meta.url), "../../..");
// inside the checkout, not a shared /tmp path another user could prepare: the library it names is loaded as root
const ROOT = join(REPO, "node_modules/.cache/tandem-lavapipe");
const ICD = join(ROOT, "lvp_icd.json");
const LIBS = join(ROOT, "root/usr/lib/x86_64-linux-gnu");
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
// an unreachable mirror must cost seconds, not the run
const NET = ["-o", "Acquire::Retries=0", "-o", "Acquire::http::Timeout=15", "-o", "Acquire::https::Timeout=15"];

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function apt(args: string[], cwd?: string): string | null {
  const r = spawnSync("apt-get", args, { env, cwd, encoding: "utf8", timeout: 240_000 });
  if (r.status === 0) return null;
  const tail = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-2).join(" / ");
  return `apt-get ${args.find((a) => !a.startsWith("-")) ?? ""} failed (${r.error ? r.error.message : `exit ${r.status ?? "?"}`}${tail ? `: ${tail}` : ""})`;
}

function prepare(): string | null {
  if (existsSync(ICD)) return null;
  if (process.arch !== "x64") return `no lavapipe recipe for ${process.arch}`;
  if (process.getuid?.() !== 0) return "not root; the device cases need Mesa 25's lavapipe (see tests/support/ensure-lavapipe.ts)";
  if (spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status !== 0) return "no apt-get on this machine";
  const codename = /VERSION_CODENAME=(\w+)/.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
  say(`installing libvulkan1 and mesa-vulkan-drivers with apt-get (${codename || "unknown release"}) …`);
  const failed = apt(["update", "-qq", ...NET]) ?? apt(["install", "-y", "-qq", "--no-install-recommends", ...NET, "libvulkan1", "mesa-vulkan-drivers"]);
  if (failed) return failed;
  const debs = join(ROOT, "debs");
  mkdirSync(join(debs, "lists/partial"), { recursive: true });
  if (codename === "bookworm") {
    // Mesa 25 from the backports, in a list of its own: the machine's sources stay as they are
    const list = join(debs, "backports.list");
    writeFileSync(list, "deb http://deb.debian.org/debian bookworm-backports main\n");
    const own = ["-o", `Dir::Etc::SourceList=${list}`, "-o", "Dir::Etc::SourceParts=/dev/null", "-o", `Dir::State::Lists=${join(debs, "lists")}`];
    const got = apt([...own, "update", "-qq", ...NET]) ?? apt([...own, ...NET, "download", "mesa-vulkan-drivers", "libdrm2", "libdrm-amdgpu1"], debs);
    if (got) return got;
  } else {
    const got = apt([...NET, "download", "mesa-vulkan-drivers"], debs);
    if (got) return got;
  }
  for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) {
    const r = spawnSync("dpkg", ["-x", join(debs, deb), join(ROOT, "root")], { encoding: "utf8" });
    if (r.status !== 0) return `dpkg -x ${deb} failed: ${r.stderr.trim()}`;
  }
  const lib = join(LIBS, "libvulkan_lvp.so");
  if (!existsSync(lib)) return `${lib} is missing from the unpacked mesa-vulkan-drivers`;
  writeFileSync(ICD, JSON.stringify({ file_format_version: "1.0.0", ICD: { library_path: lib, api_version: "1.3.0" } }));
  return null;
}

/** Whether Dawn finds an adapter with this environment (another Mesa than 25 may be refused, as Debian 12's is). */
function adapterFound(vulkanEnv: Record<string, string>): string | null {
  const probe = "import { create, globals } from 'webgpu'; Object.assign(globalThis, globals); const a = await create([]).requestAdapter(); process.exit(a ? 0 : 4);";
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", probe], { cwd: REPO, env: { ...process.env, ...vulkanEnv, XDG_RUNTIME_DIR: process.env["XDG_RUNTIME_DIR"] ?? "/tmp" }, encoding: "utf8", timeout: 60_000 });
  return r.status === 0 ? null : `Dawn found no adapter on it (${r.status === 4 ? "refused" : `exit ${r.status ?? "?"}: ${(r.stderr ?? "").trim().split("\n").at(-1)}`})`;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
const vulkanEnv = { VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: [LIBS, process.env["LD_LIBRARY_PATH"]].filter(Boolean).join(":") };
const why = prepare() ?? adapterFound(vulkanEnv);
if (why) {
  say(`no software Vulkan device (${why}); the webgpu tests skip their device cases`);
  process.exit(NOT_READY);
}
say(`lavapipe ready: ${ICD}`);
for (const [name, value] of Object.entries(vulkanEnv)) console.log(`export ${name}=${shellQuote(value)}`);
