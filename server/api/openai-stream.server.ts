/**
 * `stream: true` on /v1/chat/completions as OpenAI streams it (decision 0052): server-sent events,
 * one `chat.completion.chunk` per piece the worker samples, then `data: [DONE]`.
 *  - each choice opens with `delta: {role: "assistant", content: ""}`, then its text in
 *    `delta.content` pieces;
 *  - a call of the client's own functions is OpenAI's `delta.tool_calls`: `{index, id, type,
 *    function: {name, arguments: ""}}`, then `{index, function: {arguments}}` pieces;
 *  - a built-in call the server runs (the calculator) is not the client's to run, so it travels in
 *    Tandem's `choices[i].tandem`: `tool_calls` in the same delta shape, then `tool_result`;
 *  - the last chunk of each choice has its `finish_reason` and, as the non-streamed answer,
 *    `tandem: {messages, toolCalls}`; with `stream_options.include_usage` a chunk with no choices
 *    and the usage follows (other chunks then carry `usage: null`, as OpenAI's do);
 *  - an error once the stream has begun is an `event: error` with OpenAI's error body (OpenAI's
 *    clients raise it) and the stream ends without [DONE].
 */
import { randomUUID } from "node:crypto";
import type { Response } from "express";
import type { GenerationDelta, GenerationResult } from "../../trainer/contract/inference.ts";

export const callId = (): string => `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`;

type CallRoute = { id: string; name: string; client: boolean; index: number };

export class ChatCompletionStream {
  private begun = false;
  /** Per choice: where each of its calls goes (the client's, or Tandem's), by the worker's call number. */
  private readonly calls: Map<number, CallRoute>[];
  private readonly clientCalls: number[];

  constructor(
    private readonly res: Response,
    private readonly meta: { id: string; created: number; model: string; n: number; client: readonly string[]; includeUsage: boolean },
  ) {
    this.calls = Array.from({ length: meta.n }, () => new Map());
    this.clientCalls = Array.from({ length: meta.n }, () => 0);
  }

  /** Whether the response is committed to the stream (then errors go out as an error event). */
  get started(): boolean {
    return this.begun;
  }

  start(): void {
    if (this.begun) return;
    this.begun = true;
    this.res.status(200);
    this.res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
    this.res.setHeader("Cache-Control", "no-cache");
    this.res.setHeader("X-Accel-Buffering", "no"); // a proxy in front must not hold the pieces back
    this.res.flushHeaders();
    for (let index = 0; index < this.meta.n; index++) this.chunk([{ index, delta: { role: "assistant", content: "" }, finish_reason: null }]);
  }

  deltas(deltas: GenerationDelta[]): void {
    for (const d of deltas) this.chunk([{ index: d.choice, ...this.choiceDelta(d), finish_reason: null }]);
  }

  finish(result: GenerationResult): void {
    this.start(); // an answer with no pieces at all still opens its choices
    result.choices.forEach((choice, index) =>
      this.chunk([{ index, delta: {}, finish_reason: choice.finishReason, tandem: { messages: choice.messages, toolCalls: choice.toolCalls } }]),
    );
    if (this.meta.includeUsage) {
      const completionTokens = result.choices.reduce((n, c) => n + c.tokens, 0);
      this.write(this.envelope([], { prompt_tokens: result.promptTokens, completion_tokens: completionTokens, total_tokens: result.promptTokens + completionTokens }));
    }
    this.res.end("data: [DONE]\n\n");
  }

  fail(error: { error: Record<string, unknown> }): void {
    this.res.end(`event: error\ndata: ${JSON.stringify(error)}\n\n`);
  }

  private choiceDelta(d: GenerationDelta): Record<string, unknown> {
    if (d.kind === "content") return { delta: { content: d.text } };
    const routes = this.calls[d.choice] ?? new Map<number, CallRoute>();
    if (d.kind === "call") {
      const client = this.meta.client.includes(d.name);
      // OpenAI numbers the calls of its message, and only the client's calls are in that message
      const index = client ? (this.clientCalls[d.choice] ?? 0) : d.call;
      if (client) this.clientCalls[d.choice] = index + 1;
      const route = { id: callId(), name: d.name, client, index };
      routes.set(d.call, route);
      return this.callDelta(route, { index: route.index, id: route.id, type: "function", function: { name: d.name, arguments: "" } });
    }
    const route = routes.get(d.call) ?? { id: "", name: "unknown", client: false, index: d.call };
    if (d.kind === "arguments") return this.callDelta(route, { index: route.index, function: { arguments: d.text } });
    return { delta: {}, tandem: { tool_result: { tool_call_id: route.id, name: route.name, content: d.text } } };
  }

  private callDelta(route: CallRoute, call: Record<string, unknown>): Record<string, unknown> {
    return route.client ? { delta: { tool_calls: [call] } } : { delta: {}, tandem: { tool_calls: [call] } };
  }

  private chunk(choices: unknown[]): void {
    this.write(this.envelope(choices, null));
  }

  private envelope(choices: unknown[], usage: unknown): Record<string, unknown> {
    const { id, created, model, includeUsage } = this.meta;
    return { id, object: "chat.completion.chunk", created, model, choices, ...(includeUsage ? { usage } : {}) };
  }

  private write(body: Record<string, unknown>): void {
    this.res.write(`data: ${JSON.stringify(body)}\n\n`);
  }
}
