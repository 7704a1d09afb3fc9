/**
 * A client for OpenAI-compatible chat completions (vLLM, Ollama, llama.cpp server, TGI, hosted
 * APIs, and Tandem's own /v1): POST {base}/chat/completions, plain or streamed (server-sent
 * events), with a per-attempt timeout, retries with exponential backoff and jitter that honour
 * Retry-After (p-retry drives the loop; retry-policy.server.ts decides), and a client-side rate
 * limit per endpoint (p-throttle). Every answer is validated with zod; anything else becomes an
 * ExternalRequestError naming what went wrong. The API key goes into the Authorization header
 * and nowhere else: errors are scrubbed of it and nothing here logs.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createParser } from "eventsource-parser";
import pRetry, { AbortError } from "p-retry";
import pThrottle from "p-throttle";
import { z } from "zod";
import { backoffMs, DEFAULT_RETRY_TIMING, isRetryable, parseRetryAfter, type ExternalErrorKind, type RetryTiming } from "./retry-policy.server.ts";

export type EndpointConnection = {
  /** Identifies the endpoint for its rate limit (one limiter per key). */
  key: string;
  baseUrl: string;
  model: string;
  apiKey: string | null;
  stream: boolean;
  timeoutMs: number;
  maxRetries: number;
  requestsPerMinute: number | null;
};

export type ChatRequest = {
  messages: Array<{ role: "system" | "user" | "assistant"; content: string }>;
  n?: number;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string[];
};

/** OpenAI's tool call with its JSON-string arguments parsed (an unparseable string is kept as `{ raw }`). */
export type ChatToolCall = { id?: string; type: "function"; function: { name: string; arguments: Record<string, unknown> } };
/** `toolCalls`: the calls the model asked for (non-streamed answers; decision 0020). */
export type ChatChoice = { text: string; finishReason: string | null; toolCalls?: ChatToolCall[] };
/** `streamed`: the answer arrived as server-sent events (false when a server ignored `stream: true`). */
export type ChatResult = { choices: ChatChoice[]; model: string | null; completionTokens: number | null; streamed: boolean; attempts: number };

export class ExternalRequestError extends Error {
  constructor(
    readonly kind: ExternalErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly retryAfterMs: number | null = null,
    public attempts = 1,
  ) {
    super(message);
    this.name = "ExternalRequestError";
  }
}

const toolCallSchema = z.object({
  id: z.string().max(64).optional(),
  function: z.object({ name: z.string().min(1).max(64), arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).default("{}") }),
});
const choiceSchema = z.object({
  index: z.number().int().nonnegative().optional(),
  message: z.object({ content: z.string().nullable().optional(), tool_calls: z.array(toolCallSchema).max(8).nullish() }),
  finish_reason: z.string().nullable().optional(),
});
const completionSchema = z.object({
  model: z.string().optional(),
  choices: z.array(choiceSchema).min(1, "no choices"),
  usage: z.object({ completion_tokens: z.number().optional() }).nullish(),
});
const chunkSchema = z.object({
  model: z.string().optional(),
  choices: z.array(
    z.object({
      index: z.number().int().nonnegative().default(0),
      delta: z.object({ content: z.string().nullable().optional() }).nullish(),
      finish_reason: z.string().nullable().optional(),
    }),
  ),
  usage: z.object({ completion_tokens: z.number().optional() }).nullish(),
});
const errorBodySchema = z.union([
  z.object({ error: z.union([z.string(), z.object({ message: z.string() })]) }),
  z.object({ message: z.string() }),
  z.object({ detail: z.string() }),
]);

export function chatCompletionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/chat/completions`;
}

const throttles = new Map<string, () => Promise<void>>();
/** Waits for the endpoint's next request slot (evenly spaced: requestsPerMinute per 60 s). */
function rateGate(connection: EndpointConnection): () => Promise<void> {
  if (!connection.requestsPerMinute) return () => Promise.resolve();
  const key = `${connection.key}:${connection.requestsPerMinute}`;
  let gate = throttles.get(key);
  if (!gate) {
    gate = pThrottle({ limit: 1, interval: Math.ceil(60_000 / connection.requestsPerMinute), strict: true })(() => undefined) as unknown as () => Promise<void>;
    throttles.set(key, gate);
  }
  return gate;
}

/** Error text safe to store and show: the key scrubbed out, one line, at most 300 characters. */
function safeText(text: string, apiKey: string | null): string {
  let out = text.replace(/\s+/g, " ").trim();
  if (apiKey) out = out.replaceAll(apiKey, "[redacted]");
  out = out.replace(/Bearer\s+\S+/gi, "Bearer [redacted]");
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}

async function httpError(response: Response, apiKey: string | null): Promise<ExternalRequestError> {
  const body = await response.text().catch(() => "");
  let detail = body;
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(body));
    if (parsed.success) {
      const data = parsed.data;
      detail = "error" in data ? (typeof data.error === "string" ? data.error : data.error.message) : "message" in data ? data.message : data.detail;
    }
  } catch {
    // not JSON: the start of the text is the best description there is
  }
  const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
  const kind: ExternalErrorKind = response.status === 429 ? "rate_limited" : "http";
  const text = safeText(detail, apiKey);
  return new ExternalRequestError(kind, `HTTP ${response.status}${text ? `: ${text}` : ""}`, response.status, retryAfterMs);
}

function parseCompletion(text: string, apiKey: string | null): Omit<ChatResult, "attempts" | "streamed"> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ExternalRequestError("malformed", `The answer is not JSON: ${JSON.stringify(safeText(text, apiKey).slice(0, 80))}`);
  }
  const parsed = completionSchema.safeParse(json);
  if (!parsed.success) throw new ExternalRequestError("malformed", `The answer is not a chat completion (${describeIssues(parsed.error)}).`);
  const choices = [...parsed.data.choices]
    .map((c, i) => ({ index: c.index ?? i, text: c.message.content ?? "", finishReason: c.finish_reason ?? null, toolCalls: c.message.tool_calls?.map(toolCallOf) }))
    .sort((a, b) => a.index - b.index)
    .map(({ text: t, finishReason, toolCalls }) => ({ text: t, finishReason, ...(toolCalls && toolCalls.length > 0 ? { toolCalls } : {}) }));
  return { choices, model: parsed.data.model ?? null, completionTokens: parsed.data.usage?.completion_tokens ?? null };
}

function toolCallOf(call: z.infer<typeof toolCallSchema>): ChatToolCall {
  let args: unknown = call.function.arguments;
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      // kept as written below
    }
  }
  const object = typeof args === "object" && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : { raw: String(call.function.arguments) };
  return { ...(call.id ? { id: call.id } : {}), type: "function", function: { name: call.function.name, arguments: object } };
}

async function readStream(response: Response, apiKey: string | null): Promise<Omit<ChatResult, "attempts" | "streamed">> {
  const texts = new Map<number, string>();
  const finish = new Map<number, string | null>();
  let model: string | null = null;
  let completionTokens: number | null = null;
  let done = false;
  let failure: ExternalRequestError | null = null;
  const parser = createParser({
    onEvent(event) {
      if (done || failure) return;
      if (event.data.trim() === "[DONE]") {
        done = true;
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(event.data);
      } catch {
        failure = new ExternalRequestError("malformed", `A streamed event is not JSON: ${JSON.stringify(safeText(event.data, apiKey).slice(0, 80))}`);
        return;
      }
      const upstream = errorBodySchema.safeParse(json);
      if (upstream.success && "error" in upstream.data) {
        const e = upstream.data.error;
        failure = new ExternalRequestError("http", `The stream reported an error: ${safeText(typeof e === "string" ? e : e.message, apiKey)}`, response.status);
        return;
      }
      const chunk = chunkSchema.safeParse(json);
      if (!chunk.success) {
        failure = new ExternalRequestError("malformed", `A streamed event is not a chat-completion chunk (${describeIssues(chunk.error)}).`);
        return;
      }
      model ??= chunk.data.model ?? null;
      if (chunk.data.usage?.completion_tokens !== undefined) completionTokens = chunk.data.usage.completion_tokens;
      for (const c of chunk.data.choices) {
        texts.set(c.index, (texts.get(c.index) ?? "") + (c.delta?.content ?? ""));
        if (c.finish_reason) finish.set(c.index, c.finish_reason);
        else if (!finish.has(c.index)) finish.set(c.index, null);
      }
    },
  });
  if (!response.body) throw new ExternalRequestError("malformed", "The stream has no body.");
  const decoder = new TextDecoder();
  for await (const bytes of response.body) {
    parser.feed(decoder.decode(bytes as Uint8Array, { stream: true }));
    if (done || failure) break;
  }
  if (failure) throw failure;
  if (texts.size === 0) throw new ExternalRequestError("malformed", "The stream ended without any completion.");
  if (!done && ![...finish.values()].every((f) => f !== null)) throw new ExternalRequestError("malformed", "The stream ended before the completion finished (no [DONE]).");
  const choices = [...texts.keys()].sort((a, b) => a - b).map((i) => ({ text: texts.get(i) ?? "", finishReason: finish.get(i) ?? null }));
  return { choices, model, completionTokens };
}

function connectionMessage(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `Could not connect (${cause.code}).` : `Could not connect (${cause?.message ?? (error as Error).message ?? "network error"}).`;
}

/** One attempt: one HTTP request, its own timeout, the caller's cancel honoured. */
async function attempt(connection: EndpointConnection, request: ChatRequest, signal: AbortSignal | undefined): Promise<Omit<ChatResult, "attempts">> {
  const timeout = AbortSignal.timeout(connection.timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const headers: Record<string, string> = { "content-type": "application/json", accept: connection.stream ? "text/event-stream" : "application/json" };
  if (connection.apiKey) headers.authorization = `Bearer ${connection.apiKey}`;
  const body = JSON.stringify({ model: connection.model, ...request, stream: connection.stream });
  try {
    const response = await fetch(chatCompletionsUrl(connection.baseUrl), { method: "POST", headers, body, signal: combined, redirect: "error" });
    if (!response.ok) throw await httpError(response, connection.apiKey);
    const type = response.headers.get("content-type") ?? "";
    // A server that ignores `stream: true` answers with one JSON document: read it as such.
    if (connection.stream && type.includes("text/event-stream")) return { ...(await readStream(response, connection.apiKey)), streamed: true };
    return { ...parseCompletion(await response.text(), connection.apiKey), streamed: false };
  } catch (error) {
    if (signal?.aborted) throw new ExternalRequestError("cancelled", "Cancelled.");
    if (timeout.aborted) throw new ExternalRequestError("timeout", `No complete answer within ${connection.timeoutMs} ms.`);
    if (error instanceof ExternalRequestError) throw error;
    throw new ExternalRequestError("connection", safeText(connectionMessage(error), connection.apiKey));
  }
}

export type CompletionOptions = {
  signal?: AbortSignal;
  timing?: RetryTiming;
  /** Told before each wait: which retry is next, how long the wait is and why. */
  onRetry?: (info: { retry: number; waitMs: number; error: ExternalRequestError }) => void;
  /** Jitter source, [0, 1); tests pass a fixed one. */
  random?: () => number;
};

/**
 * One chat completion with retries. Resolves with the choices, or rejects with an
 * ExternalRequestError whose `attempts` says how many requests were made.
 */
export async function chatCompletion(connection: EndpointConnection, request: ChatRequest, options: CompletionOptions = {}): Promise<ChatResult> {
  const timing = options.timing ?? DEFAULT_RETRY_TIMING;
  const random = options.random ?? Math.random;
  const gate = rateGate(connection);
  let attempts = 0;
  let last: ExternalRequestError | null = null;
  try {
    const result = await pRetry(
      async () => {
        if (options.signal?.aborted) throw new AbortError(new ExternalRequestError("cancelled", "Cancelled."));
        await gate();
        attempts++;
        try {
          return await attempt(connection, request, options.signal);
        } catch (error) {
          last = error as ExternalRequestError;
          if (last.kind === "cancelled") throw new AbortError(last);
          throw last;
        }
      },
      {
        retries: connection.maxRetries,
        // The waits are ours (backoff with jitter, at least Retry-After); p-retry adds none.
        minTimeout: 0,
        maxTimeout: 0,
        factor: 1,
        shouldRetry: (error) => error instanceof ExternalRequestError && isRetryable(error.kind, error.status) && (error.retryAfterMs ?? 0) <= timing.maxRetryAfterMs,
        onFailedAttempt: async (error) => {
          const failed = error as unknown as ExternalRequestError & { retriesLeft: number; attemptNumber: number };
          if (failed.retriesLeft <= 0 || !isRetryable(failed.kind, failed.status) || (failed.retryAfterMs ?? 0) > timing.maxRetryAfterMs) return;
          const waitMs = Math.max(backoffMs(failed.attemptNumber, timing, random()), failed.retryAfterMs ?? 0);
          options.onRetry?.({ retry: failed.attemptNumber, waitMs, error: failed });
          await sleep(waitMs, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
        },
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
    return { ...result, attempts };
  } catch (error) {
    const failure: ExternalRequestError =
      error instanceof ExternalRequestError ? error : (last ?? new ExternalRequestError(options.signal?.aborted ? "cancelled" : "connection", safeText(String((error as Error)?.message ?? error), connection.apiKey)));
    if (options.signal?.aborted && failure.kind !== "cancelled") throw new ExternalRequestError("cancelled", "Cancelled.", null, null, attempts);
    if (failure.kind === "rate_limited" && (failure.retryAfterMs ?? 0) > timing.maxRetryAfterMs) {
      failure.message += ` (asked to wait ${Math.round((failure.retryAfterMs ?? 0) / 1000)} s, more than the ${Math.round(timing.maxRetryAfterMs / 1000)} s this client waits)`;
    }
    failure.attempts = attempts;
    throw failure;
  }
}
