import { pino, type Logger } from "pino";

export type { Logger };

/** JSON lines on stdout; secrets that might ride along in objects are redacted by path. */
export function createLogger(level: string, name = "tandem"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ["password", "*.password", "token", "*.token", "req.headers.cookie", "req.headers.authorization", "url"],
      censor: "[redacted]",
    },
  });
}
