/**
 * The shared Generator shape (../generator.ts) over an external OpenAI-compatible endpoint, and
 * over a registered policy through the inference worker, so a generation run (or synthetic Q&A)
 * can take either as a source.
 */
import type { Db } from "../../db/database.server.ts";
import type { Inference } from "../../rounds/inference.server.ts";
import type { GeneratedText, GenerateRequest, Generator } from "../generator.ts";
import { endpointConnection, type Decoding } from "./endpoints.server.ts";
import type { SecretBox } from "./secret-box.server.ts";
import { transcriptSchema, type ConversationMessage } from "../../labeling/transcript.ts";
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
          const text = choice.text.replaceAll("\u0000", "");
          out.push({
            text,
            // An endpoint that asks for tools answers with the calls; Tandem does not run tools for
            // an endpoint (yet), so the transcript shows the calls without results.
            ...(choice.toolCalls ? { messages: [{ role: "assistant" as const, content: text, tool_calls: choice.toolCalls }] } : {}),
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

/**
 * The Generator for a registered endpoint, key decrypted server-side (`box` is
 * `context.external.box`). Its label, `endpoint:<name>/<model>`, becomes the completions' model name.
 */
export async function endpointGenerator(db: Db, box: SecretBox, endpointId: string, completion?: Omit<CompletionOptions, "signal">): Promise<Generator> {
  const { endpoint, connection, decoding } = await endpointConnection(db, box, endpointId);
  return externalGenerator(connection, { label: `endpoint:${endpoint.name}/${endpoint.model}`, defaults: decoding, ...(completion ? { completion } : {}) });
}

/** A choice's transcript, where the inference worker sends one (`messages`, the sampling job's shape). */
function transcriptOf(choice: object): ConversationMessage[] | null {
  const parsed = transcriptSchema.safeParse((choice as { messages?: unknown }).messages);
  return parsed.success ? parsed.data : null;
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
        // The inference worker's transcript when the policy called tools (sampling with tools, issue #11).
        ...(transcriptOf(c) ? { messages: transcriptOf(c)! } : {}),
        decoding: { source: "policy", temperature: settings.temperature, top_p: settings.topP, max_new_tokens: settings.maxNewTokens, seed, choice: i, tokens: c.tokens, finished: c.finished },
      }));
    },
  };
}
