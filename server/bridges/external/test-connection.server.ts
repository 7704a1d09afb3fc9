/** "Test connection": one short chat request without retries, its answer or its error. */
import type { PublicEndpoint, Decoding } from "./endpoints.server.ts";
import { chatCompletion, ExternalRequestError, type EndpointConnection } from "./openai-client.server.ts";

export type ConnectionTest = {
  ok: boolean;
  latencyMs: number;
  model: string | null;
  sample: string | null;
  error: { kind: string; status: number | null; message: string } | null;
};

export async function testConnection(target: { endpoint: PublicEndpoint; connection: EndpointConnection; decoding: Decoding }): Promise<ConnectionTest> {
  const started = Date.now();
  const connection = { ...target.connection, maxRetries: 0, timeoutMs: Math.min(target.connection.timeoutMs, 30_000) };
  try {
    const result = await chatCompletion(connection, { messages: [{ role: "user", content: "Reply with the word OK." }], max_tokens: Math.min(target.decoding.max_tokens ?? 16, 16) });
    return { ok: true, latencyMs: Date.now() - started, model: result.model, sample: (result.choices[0]?.text ?? "").slice(0, 200), error: null };
  } catch (error) {
    const e = error instanceof ExternalRequestError ? error : new ExternalRequestError("connection", "The request failed.");
    return { ok: false, latencyMs: Date.now() - started, model: null, sample: null, error: { kind: e.kind, status: e.status, message: e.message } };
  }
}
