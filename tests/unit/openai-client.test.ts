/**
 * The chat-completion client's reading of answers, against a local HTTP server standing in for
 * a third-party model API (those are outside this machine): server-sent events split at awkward
 * byte boundaries, n choices interleaved, a server that ignores `stream: true`, broken streams.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { chatCompletion, chatCompletionsUrl, ExternalRequestError, type EndpointConnection } from "../../server/bridges/external/openai-client.server.ts";
import { externalGenerator } from "../../server/bridges/external/external-generator.server.ts";

let handler: (body: Record<string, unknown>, res: http.ServerResponse) => void = () => undefined;
const bodies: Array<Record<string, unknown>> = [];
let server: http.Server;
let base = "";
before(async () => {
  server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      bodies.push(body);
      handler(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const connection = (over: Partial<EndpointConnection> = {}): EndpointConnection => ({
  key: "c", baseUrl: base, model: "m", apiKey: null, stream: true, timeoutMs: 2000, maxRetries: 0, requestsPerMinute: null, ...over,
});
const ask = { messages: [{ role: "user" as const, content: "hi" }] };
const sse = (events: unknown[]) => events.map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`).join("");

test("the URL: one /chat/completions after the base, trailing slashes ignored", () => {
  assert.equal(chatCompletionsUrl("http://h/v1/"), "http://h/v1/chat/completions");
  assert.equal(chatCompletionsUrl("http://h/v1"), "http://h/v1/chat/completions");
});

test("streamed deltas of two choices, cut into 7-byte pieces, come back whole and in order", async () => {
  const text = sse([
    { model: "m-1", choices: [{ index: 1, delta: { role: "assistant", content: "Wor" } }] },
    { choices: [{ index: 0, delta: { content: "Hel" } }] },
    { choices: [{ index: 0, delta: { content: "lo ✓" }, finish_reason: "stop" }, { index: 1, delta: { content: "ld" }, finish_reason: "length" }] },
    "[DONE]",
  ]);
  handler = (_body, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const bytes = Buffer.from(text);
    let i = 0;
    const next = () => {
      if (i >= bytes.length) return void res.end();
      res.write(bytes.subarray(i, i + 7));
      i += 7;
      setImmediate(next);
    };
    next();
  };
  const result = await chatCompletion(connection(), { ...ask, n: 2 });
  assert.deepEqual(result.choices, [{ text: "Hello ✓", finishReason: "stop" }, { text: "World", finishReason: "length" }]);
  assert.equal(result.model, "m-1");
  assert.equal(result.streamed, true);
  assert.equal(bodies.at(-1)?.["stream"], true);
  assert.equal(bodies.at(-1)?.["model"], "m");
});

test("a server that ignores stream: true and answers JSON is read as JSON", async () => {
  handler = (_body, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { content: "plain" }, finish_reason: "stop" }] }));
  const result = await chatCompletion(connection(), ask);
  assert.deepEqual([result.choices[0]?.text, result.streamed], ["plain", false]);
});

test("broken streams are malformed answers, named: bad JSON event, wrong shape, cut off, error event", async () => {
  const cases: Array<[string, RegExp]> = [
    [sse(["{not json"]), /streamed event is not JSON/],
    [sse([{ nope: true }]), /not a chat-completion chunk/],
    [sse([{ choices: [{ index: 0, delta: { content: "half" } }] }]), /ended before the completion finished/],
    [sse([]), /ended without any completion/],
    [sse([{ error: { message: "model overloaded" } }]), /stream reported an error: model overloaded/],
  ];
  for (const [body, expected] of cases) {
    handler = (_b, res) => res.writeHead(200, { "content-type": "text/event-stream" }).end(body);
    await assert.rejects(chatCompletion(connection(), ask), (e: unknown) => e instanceof ExternalRequestError && expected.test(e.message), String(expected));
  }
});

test("the generator asks again, with the next seed, when a server ignores n", async () => {
  let count = 0;
  handler = (_body, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { content: `answer ${count++}` }, finish_reason: "stop" }] }));
  bodies.length = 0;
  const generator = externalGenerator(connection({ stream: false }), { label: "endpoint:test/m", defaults: { temperature: 0.5, max_tokens: 9 } });
  const texts = await generator.generate({ messages: ask.messages, n: 3, seed: 40 });
  assert.deepEqual(texts.map((t) => t.text), ["answer 0", "answer 1", "answer 2"]);
  assert.deepEqual(bodies.map((b) => [b["n"], b["seed"], b["temperature"], b["max_tokens"]]), [[3, 40, 0.5, 9], [2, 41, 0.5, 9], [undefined, 42, 0.5, 9]]);
  assert.deepEqual(texts.map((t) => t.decoding["seed"]), [40, 41, 42]);
});

test("an answer with tool calls keeps them (arguments parsed from OpenAI's JSON string); the generator stores them as a transcript", async () => {
  handler = (_body, res) =>
    void res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        model: "m",
        choices: [
          { index: 0, message: { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "calculator", arguments: '{"expression":"37*4"}' } }] }, finish_reason: "tool_calls" },
          { index: 1, message: { role: "assistant", content: "148" }, finish_reason: "stop" },
          { index: 2, message: { role: "assistant", content: "", tool_calls: [{ function: { name: "calculator", arguments: "not json" } }] }, finish_reason: "tool_calls" },
        ],
      }),
    );
  const result = await chatCompletion(connection({ stream: false }), { ...ask, n: 3 });
  assert.deepEqual(result.choices[0], { text: "", finishReason: "tool_calls", toolCalls: [{ id: "call_1", type: "function", function: { name: "calculator", arguments: { expression: "37*4" } } }] });
  assert.deepEqual(result.choices[1], { text: "148", finishReason: "stop" });
  assert.deepEqual(result.choices[2]!.toolCalls![0]!.function.arguments, { raw: "not json" });

  const generated = await externalGenerator(connection({ stream: false }), { label: "endpoint:x/m" }).generate({ ...ask, n: 3 });
  assert.deepEqual(generated[0]!.messages, [{ role: "assistant", content: "", tool_calls: [{ id: "call_1", type: "function", function: { name: "calculator", arguments: { expression: "37*4" } } }] }]);
  assert.equal(generated[1]!.messages, undefined, "a plain answer has no transcript");
});
