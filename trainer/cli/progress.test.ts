import { test } from "node:test";
import assert from "node:assert/strict";
import { createProgress, formatSeconds, progressLine, type ProgressStream } from "./progress.ts";

/** A fake terminal that records what was written, and a clock the test moves by hand. */
function fakes(isTTY: boolean): { stream: ProgressStream & { out: string }; clock: { t: number }; now: () => number } {
  // the "clear to end of line" escape is shown as <clr> so the patterns below stay readable
  const stream = { isTTY, columns: 200, out: "", write(s: string) { this.out += s.replaceAll("\x1b[K", "<clr>"); } };
  const clock = { t: 0 };
  return { stream, clock, now: () => clock.t };
}

test("a bar draws count, percent, rate and ETA on one line and ends it on finish", () => {
  const { stream, clock, now } = fakes(true);
  const bar = createProgress("sft", 10, { stream, now });
  clock.t = 1000;
  bar.update(1, "loss 3.0000"); // first update: no rate yet (it includes start-up work)
  assert.match(stream.out, /\rsft \[##\.{18}\] 1\/10 10% \?\/s eta \? loss 3\.0000<clr>$/);
  clock.t = 1050;
  bar.update(2); // within 100 ms of the last draw: skipped
  assert.doesNotMatch(stream.out, /2\/10/);
  clock.t = 3000; // 4 more items in 2 s: 2/s, 5 left → 3 s
  bar.update(5);
  assert.match(stream.out, /5\/10 50% 2\.00\/s eta 3s<clr>$/);
  clock.t = 63000;
  bar.finish();
  assert.match(stream.out, /\[#{20}\] 10\/10 100% 1m03s<clr>\n$/);
});

test("nothing is written when stderr is not a terminal (redirected to a file or a pipe)", () => {
  const { stream, now } = fakes(false);
  const bar = createProgress("dpo", 5, { stream, now });
  bar.update(3);
  bar.finish();
  assert.equal(stream.out, "");
});

test("a line never exceeds the terminal width; durations are readable", () => {
  const { stream, clock, now } = fakes(true);
  stream.columns = 30;
  const bar = createProgress("a-long-label", 3, { stream, now });
  clock.t = 500;
  bar.update(1, "a long note that would wrap");
  const line = stream.out.replace(/^\r/, "").replace(/<clr>$/, "");
  assert.equal(line.length, 29);
  assert.deepEqual([formatSeconds(59.4), formatSeconds(61), formatSeconds(3725), formatSeconds(NaN)], ["59s", "1m01s", "1h02m", "?"]);
});

test("a JSON line printed to the same terminal clears the bar first and redraws it after", () => {
  const { stream, clock, now } = fakes(true);
  const bar = createProgress("sft", 4, { stream, now });
  clock.t = 10;
  bar.update(1);
  stream.out = "";
  progressLine.before();
  assert.equal(stream.out, "\r<clr>");
  progressLine.after(); // redrawn at once, whatever the 100 ms throttle says
  assert.match(stream.out, /^\r<clr>\rsft \[#{5}\.{15}\] 1\/4 25%/);
  bar.finish();
  stream.out = "";
  progressLine.before(); // no bar on screen any more: nothing to clear
  progressLine.after();
  assert.equal(stream.out, "");
  // a bar left behind by failed work: its line is ended once, and it is never redrawn
  createProgress("dpo", 4, { stream, now }).update(2);
  stream.out = "";
  progressLine.abandon();
  progressLine.after();
  assert.equal(stream.out, "\n");
});
