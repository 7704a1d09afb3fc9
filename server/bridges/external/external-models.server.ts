/**
 * What the server holds for external models: the box that encrypts endpoints' API keys and the
 * runner that executes generation runs and the model judges' runner (started with the server,
 * stopped with it).
 */
import type { Logger } from "pino";
import type { Config } from "../../config.server.ts";
import type { Db } from "../../db/database.server.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import { startGenerationRunner, type GenerationRunner } from "./generation-runner.server.ts";
import { startJudgeRunner, type JudgeRunner } from "../../labeling/judge/judge-runner.server.ts";
import { createSecretBox, loadSecretKey, type SecretBox } from "./secret-box.server.ts";

export type ExternalModels = { box: SecretBox; runner: GenerationRunner; judge: JudgeRunner; stop: () => Promise<void> };

export function startExternalModels(deps: { config: Config; db: Db; log: Logger; inference: Inference }): ExternalModels {
  // The key is read (or generated) on first use: a server whose projects use no endpoint writes no key file.
  let loaded: SecretBox | null = null;
  const real = () => (loaded ??= createSecretBox(loadSecretKey(deps.config)));
  const box: SecretBox = {
    get keyId() {
      return real().keyId;
    },
    encrypt: (plaintext, context) => real().encrypt(plaintext, context),
    decrypt: (stored, context) => real().decrypt(stored, context),
  };
  const runner = startGenerationRunner({ db: deps.db, log: deps.log.child({ component: "generation-runner" }), box, inference: deps.inference, pollMs: deps.config.TANDEM_GENERATION_POLL_MS });
  // Model judges (decision 0035) ask the same endpoints and models, so they run here too.
  const judge = startJudgeRunner({ db: deps.db, log: deps.log.child({ component: "judge-runner" }), box, inference: deps.inference, pollMs: deps.config.TANDEM_JUDGE_POLL_MS });
  return { box, runner, judge, stop: async () => void (await Promise.all([runner.stop(), judge.stop()])) };
}
