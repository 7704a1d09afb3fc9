// `trainer/cli.ts infer`: a long-lived generation worker for the server's playground and its
// OpenAI-compatible endpoint. The server never loads TensorFlow.js itself (web code imports only
// trainer/contract); it starts this process and talks JSON lines over stdin/stdout:
//   → {"id": "1", "checkpoint": "<model dir>", "messages": [...], "maxNewTokens": 64, "temperature": 1, "topP": 1, "topK": 0, "seed": 0, "n": 1}
//   ← {"id": "1", "ok": true, "promptTokens": 12, "choices": [{"text": "…", "tokens": 9, "finished": true}]}
//   ← {"id": "1", "ok": false, "error": "…"}
// Requests run one at a time, in order; the two most recently used models stay loaded.
import { join } from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import { initBackend } from "../backend/select-backend.ts";
import { loadCheckpointInto, readManifest } from "../checkpoint/checkpoint.ts";
import { disposeGpt, initGpt, type GptModel } from "../model/gpt.ts";
import { generate } from "../model/generate.ts";
import { loadBpeTokenizerFile, type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { renderChat } from "../tokenizer/chat-template.ts";

export const inferenceRequestSchema = z.strictObject({
  id: z.string().min(1),
  checkpoint: z.string().min(1),
  messages: z.array(z.strictObject({ role: z.enum(["system", "user", "assistant"]), content: z.string() })).min(1),
  maxNewTokens: z.number().int().positive().max(2048),
  temperature: z.number().nonnegative(),
  topP: z.number().gt(0).max(1),
  topK: z.number().int().nonnegative(),
  seed: z.number().int().nonnegative(),
  n: z.number().int().positive().max(16),
});

type Loaded = { model: GptModel; tokenizer: BpeTokenizer };
const KEEP = 2;

export async function runInferenceWorker(): Promise<void> {
  await initBackend({ prefer: "auto" });
  const loaded = new Map<string, Loaded>();
  const load = (dir: string): Loaded => {
    const hit = loaded.get(dir);
    if (hit) {
      loaded.delete(dir);
      loaded.set(dir, hit); // most recently used last
      return hit;
    }
    const tokenizer = loadBpeTokenizerFile(join(dir, "tokenizer.json"));
    const manifest = readManifest(dir);
    const model = initGpt({ ...manifest.modelConfig, scalarHead: "none" }, 0);
    loadCheckpointInto(dir, model, null, { tokenizerHash: tokenizer.hash, newHead: true });
    loaded.set(dir, { model, tokenizer });
    for (const [key, old] of loaded) {
      if (loaded.size <= KEEP) break;
      disposeGpt(old.model);
      loaded.delete(key);
    }
    return { model, tokenizer };
  };
  const reply = (message: Record<string, unknown>) => process.stdout.write(JSON.stringify(message) + "\n");

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    let id = "";
    try {
      const request = inferenceRequestSchema.parse(JSON.parse(line));
      id = request.id;
      const { model, tokenizer } = load(request.checkpoint);
      const { ids } = await renderChat(tokenizer, request.messages, { addGenerationPrompt: true });
      if (ids.length >= model.config.blockSize) throw new Error(`the conversation is ${ids.length} tokens; this model reads at most ${model.config.blockSize - 1}`);
      const result = generate(model, Array.from({ length: request.n }, () => ids), {
        maxNewTokens: request.maxNewTokens, temperature: request.temperature, topK: request.topK, topP: request.topP, seed: request.seed,
        stopTokens: [tokenizer.special.endOfTurn, tokenizer.special.eos], padId: tokenizer.special.pad,
      });
      const choices = await Promise.all(
        result.completions.map(async (tokens, b) => ({ text: (await tokenizer.decode(tokens, true)).replaceAll("\u0000", ""), tokens: tokens.length, finished: result.finished[b] ?? false })),
      );
      reply({ id, ok: true, promptTokens: ids.length, choices });
    } catch (error) {
      reply({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
}
