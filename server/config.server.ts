import path from "node:path";
import { z } from "zod";

/**
 * Every setting Tandem reads from the environment, validated once at start.
 * A bad value stops the process with one message naming every bad variable.
 */
const booleanFlag = z
  .enum(["0", "1", "true", "false"])
  .transform((value) => value === "1" || value === "true");

export const configSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: "must be a postgres:// or postgresql:// URL" })
    .optional(),
  TANDEM_DATA_DIR: z.string().min(1).default(".tandem"),
  TANDEM_ADMIN_EMAIL: z.email().default("admin@tandem.local"),
  TANDEM_ADMIN_PASSWORD: z.string().min(12, "must be at least 12 characters").optional(),
  TANDEM_PUBLIC_URL: z.url().optional(),
  TANDEM_TRUST_PROXY: booleanFlag.default(false),
  TANDEM_SOCKET_ADAPTER: z.enum(["memory", "postgres"]).default("memory"),
  TANDEM_SESSION_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  TANDEM_LOGIN_ATTEMPTS: z.coerce.number().int().min(1).max(1000).default(5),
  TANDEM_BODY_LIMIT: z.string().regex(/^\d+(b|kb|mb)$/i, "must look like 100kb or 2mb").default("1mb"),
  TANDEM_IMPORT_LIMIT: z.string().regex(/^\d+(b|kb|mb)$/i, "must look like 100kb or 50mb").default("100mb"),
  /** Largest checkpoint file a trainer may upload (GPT-2 124M is ≈ 500 MB in fp32). */
  TANDEM_MODEL_UPLOAD_LIMIT: z.string().regex(/^\d+(b|kb|mb|gb)$/i, "must look like 500mb or 2gb").default("2gb"),
  /** The only folder Hugging Face models may be imported from by path (default: TANDEM_DATA_DIR/hf-models). */
  TANDEM_HF_IMPORT_DIR: z.string().min(1).optional(),
  /** On the first start (no projects yet), seed the mental-math demo project and its first round. */
  TANDEM_DEMO: z.enum(["on", "off"]).default("on"),
  /** Start one trainer service beside the server (`npm start`); off when trainers run elsewhere. */
  TANDEM_TRAINER: z.enum(["embedded", "off"]).default("embedded"),
  /** Seconds a trainer holds a job between heartbeats before it goes back to the queue. */
  TANDEM_JOB_LEASE_SECONDS: z.coerce.number().int().min(5).max(3600).default(60),
  /** A bearer secret that may read /metrics and nothing else (for Prometheus); admins may always read it. */
  TANDEM_METRICS_TOKEN: z.string().min(24, "must be at least 24 characters").optional(),
  /** Least seconds between two recomputations of a project's agreement for /metrics. */
  TANDEM_METRICS_AGREEMENT_REFRESH_SECONDS: z.coerce.number().int().min(0).max(86400).default(60),
  /** A Ray cluster's dashboard (e.g. http://head:8265): rounds may then be handed to it (decision 0017). */
  TANDEM_RAY_DASHBOARD_URL: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
  /** Where on the cluster's shared storage a handed-off round writes its checkpoints (one folder per round). */
  TANDEM_RAY_OUTPUT_DIR: z.string().min(1).default("/tmp/tandem-rounds"),
  /** How often the server asks the cluster about handed-off rounds. */
  TANDEM_RAY_POLL_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  /**
   * Key that encrypts external endpoints' API keys at rest (AES-256-GCM): 32 bytes as 64 hex
   * characters or base64. Unset: generated once into TANDEM_DATA_DIR/secret.key (mode 0600).
   */
  TANDEM_SECRET_KEY: z
    .string()
    .refine((v) => /^[0-9a-fA-F]{64}$/.test(v) || Buffer.from(v, "base64").length === 32, "must be 32 bytes: 64 hex characters or base64")
    .optional(),
  /** Milliseconds between the external-sampling runner's looks for queued runs (0 turns the runner off). */
  TANDEM_GENERATION_POLL_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  /** The only folder corpora may be registered from by path (default: TANDEM_DATA_DIR/corpora). */
  TANDEM_CORPUS_DIR: z.string().min(1).optional(),
  /** Largest corpus file one upload may send (streamed to the database, never held in memory). */
  TANDEM_CORPUS_UPLOAD_LIMIT: z.string().regex(/^\d+(b|kb|mb|gb)$/i, "must look like 500mb or 2gb").default("2gb"),
  /** Milliseconds between the corpus-cleaning runner's looks for queued jobs (0 turns the runner off on this instance). */
  TANDEM_CLEANING_POLL_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  /** Documents a cleaning job's duplicate index keeps in memory before it spills to sorted files on disk (≈ 2.7 KB each; decision 0057). */
  TANDEM_CLEANING_INDEX_MEMORY: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
  /** Folder for the spilled duplicate index (a subfolder per job, deleted when it stops); default the OS temp folder. */
  TANDEM_CLEANING_SPILL_DIR: z.string().min(1).optional(),
  /** Milliseconds between the model judge's looks for unjudged tasks (0 turns the judge off on this instance). */
  TANDEM_JUDGE_POLL_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  /** Milliseconds between the reward-score runner's looks for unscored tasks of uncertainty-first projects (0 turns it off on this instance). */
  TANDEM_SCORE_POLL_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Requests slower than this are logged at info (the rest at debug). */
  TANDEM_SLOW_REQUEST_MS: z.coerce.number().int().min(1).default(1000),
});

const SECRET_VARIABLES = new Set(["DATABASE_URL", "TANDEM_ADMIN_PASSWORD", "TANDEM_METRICS_TOKEN", "TANDEM_SECRET_KEY"]);

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Tandem cannot start: bad environment variables\n${issues.map((issue) => `  - ${issue}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, the way shells and .env files usually mean them.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const result = configSchema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        // Never echo a secret back into a terminal or a log.
        const shown = SECRET_VARIABLES.has(name) ? "(hidden)" : JSON.stringify(present[name] ?? null);
        return `${name}: ${issue.message} (got ${shown})`;
      }),
    );
  }
  return { ...result.data, TANDEM_DATA_DIR: path.resolve(result.data.TANDEM_DATA_DIR) };
}
