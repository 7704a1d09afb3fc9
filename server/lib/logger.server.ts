import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * JSON lines on stdout (or `destination`: tests capture the log to grep it for secrets); secrets
 * that might ride along in objects are redacted by path.
 */
export function createLogger(level: string, name = "tandem", destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: {
      paths: ["password", "*.password", "token", "*.token", "req.headers.cookie", "req.headers.authorization", "url"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
