// Trainer CLI: `npm run trainer -- <command> --config job.json [--out dir]`.
// Commands: train-tokenizer, pretrain, mix-search, sft, reward, dpo, ppo, grpo, rloo, kto, sample, eval, heldout (see trainer/contract/job.ts);
// export-hf --checkpoint <dir> --out <hf dir> [--merged], import-hf --hf <hf dir> --out <dir> [--base <dir>]
// and logits --model <dir> --ids 1,2,3 (trainer/cli/hf.ts).
// Output: JSON lines on stdout (also appended to <out>/metrics.jsonl); exit 1 on failure, 2 on a bad config.
import { join } from "node:path";
import { jobSpecSchema } from "./contract/job.ts";
import { progressLine } from "./cli/progress.ts";
import { createJobLogger } from "./cli/logger.ts";
import { readJobFile, runJob } from "./cli/run-job.ts";
import { exportHfCommand, importHfCommand, logitsCommand } from "./cli/hf.ts";
import { serve } from "./service/serve.ts";
import { TOKEN_REFUSED_EXIT } from "./contract/service-exit.ts";
import { runInferenceWorker } from "./service/inference-worker.ts";

const USAGE = [
  "usage: npm run trainer -- <train-tokenizer|pretrain|mix-search|sft|reward|dpo|ppo|grpo|rloo|kto|sample|eval|heldout> --config <job.json> [--out <dir>]",
  "       npm run trainer -- export-hf --checkpoint <checkpoint dir> --out <hf dir> [--merged]",
  "       npm run trainer -- import-hf --hf <hf dir or PEFT adapter dir> --out <checkpoint dir> [--base <checkpoint dir>]",
  "       npm run trainer -- logits --model <hf dir or checkpoint dir> --ids 1,2,3",
  "       TANDEM_TRAINER_TOKEN=tdm_… npm run trainer -- serve --server <url> [--poll <seconds>] [--exit-when-idle] [--backend auto|wasm|cpu|…]",
].join("\n");

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const flag = (name: string): string | undefined => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  if (command === "infer") {
    // JSON lines on stdin/stdout; started by the server for its playground and /v1 endpoint.
    await runInferenceWorker();
    return 0;
  }
  if (command === "serve") {
    const server = flag("server");
    const token = process.env.TANDEM_TRAINER_TOKEN;
    if (!server || !token) {
      console.error(`${USAGE}\n\nserve needs --server and a trainer API token in TANDEM_TRAINER_TOKEN.`);
      return 2;
    }
    const backend = flag("backend");
    const outcome = await serve({ server, token, pollSeconds: Number(flag("poll") ?? 2), exitWhenIdle: rest.includes("--exit-when-idle"), ...(backend ? { backend } : {}) });
    return outcome === "token-refused" ? TOKEN_REFUSED_EXIT : 0;
  }
  if (command === "logits") {
    const model = flag("model");
    const ids = flag("ids");
    if (!model || !ids) {
      console.error(USAGE);
      return 2;
    }
    try {
      process.stdout.write(JSON.stringify(await logitsCommand(model, ids)) + "\n");
      return 0;
    } catch (error) {
      console.error(error instanceof Error ? error.message : String(error));
      return 1;
    }
  }
  if (command === "export-hf" || command === "import-hf") {
    const source = flag(command === "export-hf" ? "checkpoint" : "hf");
    const target = flag("out");
    if (!source || !target) {
      console.error(USAGE);
      return 2;
    }
    const log = createJobLogger();
    try {
      if (command === "export-hf") await exportHfCommand(source, target, log, { merged: rest.includes("--merged") });
      else {
        const base = flag("base");
        await importHfCommand(source, target, log, base ? { base } : {});
      }
      return 0;
    } catch (error) {
      log.event("failed", { message: error instanceof Error ? error.message : String(error) });
      return 1;
    }
  }
  const configPath = flag("config");
  if (!command || command.startsWith("-") || !configPath) {
    console.error(USAGE);
    return 2;
  }
  const raw = readJobFile(configPath, command) as Record<string, unknown>;
  const out = flag("out");
  const parsed = jobSpecSchema.safeParse(out ? { ...raw, out } : raw);
  if (!parsed.success) {
    console.error(`invalid job config ${configPath}:`);
    for (const issue of parsed.error.issues) console.error(`  ${issue.path.join(".") || "(root)"}: ${issue.message}`);
    return 2;
  }
  const log = createJobLogger({ file: join(parsed.data.out, "metrics.jsonl") });
  try {
    await runJob(parsed.data, log);
    return 0;
  } catch (error) {
    progressLine.abandon();
    log.event("failed", { message: error instanceof Error ? error.message : String(error) });
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
