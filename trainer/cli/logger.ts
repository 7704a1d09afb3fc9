// The CLI's only output channel: one JSON object per line, to stdout and to a metrics file.
// Metrics use TRL's names so dashboards and debugging advice carry over.
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { progressLine } from "./progress.ts";

export interface JobLogger {
  event(type: string, fields?: Record<string, unknown>): void;
}

export function createJobLogger(options: { stdout?: boolean; file?: string } = {}): JobLogger {
  if (options.file) mkdirSync(dirname(options.file), { recursive: true });
  return {
    event(type, fields = {}) {
      const line = JSON.stringify({ time: new Date().toISOString(), type, ...fields }) + "\n";
      if (options.stdout !== false) {
        // a progress bar on the same terminal (stderr) would otherwise share the line
        const shared = process.stdout.isTTY === true;
        if (shared) progressLine.before();
        process.stdout.write(line);
        if (shared) progressLine.after();
      }
      if (options.file) appendFileSync(options.file, line);
    },
  };
}

/** For tests: keeps events in memory. */
export function createMemoryLogger(): JobLogger & { events: { type: string; [k: string]: unknown }[] } {
  const events: { type: string; [k: string]: unknown }[] = [];
  return { events, event: (type, fields = {}) => events.push({ type, ...fields }) };
}
