// Registers tfjs-core's gradient functions.
//
// Why this file exists: Node resolves `@tensorflow/tfjs-core` to its CommonJS bundle, and that bundle
// registers no gradients at all (`tf.grad` fails with "gradient function not found for RealDiv").
// The gradients ship only as ESM files under `dist/gradients/`, whose relative imports have no
// extension and which Node's ESM resolver refuses. A tiny resolve hook, scoped to files inside
// tfjs-core's `dist/`, adds the `.js`. The ESM copy shares the engine and the kernel/gradient
// registries with the CommonJS copy (tfjs keeps them on `globalThis`), so the registration is global.
// See docs/decisions/trainer-001-backend-and-gradients.md.
import { register } from "node:module";

const HOOK_SOURCE = `
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (parent && parent.includes("/@tensorflow/tfjs-core/dist/") &&
      (specifier.startsWith("./") || specifier.startsWith("../")) && !specifier.endsWith(".js")) {
    const url = new URL(specifier + ".js", parent);
    if (existsSync(fileURLToPath(url))) return { url: url.href, format: "module", shortCircuit: true };
  }
  return next(specifier, context);
}`;

let registered: Promise<void> | undefined;

/** Idempotent: the first call loads all gradients (~0.6 s), later calls return the same promise. */
export function registerTfjsGradients(): Promise<void> {
  registered ??= (async () => {
    register(`data:text/javascript,${encodeURIComponent(HOOK_SOURCE)}`);
    await import("@tensorflow/tfjs-core/dist/register_all_gradients.js");
  })();
  return registered;
}
