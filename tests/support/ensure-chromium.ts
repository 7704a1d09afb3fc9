/**
 * The end-to-end tests drive Debian's Chromium (Playwright cannot download a browser here).
 * Installs it with apt-get when we are root and it is missing; otherwise says what to install.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";

export const CHROMIUM = process.env.TANDEM_CHROMIUM ?? "/usr/bin/chromium";

if (!fs.existsSync(CHROMIUM)) {
  const canInstall = process.getuid?.() === 0 && spawnSync("which", ["apt-get"]).status === 0;
  if (!canInstall) {
    console.error(`Chromium is missing at ${CHROMIUM}. Install it (Debian/Ubuntu: sudo apt-get install -y chromium) or set TANDEM_CHROMIUM to a Chromium binary.`);
    process.exit(1);
  }
  console.log("Installing Debian's chromium for the end-to-end tests…");
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", "chromium"]]) {
    const result = spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (result.status !== 0) {
      console.error(`apt-get ${args.join(" ")} failed; install chromium by hand (apt-get install -y chromium).`);
      process.exit(1);
    }
  }
}
