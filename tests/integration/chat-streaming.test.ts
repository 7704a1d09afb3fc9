/**
 * `stream: true` on /v1/chat/completions over real HTTP, served by the trainer's inference worker
 * with real tiny models (decision 0052): the answer arrives token by token as OpenAI's chunks and
 * adds up to the non-streamed answer for the same seed; tool calls stream in OpenAI's delta shape
 * (the client's) or Tandem's (the calculator run on the server); a client that leaves stops the
 * generation; an error after the first chunk is an SSE error event; bad input is refused as it is
 * without streaming.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { projectSettingsSchema } from "../../server/labeling/project-settings.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import { registerTinyPolicy } from "../support/tiny-policy.ts";
import { registerTinyToolPolicy } from "../support/tiny-tool-policy.ts";

let server: TestServer;
let dataDir = "";
let apiKey = "";
let plain = ""; // an untrained tiny policy with a long context: it writes bytes of every kind, at length
let tools = ""; // the tiny policy that calls the calculator, in a project that declares it
const logs: string[] = [];

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-chat-stream-"));
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  server = await startTestServer({ TANDEM_DATA_DIR: dataDir, LOG_LEVEL: "debug" }, { logDestination: capture });
  const researcher = (await server.newUser("researcher")).client;
  const project = async (name: string, projectTools: string[]) => {
    const response = await researcher.json("POST", "/api/v1/projects", { name, settings: projectSettingsSchema.parse({ tools: projectTools }) });
    assert.equal(response.status, 201, await response.clone().text());
    return ((await response.json()) as { id: string }).id;
  };
  plain = await registerTinyPolicy(server.db, dataDir, await project("Streaming plain", []), { blockSize: 1024 });
  tools = (await registerTinyToolPolicy(server.db, dataDir, [await project("Streaming tools", ["calculator"])]))[0] ?? "";
  apiKey = await server.newToken("researcher");
});
after(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const chat = (body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: "POST", headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" }, body: JSON.stringify(body), ...(signal ? { signal } : {}),
  });

type ToolCallDelta = { index: number; id?: string; type?: string; function: { name?: string; arguments?: string } };
type Chunk = {
  id: string; object: string; model: string; usage?: unknown;
  choices: Array<{ index: number; delta: { role?: string; content?: string; tool_calls?: ToolCallDelta[] }; finish_reason: string | null; tandem?: Record<string, unknown> }>;
};
type Completion = {
  choices: Array<{ message: { content: string | null; tool_calls?: Array<{ function: { name: string; arguments: string } }> }; finish_reason: string; tandem: { messages: Array<{ role: string; content: string }> } }>;
  usage: unknown;
};

/** The events of a finished stream: `data` lines, and `event: error` ones marked as such. */
async function events(response: Response): Promise<Array<{ event: string; data: string }>> {
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  return (await response.text())
    .split("\n\n")
    .filter(Boolean)
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      assert.ok(data !== undefined, `an event without data: ${block}`);
      return { event, data };
    });
}

/** The chunks of a stream that ended with [DONE]. */
async function chunks(response: Response): Promise<Chunk[]> {
  const all = await events(response);
  assert.deepEqual(all.at(-1), { event: "message", data: "[DONE]" }, "[DONE] ends the stream");
  return all.slice(0, -1).map(({ event, data }) => {
    assert.equal(event, "message");
    return JSON.parse(data) as Chunk;
  });
}

const nonStreamed = async (body: Record<string, unknown>): Promise<Completion> => {
  const response = await chat(body);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Completion;
};

test("a plain answer streams token by token and adds up to the non-streamed answer for the same seed", { timeout: 300_000 }, async () => {
  const ask = { model: `tandem-${plain}`, messages: [{ role: "user", content: "the answer is" }], max_tokens: 40, temperature: 1, seed: 11, n: 2 };
  const whole = await nonStreamed(ask);
  const streamed = await chunks(await chat({ ...ask, stream: true, stream_options: { include_usage: true } }));

  assert.ok(streamed.every((c) => c.object === "chat.completion.chunk" && c.id === streamed[0]?.id && c.model === ask.model));
  const usage = streamed.at(-1);
  assert.deepEqual(usage?.choices, [], "the usage chunk has no choices");
  assert.deepEqual(usage?.usage, whole.usage);
  assert.ok(streamed.slice(0, -1).every((c) => c.usage === null), "other chunks carry usage: null, as OpenAI's do");
  for (const [index, answer] of whole.choices.entries()) {
    const mine = streamed.slice(0, -1).map((c) => {
      assert.equal(c.choices.length, 1, "one choice per chunk");
      return c.choices[0]!;
    }).filter((c) => c.index === index);
    assert.deepEqual(mine[0]?.delta, { role: "assistant", content: "" }, "the role opens each choice");
    const pieces = mine.slice(1, -1);
    assert.ok(pieces.length >= 5, `token by token: ${pieces.length} pieces`);
    for (const p of pieces) {
      assert.deepEqual(Object.keys(p.delta), ["content"]);
      assert.ok(typeof p.delta.content === "string" && p.delta.content.length > 0);
      assert.equal(p.finish_reason, null);
    }
    // the untrained model writes stray bytes too: decoded whole or in pieces, the text is the same
    assert.equal(pieces.map((p) => p.delta.content).join(""), answer.message.content);
    assert.equal(mine.at(-1)?.finish_reason, answer.finish_reason, "finish_reason in the last chunk");
    assert.deepEqual(mine.at(-1)?.delta, {});
    assert.deepEqual(mine.at(-1)?.tandem?.["messages"], answer.tandem.messages);
  }

  // the official client reads the same stream
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0 });
  let text = "";
  let reported: unknown = null;
  for await (const chunk of await client.chat.completions.create({ ...ask, n: 1, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "the answer is" }] })) {
    text += chunk.choices[0]?.delta.content ?? "";
    reported = chunk.usage ?? reported;
  }
  const one = await nonStreamed({ ...ask, n: 1 });
  assert.equal(text, one.choices[0]?.message.content);
  assert.deepEqual(reported, one.usage);
});

test("the client's function streams as OpenAI's tool_calls deltas and assembles into the non-streamed call", { timeout: 300_000 }, async () => {
  const calculator = { type: "function", function: { name: "calculator", parameters: { type: "object", properties: { expression: { type: "string" } } } } };
  const ask = { model: `tandem-${tools}`, messages: [{ role: "user", content: "what is 37 times 4?" }], tools: [calculator], temperature: 0, max_tokens: 90 };
  const whole = (await nonStreamed(ask)).choices[0]!;
  const streamed = (await chunks(await chat({ ...ask, stream: true }))).map((c) => c.choices[0]!);

  const calls = streamed.flatMap((c) => c.delta.tool_calls ?? []);
  assert.deepEqual(Object.keys(calls[0] ?? {}), ["index", "id", "type", "function"]);
  assert.match(calls[0]?.id ?? "", /^call_[0-9a-f]{24}$/);
  assert.deepEqual({ index: calls[0]?.index, type: calls[0]?.type, function: calls[0]?.function }, { index: 0, type: "function", function: { name: "calculator", arguments: "" } });
  const pieces = calls.slice(1);
  assert.ok(pieces.length >= 2, `the arguments come in pieces: ${pieces.length}`);
  for (const p of pieces) assert.deepEqual({ keys: Object.keys(p), function: Object.keys(p.function) }, { keys: ["index", "function"], function: ["arguments"] });
  assert.equal(pieces.map((p) => p.function.arguments).join(""), whole.message.tool_calls?.[0]?.function.arguments);
  assert.equal(streamed.at(-1)?.finish_reason, "tool_calls");
  assert.equal(streamed.map((c) => c.delta.content ?? "").join(""), whole.message.content ?? "");
});

test("the server's calculator streams in Tandem's field between the text before and after it", { timeout: 300_000 }, async () => {
  const ask = { model: `tandem-${tools}`, messages: [{ role: "user", content: "what is 12 plus 9?" }], temperature: 0, max_tokens: 90 };
  const whole = (await nonStreamed(ask)).choices[0]!;
  assert.equal(whole.message.content, "the answer is 21.");
  const streamed = (await chunks(await chat({ ...ask, stream: true }))).map((c) => c.choices[0]!);

  // no tool_calls for the client: the calculator is not its to run
  assert.ok(streamed.every((c) => c.delta.tool_calls === undefined));
  const order = streamed.slice(1, -1).map((c) => (c.delta.content ? "content" : Object.keys(c.tandem ?? {})[0])).filter((k, i, all) => k !== all[i - 1]);
  assert.deepEqual(order, ["content", "tool_calls", "tool_result", "content"]);
  const serverCalls = streamed.flatMap((c) => (c.tandem?.["tool_calls"] as ToolCallDelta[] | undefined) ?? []);
  assert.equal(serverCalls[0]?.function.name, "calculator");
  assert.equal(serverCalls.map((c) => c.function.arguments).join(""), '{"expression":"12+9"}');
  const result = streamed.find((c) => c.tandem?.["tool_result"])?.tandem?.["tool_result"];
  assert.deepEqual(result, { tool_call_id: serverCalls[0]?.id, name: "calculator", content: "21" });
  // every word the policy writes streams as it is written, the words before the call too;
  // the non-streamed message holds the last turn, its transcript all of them
  const text = streamed.map((c) => c.delta.content ?? "").join("");
  assert.equal(text, whole.tandem.messages.filter((m) => m.role === "assistant").map((m) => m.content).join(""));
  assert.equal(text, "let me add.the answer is 21.");
  assert.equal(streamed.at(-1)?.finish_reason, "stop");
  assert.deepEqual(streamed.at(-1)?.tandem?.["messages"], whole.tandem.messages);
});

/** The worker serving this server: a child of this test process (the server runs in it). */
function workerPid(): number {
  const children = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  const line = children.split("\n").find((l) => /cli\.ts infer/.test(l));
  assert.ok(line, `no inference worker among:\n${children}`);
  return Number(line.trim().split(/\s+/)[0]);
}

/** A stream read bit by bit: `until` reads on until its test passes or the stream ends, and gives all read so far. */
function reading(response: Response): { until: (enough: (text: string) => boolean) => Promise<string> } {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    until: async (enough) => {
      while (!enough(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      return text;
    },
  };
}
/** Two pieces of text have arrived: the worker is sampling. */
const sampling = (text: string) => (text.match(/"content":"[^"]+"/g) ?? []).length >= 2;

const long = { messages: [{ role: "user", content: "the answer is" }], max_tokens: 1000, temperature: 0, seed: 1 };

test("a client that leaves mid-stream stops the generation, and the next request is served", { timeout: 300_000 }, async () => {
  const model = `tandem-${plain}`;
  // unstreamed, this request samples all 1000 tokens (greedy, and the untrained model never stops)
  const full = await nonStreamed({ ...long, model });
  assert.equal(full.choices[0]?.finish_reason, "length");

  const leaving = new AbortController();
  const response = await chat({ ...long, model, stream: true }, leaving.signal);
  const seen = await reading(response).until(sampling);
  assert.ok(!seen.includes("[DONE]"));
  leaving.abort();

  const stopped = await waitFor(() => logs.map((l) => JSON.parse(l) as { msg: string; tokens?: number }).find((l) => l.msg === "generation stopped: its client left"));
  // within a few steps of the client leaving (about 20 here), far from the 1000 it would sample
  assert.ok(stopped.tokens !== undefined && stopped.tokens < 500, `the worker stopped after ${stopped.tokens} tokens`);
  const next = await nonStreamed({ ...long, model, max_tokens: 3 });
  assert.equal(next.choices.length, 1);
});

test("an error after the first chunk is an SSE error event, not a broken stream; the next request is served", { timeout: 300_000 }, async () => {
  const model = `tandem-${plain}`;
  const stream = reading(await chat({ ...long, model, stream: true }));
  await stream.until(sampling);
  // the worker dies while it samples (as a crash or the out-of-memory killer would end it)
  process.kill(workerPid(), "SIGKILL");
  const text = await stream.until(() => false);
  assert.match(text, /^data: \{"id"/, "the stream had begun");
  const error = /event: error\ndata: (.*)\n\n$/.exec(text);
  assert.ok(error, `an error event ends the stream: ${text.slice(-300)}`);
  const parsed = JSON.parse(error[1] ?? "{}") as { error: { message: string; code: string } };
  assert.equal(parsed.error.code, "internal");
  assert.match(parsed.error.message, /inference worker exited/);
  assert.ok(!text.includes("[DONE]"));
  assert.equal((await nonStreamed({ ...long, model, max_tokens: 3 })).choices.length, 1, "a fresh worker answers");
});

test("streamed requests are validated as unstreamed ones: plain errors with the field named, before any event", { timeout: 120_000 }, async () => {
  const model = `tandem-${tools}`;
  const cases: Array<[Record<string, unknown>, number, string | null]> = [
    [{ model, stream: true }, 422, "messages"],
    [{ model, messages: [{ role: "user", content: "hi" }], stream: false, stream_options: { include_usage: true } }, 422, "stream_options"],
    [{ model, messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: "yes" } }, 422, "stream_options.include_usage"],
    [{ model, messages: [{ role: "user", content: "hi" }], stream: true, tools: [{ type: "function", function: { name: "bad name!" } }] }, 422, "tools.0.function.name"],
    [{ model: "tandem-999999999", messages: [{ role: "user", content: "hi" }], stream: true }, 404, null],
    // refused by the worker before it samples: still a plain error, not a stream
    [{ model, messages: [{ role: "user", content: "what is 37 times 4? ".repeat(40) }], stream: true }, 422, null],
  ];
  for (const [body, status, param] of cases) {
    const response = await chat(body);
    assert.equal(response.status, status, JSON.stringify(body).slice(0, 200));
    assert.match(response.headers.get("content-type") ?? "", /application\/json/);
    const error = ((await response.json()) as { error: { param: string | null } }).error;
    if (param) assert.equal(error.param, param);
  }
});

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}
