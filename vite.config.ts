import { reactRouter } from "@react-router/dev/vite";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";

/**
 * React Router 7's build creates helper Vite servers with `envFile: false`, which Vite 8 warns
 * about for every one of them ("The `envFile` option is deprecated…": nine lines per build, so
 * at every `npm start` that builds). The option is theirs and harmless, and their helper servers
 * take no logger of ours, so this drops exactly that line from Vite's default logger (which
 * writes warnings with console.warn) and lets everything else through.
 */
const deprecatedEnvFile = "`envFile` option is deprecated";
/* eslint-disable no-console -- filtering Vite's own console output is the point here */
const consoleWarn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && args[0].includes(deprecatedEnvFile)) return;
  consoleWarn(...args);
};
/* eslint-enable no-console */

export default defineConfig({
  plugins: [tailwindcss(), reactRouter()],
});
