// The inference worker's protocol (trainer/service/inference-worker.ts): one JSON line per request
// from the server, one per answer back. Zod only, so the server can import it.
import { z } from "zod";
import { completionTurnProblems, conversationMessageSchema, type ConversationMessage } from "./conversation.ts";
import { toolsSchema } from "./job.ts";

/** An OpenAI function name. */
export const functionNameSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a function name: 1–64 letters, digits, _ or -");

/** Which tool calls are run where (decision 0019). */
export const inferenceToolsSchema = z.strictObject({
  /** Built-in tools the worker runs itself; their results are spliced in and the answer goes on. */
  run: toolsSchema.default([]),
  /** The caller's own functions: an assistant turn that calls one ends the answer (finish reason "tool_calls"). */
  client: z.array(functionNameSchema).max(128).default([]),
});

/**
 * OpenAI's tool_choice: "auto" (the policy decides), "none" (no calls: <|tool_call|> is never
 * sampled), "required" (the answer starts with a call), or one named function (the answer starts
 * with a call to it).
 */
export const toolChoiceSchema = z.union([z.enum(["auto", "none", "required"]), z.strictObject({ name: functionNameSchema })]);
export type ToolChoice = z.output<typeof toolChoiceSchema>;

export const generationRequestSchema = z.strictObject({
  /** The conversation so far, canonical (conversation.ts): assistant tool_calls, tool results. */
  messages: z.array(conversationMessageSchema).min(1),
  maxNewTokens: z.number().int().positive().max(2048),
  temperature: z.number().nonnegative(),
  topP: z.number().gt(0).max(1),
  topK: z.number().int().nonnegative(),
  seed: z.number().int().nonnegative(),
  n: z.number().int().positive().max(16),
  /** Without tools no call can be made (<|tool_call|> is never sampled). */
  tools: inferenceToolsSchema.optional(),
  toolChoice: toolChoiceSchema.default("auto"),
  /** Built-in calls one answer may run (default 4). */
  maxToolCalls: z.number().int().min(0).max(32).optional(),
  /** Send the answer as it is sampled too: a `started` line, then `deltas` lines, then the answer (decision 0052). */
  stream: z.boolean().default(false),
});
export type GenerationRequest = z.input<typeof generationRequestSchema>;

export const inferenceRequestSchema = generationRequestSchema.extend({
  id: z.string().min(1),
  /** The model folder (model.safetensors, manifest.json, tokenizer.json). */
  checkpoint: z.string().min(1),
});
export type InferenceRequest = z.output<typeof inferenceRequestSchema>;

export type FinishReason = "stop" | "length" | "tool_calls";

export interface GenerationChoice {
  /** The final answer: the last assistant message's text. */
  text: string;
  /** Completion tokens, inserted tool turns included. */
  tokens: number;
  /** Ended at an end of turn (or on calls handed to the caller), not at the token limit. */
  finished: boolean;
  /** The answer in the canonical shape: assistant messages, and the tool messages the worker ran between them. */
  messages: ConversationMessage[];
  /** Tool calls the policy made. */
  toolCalls: number;
  /** "tool_calls" when the answer ended on calls for the caller to run. */
  finishReason: FinishReason;
}

export interface GenerationResult {
  promptTokens: number;
  choices: GenerationChoice[];
}

/** An answer with tool use, as the preference exports write it: assistant and tool messages, an assistant's first. */
const scoredTranscriptSchema = z
  .array(conversationMessageSchema)
  .min(1)
  .max(64)
  .superRefine((turns, ctx) => {
    for (const problem of completionTurnProblems(turns)) ctx.addIssue({ code: "custom", ...problem });
  });

/**
 * Scoring with a registered reward model (issue 16: uncertainty-first queues, adaptive overlap's
 * confidence): one prompt and its completions, each scored by the reward model's scalar head at
 * the completion's last token, the same forward pass PPO, GRPO and RLOO use
 * (rewards/reward-sources.ts → algorithms/reward-trainer.ts scoreCompletions).
 */
export const scoringRequestSchema = z.strictObject({
  /** The conversation up to the answer (the prompt), canonical. */
  messages: z.array(conversationMessageSchema).min(1),
  /**
   * The answers to score (a ranking task's K completions): plain text, or an answer that used tools as its
   * transcript (the assistant and tool messages after the prompt), which is how the reward model read such
   * answers in its training pairs. Its final words alone would be another input, scored differently.
   */
  completions: z.array(z.union([z.string(), scoredTranscriptSchema])).min(1).max(16),
});
export type ScoringRequest = z.input<typeof scoringRequestSchema>;

export const scoreWorkerRequestSchema = scoringRequestSchema.extend({
  id: z.string().min(1),
  checkpoint: z.string().min(1),
  task: z.literal("score"),
});

/** Whatever the worker reads: a generation (no `task`) or a scoring (`task: "score"`). */
export const workerRequestSchema = z.union([scoreWorkerRequestSchema, inferenceRequestSchema]);

/** Stops a request, queued or running (its client left): the worker answers it `cancelled` at its next step. */
export const cancelRequestSchema = z.strictObject({ cancel: z.string().min(1) });

/**
 * A piece of a streamed answer, in the order it was sampled (decision 0052). `choice` is the
 * answer's row; `call` numbers the answer's tool calls from 0 in the order the policy wrote them.
 * Assistant text comes in pieces that never split a character; a call first with its name, then
 * its arguments' JSON in pieces; a call the worker ran, then its result (whole).
 */
export type GenerationDelta =
  | { kind: "content"; choice: number; text: string }
  | { kind: "call"; choice: number; call: number; name: string }
  | { kind: "arguments"; choice: number; call: number; text: string }
  | { kind: "result"; choice: number; call: number; text: string };

export interface ScoringResult {
  /** One scalar reward per completion, in the request's order. */
  scores: number[];
}
