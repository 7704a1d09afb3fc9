/**
 * The shared Generator shape (../generator.ts) over an external OpenAI-compatible endpoint, and
 * over a registered policy through the inference worker, so a generation run (or synthetic Q&A)
 * can take either as a source.
 */
import type { Db } from "../../db/database.server.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import type { GeneratedText, GenerateRequest, Generator } from "../generator.ts";
import type { Decoding } from "./endpoints.server.ts";
import { chatCompletion, type CompletionOptions, type EndpointConnection } from "./openai-client.server.ts";

/**
 * A Generator for one endpoint. The request's decoding wins over the endpoint's defaults. Many
 * servers (Ollama, llama.cpp) ignore `n` and answer once: the missing completions are asked for
 * one request at a time, each with the next seed, so no two share a seed. A failure rejects with
 * an ExternalRequestError (kind, status, attempts) after the endpoint's retries.
 */
export function externalGenerator(
  connection: EndpointConnection,
  options: { label: string; defaults?: Decoding; completion?: Omit<CompletionOptions, "signal"> },
): Generator {
  const defaults = options.defaults ?? {};
  return {
    label: options.label,
    modelId: null,
    async generate(request: GenerateRequest, signal?: AbortSignal): Promise<GeneratedText[]> {
      const temperature = request.temperature ?? defaults.temperature;
      const topP = request.topP ?? defaults.top_p;
      const maxTokens = request.maxTokens ?? defaults.max_tokens;
      const baseSeed = request.seed ?? defaults.seed;
      const out: GeneratedText[] = [];
      while (out.length < request.n) {
        const wanted = request.n - out.length;
        const seed = baseSeed === undefined ? undefined : baseSeed + out.length;
        const result = await chatCompletion(
          connection,
          {
            messages: request.messages,
            ...(wanted > 1 ? { n: wanted } : {}),
            ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
            ...(temperature !== undefined ? { temperature } : {}),
            ...(topP !== undefined ? { top_p: topP } : {}),
            ...(seed !== undefined ? { seed } : {}),
            ...(defaults.stop ? { stop: defaults.stop } : {}),
          },
          { ...options.completion, ...(signal ? { signal } : {}) },
        );
        for (const [i, choice] of result.choices.slice(0, wanted).entries()) {
          out.push({
            text: choice.text.replaceAll("\u0000", ""),
            decoding: {
              source: "external", endpoint: options.label, model: result.model ?? connection.model,
              temperature: temperature ?? null, top_p: topP ?? null, max_tokens: maxTokens ?? null,
              seed: seed ?? null, choice: i, finish_reason: choice.finishReason, streamed: result.streamed, attempts: result.attempts,
            },
          });
        }
      }
      return out;
    },
  };
}

/** A Generator for a registered policy (Tandem's own model), through the inference worker. */
export function policyGenerator(db: Db, inference: Inference, modelId: string, label = `model-${modelId}`): Generator {
  return {
    label,
    modelId,
    async generate(request) {
      const seed = request.seed ?? Math.floor(Math.random() * 2 ** 31);
      const settings = { temperature: request.temperature ?? 1, topP: request.topP ?? 1, maxNewTokens: request.maxTokens ?? 64 };
      const result = await inference.generate(db, modelId, { messages: request.messages, ...settings, topK: 0, seed, n: request.n });
      return result.choices.map((c, i) => ({
        text: c.text,
        decoding: { source: "policy", temperature: settings.temperature, top_p: settings.topP, max_new_tokens: settings.maxNewTokens, seed, choice: i, tokens: c.tokens, finished: c.finished },
      }));
    },
  };
}
