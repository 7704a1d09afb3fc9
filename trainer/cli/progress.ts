// Progress bars for long work (training steps, reference log-probs, sampling, evaluation).
//
// They go to stderr and only when stderr is a terminal: stdout carries the JSON lines that the
// service and scripts parse, and a redirected stderr (a log file, the service's pipe) should not
// fill up with carriage returns. Hand-written rather than a package (cli-progress, progress): one
// bar at a time with a count, rate and ETA is all the trainer needs, and ~50 lines keep the
// trainer's dependencies to the numerics.

/** What a bar writes to: process.stderr, or a fake in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  /** `done` of `total` finished; `note` is a short status such as "loss 2.31". */
  update(done: number, note?: string): void;
  /** Draws the final state and ends the line. */
  finish(note?: string): void;
}

const NONE: Progress = { update() {}, finish() {} };

/** The bar on screen, so a JSON line printed to the same terminal can step around it. */
let active: { stream: ProgressStream; redraw: () => void } | null = null;

/**
 * Call around a write to stdout when stdout is the same terminal: `before` clears the bar's line so
 * the JSON line starts at column 0, `after` draws the bar again below it.
 */
export const progressLine = {
  before(): void {
    active?.stream.write("\r\x1b[K");
  },
  after(): void {
    active?.redraw();
  },
  /** Leaves an unfinished bar (the work failed) where it is and ends its line. */
  abandon(): void {
    active?.stream.write("\n");
    active = null;
  },
};

/** Redraw at most this often (ms): a redraw per tiny step would cost more than the step on nano. */
const MIN_INTERVAL_MS = 100;

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, "0")}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, "0")}m`;
}

/** A one-line bar; a no-op unless the stream is a TTY. `now` is injectable so tests need no clock. */
export function createProgress(label: string, total: number, options: { stream?: ProgressStream; now?: () => number } = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY || total <= 0) return NONE;
  const now = options.now ?? (() => performance.now());
  const start = now();
  let first: { at: number; done: number } | null = null;
  let lastDraw = -Infinity;
  let last: { done: number; note: string | undefined } | null = null;

  const draw = (done: number, note: string | undefined, final: boolean, force = false): void => {
    const t = now();
    last = { done, note };
    if (!final && !force && t - lastDraw < MIN_INTERVAL_MS) return;
    lastDraw = t;
    // the rate skips the first update, which includes start-up work (backend, first-step compile)
    first ??= { at: t, done };
    const rate = t > first.at ? ((done - first.done) / (t - first.at)) * 1000 : NaN; // items per second
    const eta = rate > 0 ? (total - done) / rate : NaN;
    const width = 20;
    const filled = Math.round((Math.min(done, total) / total) * width);
    const bar = "#".repeat(filled) + ".".repeat(width - filled);
    const pct = Math.floor((100 * Math.min(done, total)) / total);
    const timing = final ? formatSeconds((t - start) / 1000) : `${Number.isFinite(rate) ? rate.toFixed(2) : "?"}/s eta ${formatSeconds(eta)}`;
    let line = `${label} [${bar}] ${done}/${total} ${pct}% ${timing}${note ? ` ${note}` : ""}`;
    if (stream.columns && line.length > stream.columns - 1) line = line.slice(0, stream.columns - 1);
    stream.write(`\r${line}\x1b[K${final ? "\n" : ""}`); // \x1b[K clears what a longer previous line left
    active = final ? null : { stream, redraw: () => last && draw(last.done, last.note, false, true) };
  };

  return {
    update: (done, note) => draw(done, note, false),
    finish: (note) => draw(total, note, true),
  };
}
