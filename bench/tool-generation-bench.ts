// What feeding tool results through the KV cache one token per step costs (decision 0019).
// generateWithTools inserts a tool turn by feeding its tokens in the ordinary decoding steps, one
// per step, while the other rows keep sampling. The alternative is a prefill: the whole inserted
// turn in one cached forward (B, m) — but the cache is shared by the batch, so that forward is the
// whole batch's too. This prints, for the tiny tool policy (trainer/testing/tool-policy.ts):
//   1. how many decoding steps the batch took, how many tokens were inserted, and how many steps a
//      one-pass prefill per insertion would have taken instead;
//   2. CPU time of one cached (B, 1) decoding step and of one cached (B, m) forward, m = the mean
//      inserted turn: a prefill step costs t(B, m), not t(B, 1), so the step count's saving is an
//      upper bound of what a prefill would bring.
// Usage: npx tsx bench/tool-generation-bench.ts [--rows 16] [--repeats 5]
// CPU time (process.cpuUsage), median of the repeats; nothing here is asserted.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { buildModel } from "../trainer/cli/job-inputs.ts";
import { disposeKvCache } from "../trainer/model/gpt.ts";
import { disposeModel, lmForwardTidy } from "../trainer/model/lm.ts";
import { generateWithTools } from "../trainer/model/generate-with-tools.ts";
import { loadBpeTokenizerFile } from "../trainer/tokenizer/bpe-tokenizer.ts";
import { renderChat } from "../trainer/tokenizer/chat-template.ts";
import { TOOL_TRANSCRIPTS, trainToolPolicy } from "../trainer/testing/tool-policy.ts";

const arg = (name: string, fallback: string): number => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback);
};
const rowsWanted = arg("rows", "16");
const repeats = arg("repeats", "5");
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const cpuSeconds = (fn: () => void): number => {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
};

const backend = await initBackend({ prefer: "wasm" });
const dir = mkdtempSync(join(tmpdir(), "tandem-tool-bench-"));
try {
  const checkpoint = await trainToolPolicy(dir);
  const tok = loadBpeTokenizerFile(join(checkpoint, "tokenizer.json"));
  const model = buildModel({ checkpoint }, tok, "none");
  const one = await Promise.all(TOOL_TRANSCRIPTS.map(async (t) => (await renderChat(tok, [{ role: "user", content: t.prompt }], { addGenerationPrompt: true })).ids));
  const prompts = Array.from({ length: rowsWanted }, (_, i) => one[i % one.length] ?? []);

  // 1. steps taken, and steps a one-pass prefill per insertion would take
  const out = await generateWithTools(model, prompts, {
    tokenizer: tok, tools: ["calculator"], maxNewTokens: 100, temperature: 0.7, seed: 3, padId: tok.special.pad, stopTokens: [tok.special.endOfTurn, tok.special.eos],
  });
  const inserted = out.policyMask.map((m) => m.filter((x) => x === 0).length);
  const events = out.policyMask.map((m) => m.filter((x, i) => x === 0 && (i === 0 || m[i - 1] === 1)).length);
  const steps = Math.max(...out.completions.map((c) => c.length));
  const prefillSteps = Math.max(...out.completions.map((c, b) => c.length - (inserted[b] ?? 0) + (events[b] ?? 0)));
  const totalInserted = inserted.reduce((a, x) => a + x, 0);
  const totalEvents = events.reduce((a, x) => a + x, 0);
  const m = Math.max(1, Math.round(totalInserted / Math.max(totalEvents, 1)));

  // 2. one cached decoding step (B, 1) against one cached (B, m) forward, after a prefill of P tokens
  const B = prompts.length;
  const P = 24;
  const ids = (T: number) => tf.tensor2d(Array.from({ length: B }, () => Array.from({ length: T }, (_, t) => (t * 7) % 200)), [B, T], "int32");
  const prefill = lmForwardTidy(model, ids(P), { useCache: true });
  const time = (T: number): number =>
    median(
      Array.from({ length: repeats + 1 }, () => {
        const input = ids(T);
        const s = cpuSeconds(() => {
          const r = lmForwardTidy(model, input, { past: prefill.present!, useCache: true });
          r.logits?.dataSync();
          tf.dispose([r.hidden, ...(r.logits ? [r.logits] : [])]);
          disposeKvCache(r.present);
        });
        input.dispose();
        return s;
      }).slice(1),
    );
  const t1 = time(1);
  const tm = time(m);
  tf.dispose([prefill.hidden, ...(prefill.logits ? [prefill.logits] : [])]);
  disposeKvCache(prefill.present);
  disposeModel(model);

  console.log(`backend ${backend.backend}; tiny tool policy (2 layers, 32 wide); ${B} rows at temperature 0.7\n`);
  console.log("| | value |\n|---|---|");
  console.log(`| decoding steps taken (insertions fed one token per step) | ${steps} |`);
  console.log(`| steps with one prefill pass per insertion | ${prefillSteps} |`);
  console.log(`| tool calls / insertion events / inserted tokens | ${out.toolCalls.reduce((a, x) => a + x, 0)} / ${totalEvents} / ${totalInserted} |`);
  console.log(`| CPU s, cached (B, 1) step | ${t1.toFixed(5)} |`);
  console.log(`| CPU s, cached (B, ${m}) forward | ${tm.toFixed(5)} |`);
  console.log(`| ${m} single steps ÷ one (B, ${m}) forward | ${((m * t1) / tm).toFixed(2)} |`);
  console.log(`| CPU s of the decoding steps (steps · t(B, 1)) | ${(steps * t1).toFixed(4)} |`);
  console.log(`| most a prefill could save ((steps − prefill steps) · t(B, 1)) | ${((steps - prefillSteps) * t1).toFixed(4)} (${((100 * (steps - prefillSteps)) / steps).toFixed(0)} %) |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
