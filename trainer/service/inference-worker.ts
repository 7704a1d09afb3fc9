// `trainer/cli.ts infer`: a long-lived generation worker for the server's playground and its
// OpenAI-compatible endpoint. The server never loads TensorFlow.js itself (web code imports only
// trainer/contract); it starts this process and talks JSON lines over stdin/stdout
// (trainer/contract/inference.ts):
//   → {"id": "1", "checkpoint": "<model dir>", "messages": [...], "maxNewTokens": 64, "temperature": 1, "topP": 1, "topK": 0, "seed": 0, "n": 1,
//      "tools": {"run": ["calculator"], "client": ["get_weather"]}, "toolChoice": "auto"}
//   ← {"id": "1", "ok": true, "promptTokens": 12, "choices": [{"text": "…", "tokens": 9, "finished": true, "messages": [...], "toolCalls": 1, "finishReason": "stop"}]}
//   ← {"id": "1", "ok": false, "error": "…"}
// and scoring with a reward model (its scalar head, the trainer's reward forward pass):
//   → {"id": "2", "task": "score", "checkpoint": "<reward model dir>", "messages": [...], "completions": ["…", "…"]}
//   ← {"id": "2", "ok": true, "scores": [0.41, -1.2]}
// Streaming (`"stream": true`, decision 0052): before the answer, once the request is known to be
// answerable, and then after every sampled step (pieces: contract GenerationDelta):
//   ← {"id": "1", "started": true}
//   ← {"id": "1", "deltas": [{"kind": "content", "choice": 0, "text": "the ans"}]}
// and a client that left stops its request, queued or running, at the next step:
//   → {"cancel": "1"}
//   ← {"id": "1", "ok": false, "cancelled": true, "tokens": 17, "error": "cancelled: the client left"}
// Requests run one at a time, in order; the two most recently used models stay loaded. A model
// keeps its own chat format: an imported Hugging Face model its template, base + adapters merged.
//
// Tools (decision 0019): calls to `run` tools are run here and the answer goes on; a turn that calls
// one of the caller's `client` functions ends the answer there (finish reason "tool_calls"), for the
// caller to run and send back as a tool message. With neither, no call can be made. Tool calls are
// read and run for models with Tandem's template; an imported model answers in plain text.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { initBackend } from "../backend/select-backend.ts";
import { readManifest } from "../checkpoint/checkpoint.ts";
import { loadModel } from "../checkpoint/load-model.ts";
import { finalAnswer } from "../contract/conversation.ts";
import { cancelRequestSchema, workerRequestSchema, type FinishReason, type GenerationChoice, type InferenceRequest, type ScoringRequest, type ToolChoice } from "../contract/inference.ts";
import { rewardModelReward } from "../rewards/reward-sources.ts";
import { disposeModel, isLlama, type LanguageModel } from "../model/lm.ts";
import { mergeLora } from "../model/lora.ts";
import { generateAsync, generateStepwise } from "../model/generate.ts";
import { answerToolCalls, generateWithTools } from "../model/generate-with-tools.ts";
import { type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { parseCompletion } from "../tokenizer/chat-template.ts";
import { loadChatFormat, tandemTokenizer, type ChatFormat } from "../tokenizer/chat-format.ts";
import { Cancelled, PlainAnswerStream, streamRows, TemplateAnswerStream } from "./answer-stream.ts";

export type Loaded = { model: LanguageModel; format: ChatFormat };
const KEEP = 2;

export async function runInferenceWorker(): Promise<void> {
  await initBackend({ prefer: "auto" });
  const loaded = new Map<string, Loaded>();
  // A reward model is loaded with its scalar head, a policy without: the key says which.
  const load = (dir: string, head: "none" | "reward" = "none"): Loaded => {
    const key = `${head}:${dir}`;
    const hit = loaded.get(key);
    if (hit) {
      loaded.delete(key);
      loaded.set(key, hit); // most recently used last
      return hit;
    }
    const manifest = readManifest(dir);
    if (head === "reward" && manifest.modelConfig.scalarHead !== "reward") throw new Error("this model has no reward head: only a reward model scores answers");
    const format = loadChatFormat(readFileSync(join(dir, "tokenizer.json"), "utf8"), manifest.hf);
    const model = loadModel(dir, { scalarHead: head, tokenizerHash: format.tokenizer.hash });
    if (isLlama(model) && model.lora) mergeLora(model);
    loaded.set(key, { model, format });
    for (const [key, old] of loaded) {
      if (loaded.size <= KEEP) break;
      disposeModel(old.model);
      loaded.delete(key);
    }
    return { model, format };
  };
  const reply = (message: Record<string, unknown>) => process.stdout.write(JSON.stringify(message) + "\n");

  // Lines are read as they come, not after the request before them: a cancel must reach the
  // request being sampled. Requests still run one at a time, in order.
  const live = new Set<string>(); // ids queued or running
  const cancelled = new Set<string>();
  let queue = Promise.resolve();
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      message = undefined;
    }
    const cancel = cancelRequestSchema.safeParse(message);
    if (cancel.success) {
      if (live.has(cancel.data.cancel)) cancelled.add(cancel.data.cancel);
      return;
    }
    const id = (message as { id?: unknown } | undefined)?.id;
    if (typeof id === "string") live.add(id);
    queue = queue.then(async () => {
      await answerRequest(message);
      if (typeof id === "string") {
        live.delete(id);
        cancelled.delete(id);
      }
    });
  });
  await once(lines, "close");
  await queue;

  async function answerRequest(message: unknown): Promise<void> {
    let id = "";
    try {
      const parsed = workerRequestSchema.parse(message);
      id = parsed.id;
      if (cancelled.has(id)) throw new Cancelled(0); // its client left while it waited
      if ("task" in parsed) {
        reply({ id, ok: true, scores: await scoreAnswers(load(parsed.checkpoint, "reward"), parsed) });
        return;
      }
      const { promptTokens, choices } = await generateAnswers(load(parsed.checkpoint), parsed, (event) => reply({ id, ...event }), () => cancelled.has(id));
      reply({ id, ok: true, promptTokens, choices });
    } catch (error) {
      if (error instanceof Cancelled) reply({ id, ok: false, cancelled: true, tokens: error.tokens, error: "cancelled: the client left" });
      else reply({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
}

/**
 * One generation request's answers. Streamed (`request.stream`), it sends `{started}` once the
 * request is known to be answerable, then `{deltas}` after each step; `stopped` ends it early.
 */
async function generateAnswers(
  { model, format }: Loaded,
  request: InferenceRequest,
  send: (event: Record<string, unknown>) => void,
  stopped: () => boolean,
): Promise<{ promptTokens: number; choices: GenerationChoice[] }> {
  const { ids } = await format.renderChat(request.messages, { addGenerationPrompt: true });
  if (ids.length >= model.config.blockSize) throw new Error(`the conversation is ${ids.length} tokens; this model reads at most ${model.config.blockSize - 1}`);
  const tokenizer = tandemTokenizer(format);
  const rows = Array.from({ length: request.n }, () => ids);
  const sampling = { maxNewTokens: request.maxNewTokens, temperature: request.temperature, topK: request.topK, topP: request.topP, seed: request.seed };
  if (!tokenizer) {
    // an imported model: its own template, plain-text answers (tool calls are not read from it)
    if (request.toolChoice === "required" || typeof request.toolChoice === "object") throw new Error("this imported model answers in plain text: tool_choice cannot require a call");
    const options = { ...sampling, stopTokens: format.stopTokens, padId: format.padId };
    const stream = request.stream ? streamRows(rows.map((_, b) => new PlainAnswerStream(format.tokenizer, b)), (deltas) => send({ deltas }), stopped) : null;
    if (stream) send({ started: true });
    const result = stream ? await generateStepwise(model, rows, options, stream.onStep) : await generateAsync(model, rows, options);
    await stream?.end();
    const plain: GenerationChoice[] = await Promise.all(
      result.completions.map(async (tokens, b) => {
        const text = await format.tokenizer.decode(tokens, true);
        const finished = result.finished[b] ?? false;
        return { text, tokens: tokens.length, finished, messages: [{ role: "assistant", content: text }], toolCalls: 0, finishReason: finished ? "stop" : "length" };
      }),
    );
    return { promptTokens: ids.length, choices: plain };
  }
  const sp = tokenizer.special;

  // 1. which calls run here, which end the answer, and whether the answer must (or must not) call
  const choice = request.toolChoice;
  const run = choice === "none" ? [] : (request.tools?.run ?? []);
  const client = new Set(choice === "none" ? [] : (request.tools?.client ?? []));
  const canCall = run.length > 0 || client.size > 0;
  const forced = await forcedCall(tokenizer, choice);
  const limits = request.maxToolCalls !== undefined ? { maxCalls: request.maxToolCalls } : {};
  const stream = request.stream ? streamRows(rows.map((_, b) => new TemplateAnswerStream(tokenizer, b)), (deltas) => send({ deltas }), stopped) : null;
  if (stream) send({ started: true });

  // 2. generate, running built-in calls and stopping at the caller's
  const result = await generateWithTools(model, rows, {
    ...sampling,
    stopTokens: [sp.endOfTurn, sp.eos], padId: sp.pad,
    ...(canCall ? {} : { suppressTokens: [sp.toolCall] }),
    ...(forced ? { forcedPrefix: rows.map(() => forced) } : {}),
    tokenizer,
    tools: run,
    limits,
    onToolCalls: async (_row, calls, earlier) => (calls.some((c) => client.has(c.function.name)) ? "stop" : answerToolCalls(calls, earlier, { tools: run, limits })),
    ...(stream ? { onStep: stream.onStep } : {}),
  });
  await stream?.end();

  // 3. each answer as canonical messages, with why it ended
  const choices: GenerationChoice[] = await Promise.all(
    result.completions.map(async (tokens, b) => {
      // decode hands back storable text (tokenizer/storable-text.ts): no NUL reaches PostgreSQL
      const messages = await parseCompletion(tokenizer, tokens);
      const finished = result.finished[b] ?? false;
      const last = messages.at(-1);
      const handed = finished && last?.role === "assistant" && (last.tool_calls ?? []).some((c) => client.has(c.function.name));
      const finishReason: FinishReason = handed ? "tool_calls" : finished ? "stop" : "length";
      return { text: finalAnswer(messages), tokens: tokens.length, finished, messages, toolCalls: result.toolCalls[b] ?? 0, finishReason };
    }),
  );
  return { promptTokens: ids.length, choices };
}

/**
 * The reward model's score of each answer after the prompt: each rendered as the reward model
 * reads its training rankings (job-inputs.ts readRankingExamples), then scored by the trainer's own
 * reward forward pass (rewardModelReward → scoreCompletions, at the last real token).
 */
export async function scoreAnswers({ model, format }: Loaded, request: ScoringRequest): Promise<number[]> {
  const rendered = await Promise.all(request.completions.map((c) => format.renderPromptCompletion(request.messages, c)));
  rendered.forEach((r, i) => {
    if (r.full.ids.length > model.config.blockSize) throw new Error(`answer ${i + 1} with its prompt is ${r.full.ids.length} tokens; this reward model reads at most ${model.config.blockSize}`);
  });
  const samples = rendered.map((r) => ({ prompt: r.prompt, completion: r.full.ids.slice(r.prompt.length), metadata: {}, answer: "", policyLength: 0 }));
  const { values } = await rewardModelReward(model, format.padId, 1).score(samples);
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) throw new Error(`the reward model gave a non-finite score (${v})`);
    return v;
  });
}

/** tool_choice "required" starts the answer with <|tool_call|>; a named function also with its name. */
async function forcedCall(tokenizer: BpeTokenizer, choice: ToolChoice): Promise<number[] | null> {
  if (choice === "required") return [tokenizer.special.toolCall];
  if (typeof choice === "object") return [tokenizer.special.toolCall, ...(await tokenizer.encode(`{"name":${JSON.stringify(choice.name)},"arguments":`))];
  return null;
}
