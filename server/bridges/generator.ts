import type { ConversationMessage } from "../../trainer/contract/conversation.ts";

/**
 * What the bridges need from "a model that writes text": the project's own policy (through the
 * inference worker) or an external OpenAI-compatible endpoint. Synthetic Q&A and endpoint
 * sampling are written against this shape, so either source can fill a task.
 */
export type GeneratorMessage = { role: "system" | "user" | "assistant"; content: string };

export type GenerateRequest = {
  messages: GeneratorMessage[];
  /** How many independent completions (OpenAI's `n`); a source that cannot do n > 1 loops. */
  n: number;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
};

export type GeneratedText = {
  /** The final answer (what a checker reads); with tool use, `messages` holds the whole transcript. */
  text: string;
  /** The completion as assistant and tool messages when the source used tools (decision 0020). */
  messages?: ConversationMessage[];
  /** The decoding that produced it, stored next to the completion (parameters and seed). */
  decoding: Record<string, unknown>;
};

export type Generator = {
  /** Shown to people and stored as the completion's model name, e.g. "endpoint:vllm-llama/Llama-3-8B". */
  label: string;
  /** Registered policy id when the source is Tandem's own model, else null. */
  modelId: string | null;
  generate: (request: GenerateRequest, signal?: AbortSignal) => Promise<GeneratedText[]>;
};
