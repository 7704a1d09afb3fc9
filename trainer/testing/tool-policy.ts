// A tiny policy that has learned to call the calculator, for tests of generation with tools and of
// serving. The real trainer does it: a byte-level BPE tokenizer fitted to the transcripts, then SFT
// of a small GPT on canonical tool transcripts (TRL's tool-calling `messages`) until it has them by
// heart, so greedy decoding reproduces them: it emits the call, reads the inserted result, and
// answers. The checkpoint folder is what the trainer writes for any SFT job.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jobSpecSchema } from "../contract/job.ts";
import { type ConversationMessage } from "../contract/conversation.ts";
import { createMemoryLogger } from "../cli/logger.ts";
import { runJob } from "../cli/run-job.ts";

const calculator = (expression: string) => ({ type: "function" as const, function: { name: "calculator", arguments: { expression } } });

/** What the tiny policy has learned: the prompt, and the completion it gives (calls, results, answer). */
export const TOOL_TRANSCRIPTS: { prompt: string; completion: ConversationMessage[] }[] = [
  {
    prompt: "what is 37 times 4?",
    completion: [
      { role: "assistant", content: "", tool_calls: [calculator("37*4")] },
      { role: "tool", name: "calculator", content: "148" },
      { role: "assistant", content: "the answer is 148." },
    ],
  },
  {
    prompt: "what is 12 plus 9?",
    completion: [
      { role: "assistant", content: "let me add.", tool_calls: [calculator("12+9")] },
      { role: "tool", name: "calculator", content: "21" },
      { role: "assistant", content: "the answer is 21." },
    ],
  },
  {
    prompt: "what is 6 over 0?",
    completion: [
      { role: "assistant", content: "", tool_calls: [calculator("6/0")] },
      { role: "tool", name: "calculator", content: "error: division by zero" },
      { role: "assistant", content: "it has no answer." },
    ],
  },
  { prompt: "say hi", completion: [{ role: "assistant", content: "hi there." }] },
];

/** Trains the tokenizer and the policy into `dir`; returns the checkpoint folder (with tokenizer.json). */
export async function trainToolPolicy(dir: string, options: { steps?: number; seed?: number } = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const records = TOOL_TRANSCRIPTS.map((t) => ({ messages: [{ role: "user", content: t.prompt }, ...t.completion] }));
  writeFileSync(join(dir, "sft.jsonl"), records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  // the corpus holds the call JSON as the template writes it, so BPE merges its boilerplate
  const lines = TOOL_TRANSCRIPTS.flatMap((t) => [t.prompt, ...t.completion.map((m) => m.content), ...t.completion.flatMap((m) => (m.tool_calls ?? []).map((c) => JSON.stringify({ name: c.function.name, arguments: c.function.arguments })))]);
  writeFileSync(join(dir, "corpus.txt"), Array.from({ length: 20 }, () => lines.join("\n")).join("\n"));
  const log = createMemoryLogger();
  await runJob(jobSpecSchema.parse({ schemaVersion: 1, kind: "train-tokenizer", corpus: [join(dir, "corpus.txt")], vocabSize: 400, out: join(dir, "tok"), backend: "wasm" }), log);
  // a small corpus runs out of merges before 400: the model takes the tokenizer's size
  const vocabSize = Number(log.events.find((e) => e.type === "done")?.["vocabSize"]);
  const steps = options.steps ?? 160;
  const out = join(dir, "policy");
  await runJob(
    jobSpecSchema.parse({
      schemaVersion: 1, kind: "sft", data: join(dir, "sft.jsonl"), tokenizer: join(dir, "tok", "tokenizer.json"),
      model: { init: { vocabSize, blockSize: 128, nLayer: 2, nHead: 2, nEmbd: 32 }, seed: options.seed ?? 3 },
      train: { steps, batchSize: 4, seed: options.seed ?? 3, optim: { lr: 1e-2, minLr: 1e-3, warmupSteps: 10, weightDecay: 0 } },
      out, backend: "wasm",
    }),
    log,
  );
  const last = log.events.filter((e) => e.type === "metrics").at(-1);
  if (!(Number(last?.["loss"]) < 0.05)) throw new Error(`the tool policy did not learn its transcripts (loss ${String(last?.["loss"])})`);
  return out;
}
